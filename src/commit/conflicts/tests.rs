//! The conflict rules of a commit against the live files, without storage: files to delete must
//! be live, no overlapping key ranges on a level above 0 after the commit, a compaction's base
//! above level 0 unchanged; and how the live files move on by a snapshot's delta.

use super::*;
use crate::error::ErrorKind;
use crate::spec::{parse_type, BinaryRow, DataFileMeta, NullStyle, SimpleStats};
use std::collections::{BTreeMap, HashMap};

fn table(primary_keys: &[&str]) -> TableSchema {
    TableSchema::create(
        vec![("k".into(), parse_type("BIGINT").unwrap()), ("v".into(), parse_type("STRING").unwrap())],
        vec![],
        primary_keys.iter().map(|k| k.to_string()).collect(),
        BTreeMap::from([("bucket".to_string(), "2".to_string()), ("bucket-key".to_string(), "k".to_string())]),
        None,
    )
    .unwrap()
}

fn key(k: i64) -> BinaryRow {
    let types: Vec<DataType> = table(&["k"]).trimmed_key_fields().into_iter().map(|f| f.data_type).collect();
    BinaryRow::from_datums(&[Datum::BigInt(k)], &types, NullStyle::Projection).unwrap()
}

fn partition(p: i32) -> BinaryRow {
    BinaryRow::from_datums(&[Datum::Int(p)], &[parse_type("INT").unwrap()], NullStyle::Serializer).unwrap()
}

/// A data file of keys `min..=max` on `level`.
fn file(name: &str, level: i32, min: i64, max: i64) -> DataFileMeta {
    DataFileMeta {
        file_name: name.into(),
        file_size: 1000,
        row_count: max - min + 1,
        min_key: key(min),
        max_key: key(max),
        key_stats: SimpleStats::empty(),
        value_stats: SimpleStats::empty(),
        min_sequence_number: 0,
        max_sequence_number: 0,
        schema_id: 0,
        level,
        extra_files: vec![],
        creation_time: None,
        delete_row_count: Some(0),
        embedded_index: None,
        file_source: None,
        value_stats_cols: None,
        external_path: None,
    }
}

fn entry_in(kind: FileKind, p: &BinaryRow, bucket: i32, f: &DataFileMeta) -> ManifestEntry {
    ManifestEntry { kind, partition: p.clone(), bucket, total_buckets: 2, file: f.clone() }
}

fn add(bucket: i32, f: &DataFileMeta) -> ManifestEntry {
    entry_in(FileKind::Add, &BinaryRow::empty(), bucket, f)
}

fn delete(bucket: i32, f: &DataFileMeta) -> ManifestEntry {
    entry_in(FileKind::Delete, &BinaryRow::empty(), bucket, f)
}

fn live_of(entries: &[ManifestEntry]) -> HashMap<FileIdentifier, ManifestEntry> {
    entries.iter().map(|e| (e.identifier(), e.clone())).collect()
}

/// Checks a commit of `changes` (its deletes taken from them) against `live`.
fn check(live: &HashMap<FileIdentifier, ManifestEntry>, changes: &[ManifestEntry], schema: &TableSchema) -> Result<()> {
    let deletes: Vec<FileIdentifier> =
        changes.iter().filter(|e| e.kind == FileKind::Delete).map(ManifestEntry::identifier).collect();
    check_conflicts_in(live, &deletes, changes, &[], schema)
}

fn conflict(r: Result<()>) -> String {
    let e = r.expect_err("a conflict");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    e.to_string()
}

#[test]
fn deleting_a_live_file_is_fine() {
    let s = table(&["k"]);
    let a = file("a", 0, 1, 10);
    let live = live_of(&[add(0, &a)]);
    check(&live, &[delete(0, &a), add(0, &file("b", 1, 1, 10))], &s).unwrap();
}

#[test]
fn deleting_a_file_another_commit_removed_conflicts() {
    let s = table(&["k"]);
    let a = file("a", 0, 1, 10);
    let mut live = LiveFiles { snapshot: 1, files: live_of(&[add(0, &a)]) };
    // Two compactions planned on the same file: the first commits ...
    let first = [delete(0, &a), add(0, &file("b", 1, 1, 10))];
    check(&live.files, &first, &s).unwrap();
    live.apply(2, first.iter().cloned()).unwrap();
    // ... and the second finds its input gone.
    let second = [delete(0, &a), add(0, &file("c", 2, 1, 10))];
    let msg = conflict(check(&live.files, &second, &s));
    assert!(msg.contains("file a (bucket 0, level 0) to be deleted is no longer in the table"), "{msg}");
}

#[test]
fn a_file_is_identified_by_its_level_and_bucket_too() {
    let s = table(&["k"]);
    let a = file("a", 1, 1, 10);
    let live = live_of(&[add(0, &a)]);
    // The same name on another level or in another bucket is another file.
    conflict(check(&live, &[delete(0, &a.upgraded(2))], &s));
    conflict(check(&live, &[delete(1, &a)], &s));
    check(&live, &[delete(0, &a)], &s).unwrap();
}

#[test]
fn files_added_above_level_0_must_not_overlap_the_level() {
    let s = table(&["k"]);
    let live = live_of(&[add(0, &file("l1-a", 1, 1, 10)), add(0, &file("l1-b", 1, 20, 30))]);
    // Between them: fine. Overlapping one, or sharing its boundary key: a conflict.
    check(&live, &[add(0, &file("new", 1, 11, 19))], &s).unwrap();
    let msg = conflict(check(&live, &[add(0, &file("new", 1, 5, 15))], &s));
    assert!(msg.contains("LSM conflict in bucket 0") && msg.contains("level 1"), "{msg}");
    assert!(msg.contains("l1-a") && msg.contains("new"), "{msg}");
    conflict(check(&live, &[add(0, &file("new", 1, 30, 40))], &s));
    // Two added files overlapping each other.
    conflict(check(&live, &[add(0, &file("x", 1, 11, 15)), add(0, &file("y", 1, 15, 19))], &s));
}

#[test]
fn overlaps_only_count_on_one_level_of_one_bucket_above_level_0() {
    let s = table(&["k"]);
    let live = live_of(&[add(0, &file("l0", 0, 1, 100)), add(0, &file("l1", 1, 1, 10)), add(1, &file("b1", 2, 1, 10))]);
    // Level 0 may overlap anything; other levels and other buckets are not compared.
    check(&live, &[add(0, &file("new-l0", 0, 1, 10))], &s).unwrap();
    check(&live, &[add(0, &file("new-l2", 2, 1, 10))], &s).unwrap();
    check(&live, &[add(1, &file("new-b1", 1, 1, 10))], &s).unwrap();
    conflict(check(&live, &[add(1, &file("new-b1", 2, 5, 6))], &s));
}

#[test]
fn overlaps_in_other_partitions_do_not_count() {
    let s = table(&["k"]);
    let (p1, p2) = (partition(1), partition(2));
    let live = live_of(&[entry_in(FileKind::Add, &p1, 0, &file("p1", 1, 1, 10))]);
    check(&live, &[entry_in(FileKind::Add, &p2, 0, &file("p2", 1, 1, 10))], &s).unwrap();
    conflict(check(&live, &[entry_in(FileKind::Add, &p1, 0, &file("p1-new", 1, 1, 10))], &s));
}

#[test]
fn a_file_replaced_by_the_same_commit_does_not_overlap() {
    let s = table(&["k"]);
    let old = file("old", 1, 1, 10);
    let live = live_of(&[add(0, &old)]);
    check(&live, &[delete(0, &old), add(0, &file("new", 1, 1, 10))], &s).unwrap();
    // Upgraded to level 2 beside an overlapping file there: a conflict on level 2.
    let live = live_of(&[add(0, &old), add(0, &file("l2", 2, 5, 20))]);
    conflict(check(&live, &[delete(0, &old), add(0, &old.upgraded(2))], &s));
}

#[test]
fn append_tables_have_no_key_ranges_to_check() {
    let s = table(&[]);
    let live = live_of(&[add(0, &file("a", 1, 1, 10))]);
    check(&live, &[add(0, &file("b", 1, 1, 10))], &s).unwrap();
    // Deletes are still checked.
    conflict(check(&live, &[delete(0, &file("gone", 1, 1, 10))], &s));
}

fn compaction(bucket: i32, before: &[DataFileMeta], after: &[DataFileMeta], base: &[(&str, i32)]) -> CommitMessage {
    let mut m = CommitMessage::new(BinaryRow::empty(), bucket, 2);
    m.compact_before = before.to_vec();
    m.compact_after = after.to_vec();
    m.compact_base = Some(base.iter().map(|(n, l)| (n.to_string(), *l)).collect());
    m
}

fn check_compaction(live: &HashMap<FileIdentifier, ManifestEntry>, m: &CommitMessage) -> Result<()> {
    let changes = super::super::compaction_entries(m);
    let deletes: Vec<FileIdentifier> =
        changes.iter().filter(|e| e.kind == FileKind::Delete).map(ManifestEntry::identifier).collect();
    check_conflicts_in(live, &deletes, &changes, &[m], &table(&["k"]))
}

#[test]
fn compaction_entries_delete_the_inputs_and_add_the_outputs() {
    let (a, b) = (file("a", 0, 1, 5), file("b", 1, 1, 5));
    let m = compaction(1, std::slice::from_ref(&a), std::slice::from_ref(&b), &[]);
    let entries = super::super::compaction_entries(&m);
    let got: Vec<(FileKind, &str, i32, i32)> =
        entries.iter().map(|e| (e.kind, e.file.file_name.as_str(), e.bucket, e.total_buckets)).collect();
    assert_eq!(got, vec![(FileKind::Delete, "a", 1, 2), (FileKind::Add, "b", 1, 2)]);
}

#[test]
fn a_compaction_needs_the_bucket_above_level_0_it_was_planned_on() {
    let (l0, l1, l2) = (file("l0", 0, 1, 10), file("l1", 1, 1, 10), file("l2", 2, 1, 10));
    let live = live_of(&[add(0, &l0), add(0, &l1), add(0, &l2), add(1, &file("other-bucket", 1, 1, 10))]);
    let out = file("out", 2, 1, 10);
    // Planned on l1 and l2 (level-0 files and other buckets do not count): fine.
    let m = compaction(0, &[l0.clone(), l1.clone(), l2.clone()], std::slice::from_ref(&out), &[("l2", 2), ("l1", 1)]);
    check_compaction(&live, &m).unwrap();
    // Planned before another compaction added a file on level 3.
    let mut later = live.clone();
    later.extend(live_of(&[add(0, &file("l3", 3, 50, 60))]));
    let msg = conflict(check_compaction(&later, &m));
    assert!(msg.contains("new to it: [(\"l3\", 3)]") && msg.contains("gone: []"), "{msg}");
    // Planned on a file that has moved to another level since.
    let m =
        compaction(0, std::slice::from_ref(&l0), std::slice::from_ref(&file("out", 1, 1, 10)), &[("l1", 1), ("l2", 3)]);
    let msg = conflict(check_compaction(&live, &m));
    assert!(msg.contains("new to it: [(\"l2\", 2)]") && msg.contains("gone: [(\"l2\", 3)]"), "{msg}");
}

#[test]
fn live_files_move_on_by_each_delta() {
    let (a, b) = (file("a", 0, 1, 5), file("b", 1, 1, 5));
    let mut live = LiveFiles { snapshot: 3, files: live_of(&[add(0, &a)]) };
    live.apply(4, [delete(0, &a), add(0, &b)]).unwrap();
    assert_eq!(live.snapshot, 4);
    let names: Vec<&str> = live.files.values().map(|e| e.file.file_name.as_str()).collect();
    assert_eq!(names, vec!["b"]);
}

#[test]
fn a_delta_that_does_not_fit_the_live_files_is_corruption() {
    let a = file("a", 0, 1, 5);
    let mut live = LiveFiles { snapshot: 1, files: live_of(&[add(0, &a)]) };
    let e = live.apply(2, [add(0, &a)]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert!(e.to_string().contains("a live file is added again"), "{e}");
    let e = live.apply(2, [delete(0, &file("x", 0, 1, 5))]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert!(e.to_string().contains("file x is deleted but is not live"), "{e}");
    assert_eq!(live.snapshot, 1, "a failed delta leaves the snapshot");
}
