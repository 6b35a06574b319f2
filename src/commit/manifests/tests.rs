//! Minor manifest compaction's decisions (which manifests merge, what a merge keeps) on an
//! in-memory table directory, and the partition stats of a manifest.

use super::*;
use crate::io::FileIO;
use crate::spec::{parse_type, DataFileMeta, FileKind, TableSchema};
use std::collections::BTreeMap;
use std::sync::Arc;

fn file(name: &str) -> DataFileMeta {
    DataFileMeta {
        file_name: name.into(),
        file_size: 1000,
        row_count: 1,
        min_key: BinaryRow::empty(),
        max_key: BinaryRow::empty(),
        key_stats: SimpleStats::empty(),
        value_stats: SimpleStats::empty(),
        min_sequence_number: 0,
        max_sequence_number: 0,
        schema_id: 0,
        level: 0,
        extra_files: vec![],
        creation_time: None,
        delete_row_count: Some(0),
        embedded_index: None,
        file_source: None,
        value_stats_cols: None,
        external_path: None,
    }
}

fn entry(kind: FileKind, name: &str) -> ManifestEntry {
    ManifestEntry { kind, partition: BinaryRow::empty(), bucket: 0, total_buckets: 1, file: file(name) }
}

/// A committer of an append table in memory, merging `min_count` manifests or `target` bytes.
fn committer(min_count: usize, target: u64) -> TableCommit {
    let schema = TableSchema::create(
        vec![("v".into(), parse_type("INT").unwrap())],
        vec![],
        vec![],
        BTreeMap::from([("manifest.merge-min-count".to_string(), min_count.to_string())]),
        None,
    )
    .unwrap();
    let io = FileIO::from_uri("memory://manifest-tests").unwrap();
    let mut c = TableCommit::new(io, Arc::new(schema), "test").unwrap();
    c.manifest_target_size = target;
    c
}

/// Writes one manifest per entry list.
async fn manifests(c: &TableCommit, namer: &mut FileNamer, lists: &[Vec<ManifestEntry>]) -> Vec<ManifestFileMeta> {
    let mut out = vec![];
    for entries in lists {
        out.push(c.manifests.write_manifest(namer, entries, 0, SimpleStats::empty()).await.unwrap());
    }
    out
}

fn names(metas: &[ManifestFileMeta]) -> Vec<String> {
    metas.iter().map(|m| m.file_name.clone()).collect()
}

async fn entries_of(c: &TableCommit, metas: &[ManifestFileMeta]) -> Vec<(FileKind, String)> {
    c.manifests.read_entries(metas).await.unwrap().into_iter().map(|e| (e.kind, e.file.file_name)).collect()
}

#[tokio::test]
async fn fewer_than_the_min_count_stay_as_they_are() {
    let c = committer(3, 8 << 20);
    let mut namer = FileNamer::new();
    let metas = manifests(&c, &mut namer, &[vec![entry(FileKind::Add, "a")], vec![entry(FileKind::Add, "b")]]).await;
    let (result, written) = c.merge_manifests(&mut namer, metas.clone(), &[]).await.unwrap();
    assert_eq!(names(&result), names(&metas));
    assert!(written.is_empty());
}

#[tokio::test]
async fn the_min_count_merges_them_into_one_with_deleted_files_gone() {
    let c = committer(3, 8 << 20);
    let mut namer = FileNamer::new();
    let metas = manifests(
        &c,
        &mut namer,
        &[
            vec![entry(FileKind::Add, "a"), entry(FileKind::Add, "b")],
            vec![entry(FileKind::Delete, "a"), entry(FileKind::Add, "c")],
            vec![entry(FileKind::Add, "d")],
        ],
    )
    .await;
    let (result, written) = c.merge_manifests(&mut namer, metas.clone(), &[]).await.unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(written, names(&result));
    assert!(!names(&metas).contains(&result[0].file_name), "a new manifest");
    assert_eq!((result[0].num_added_files, result[0].num_deleted_files), (3, 0));
    assert_eq!(
        entries_of(&c, &result).await,
        vec![(FileKind::Add, "b".to_string()), (FileKind::Add, "c".to_string()), (FileKind::Add, "d".to_string())]
    );
}

#[tokio::test]
async fn a_delete_of_a_file_added_before_the_group_is_kept() {
    // Base manifests merged on their own (not a full compaction): a DELETE whose ADD lies in an
    // earlier manifest outside the group must survive the merge.
    let c = committer(2, 8 << 20);
    let mut namer = FileNamer::new();
    let metas =
        manifests(&c, &mut namer, &[vec![entry(FileKind::Delete, "old")], vec![entry(FileKind::Add, "new")]]).await;
    let (result, _) = c.merge_manifests(&mut namer, metas, &[]).await.unwrap();
    assert_eq!(
        entries_of(&c, &result).await,
        vec![(FileKind::Delete, "old".to_string()), (FileKind::Add, "new".to_string())]
    );
}

#[tokio::test]
async fn a_group_that_cancels_out_leaves_no_manifest() {
    let c = committer(2, 8 << 20);
    let mut namer = FileNamer::new();
    let metas = manifests(&c, &mut namer, &[vec![entry(FileKind::Add, "a")], vec![entry(FileKind::Delete, "a")]]).await;
    let (result, written) = c.merge_manifests(&mut namer, metas, &[]).await.unwrap();
    assert!(result.is_empty());
    assert!(written.is_empty());
}

#[tokio::test]
async fn groups_reaching_the_target_size_merge_and_a_lone_large_manifest_stays() {
    let mut c = committer(30, 0);
    let mut namer = FileNamer::new();
    let lists: Vec<Vec<ManifestEntry>> =
        ["a", "b", "c", "d", "e"].iter().map(|n| vec![entry(FileKind::Add, n)]).collect();
    let metas = manifests(&c, &mut namer, &lists).await;
    // Each manifest alone reaches a target of 1 byte: none is rewritten.
    c.manifest_target_size = 1;
    let (result, written) = c.merge_manifests(&mut namer, metas.clone(), &[]).await.unwrap();
    assert_eq!(names(&result), names(&metas));
    assert!(written.is_empty());
    // A target two manifests reach: (a, b) and (c, d) merge; e trails below the min count.
    c.manifest_target_size = (metas[0].file_size + metas[1].file_size) as u64;
    assert!(metas[..4].iter().all(|m| m.file_size == metas[0].file_size), "same-sized manifests");
    let (result, written) = c.merge_manifests(&mut namer, metas.clone(), &[]).await.unwrap();
    assert_eq!(result.len(), 3);
    assert_eq!(written, names(&result[..2]));
    assert_eq!(result[2].file_name, metas[4].file_name);
    assert_eq!(
        entries_of(&c, &result[..1]).await,
        vec![(FileKind::Add, "a".to_string()), (FileKind::Add, "b".to_string())]
    );
}

#[test]
fn partition_stats_cover_each_partition_once() {
    let types = vec![parse_type("INT").unwrap(), parse_type("STRING").unwrap()];
    let row = |p: Option<i32>, s: &str| {
        let d = [p.map(Datum::Int).unwrap_or(Datum::Null), Datum::String(s.into())];
        BinaryRow::from_datums(&d, &types, NullStyle::Serializer).unwrap()
    };
    let in_partition = |p: BinaryRow| ManifestEntry { partition: p, ..entry(FileKind::Add, "f") };
    let entries = vec![
        in_partition(row(Some(3), "x")),
        in_partition(row(None, "b")),
        in_partition(row(Some(-2), "y")),
        in_partition(row(None, "b")), // the same partition again: its null counts once
        in_partition(row(Some(3), "a")),
    ];
    let stats = partition_stats(&entries, &types);
    let nullable: Vec<DataType> = types.iter().map(|t| t.with_nullable(true)).collect();
    assert_eq!(stats.min_values.to_datums(&nullable).unwrap(), vec![Datum::Int(-2), Datum::String("a".into())]);
    assert_eq!(stats.max_values.to_datums(&nullable).unwrap(), vec![Datum::Int(3), Datum::String("y".into())]);
    assert_eq!(stats.null_counts, Some(vec![Some(1), Some(0)]));
}

#[test]
fn unpartitioned_tables_have_empty_partition_stats() {
    assert_eq!(partition_stats(&[entry(FileKind::Add, "a")], &[]), SimpleStats::empty());
}
