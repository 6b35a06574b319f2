use super::*;
use crate::spec::{parse_type, Datum, NullStyle};

fn partition(v: i32) -> BinaryRow {
    BinaryRow::from_datums(&[Datum::Int(v)], &[parse_type("INT").unwrap()], NullStyle::Projection).unwrap()
}

#[tokio::test]
async fn new_keys_fill_the_lowest_bucket_below_the_target_then_open_a_new_one() {
    let io = FileIO::from_uri("memory://t").unwrap();
    let mut a = DynamicBucketAssigner::new(io.clone(), 2, vec![]);
    let p = partition(1);
    a.load(&p).await.unwrap();
    let buckets: Vec<i32> = [10, 11, 12, 10, 13, 14].iter().map(|&h| a.assign(p.data(), h).unwrap()).collect();
    assert_eq!(buckets, vec![0, 0, 1, 0, 1, 2], "a known key keeps its bucket; two keys per bucket");

    let mut namer = FileNamer::new();
    let sets = a.prepare_commit(&mut namer).await.unwrap();
    assert_eq!(sets.len(), 1);
    assert!(sets[0].base.is_empty());
    let changes = sets[0].changes.clone();
    assert_eq!(changes.len(), 3, "one ADD per bucket, nothing to delete yet");
    assert!(changes.iter().all(|c| c.kind == FileKind::Add && c.index_type == HASH_INDEX));
    let b0 = changes.iter().find(|c| c.bucket == 0).unwrap();
    assert_eq!(b0.row_count, 2);
    let bytes = io.read(&index_path(&b0.file_name)).await.unwrap();
    assert_eq!(hash_index::decode(&bytes, "f").unwrap(), vec![10, 11]);
    assert!(a.prepare_commit(&mut namer).await.unwrap().is_empty(), "nothing new, no files");

    // A writer starting from these files continues where this one stopped.
    let mut b = DynamicBucketAssigner::new(io.clone(), 2, changes.clone());
    b.load(&p).await.unwrap();
    assert_eq!(b.assign(p.data(), 13).unwrap(), 1);
    assert_eq!(b.assign(p.data(), 15).unwrap(), 2, "buckets 0 and 1 are full");
    assert_eq!(b.assign(p.data(), 16).unwrap(), 3);
    let sets = b.prepare_commit(&mut namer).await.unwrap();
    let mut base: Vec<String> = changes.iter().map(|c| c.file_name.clone()).collect();
    base.sort();
    assert_eq!(sets[0].base, base, "built on the three files");
    check_hash_index_base(&changes, &p, &sets[0].base).unwrap();
    let err = check_hash_index_base(&changes[..2], &p, &sets[0].base).unwrap_err().to_string();
    assert!(err.contains("one writer per partition"), "{err}");
    let next = sets[0].changes.clone();
    let deleted: Vec<i32> = next.iter().filter(|c| c.kind == FileKind::Delete).map(|c| c.bucket).collect();
    let added: Vec<i32> = next.iter().filter(|c| c.kind == FileKind::Add).map(|c| c.bucket).collect();
    assert_eq!((deleted, added), (vec![2], vec![2, 3]), "bucket 2's file is replaced, bucket 3's is new");

    // Partitions are independent.
    let q = partition(2);
    b.load(&q).await.unwrap();
    assert_eq!(b.assign(q.data(), 10).unwrap(), 0);
}

#[tokio::test]
async fn a_corrupt_index_file_is_named() {
    let io = FileIO::from_uri("memory://t2").unwrap();
    io.write("index/index-bad-0", vec![0u8; 5]).await.unwrap();
    let p = partition(1);
    let e = IndexManifestEntry {
        kind: FileKind::Add,
        partition: p.clone(),
        bucket: 0,
        index_type: HASH_INDEX.into(),
        file_name: "index-bad-0".into(),
        file_size: 5,
        row_count: 1,
        deletion_vectors: vec![],
    };
    let mut a = DynamicBucketAssigner::new(io, 10, vec![e]);
    let err = a.load(&p).await.unwrap_err().to_string();
    assert!(err.contains("index-bad-0") && err.contains("hash index"), "{err}");
}
