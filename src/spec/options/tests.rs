use super::*;

#[test]
fn sizes_and_durations() {
    assert_eq!(parse_memory_size("256 mb"), Some(256 << 20));
    assert_eq!(parse_memory_size("8MB"), Some(8 << 20));
    assert_eq!(parse_memory_size("1024"), Some(1024));
    assert_eq!(parse_memory_size("lots"), None);
    assert_eq!(parse_duration("1 h"), Some(Duration::from_secs(3600)));
    assert_eq!(parse_duration("30 min"), Some(Duration::from_secs(1800)));
}

#[test]
fn unknown_option_is_named_with_a_hint() {
    let opts = CoreOptions::new(BTreeMap::from([("buckets".to_string(), "4".to_string())]));
    let e = opts.validate_for_create().unwrap_err().to_string();
    assert!(e.contains("buckets") && e.contains("did you mean \"bucket\""), "{e}");
}

#[test]
fn invalid_values_are_errors() {
    let opts = CoreOptions::new(BTreeMap::from([("bucket".to_string(), "zero".to_string())]));
    assert!(opts.validate_for_create().is_err());
    let opts = CoreOptions::new(BTreeMap::from([("bucket".to_string(), "0".to_string())]));
    assert!(opts.bucket().is_err());
    let opts = CoreOptions::new(BTreeMap::from([("write-buffer-size".to_string(), "huge".to_string())]));
    assert!(opts.validate_for_create().is_err());
}

#[test]
fn tag_and_consumer_options_take_paimons_values() {
    let opts =
        |pairs: &[(&str, &str)]| CoreOptions::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let o = opts(&[]);
    assert_eq!(o.tag_creation_mode().unwrap(), TagCreationMode::None);
    assert_eq!(o.tag_creation_period().unwrap(), TagCreationPeriod::Daily);
    assert_eq!(o.tag_period_formatter().unwrap(), TagPeriodFormatter::WithDashes);
    assert_eq!(o.tag_creation_delay().unwrap(), Duration::ZERO);
    assert_eq!((o.tag_num_retained_max().unwrap(), o.tag_default_time_retained().unwrap()), (None, None));
    assert_eq!(o.consumer_expiration_time().unwrap(), None);
    assert_eq!(o.sink_watermark_time_zone().unwrap(), TimeZoneId::utc());
    let o = opts(&[
        ("tag.automatic-creation", "Watermark"),
        ("tag.creation-period", "two-hours"),
        ("tag.period-formatter", "WITHOUT_DASHES"),
        ("tag.creation-delay", "10 min"),
        ("tag.num-retained-max", "3"),
        ("tag.default-time-retained", "7d"),
        ("consumer.expiration-time", "1 h"),
    ]);
    o.validate_for_create().unwrap();
    assert_eq!(o.tag_creation_mode().unwrap(), TagCreationMode::Watermark);
    assert_eq!(o.tag_creation_period().unwrap(), TagCreationPeriod::TwoHours);
    assert_eq!(o.tag_period_formatter().unwrap(), TagPeriodFormatter::WithoutDashes);
    assert_eq!(o.tag_creation_delay().unwrap(), Duration::from_secs(600));
    assert_eq!(o.tag_num_retained_max().unwrap(), Some(3));
    assert_eq!(o.tag_default_time_retained().unwrap(), Some(Duration::from_secs(7 * 86400)));
    assert_eq!(o.consumer_expiration_time().unwrap(), Some(Duration::from_secs(3600)));
    for (k, v, says) in [
        ("tag.automatic-creation", "daily", "process-time"),
        ("tag.creation-period", "weekly", "two-hours"),
        ("tag.period-formatter", "with-dashes", "with_dashes"),
        ("tag.creation-delay", "1 d", "shorter than one tag.creation-period"),
        ("tag.num-retained-max", "-1", "non-negative"),
        ("tag.default-time-retained", "a week", "duration"),
        ("sink.watermark-time-zone", "Mars/Base", "zone id"),
        ("consumer.expiration-time", "forever", "duration"),
    ] {
        let e = opts(&[(k, v)]).validate_for_create().unwrap_err().to_string();
        assert!(e.contains(k) && e.contains(v) && e.contains(says), "{k}={v}: {e}");
    }
}
