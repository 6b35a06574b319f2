//! The compaction rewriter's decisions: which lookups a table's compactions make
//! ([`LookupMode`]), when a unit moves a file up without rewriting it, and what a rewrite and a
//! lookup compaction produce, on input files kept decoded in memory (outputs go to an in-memory
//! store).

use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, Int8Type};
use arrow_array::{Int64Array, Int8Array, StringArray};
use std::collections::BTreeMap;

use crate::error::ErrorKind;
use crate::spec::{parse_type, Datum, NullStyle, SimpleStats};

const I: i8 = RowKind::Insert as i8;
const UB: i8 = RowKind::UpdateBefore as i8;
const UA: i8 = RowKind::UpdateAfter as i8;
const D: i8 = RowKind::Delete as i8;

fn table(primary_keys: &[&str], options: &[(&str, &str)]) -> TableSchema {
    let mut opts: BTreeMap<String, String> =
        [("bucket".to_string(), "1".to_string()), ("num-levels".to_string(), "4".to_string())].into_iter().collect();
    if primary_keys.is_empty() {
        opts.insert("bucket-key".into(), "k".into());
    }
    opts.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TableSchema::create(
        vec![("k".into(), parse_type("BIGINT").unwrap()), ("v".into(), parse_type("STRING").unwrap())],
        vec![],
        primary_keys.iter().map(|k| k.to_string()).collect(),
        opts,
        None,
    )
    .unwrap()
}

fn mode(options: &[(&str, &str)]) -> Option<LookupMode> {
    LookupMode::for_table(&table(&["k"], options)).unwrap()
}

#[test]
fn lookup_mode_of_a_table() {
    // Nothing to look up: no deletion vectors, changelog producer none or input; append tables.
    assert_eq!(mode(&[]), None);
    assert_eq!(mode(&[("changelog-producer", "input")]), None);
    assert_eq!(LookupMode::for_table(&table(&[], &[("changelog-producer", "lookup")])).unwrap(), None);

    let dv = mode(&[("deletion-vectors.enabled", "true")]).unwrap();
    assert_eq!(
        dv,
        LookupMode {
            deletion_vectors: true,
            changelog: false,
            full_compaction_changelog: false,
            max_level: 3,
            row_deduplicate: false,
            bitmap64: false,
        }
    );
    let lookup = mode(&[("changelog-producer", "lookup"), ("changelog-producer.row-deduplicate", "true")]).unwrap();
    assert!(
        lookup.changelog && !lookup.deletion_vectors && !lookup.full_compaction_changelog && lookup.row_deduplicate
    );
    let full = mode(&[("changelog-producer", "full-compaction")]).unwrap();
    assert!(full.full_compaction_changelog && !full.changelog && !full.deletion_vectors);
    let both = mode(&[("deletion-vectors.enabled", "true"), ("changelog-producer", "lookup")]).unwrap();
    assert!(both.deletion_vectors && both.changelog);
    assert!(mode(&[("deletion-vectors.enabled", "true"), ("deletion-vectors.bitmap64", "true")]).unwrap().bitmap64);
}

#[test]
fn lookup_mode_refuses_deletion_vectors_shoal_does_not_maintain() {
    let append = table(&[], &[("deletion-vectors.enabled", "true")]);
    assert_eq!(LookupMode::for_table(&append).unwrap_err().kind(), ErrorKind::Unsupported);
    // create refuses first-row with deletion vectors; a schema written elsewhere may hold them.
    let mut first_row = table(&["k"], &[("deletion-vectors.enabled", "true")]);
    first_row.options.insert("merge-engine".into(), "first-row".into());
    // (The merge engine's own check refuses it first, as an invalid option.)
    let e = LookupMode::for_table(&first_row).unwrap_err();
    assert!(e.to_string().contains("first-row"), "{e}");
}

#[test]
fn which_modes_force_level_0_and_where_changelog_is_produced() {
    let dv = mode(&[("deletion-vectors.enabled", "true")]).unwrap();
    let lookup = mode(&[("changelog-producer", "lookup")]).unwrap();
    let full = mode(&[("changelog-producer", "full-compaction")]).unwrap();
    assert!(dv.forces_level0() && lookup.forces_level0() && !full.forces_level0());
    assert!((0..=3).all(|l| !dv.changelog_at(l)));
    assert!((0..=3).all(|l| lookup.changelog_at(l)));
    assert_eq!((0..=3).map(|l| full.changelog_at(l)).collect::<Vec<_>>(), vec![false, false, false, true]);
}

fn meta(name: &str, level: i32, deletes: Option<i64>) -> DataFileMeta {
    DataFileMeta {
        file_name: name.into(),
        file_size: 100,
        row_count: 2,
        min_key: BinaryRow::empty(),
        max_key: BinaryRow::empty(),
        key_stats: SimpleStats::empty(),
        value_stats: SimpleStats::empty(),
        min_sequence_number: 0,
        max_sequence_number: 1,
        schema_id: 0,
        level,
        extra_files: vec![],
        creation_time: None,
        delete_row_count: deletes,
        embedded_index: None,
        file_source: None,
        value_stats_cols: None,
        external_path: None,
    }
}

#[test]
fn level_0_upgrades_without_rewrite_only_where_merging_cannot_change_rows() {
    let options = |extra: &[(&'static str, &'static str)]| -> (LookupMode, MergeFunction) {
        let s = table(&["k"], extra);
        (LookupMode::for_table(&s).unwrap().unwrap(), MergeFunction::from_schema(&s).unwrap())
    };
    let clean = meta("clean", 0, Some(0));
    let retracts = meta("retracts", 0, Some(1));
    let unknown = meta("unknown", 0, None);

    // Lookup changelog, deduplicate: merging never changes the newest rows.
    let (m, f) = options(&[("changelog-producer", "lookup")]);
    assert!(m.upgrades_level0(&clean, 1, &f));
    assert!(m.upgrades_level0(&retracts, 1, &f), "retractions kept on a middle level");
    assert!(!m.upgrades_level0(&retracts, 3, &f), "retractions are dropped on the last level");
    assert!(!m.upgrades_level0(&unknown, 3, &f), "an unknown delete count may hold retractions");
    assert!(!m.upgrades_level0(&clean, 0, &f), "not to level 0");
    assert!(!m.upgrades_level0(&clean.upgraded(1), 2, &f), "only level-0 files");

    // Deletion vectors: retractions must go, so only a file without them moves.
    let (m, f) = options(&[("deletion-vectors.enabled", "true")]);
    assert!(m.upgrades_level0(&clean, 1, &f));
    assert!(!m.upgrades_level0(&retracts, 1, &f));
    assert!(!m.upgrades_level0(&unknown, 1, &f));

    // Engines whose merge changes rows: only into the last level (nothing below to merge with).
    for extra in [
        &[("deletion-vectors.enabled", "true"), ("changelog-producer", "lookup"), ("merge-engine", "partial-update")][..],
        &[("deletion-vectors.enabled", "true"), ("sequence.field", "v")][..],
        &[("deletion-vectors.enabled", "true"), ("merge-engine", "aggregation")][..],
    ] {
        let (m, f) = options(extra);
        assert!(!m.upgrades_level0(&clean, 1, &f), "{extra:?}");
        assert!(m.upgrades_level0(&clean, 3, &f), "{extra:?}");
    }

    // Full-compaction changelog: every input's rows are changes, so never.
    let (m, f) = options(&[("changelog-producer", "full-compaction")]);
    assert!(!m.upgrades_level0(&clean, 3, &f));
}

/// A row of a data file: (key, sequence number, kind, v).
type Row<'a> = (i64, i64, i8, &'a str);

/// A rewriter of a table (k BIGINT primary key, v STRING) in memory, and the runtime it runs on.
fn rewriter(options: &[(&str, &str)]) -> Rewriter {
    let io = FileIO::from_uri("memory://rewrite-tests").unwrap();
    Rewriter::new(io, Arc::new(table(&["k"], options))).unwrap()
}

/// A data file on `level` holding `rows`, kept in the rewriter's decoded files (not stored).
fn decoded_file(r: &Rewriter, name: &str, level: i32, rows: &[Row<'_>]) -> DataFileMeta {
    let schema = &r.schema;
    let keys = |k: i64| {
        let types: Vec<_> = schema.trimmed_key_fields().into_iter().map(|f| f.data_type).collect();
        BinaryRow::from_datums(&[Datum::BigInt(k)], &types, NullStyle::Projection).unwrap()
    };
    let ints = |f: &dyn Fn(&Row<'_>) -> i64| Arc::new(Int64Array::from_iter_values(rows.iter().map(f)));
    let batch = RecordBatch::try_new(
        crate::spec::data_file::key_value_arrow_schema(schema),
        vec![
            ints(&|r| r.0),
            ints(&|r| r.1),
            Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2))),
            ints(&|r| r.0),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
        ],
    )
    .unwrap();
    r.decoded.insert(name, vec![batch]);
    DataFileMeta {
        row_count: rows.len() as i64,
        min_key: keys(rows[0].0),
        max_key: keys(rows[rows.len() - 1].0),
        min_sequence_number: rows.iter().map(|r| r.1).min().unwrap(),
        max_sequence_number: rows.iter().map(|r| r.1).max().unwrap(),
        delete_row_count: Some(rows.iter().filter(|r| r.2 == UB || r.2 == D).count() as i64),
        ..meta(name, level, None)
    }
}

/// The (k, sequence number, kind, v) rows of data files written by `r`.
async fn stored_rows(r: &Rewriter, files: &[DataFileMeta]) -> Vec<(i64, i64, i8, String)> {
    let mut out = vec![];
    for f in files {
        let bytes = r.io.read(&format!("bucket-0/{}", f.file_name)).await.unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        for b in reader.build().unwrap() {
            let b = b.unwrap();
            let k = b.column(0).as_primitive::<Int64Type>();
            let seq = b.column(1).as_primitive::<Int64Type>();
            let kind = b.column(2).as_primitive::<Int8Type>();
            let v = b.column(4).as_string::<i32>();
            out.extend((0..b.num_rows()).map(|i| (k.value(i), seq.value(i), kind.value(i), v.value(i).to_string())));
        }
    }
    out
}

fn owned(rows: &[Row<'_>]) -> Vec<(i64, i64, i8, String)> {
    rows.iter().map(|r| (r.0, r.1, r.2, r.3.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_single_file_unit_moves_without_a_rewrite() {
    let r = rewriter(&[]);
    let p = BinaryRow::empty();
    let f = meta("f", 1, Some(0));
    // Already on the output level: nothing to do.
    let same = r.rewrite(&p, 0, "bucket-0", CompactUnit { output_level: 1, files: vec![f.clone()] }, true).await;
    let same = same.unwrap();
    assert!(same.before.is_empty() && same.after.is_empty());
    // To another level: DELETE on the old level, ADD of the same file on the new one.
    let up = r.rewrite(&p, 0, "bucket-0", CompactUnit { output_level: 3, files: vec![f.clone()] }, true).await.unwrap();
    assert_eq!(up.before, vec![f.clone()]);
    assert_eq!(up.after, vec![f.upgraded(3)]);
    // Retractions kept while something below may hold their keys.
    let with_retracts = meta("r", 0, Some(1));
    let unit = CompactUnit { output_level: 2, files: vec![with_retracts.clone()] };
    let kept = r.rewrite(&p, 0, "bucket-0", unit, false).await.unwrap();
    assert_eq!(kept.after, vec![with_retracts.upgraded(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_rewrite_merges_its_inputs_and_keeps_outputs_decoded_above_the_last_level() {
    let r = rewriter(&[]);
    let p = BinaryRow::empty();
    let old = decoded_file(&r, "old", 1, &[(1, 1, I, "a"), (2, 2, I, "b"), (3, 3, I, "c")]);
    let new = decoded_file(&r, "new", 0, &[(1, 10, D, "a"), (3, 11, UA, "c2")]);
    let unit = CompactUnit { output_level: 2, files: vec![old.clone(), new.clone()] };
    let out = r.rewrite(&p, 0, "bucket-0", unit, false).await.unwrap();
    assert_eq!(out.before, vec![old, new]);
    assert_eq!(out.after.len(), 1);
    assert_eq!(out.after[0].level, 2);
    // Something may lie below level 2: the -D stays.
    let want = owned(&[(1, 10, D, "a"), (2, 2, I, "b"), (3, 11, UA, "c2")]);
    assert_eq!(stored_rows(&r, &out.after).await, want);
    assert_eq!(out.after[0].delete_row_count, Some(1));
    // The inputs leave the decoded files; the output (not on the last level) joins them.
    assert!(r.decoded.get("old").is_none() && r.decoded.get("new").is_none());
    assert!(r.decoded.get(&out.after[0].file_name).is_some());

    // Into the last level with nothing below: the -D goes, and the output is not kept decoded.
    let unit = CompactUnit { output_level: 3, files: out.after.clone() };
    let last = r.rewrite(&p, 0, "bucket-0", unit, true).await.unwrap();
    assert_eq!(stored_rows(&r, &last.after).await, owned(&[(2, 2, I, "b"), (3, 11, UA, "c2")]));
    assert!(r.decoded.get(&last.after[0].file_name).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_lookup_compaction_above_level_0_moves_a_lone_file() {
    let r = rewriter(&[("changelog-producer", "lookup")]);
    let mode = LookupMode::for_table(&r.schema).unwrap().unwrap();
    let f = meta("f", 1, Some(1));
    let unit = CompactUnit { output_level: 2, files: vec![f.clone()] };
    let (out, _) = r
        .rewrite_with_lookup(&BinaryRow::empty(), 0, "bucket-0", unit, vec![], DvState::default(), mode)
        .await
        .unwrap();
    assert_eq!((out.before, out.after, out.changelog.len()), (vec![f.clone()], vec![f.upgraded(2)], 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_lookup_changelog_compares_with_the_value_below() {
    let r = rewriter(&[("changelog-producer", "lookup")]);
    let mode = LookupMode::for_table(&r.schema).unwrap().unwrap();
    let below = decoded_file(&r, "below", 3, &[(1, 1, I, "a"), (2, 2, I, "b"), (4, 4, I, "d")]);
    let l0 = decoded_file(&r, "l0", 0, &[(1, 10, I, "a2"), (2, 11, D, "b"), (3, 12, I, "c")]);
    let unit = CompactUnit { output_level: 1, files: vec![l0.clone()] };
    let (out, _) = r
        .rewrite_with_lookup(&BinaryRow::empty(), 0, "bucket-0", unit, vec![below], DvState::default(), mode)
        .await
        .unwrap();
    // Key 1 updated, key 2 deleted, key 3 new; key 4, untouched by level 0, has no change.
    assert_eq!(
        stored_rows(&r, &out.changelog).await,
        owned(&[(1, 1, UB, "a"), (1, 10, UA, "a2"), (2, 2, D, "b"), (3, 12, I, "c")])
    );
    // Deduplicate without sequence.field: the level-0 file moves up as it is (its -D kept for
    // the level below).
    assert_eq!(out.after, vec![l0.upgraded(1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_deletion_vector_compaction_marks_older_rows_below_and_drops_retractions() {
    let r = rewriter(&[("deletion-vectors.enabled", "true")]);
    let mode = LookupMode::for_table(&r.schema).unwrap().unwrap();
    let below = decoded_file(&r, "below", 3, &[(1, 1, I, "a"), (2, 2, I, "b"), (4, 4, I, "d")]);
    let l0 = decoded_file(&r, "l0", 0, &[(1, 10, I, "a2"), (2, 11, D, "b"), (3, 12, I, "c")]);
    let unit = CompactUnit { output_level: 1, files: vec![l0] };
    let (out, state) = r
        .rewrite_with_lookup(&BinaryRow::empty(), 0, "bucket-0", unit, vec![below], DvState::default(), mode)
        .await
        .unwrap();
    // The rows of keys 1 and 2 below are deleted (positions 0 and 1); key 4 stays.
    let dv = state.vectors.get("below").expect("a vector for the file below");
    assert_eq!(dv.iter().collect::<Vec<u32>>(), vec![0, 1]);
    // A file with a retraction is rewritten, the retraction dropped.
    assert_eq!(out.after.len(), 1);
    assert_eq!(stored_rows(&r, &out.after).await, owned(&[(1, 10, I, "a2"), (3, 12, I, "c")]));
    assert!(out.changelog.is_empty());
}
