//! Golden tables written by the reference implementations (Java Paimon 0.9 and pypaimon 2.1),
//! committed under tests/data/reference/ with the rows their writers read back at every snapshot.
//! shoal must read every snapshot of them identically. Needs no Python or Java.

mod common;

use shoal::Table;

fn reference(name: &str) -> String {
    format!("{}/tests/data/reference/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Reads from a copy, so a failed test can never damage the committed table.
fn copy_table(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(std::path::Path::new(&reference(name)), dir.path());
    dir
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

async fn check_every_snapshot(name: &str) -> usize {
    let dir = copy_table(name);
    let table = Table::open(dir.path().to_str().unwrap()).await.unwrap();
    let types: Vec<_> = table.schema().fields.iter().map(|f| f.data_type.clone()).collect();
    let ids = table.snapshots().snapshot_ids().await.unwrap();
    assert!(!ids.is_empty());
    let mut checked = 0;
    for id in ids {
        let path = reference(&format!("{name}.expected.snapshot-{id}.jsonl"));
        let Ok(expected) = std::fs::read_to_string(&path) else { continue };
        let batch = table.read_all(Some(id), None).await.unwrap_or_else(|e| panic!("{name} snapshot {id}: {e}"));
        assert_eq!(
            common::rows_as_lines(&[batch], &types),
            common::canonical_lines(&expected),
            "{name} at snapshot {id}"
        );
        checked += 1;
    }
    let latest = table.read_all(None, None).await.unwrap();
    let expected = std::fs::read_to_string(reference(&format!("{name}.expected.jsonl"))).unwrap();
    assert_eq!(common::rows_as_lines(&[latest], &types), common::canonical_lines(&expected), "{name} latest");
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_paimon_09_primary_key_table() {
    assert!(check_every_snapshot("java09_pk").await >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypaimon_2_primary_key_table() {
    assert!(check_every_snapshot("py2_pk").await >= 3);
}

/// Java Paimon 0.9 with `deletion-vectors.enabled`: level-0 files invisible, deletion vectors
/// (index manifest, index files with CRC) applied, at every snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_paimon_09_deletion_vector_table() {
    assert!(check_every_snapshot("java09_dv").await >= 6);
}

/// A flipped bit in a deletion-vector index file fails the read naming the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_deletion_vector_fails_naming_the_file() {
    let dir = copy_table("java09_dv");
    let index = dir.path().join("index");
    for e in std::fs::read_dir(&index).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x10;
        std::fs::write(&p, bytes).unwrap();
    }
    let table = Table::open(dir.path().to_str().unwrap()).await.unwrap();
    let e = table.read_all(None, None).await.unwrap_err().to_string();
    assert!(e.contains("index-") && (e.contains("CRC32") || e.contains("bitmap")), "{e}");
}
