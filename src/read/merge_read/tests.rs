//! The k-way merge of a split's files, on files kept decoded in memory (the writer's cache), so
//! no Parquet is written or read: sections and runs, the newest version of a key across runs,
//! retractions, deletion vectors, batch boundaries, and spilled runs.

use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, Int8Type};
use arrow_array::StringArray;
use std::collections::BTreeMap;

use crate::read::scan::SplitDeletionVector;
use crate::spec::{parse_type, BinaryRow, Datum, NullStyle, SimpleStats};

const I: i8 = RowKind::Insert as i8;
const UB: i8 = RowKind::UpdateBefore as i8;
const UA: i8 = RowKind::UpdateAfter as i8;
const D: i8 = RowKind::Delete as i8;

/// A row of a data file: (key, sequence number, kind, v).
type Row<'a> = (i64, i64, i8, &'a str);

/// One bucket of a table (k BIGINT primary key, v STRING) whose files are kept decoded.
struct Bucket {
    schema: Arc<TableSchema>,
    decoded: DecodedFiles,
    io: FileIO,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    fn new(options: &[(&str, &str)]) -> Bucket {
        let mut opts: BTreeMap<String, String> = [("bucket".to_string(), "1".to_string())].into_iter().collect();
        opts.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let schema = TableSchema::create(
            vec![("k".into(), parse_type("BIGINT").unwrap()), ("v".into(), parse_type("STRING").unwrap())],
            vec![],
            vec!["k".into()],
            opts,
            None,
        )
        .unwrap();
        Bucket {
            schema: Arc::new(schema),
            decoded: DecodedFiles::new(64 << 20),
            io: FileIO::from_uri("memory://merge-read-tests").unwrap(),
            runtime: tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap(),
        }
    }

    fn key(&self, k: i64) -> BinaryRow {
        let types: Vec<DataType> = self.schema.trimmed_key_fields().iter().map(|f| f.data_type.clone()).collect();
        BinaryRow::from_datums(&[Datum::BigInt(k)], &types, NullStyle::Projection).unwrap()
    }

    /// A data file on `level` holding `rows` (sorted by key), kept decoded (nothing is stored).
    fn file(&self, name: &str, level: i32, rows: &[Row]) -> DataFileMeta {
        let column = |f: &dyn Fn(&Row<'_>) -> i64| Int64Array::from_iter_values(rows.iter().map(f));
        let batch = RecordBatch::try_new(
            crate::spec::data_file::key_value_arrow_schema(&self.schema),
            vec![
                Arc::new(column(&|r| r.0)),
                Arc::new(column(&|r| r.1)),
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(column(&|r| r.0)),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
            ],
        )
        .unwrap();
        self.decoded.insert(name, vec![batch]);
        DataFileMeta {
            file_name: name.into(),
            file_size: 100 * rows.len() as i64,
            row_count: rows.len() as i64,
            min_key: self.key(rows.first().unwrap().0),
            max_key: self.key(rows.last().unwrap().0),
            key_stats: SimpleStats::empty(),
            value_stats: SimpleStats::empty(),
            min_sequence_number: rows.iter().map(|r| r.1).min().unwrap(),
            max_sequence_number: rows.iter().map(|r| r.1).max().unwrap(),
            schema_id: self.schema.id,
            level,
            extra_files: vec![],
            creation_time: None,
            delete_row_count: Some(rows.iter().filter(|r| r.2 == UB || r.2 == D).count() as i64),
            embedded_index: None,
            file_source: None,
            value_stats_cols: None,
            external_path: None,
        }
    }

    fn split(&self, files: &[DataFileMeta]) -> DataSplit {
        DataSplit {
            snapshot_id: 1,
            partition: BinaryRow::empty(),
            bucket: 0,
            bucket_path: "bucket-0".into(),
            total_buckets: 1,
            files: files.to_vec(),
            deletion_vectors: Default::default(),
        }
    }

    /// A row reader of every column, `batch_size` rows at a time.
    fn reader(&self, batch_size: usize) -> SplitReader {
        SplitReader::new(
            self.io.clone(),
            SchemaManager::new(self.io.clone()),
            self.schema.clone(),
            vec![0, 1],
            self.runtime.handle().clone(),
        )
        .unwrap()
        .with_batch_size(batch_size)
        .with_decoded_files(self.decoded.clone())
    }

    fn compaction_reader(&self, drop_retracts: bool, batch_size: usize) -> SplitReader {
        SplitReader::for_compaction(
            self.io.clone(),
            SchemaManager::new(self.io.clone()),
            self.schema.clone(),
            self.runtime.handle().clone(),
            drop_retracts,
        )
        .unwrap()
        .with_batch_size(batch_size)
        .with_decoded_files(self.decoded.clone())
    }

    /// The (k, v) rows a row read of `split` returns, and the sizes of its batches.
    fn read(&self, split: &DataSplit, batch_size: usize) -> (Vec<(i64, String)>, Vec<usize>) {
        let mut rows = vec![];
        let mut sizes = vec![];
        self.reader(batch_size)
            .read_split(split, &mut |b| {
                sizes.push(b.num_rows());
                let (k, v) = (b.column(0).as_primitive::<Int64Type>(), b.column(1).as_string::<i32>());
                rows.extend((0..b.num_rows()).map(|i| (k.value(i), v.value(i).to_string())));
                true
            })
            .unwrap();
        (rows, sizes)
    }

    fn rows(&self, files: &[DataFileMeta]) -> Vec<(i64, String)> {
        self.read(&self.split(files), 1024).0
    }

    /// The (k, sequence number, kind, v) rows a compaction read of `files` returns.
    fn compact(&self, files: &[DataFileMeta], drop_retracts: bool, batch_size: usize) -> Vec<(i64, i64, i8, String)> {
        let mut rows = vec![];
        self.compaction_reader(drop_retracts, batch_size)
            .read_split(&self.split(files), &mut |b| {
                let k = b.column(0).as_primitive::<Int64Type>();
                let seq = b.column(1).as_primitive::<Int64Type>();
                let kind = b.column(2).as_primitive::<Int8Type>();
                let v = b.column(4).as_string::<i32>();
                rows.extend(
                    (0..b.num_rows()).map(|i| (k.value(i), seq.value(i), kind.value(i), v.value(i).to_string())),
                );
                true
            })
            .unwrap();
        rows
    }
}

fn kv(rows: &[(i64, &str)]) -> Vec<(i64, String)> {
    rows.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn names(sections: Vec<Vec<Vec<DataFileMeta>>>) -> Vec<Vec<Vec<String>>> {
    sections
        .into_iter()
        .map(|s| s.into_iter().map(|r| r.into_iter().map(|f| f.file_name).collect()).collect())
        .collect()
}

#[test]
fn sections_group_overlapping_files_into_sorted_runs() {
    let b = Bucket::new(&[]);
    let f = |name: &str, min: i64, max: i64| b.file(name, 0, &[(min, 1, I, "x"), (max, 2, I, "y")]);
    let files =
        vec![f("c", 4, 6), f("e", 11, 15), f("a", 1, 3), f("d", 7, 9), f("b", 2, 5), f("f", 10, 12), f("g", 16, 16)];
    let sections = b.reader(10).sections(&files).unwrap();
    // [1,3] [2,5] [4,6] overlap (one section): a and c fit one run, b (overlapping both) another.
    // [7,9] stands alone; [10,12] and [11,15] overlap; [16,16] touches nothing.
    assert_eq!(
        names(sections),
        vec![vec![vec!["a", "c"], vec!["b"]], vec![vec!["d"]], vec![vec!["f"], vec!["e"]], vec![vec!["g"]],]
            .into_iter()
            .map(|s| s.into_iter().map(|r| r.into_iter().map(String::from).collect()).collect())
            .collect::<Vec<Vec<Vec<String>>>>()
    );
}

#[test]
fn files_sharing_a_boundary_key_overlap() {
    // A file ending at key 5 and one starting at 5 hold the same key: same section, two runs.
    let b = Bucket::new(&[]);
    let files =
        vec![b.file("a", 1, &[(1, 1, I, "a1"), (5, 2, I, "a5")]), b.file("b", 1, &[(5, 3, I, "b5"), (8, 4, I, "b8")])];
    assert_eq!(names(b.reader(10).sections(&files).unwrap()).len(), 1);
    assert_eq!(b.rows(&files), kv(&[(1, "a1"), (5, "b5"), (8, "b8")]));
}

#[test]
fn deduplicate_takes_the_newest_version_of_a_key_across_runs() {
    let b = Bucket::new(&[]);
    let files = vec![
        b.file("old", 2, &[(1, 1, I, "1-old"), (2, 2, I, "2-old"), (3, 3, I, "3-old"), (9, 4, I, "9-old")]),
        b.file("mid", 1, &[(2, 10, I, "2-mid"), (3, 11, I, "3-mid"), (4, 12, I, "4-mid")]),
        b.file("new", 0, &[(3, 20, I, "3-new"), (5, 21, I, "5-new")]),
        // A level-0 file older than "mid": sequence numbers, not levels, decide.
        b.file("stale", 0, &[(2, 5, I, "2-stale"), (4, 6, I, "4-stale")]),
    ];
    let want = kv(&[(1, "1-old"), (2, "2-mid"), (3, "3-new"), (4, "4-mid"), (5, "5-new"), (9, "9-old")]);
    assert_eq!(b.rows(&files), want);
    // The order the files come in does not matter.
    let mut reversed = files.clone();
    reversed.reverse();
    assert_eq!(b.rows(&reversed), want);
}

#[test]
fn a_key_in_every_run() {
    let b = Bucket::new(&[]);
    let files: Vec<DataFileMeta> = (0..7)
        .map(|i| b.file(&format!("f{i}"), 0, &[(i, 100 + i, I, "own"), (42, i * 3 % 7, I, &format!("v{i}"))]))
        .collect();
    // Key 42's sequence numbers are 0, 3, 6, 2, 5, 1, 4 (i * 3 % 7): f2 has the newest (6).
    let rows = b.rows(&files);
    assert_eq!(rows.last().unwrap(), &(42, "v2".to_string()));
    assert_eq!(rows.len(), 8);
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 6, 42]);
}

#[test]
fn a_newest_retraction_drops_the_key_from_reads() {
    let b = Bucket::new(&[]);
    let files = vec![
        b.file("base", 1, &[(1, 1, I, "a"), (2, 2, I, "b"), (3, 3, I, "c")]),
        b.file("delta", 0, &[(1, 10, D, "a"), (2, 11, UB, "b"), (3, 12, UA, "c2")]),
        b.file("re-insert", 0, &[(2, 20, I, "b3")]),
    ];
    assert_eq!(b.rows(&files), kv(&[(2, "b3"), (3, "c2")]));
}

#[test]
fn a_lone_file_with_retractions_is_merged_to_drop_them() {
    let b = Bucket::new(&[]);
    let lone = b.file("lone", 0, &[(1, 1, I, "a"), (2, 2, D, "b")]);
    assert_eq!(lone.delete_row_count, Some(1));
    assert_eq!(b.rows(&[lone]), kv(&[(1, "a")]));
}

#[test]
fn compaction_keeps_retractions_unless_told_to_drop_them() {
    let b = Bucket::new(&[]);
    let files = vec![
        b.file("base", 1, &[(1, 1, I, "a"), (2, 2, I, "b")]),
        b.file("delta", 0, &[(1, 10, D, "a"), (2, 11, UA, "b2"), (3, 12, UB, "c")]),
    ];
    let s = |v: &str| v.to_string();
    assert_eq!(
        b.compact(&files, false, 100),
        vec![(1, 10, D, s("a")), (2, 11, UA, s("b2")), (3, 12, UB, s("c"))],
        "kept: files below the output may still hold the keys"
    );
    assert_eq!(b.compact(&files, true, 100), vec![(2, 11, UA, s("b2"))]);
    assert_eq!(b.compact(&files, true, 1), vec![(2, 11, UA, s("b2"))]);
}

#[test]
fn batch_boundaries_do_not_change_the_merge() {
    // Keys repeat within and across files; with small batches a key's versions sit in
    // different input batches and the output is cut between them.
    let b = Bucket::new(&[]);
    let mut a: Vec<Row<'_>> = vec![];
    let mut c: Vec<Row<'_>> = vec![];
    let mut d: Vec<Row<'_>> = vec![];
    for k in 0..20i64 {
        a.push((k, k, I, "a"));
        if k % 2 == 0 {
            c.push((k, 100 + k, I, "c"));
        }
        if k % 3 == 0 {
            d.push((k, 200 + k, if k % 6 == 0 { D } else { I }, "d"));
        }
    }
    let files = vec![b.file("a", 2, &a), b.file("c", 1, &c), b.file("d", 0, &d)];
    let want: Vec<(i64, String)> = (0..20)
        .filter(|k| k % 6 != 0)
        .map(|k| {
            (
                k,
                if k % 3 == 0 {
                    "d"
                } else if k % 2 == 0 {
                    "c"
                } else {
                    "a"
                }
                .to_string(),
            )
        })
        .collect();
    for batch_size in [1, 2, 3, 7, 1000] {
        let (rows, sizes) = b.read(&b.split(&files), batch_size);
        assert_eq!(rows, want, "batch size {batch_size}");
        assert!(sizes.iter().all(|&s| s <= batch_size.max(1)), "batch size {batch_size}: {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), want.len());
    }
}

#[test]
fn deletion_vectors_hide_rows_before_the_merge() {
    let b = Bucket::new(&[]);
    let files = vec![
        b.file("base", 1, &[(1, 1, I, "1-base"), (2, 2, I, "2-base"), (3, 3, I, "3-base")]),
        b.file("new", 0, &[(1, 10, I, "1-new"), (2, 11, I, "2-new")]),
    ];
    let mut split = b.split(&files);
    // Key 1's newest version deleted: the older one is the key's value again. Key 3 gone.
    split
        .deletion_vectors
        .insert("new".into(), SplitDeletionVector::Loaded(Arc::new(roaring::RoaringBitmap::from_iter([0u32]))));
    split
        .deletion_vectors
        .insert("base".into(), SplitDeletionVector::Loaded(Arc::new(roaring::RoaringBitmap::from_iter([2u32]))));
    assert_eq!(b.read(&split, 1).0, kv(&[(1, "1-base"), (2, "2-new")]));
    // A vector deleting every row of a file leaves an empty run.
    split
        .deletion_vectors
        .insert("new".into(), SplitDeletionVector::Loaded(Arc::new(roaring::RoaringBitmap::from_iter([0u32, 1]))));
    assert_eq!(b.read(&split, 1).0, kv(&[(1, "1-base"), (2, "2-base")]));
    // A vector beyond the file's rows is refused.
    split
        .deletion_vectors
        .insert("new".into(), SplitDeletionVector::Loaded(Arc::new(roaring::RoaringBitmap::from_iter([2u32]))));
    assert!(b.reader(10).read_split(&split, &mut |_| true).is_err());
}

#[test]
fn first_row_keeps_the_oldest_and_hides_level_0() {
    let b = Bucket::new(&[("merge-engine", "first-row")]);
    let files = vec![
        b.file("l1", 1, &[(1, 5, I, "1-first"), (3, 6, I, "3-first")]),
        b.file("l2", 2, &[(1, 9, I, "1-later"), (2, 7, I, "2-first")]),
        b.file("l0", 0, &[(4, 20, I, "4-unseen")]),
    ];
    assert_eq!(b.rows(&files), kv(&[(1, "1-first"), (2, "2-first"), (3, "3-first")]));
    // Compaction reads see level 0.
    let keys: Vec<i64> = b.compact(&files, true, 10).iter().map(|r| r.0).collect();
    assert_eq!(keys, vec![1, 2, 3, 4]);
}

#[test]
fn emit_can_stop_the_read() {
    let b = Bucket::new(&[]);
    let files =
        vec![b.file("a", 1, &[(1, 1, I, "a"), (2, 2, I, "b"), (3, 3, I, "c")]), b.file("b", 0, &[(2, 4, I, "b2")])];
    let mut batches = 0;
    b.reader(1)
        .read_split(&b.split(&files), &mut |_| {
            batches += 1;
            false
        })
        .unwrap();
    assert_eq!(batches, 1);
}

#[test]
fn spilled_runs_merge_like_the_runs_they_hold() {
    // With `sort-spill-threshold` 2, seven overlapping runs are merged onto disk two or three
    // at a time first, every version kept; the result is the plain merge's.
    let spill = Bucket::new(&[("sort-spill-threshold", "2")]);
    let plain = Bucket::new(&[]);
    let mut want = BTreeMap::new();
    let mut files = (vec![], vec![]);
    for f in 0..7i64 {
        let values: Vec<String> = (0..10i64).map(|k| format!("{k}@{f}")).collect();
        let rows: Vec<Row<'_>> = (0..10i64)
            .filter(|k| (k + f) % 3 != 0)
            .map(|k| (k, f * 100 + k, if (k * f) % 5 == 4 { D } else { I }, values[k as usize].as_str()))
            .collect();
        for r in &rows {
            want.insert(r.0, (r.2, r.3.to_string())); // later files have higher sequence numbers
        }
        files.0.push(spill.file(&format!("f{f}"), 0, &rows));
        files.1.push(plain.file(&format!("f{f}"), 0, &rows));
    }
    let want: Vec<(i64, String)> =
        want.into_iter().filter(|(_, (kind, _))| *kind != D).map(|(k, (_, v))| (k, v)).collect();
    assert_eq!(plain.rows(&files.1), want);
    let reader = spill.reader(4);
    assert_eq!(reader.spill_threshold, 2);
    let runs = files.0.iter().map(|f| RunCursor::of_files(vec![f.clone()])).collect();
    let runs = reader.spill_runs(&spill.split(&files.0), runs).unwrap();
    assert_eq!(runs.len(), 2, "spilled down to the threshold");
    assert!(
        runs.iter().all(|r| r.repeats),
        "both runs were spilled: {:?}",
        runs.iter().map(|r| r.repeats).collect::<Vec<_>>()
    );
    for batch_size in [1, 4, 100] {
        assert_eq!(spill.read(&spill.split(&files.0), batch_size).0, want, "batch size {batch_size}");
    }
}

#[test]
fn reads_check_the_rows_a_file_holds() {
    let b = Bucket::new(&[]);
    let mut f = b.file("a", 1, &[(1, 1, I, "a"), (2, 2, D, "b")]);
    f.row_count = 3;
    let err = b.reader(10).read_split(&b.split(&[f]), &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("holds 2 rows but the manifest records 3"), "{err}");
}
