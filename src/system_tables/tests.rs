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

fn kv_table_def(pk: bool) -> crate::table::TableDefinition {
    let d = crate::table::TableDefinition::default()
        .column("k", crate::spec::parse_type("BIGINT").unwrap())
        .column("v", crate::spec::parse_type("STRING").unwrap())
        .option("bucket", "1");
    if pk {
        d.primary_key(&["k"])
    } else {
        d.option("bucket-key", "k")
    }
}

async fn commit(t: &Table, ks: Vec<i64>, vs: Vec<Option<&str>>) {
    let b = RecordBatch::try_new(
        t.arrow_schema(),
        vec![Arc::new(arrow_array::Int64Array::from(ks)), Arc::new(arrow_array::StringArray::from(vs))],
    )
    .unwrap();
    let mut w = t.new_write().await.unwrap();
    w.write(&b).await.unwrap();
    t.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
}

fn strings(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    use arrow_array::cast::AsArray;
    let c = b.column_by_name(col).unwrap().as_string::<i32>();
    c.iter().map(|s| s.map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_of_a_small_table() {
    let dir = tempfile::tempdir().unwrap();
    for pk in [true, false] {
        let loc = dir.path().join(if pk { "pk" } else { "append" });
        let t = Table::create(loc.to_str().unwrap(), kv_table_def(pk)).await.unwrap();
        // Empty: every metadata table reads, with no rows except $schemas and $options.
        for which in SystemTable::ALL.into_iter().filter(|w| w.is_metadata()) {
            let b = read_metadata(&t, which, &SystemFilter::default()).await.unwrap();
            assert_eq!(b.schema(), which.schema());
            let want = match which {
                SystemTable::Schemas => 1,
                SystemTable::Options => 1 + usize::from(!pk),
                _ => 0,
            };
            assert_eq!(b.num_rows(), want, "{which} of an empty table");
        }
        commit(&t, vec![1, 2], vec![Some("a"), None]).await;
        commit(&t, vec![2, 3], vec![Some("b"), Some("c")]).await;
        let all = SystemFilter::default();
        assert_eq!(read_metadata(&t, SystemTable::Snapshots, &all).await.unwrap().num_rows(), 2);
        let only_2 = SystemFilter { snapshot_id_min: Some(2), ..Default::default() };
        assert_eq!(read_metadata(&t, SystemTable::Snapshots, &only_2).await.unwrap().num_rows(), 1);
        let files = read_metadata(&t, SystemTable::Files, &all).await.unwrap();
        assert_eq!(files.num_rows(), 2);
        assert_eq!(strings(&files, "partition"), vec![Some("[]".to_string()); 2]);
        let mut mins = strings(&files, "min_value_stats");
        mins.sort();
        assert_eq!(mins, vec![Some("{k=1, v=a}".to_string()), Some("{k=2, v=b}".to_string())]);
        let nulls = strings(&files, "null_value_counts");
        assert!(nulls.contains(&Some("{k=0, v=1}".to_string())), "{nulls:?}");
        let keys = strings(&files, "min_key");
        if pk {
            assert!(keys.contains(&Some("[1]".to_string())), "{keys:?}");
        } else {
            assert_eq!(keys, vec![None, None]);
        }
        let bucket_0 = SystemFilter { buckets: Some(vec![0]), partition: Some("[]".into()), ..Default::default() };
        assert_eq!(read_metadata(&t, SystemTable::Files, &bucket_0).await.unwrap().num_rows(), 2);
        let bucket_1 = SystemFilter { buckets: Some(vec![1]), ..Default::default() };
        assert_eq!(read_metadata(&t, SystemTable::Files, &bucket_1).await.unwrap().num_rows(), 0);
        let parts = read_metadata(&t, SystemTable::Partitions, &all).await.unwrap();
        assert_eq!(parts.num_rows(), 1);
        // The audit log: merged rows for the primary-key table (key 2 once, as +I), every row
        // of the append table.
        let log = rows::audit_log(&t).await.unwrap();
        assert_eq!(log.num_rows(), if pk { 3 } else { 4 });
        assert!(strings(&log, rows::ROW_KIND_COLUMN).iter().all(|k| k.as_deref() == Some("+I")));
        // Read-optimized: nothing is compacted to the top level yet on the primary-key table.
        let ro = rows::read_optimized(&t).await.unwrap();
        assert_eq!(ro.num_rows(), if pk { 0 } else { 4 });
    }
}
