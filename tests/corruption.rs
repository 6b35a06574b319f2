//! Corrupt metadata and data files fail reads with an error naming the file, never with wrong
//! rows: truncated or bit-flipped snapshots and manifests, truncated or replaced data files.
//! (Deletion-vector files: tests/reference_tables.rs.)

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use shoal::spec::parse_type;
use shoal::table::TableDefinition;
use shoal::Table;

async fn table_with_data(dir: &std::path::Path) -> Table {
    let t = Table::create(
        dir.to_str().unwrap(),
        TableDefinition::default()
            .column("k", parse_type("BIGINT NOT NULL").unwrap())
            .column("v", parse_type("STRING").unwrap())
            .primary_key(&["k"])
            .option("bucket", "1"),
    )
    .await
    .unwrap();
    let mut w = t.new_write().await.unwrap();
    let b = RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(Int64Array::from((0..500).collect::<Vec<i64>>())) as ArrayRef,
            Arc::new(StringArray::from((0..500).map(|i| format!("value-{i}")).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    w.write(&b).await.unwrap();
    t.new_commit("c").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap();
    t
}

fn files_in(dir: &std::path::Path, sub: &str, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    out.sort();
    out
}

async fn read_error(dir: &std::path::Path) -> String {
    match Table::open(dir.to_str().unwrap()).await {
        Err(e) => e.to_string(),
        Ok(t) => t.read_all(None, None).await.err().map(|e| e.to_string()).expect("a corrupt table must not read"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_or_flipped_snapshot_names_the_file() {
    for damage in ["truncate", "flip"] {
        let dir = tempfile::tempdir().unwrap();
        table_with_data(dir.path()).await;
        let snap = dir.path().join("snapshot/snapshot-1");
        let mut bytes = std::fs::read(&snap).unwrap();
        if damage == "truncate" {
            bytes.truncate(bytes.len() / 2);
        } else {
            let i = bytes.iter().position(|b| *b == b':').unwrap();
            bytes[i] = b';';
        }
        std::fs::write(&snap, bytes).unwrap();
        let e = read_error(dir.path()).await;
        assert!(e.contains("snapshot-1"), "{damage}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_manifests_name_the_file() {
    for (prefix, damage) in [("manifest-list-", "truncate"), ("manifest-", "truncate"), ("manifest-", "flip")] {
        let dir = tempfile::tempdir().unwrap();
        table_with_data(dir.path()).await;
        let targets: Vec<_> = files_in(dir.path(), "manifest", prefix)
            .into_iter()
            .filter(|p| {
                prefix != "manifest-" || !p.file_name().unwrap().to_string_lossy().starts_with("manifest-list-")
            })
            .collect();
        assert!(!targets.is_empty());
        for p in &targets {
            let mut bytes = std::fs::read(p).unwrap();
            if damage == "truncate" {
                bytes.truncate(bytes.len() * 2 / 3);
            } else {
                let n = bytes.len();
                for i in (n / 2..n - 20).step_by(7) {
                    bytes[i] ^= 0x5a;
                }
            }
            std::fs::write(p, bytes).unwrap();
        }
        let e = read_error(dir.path()).await;
        assert!(e.contains(prefix) && e.contains("manifest"), "{prefix} {damage}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_or_replaced_data_file_names_the_file() {
    for damage in ["truncate", "replace"] {
        let dir = tempfile::tempdir().unwrap();
        table_with_data(dir.path()).await;
        let data = files_in(dir.path(), "bucket-0", "data-");
        assert_eq!(data.len(), 1);
        let mut bytes = std::fs::read(&data[0]).unwrap();
        if damage == "truncate" {
            bytes.truncate(bytes.len() - 100);
        } else {
            bytes.extend_from_slice(b"appended garbage");
        }
        std::fs::write(&data[0], bytes).unwrap();
        let e = read_error(dir.path()).await;
        let name = data[0].file_name().unwrap().to_string_lossy().to_string();
        assert!(e.contains(&name) && e.contains("manifest records"), "{damage}: {e}");
    }
}
