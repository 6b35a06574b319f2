use super::*;
use arrow_array::{ArrayRef, Int64Array, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn config(row_group: usize, compression: Compression, target: u64) -> FileWriterConfig {
    let schema = TableSchema::create(
        vec![
            ("k".into(), crate::spec::parse_type("BIGINT").unwrap()),
            ("v".into(), crate::spec::parse_type("STRING").unwrap()),
        ],
        vec![],
        vec!["k".into()],
        [("bucket".to_string(), "1".to_string())].into_iter().collect(),
        None,
    )
    .unwrap();
    let mut cfg = FileWriterConfig::new(Arc::new(schema)).unwrap();
    cfg.props =
        WriterProperties::builder().set_compression(compression).set_max_row_group_row_count(Some(row_group)).build();
    cfg.target_file_size = target;
    cfg
}

/// `n` sorted key-value rows: keys 0..n, sequence numbers 100.., every 11th a retraction.
fn rows(cfg: &FileWriterConfig, n: i64) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..n)),
        Arc::new(Int64Array::from_iter_values(100..100 + n)),
        Arc::new(arrow_array::Int8Array::from_iter_values((0..n).map(|i| if i % 11 == 0 { 3 } else { 0 }))),
        Arc::new(Int64Array::from_iter_values(0..n)),
        Arc::new(StringArray::from_iter(
            (0..n).map(|i| (i % 5 != 0).then(|| format!("value-{i}-{}", i * 7919 % 1000))),
        )),
    ];
    RecordBatch::try_new(crate::spec::data_file::key_value_arrow_schema(&cfg.schema), columns).unwrap()
}

/// Writes `batch` in uneven slices through a RollingWriter into memory, on a blocking thread.
async fn write_rolling(
    cfg: FileWriterConfig,
    batch: RecordBatch,
    fail_after: Option<usize>,
) -> (FileIO, Result<Vec<DataFileMeta>>) {
    let io = FileIO::from_uri("memory://t").unwrap();
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let names: Arc<dyn Fn() -> String + Send + Sync> =
        Arc::new(move || format!("f-{}.parquet", counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let mut w =
        RollingWriter::new(Arc::new(cfg), io.clone(), "bucket-0", batch.schema(), 1, FileSource::Compact, names, None);
    let result = tokio::task::spawn_blocking(move || {
        let mut at = 0usize;
        for len in [1usize, 9_999, 0, 17_000, 24_000, 10_000].into_iter().cycle() {
            let len = len.min(batch.num_rows() - at);
            w.write(&batch.slice(at, len))?;
            at += len;
            if fail_after.is_some_and(|f| at >= f) {
                return Err(Error::InvalidInput("merge failed".into()));
            }
            if at == batch.num_rows() {
                break;
            }
        }
        w.finish()
    })
    .await
    .unwrap();
    (io, result)
}

async fn read_back(io: &FileIO, meta: &DataFileMeta) -> (usize, RecordBatch) {
    let bytes = io.read(&format!("bucket-0/{}", meta.file_name)).await.unwrap();
    assert_eq!(bytes.len() as i64, meta.file_size);
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let groups = reader.metadata().num_row_groups();
    let kv = reader.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    assert!(kv.iter().any(|e| e.key == "ARROW:schema"), "{kv:?}");
    let schema = reader.schema().clone();
    let read: Vec<RecordBatch> = reader.build().unwrap().collect::<std::result::Result<_, _>>().unwrap();
    (groups, arrow_select::concat::concat_batches(&schema, &read).unwrap())
}

/// Rows handed over in uneven batches (row groups closing mid-batch) read back as one file with
/// the same rows, and metadata as describing the whole batch at once gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_while_rows_come_reads_back_as_written() {
    let cfg = config(25_000, Compression::ZSTD(ZstdLevel::default()), 128 << 20);
    let n = 61_000i64;
    let batch = rows(&cfg, n);
    let (io, files) = write_rolling(cfg, batch.clone(), None).await;
    let files = files.unwrap();
    assert_eq!(files.len(), 1);
    let (groups, read) = read_back(&io, &files[0]).await;
    assert_eq!(groups, 3);
    assert_eq!(read, batch);
    let m = &files[0];
    assert_eq!((m.row_count, m.min_sequence_number, m.max_sequence_number, m.level), (n, 100, 99 + n, 1));
    assert_eq!(m.delete_row_count, Some((0..n).filter(|i| i % 11 == 0).count() as i64));
    let key_types = [crate::spec::parse_type("BIGINT").unwrap()];
    assert_eq!(m.min_key.to_datums(&key_types).unwrap(), vec![crate::spec::Datum::BigInt(0)]);
    assert_eq!(m.max_key.to_datums(&key_types).unwrap(), vec![crate::spec::Datum::BigInt(n - 1)]);
    let cfg = config(25_000, Compression::UNCOMPRESSED, 0);
    let values: Vec<&dyn Array> = batch.columns()[3..].iter().map(|c| c.as_ref()).collect();
    assert_eq!(m.value_stats, crate::data_file::stats::collect_stats(&values, &cfg.value_types, cfg.stats_mode));
}

/// A small target size rolls files (each sorted, together the input in order); a file bigger
/// than an upload part goes out as a multipart upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_roll_at_the_target_size_and_big_ones_upload_in_parts() {
    let cfg = config(10_000, Compression::UNCOMPRESSED, 400_000);
    let batch = rows(&cfg, 100_000);
    let (io, files) = write_rolling(cfg, batch.clone(), None).await;
    let files = files.unwrap();
    assert!(files.len() >= 3, "{} files", files.len());
    let mut all = vec![];
    for f in &files {
        assert!(f.file_size < 2 * 400_000 + (1 << 20), "{} bytes", f.file_size);
        all.push(read_back(&io, f).await.1);
    }
    assert_eq!(arrow_select::concat::concat_batches(&batch.schema(), &all).unwrap(), batch);

    let cfg = config(100_000, Compression::UNCOMPRESSED, 1 << 30);
    let batch = rows(&cfg, 400_000);
    let (io, files) = write_rolling(cfg, batch.clone(), None).await;
    let files = files.unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].file_size as usize > 2 * PART_BYTES, "{} bytes", files[0].file_size);
    assert_eq!(read_back(&io, &files[0]).await.1, batch);
}

/// A producer's error leaves no file behind, small or uploading in parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_leaves_nothing() {
    for (rows_n, fail_after) in [(30_000i64, 20_000usize), (400_000, 300_000)] {
        let cfg = config(100_000, Compression::UNCOMPRESSED, 1 << 30);
        let batch = rows(&cfg, rows_n);
        let (io, result) = write_rolling(cfg, batch, Some(fail_after)).await;
        assert!(matches!(result, Err(Error::InvalidInput(m)) if m == "merge failed"));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await; // the abort runs as a task
        let left = io.list_recursive("").await.unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
}
