use super::*;

#[test]
fn java_renderings() {
    assert_eq!(java_string(&Datum::Double(5.0)), "5.0");
    assert_eq!(java_string(&Datum::Double(6.25)), "6.25");
    assert_eq!(java_string(&Datum::Double(1e7)), "1.0E7");
    assert_eq!(java_string(&Datum::Double(1.5e-5)), "1.5E-5");
    assert_eq!(java_string(&Datum::Double(-123456789.5)), "-1.234567895E8");
    assert_eq!(java_string(&Datum::Float(0.1)), "0.1");
    assert_eq!(java_string(&Datum::Null), "null");
    assert_eq!(java_string(&Datum::Decimal { unscaled: 40704, precision: 20, scale: 2 }), "407.04");
    assert_eq!(java_string(&Datum::Date(19758)), "19758");
    // 2024-01-05T10:11:12.004 and the micros of TIMESTAMP(6).
    assert_eq!(java_string(&Datum::Timestamp { millis: 1704449472004, nanos: 0 }), "2024-01-05T10:11:12.004");
    assert_eq!(java_string(&Datum::Timestamp { millis: 1704449472004, nanos: 4000 }), "2024-01-05T10:11:12.004004");
    assert_eq!(java_string(&Datum::Timestamp { millis: 1704449460000, nanos: 0 }), "2024-01-05T10:11");
    assert_eq!(java_array_string(&[Datum::String("2024-01-01".into()), Datum::Int(3)]), "[2024-01-01, 3]");
    assert_eq!(java_array_string(&[]), "[]");
    assert_eq!(java_duration(std::time::Duration::from_secs(172800)), "PT48H");
    assert_eq!(java_duration(std::time::Duration::from_secs(5400)), "PT1H30M");
    assert_eq!(java_duration(std::time::Duration::from_millis(500)), "PT0.5S");
    assert_eq!(java_duration(std::time::Duration::ZERO), "PT0S");
}

#[test]
fn names() {
    for t in SystemTable::ALL {
        assert_eq!(SystemTable::from_name(t.name()), Some(t));
    }
    assert_eq!(SystemTable::from_name("SNAPSHOTS"), Some(SystemTable::Snapshots));
    assert_eq!(SystemTable::from_name("snapshot"), None);
}
