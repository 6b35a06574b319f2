//! The decoupled changelog lifecycle (Paimon's `changelog.num-retained.min`,
//! `changelog.num-retained.max`, `changelog.time-retained`): snapshot expiry turns expired
//! snapshots into long-lived changelogs (`changelog/changelog-<id>`) that streaming readers still
//! read, changelog expiry removes them by their own options and consumers, and orphan-file
//! removal, rollback and tag deletion leave alone what they keep. Real tables on local disk.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use shoal::maintenance::operations::{CreateTag, DeleteTag, RemoveOrphanFiles, Rollback};
use shoal::read::{ChangeBatch, StartingPosition, StreamOptions};
use shoal::spec::options::ConsumerMode;
use shoal::store::{Consumer, ManifestStore};
use shoal::Table;

use common::kv_batch as batch;
use common::kv_def as def;

/// Snapshots: 2 kept; changelogs: 10.
const DECOUPLED: [(&str, &str); 4] = [
    ("bucket", "1"),
    ("snapshot.num-retained.min", "1"),
    ("snapshot.num-retained.max", "2"),
    ("changelog.num-retained.max", "10"),
];

/// No compaction: one snapshot per commit, so snapshot ids are the keys written.
const NO_COMPACTION: [(&str, &str); 2] =
    [("num-sorted-run.compaction-trigger", "50"), ("num-sorted-run.stop-trigger", "60")];

async fn create(dir: &tempfile::TempDir, extra: &[(&str, &str)]) -> Table {
    let mut options = DECOUPLED.to_vec();
    options.extend_from_slice(extra);
    Table::create(dir.path().to_str().unwrap(), def(&options)).await.unwrap()
}

async fn commit_row(t: &Table, k: i64) -> i64 {
    let mut w = t.new_write().await.unwrap();
    w.write(&batch(t, &[(k, format!("v{k}"))])).await.unwrap();
    t.new_commit("u").unwrap().commit(w.prepare_commit().await.unwrap()).await.unwrap().snapshot_id().unwrap()
}

fn opts(start: StartingPosition, consumer: Option<&str>) -> StreamOptions {
    StreamOptions {
        start,
        consumer_id: consumer.map(str::to_string),
        consumer_mode: ConsumerMode::ExactlyOnce,
        ignore_progress: false,
        discovery_interval: Duration::from_millis(20),
    }
}

/// (kind, key) of change batches.
fn keys(batches: &[ChangeBatch]) -> Vec<(String, i64)> {
    let mut out = vec![];
    for b in batches {
        let kinds = b.batch.column(0).as_string::<i32>();
        let ks = b.batch.column(1).as_primitive::<Int64Type>();
        for i in 0..b.batch.num_rows() {
            out.push((kinds.value(i).to_string(), ks.value(i)));
        }
    }
    out
}

fn ins(ks: impl IntoIterator<Item = i64>) -> Vec<(String, i64)> {
    ks.into_iter().map(|k| ("+I".to_string(), k)).collect()
}

async fn stream_from(t: &Table, start: StartingPosition) -> Vec<(String, i64)> {
    keys(&t.stream_read_with(opts(start, None)).await.unwrap().read_available().await.unwrap())
}

fn hint(dir: &tempfile::TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.path().join("changelog").join(name)).unwrap()
}

/// Every file a changelog's changelog manifest list names (list, manifests, changelog files),
/// relative to the table root.
async fn changelog_files_of(t: &Table, id: i64) -> Vec<String> {
    let c = t.changelogs().get(id).await.unwrap();
    let list = c.changelog_manifest_list.expect("an input changelog has a changelog list");
    let store = ManifestStore::new(t.io().clone(), &t.schema().core_options().manifest_compression());
    let metas = store.read_manifest_list(&list).await.unwrap();
    let mut files = vec![format!("manifest/{list}")];
    files.extend(metas.iter().map(|m| format!("manifest/{}", m.file_name)));
    for e in store.read_entries(&metas).await.unwrap() {
        files.push(format!("bucket-0/{}", e.file.file_name));
    }
    files
}

/// With 2 snapshots and 10 changelogs retained, a reader started at snapshot 1 after 8 commits
/// reads every commit, from changelog/ then the snapshots; 10 commits later changelog expiry
/// has removed the changelogs beyond 10 with exactly their files: nothing unreferenced remains
/// (orphan removal finds nothing) and everything retained still streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changelogs_outlive_snapshots_then_expire_by_their_own_options() {
    for producer in ["input", "none"] {
        let dir = tempfile::tempdir().unwrap();
        let t = create(&dir, &[("changelog-producer", producer)]).await;
        for k in 1..=8 {
            commit_row(&t, k).await;
        }
        let latest = t.snapshots().latest_id().await.unwrap().unwrap();
        assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![latest - 1, latest], "{producer}");
        let changelogs = t.changelogs().ids().await.unwrap();
        assert_eq!(
            changelogs,
            (1..=latest - 2).collect::<Vec<_>>(),
            "{producer}: every expired snapshot became a changelog"
        );
        assert_eq!(hint(&dir, "LATEST"), (latest - 2).to_string());
        // changelog-<id> is the snapshot's JSON.
        let c1 = t.changelogs().get(1).await.unwrap();
        assert_eq!((c1.id, c1.commit_kind), (1, shoal::spec::CommitKind::Append));
        assert_eq!(c1.changelog_manifest_list.is_some(), producer == "input");
        let text = std::fs::read_to_string(dir.path().join("changelog/changelog-1")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (json["id"].as_i64(), json["commitKind"].as_str(), json["version"].as_i64()),
            (Some(1), Some("APPEND"), Some(3)),
            "{text}"
        );
        assert!(json["deltaManifestList"].is_string() && json["baseManifestList"].is_string(), "{text}");

        // A reader from snapshot 1 (expired) reads the whole changelog; so does one from time 0;
        // `from-snapshot` below the earliest changelog starts at it.
        assert_eq!(stream_from(&t, StartingPosition::FromSnapshot(1)).await, ins(1..=8), "{producer}");
        assert_eq!(stream_from(&t, StartingPosition::FromTimestamp(0)).await, ins(1..=8), "{producer}");
        let c3_time = t.changelogs().get(3).await.unwrap().time_millis;
        let from3 = stream_from(&t, StartingPosition::FromTimestamp(c3_time)).await;
        assert!(
            from3.first().is_some_and(|r| r.1 <= 3) && from3.last() == Some(&("+I".into(), 8)),
            "{producer}: {from3:?}"
        );
        // Without the decoupled options a reader does not look into changelog/ (as Paimon's).
        let coupled = t
            .copy_with_options(
                &[("changelog.num-retained.max", "2")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            )
            .unwrap();
        let from_earliest = stream_from(&coupled, StartingPosition::FromSnapshot(1)).await;
        assert!(from_earliest.len() <= 2, "{producer}: {from_earliest:?}");

        let first_files = if producer == "input" { changelog_files_of(&t, 1).await } else { vec![] };
        for k in 9..=18 {
            commit_row(&t, k).await;
        }
        let latest = t.snapshots().latest_id().await.unwrap().unwrap();
        let changelogs = t.changelogs().ids().await.unwrap();
        assert_eq!(
            changelogs,
            (latest - 9..=latest - 2).collect::<Vec<_>>(),
            "{producer}: changelog.num-retained.max = 10"
        );
        assert_eq!(hint(&dir, "EARLIEST"), (latest - 9).to_string());
        for f in &first_files {
            assert!(!dir.path().join(f).exists(), "{producer}: {f} of the expired changelog 1 is still there");
        }
        // Nothing unreferenced is left behind, and nothing retained is gone.
        let orphans = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).execute().await.unwrap();
        assert!(orphans.orphans.is_empty(), "{producer}: {:?}", orphans.orphans);
        let first = t.changelogs().get(latest - 9).await.unwrap();
        let got = stream_from(&t, StartingPosition::FromSnapshot(1)).await;
        let first_key = got.first().map(|r| r.1).unwrap_or(0);
        assert_eq!(got, ins(first_key..=18), "{producer}: from changelog {}", first.id);
        assert!(first_key <= 13, "{producer}: most of the last 10 snapshots are commits, got {got:?}");
        assert_eq!(common::kv_rows(&t, None).await.len(), 18);
    }
}

/// Changelog expiry never removes a changelog a consumer still needs, and a stopped consumer
/// stops protecting once `consumer.expiration-time` has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_protect_changelogs_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut options =
        vec![("changelog-producer", "input"), ("changelog.num-retained.max", "4"), ("consumer.expiration-time", "4 s")];
    options.extend(NO_COMPACTION);
    let t = create(&dir, &options).await;
    for k in 1..=6 {
        commit_row(&t, k).await;
    }
    let changelogs = t.changelogs().ids().await.unwrap();
    let oldest = changelogs[0];
    assert!(oldest > 1, "{changelogs:?}");
    // A reader with a consumer id starts at the oldest changelog and records it at once.
    let mut r = t.stream_read_with(opts(StartingPosition::FromSnapshot(oldest), Some("job"))).await.unwrap();
    let first = r.read_available().await.unwrap();
    assert_eq!(keys(&first), ins(oldest..=6));
    drop(r);
    t.consumers().reset("job", Consumer { next_snapshot: oldest }).await.unwrap();
    for k in 7..=12 {
        commit_row(&t, k).await;
    }
    let kept = t.changelogs().ids().await.unwrap();
    assert_eq!(kept.first(), Some(&oldest), "the consumer holds changelog {oldest}: {kept:?}");
    let mut r = t.stream_read_with(opts(StartingPosition::LatestFull, Some("job"))).await.unwrap();
    assert_eq!(keys(&r.read_available().await.unwrap()), ins(oldest..=12), "the consumer resumes in changelog/");
    drop(r);
    // Rewind it, let it go stale, and the next commit's consumer expiry releases the changelogs.
    t.consumers().reset("job", Consumer { next_snapshot: oldest }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let latest = commit_row(&t, 13).await;
    assert!(t.consumers().consumer("job").await.unwrap().is_none(), "consumer.expiration-time");
    let after = t.changelogs().ids().await.unwrap();
    assert!(after[0] >= latest - 3, "changelog.num-retained.max = 4 applies again: {after:?} (latest {latest})");
    let orphans = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).dry_run(true).execute().await.unwrap();
    assert!(orphans.orphans.is_empty(), "{:?}", orphans.orphans);
}

/// Rollback to a tag on an expired snapshot drops the later changelogs (LATEST hint = the tag)
/// and their files; deleting a tag leaves a changelog's files alone. Orphan removal afterwards
/// finds nothing, and what is left streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_and_tag_deletion_respect_changelogs() {
    for producer in ["input", "none"] {
        let dir = tempfile::tempdir().unwrap();
        let mut options = vec![("changelog-producer", producer)];
        options.extend(NO_COMPACTION);
        let t = create(&dir, &options).await;
        let mut tagged = vec![];
        for k in 1..=9 {
            let id = commit_row(&t, k).await;
            if k == 3 || k == 5 {
                CreateTag::new(&t, &format!("t{k}")).snapshot(id).execute().await.unwrap();
                tagged.push(id);
            }
        }
        let earliest = t.snapshots().earliest_id().await.unwrap().unwrap();
        assert!(tagged.iter().all(|&id| id < earliest), "the tagged snapshots expired");
        // Deleting tag t3 keeps changelog t3's files: it still streams.
        let before: BTreeSet<i64> = t.changelogs().ids().await.unwrap().into_iter().collect();
        DeleteTag::new(&t, "t3").execute().await.unwrap();
        assert_eq!(t.changelogs().ids().await.unwrap().into_iter().collect::<BTreeSet<_>>(), before);
        assert_eq!(stream_from(&t, StartingPosition::FromSnapshot(tagged[0])).await, ins(3..=9), "{producer}");
        let orphans = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).dry_run(true).execute().await.unwrap();
        assert!(orphans.orphans.is_empty(), "{producer} after tag deletion: {:?}", orphans.orphans);

        Rollback::new(&t, &shoal::maintenance::rollback::RollbackTarget::Tag("t5".into())).execute().await.unwrap();
        let left = t.changelogs().ids().await.unwrap();
        assert!(left.iter().all(|&id| id <= tagged[1]) && left.contains(&tagged[0]), "{producer}: {left:?}");
        assert_eq!(hint(&dir, "LATEST"), tagged[1].to_string());
        assert_eq!(t.snapshots().snapshot_ids().await.unwrap(), vec![tagged[1]]);
        assert_eq!(common::kv_rows(&t, None).await.keys().copied().collect::<Vec<_>>(), (1..=5).collect::<Vec<_>>());
        let orphans = RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).dry_run(true).execute().await.unwrap();
        assert!(orphans.orphans.is_empty(), "{producer} after rollback: {:?}", orphans.orphans);
        assert_eq!(stream_from(&t, StartingPosition::FromSnapshot(1)).await, ins(1..=5), "{producer}");
        // Writing on goes on from the target.
        commit_row(&t, 6).await;
        assert_eq!(common::kv_rows(&t, None).await.len(), 6);
    }
}

/// `shoal expire-changelogs` expires long-lived changelogs on demand with flags over the table's
/// options: `--retain-max 4` keeps the changelogs among the newest 4 ids (snapshots and
/// changelogs counted together); the others and their files go, and the rest still stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_expires_changelogs_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = vec![("changelog-producer", "input")];
    options.extend_from_slice(&NO_COMPACTION);
    let t = create(&dir, &options).await;
    for k in 1..=8 {
        commit_row(&t, k).await;
    }
    assert_eq!(t.changelogs().ids().await.unwrap(), (1..=6).collect::<Vec<_>>());
    let first_files = changelog_files_of(&t, 1).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["expire-changelogs", dir.path().to_str().unwrap(), "--retain-max", "4"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("expired 4 changelogs") && stdout.contains("earliest changelog is 5"), "{stdout}");
    assert_eq!(t.changelogs().ids().await.unwrap(), vec![5, 6]);
    for f in &first_files {
        assert!(!dir.path().join(f).exists(), "{f} of the expired changelog 1 is still there");
    }
    assert!(RemoveOrphanFiles::new(&t).older_than(Duration::ZERO).execute().await.unwrap().orphans.is_empty());
    assert_eq!(stream_from(&t, StartingPosition::FromSnapshot(1)).await, ins(5..=8));

    // A bad flag names itself.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["expire-changelogs", dir.path().to_str().unwrap(), "--older-than", "soon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--older-than"), "{}", String::from_utf8_lossy(&out.stderr));
}
