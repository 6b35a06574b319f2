//! Branches (Paimon's `BranchManager`): `branch/branch-<name>/` holds a branch's own snapshots,
//! changelogs, schemas, tags and consumers, while manifests, index files and data files are shared
//! with every other branch at the table root. A [`FileIO`] put [`on_branch`](FileIO::on_branch)
//! resolves those per-branch directories inside the branch, so every reader, writer and
//! maintenance job works on a branch unchanged.
//!
//! - **Create** (Paimon 0.9's `createBranch`): empty (the source's latest schema only), from a tag
//!   (the tag, its snapshot and that snapshot's schema are copied), or from a snapshot (the
//!   snapshot and its schema, as Paimon 1.x does). Nothing is copied but these small JSON files.
//!   The schema is written first: a branch without a schema is never left behind by a crash in
//!   the middle (a crash after the schema leaves an empty branch, which delete removes).
//! - **Delete**: removes the branch directory. Data and manifest files that only the branch
//!   referenced become orphans, removed by orphan-file removal (as in Paimon).
//! - **Fast-forward** (Paimon's `fastForward`): the main branch takes the branch's history. Main's
//!   snapshots and tags from the branch's earliest snapshot on, and its schemas from that
//!   snapshot's schema on, are replaced by the branch's. shoal deletes newest first and copies
//!   oldest first, so a crash leaves main at a consistent earlier state and running it again
//!   finishes; the data files of main's replaced snapshots become orphans.
//! - Expiry, tag deletion and rollback on any branch keep what the other branches reference
//!   ([`other_branches_files`]); orphan-file removal counts every branch.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::maintenance::file_refs::{FileReferences, FileSet, Reach};
use crate::spec::paths::{
    branch_path, check_branch_name, schema_path, snapshot_path, tag_path, BRANCH_DIR, BRANCH_PREFIX, MAIN_BRANCH,
};
use crate::spec::{Snapshot, TableSchema};
use crate::store::{SchemaManager, SnapshotManager, TagManager};

/// What a new branch starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BranchStart {
    /// No snapshot: the source's latest schema only (Paimon's `create_branch` without a tag).
    Empty,
    /// The snapshot a tag keeps; the tag is copied into the branch.
    Tag(String),
    /// A snapshot of the source branch.
    Snapshot(i64),
}

/// A branch as Paimon's `$branches` system table describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchInfo {
    pub name: String,
    /// The tag it was created from: the only tag on its earliest snapshot.
    pub created_from_tag: Option<String>,
    /// Its earliest snapshot (None for an empty branch).
    pub created_from_snapshot: Option<i64>,
    /// When it was created: the oldest modification time of its schema files (written first;
    /// Paimon takes the directory's, which object stores do not have), epoch millis.
    pub create_time_millis: i64,
}

/// What a fast-forward replaced on the main branch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FastForwardReport {
    /// Main's snapshots, schemas and tags deleted before the branch's were copied in.
    pub snapshots_replaced: usize,
    pub schemas_replaced: usize,
    pub tags_replaced: usize,
    /// The branch's files copied to main.
    pub snapshots_copied: usize,
    pub schemas_copied: usize,
    pub tags_copied: usize,
    /// Main's latest snapshot afterwards.
    pub latest: Option<i64>,
}

/// The names of the table's branches other than `main`, sorted.
pub(crate) async fn branch_names(io: &FileIO) -> Result<Vec<String>> {
    let root = io.on_branch(MAIN_BRANCH);
    let mut names: Vec<String> = root
        .list_dirs(BRANCH_DIR)
        .await?
        .into_iter()
        .filter_map(|d| d.strip_prefix(BRANCH_PREFIX).map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// Whether `name` is `main` or an existing branch.
pub(crate) async fn branch_exists(io: &FileIO, name: &str) -> Result<bool> {
    Ok(name == MAIN_BRANCH || branch_names(io).await?.iter().any(|b| b == name))
}

fn not_found(io: &FileIO, name: &str) -> Error {
    Error::BranchNotFound { table: io.uri().to_string(), branch: name.to_string() }
}

/// Copies `rel` as `from` sees it to where `to` puts it (one branch's file to another's).
async fn copy_file(from: &FileIO, to: &FileIO, rel: String) -> Result<()> {
    let bytes = from.read(&rel).await?;
    to.write(&rel, bytes).await?;
    Ok(())
}

/// Creates branch `name` from `io`'s branch (usually `main`).
pub(crate) async fn create_branch(io: &FileIO, name: &str, start: &BranchStart) -> Result<()> {
    check_branch_name(name)?;
    if branch_exists(io, name).await? {
        return Err(Error::BranchExists { table: io.uri().to_string(), branch: name.to_string() });
    }
    let target = io.on_branch(name);
    let copy = |rel: String| copy_file(io, &target, rel);
    match start {
        BranchStart::Empty => {
            let schema = SchemaManager::new(io.clone())
                .latest()
                .await?
                .ok_or_else(|| Error::TableNotFound(io.uri().to_string()))?;
            copy(schema_path(schema.id)).await?;
        }
        BranchStart::Tag(tag) => {
            let snapshot = TagManager::new(io.clone()).tag(tag).await?.snapshot;
            copy(schema_path(snapshot.schema_id)).await?;
            copy(snapshot_path(snapshot.id)).await?;
            copy(tag_path(tag)).await?;
        }
        BranchStart::Snapshot(id) => {
            let snapshot = SnapshotManager::new(io.clone()).snapshot(*id).await?;
            copy(schema_path(snapshot.schema_id)).await?;
            copy(snapshot_path(snapshot.id)).await?;
        }
    }
    Ok(())
}

/// Deletes branch `name` (its directory; see the module docs for its files).
pub(crate) async fn delete_branch(io: &FileIO, name: &str) -> Result<usize> {
    check_branch_name(name)?;
    if !branch_exists(io, name).await? {
        return Err(not_found(io, name));
    }
    Ok(io.on_branch(MAIN_BRANCH).delete_dir(&branch_path(name)).await?)
}

/// The branches with what they were created from, as Paimon's `$branches` lists them.
pub async fn list_branches(io: &FileIO) -> Result<Vec<BranchInfo>> {
    let mut out = vec![];
    for name in branch_names(io).await? {
        let branch = io.on_branch(&name);
        let schema_files = branch.list(crate::spec::paths::SCHEMA_DIR).await?;
        let create_time_millis = schema_files.iter().map(|s| s.last_modified_millis).min().unwrap_or_default();
        let earliest = SnapshotManager::new(branch.clone()).earliest_id().await?;
        let mut created_from_tag = None;
        if let Some(e) = earliest {
            let on_earliest: Vec<String> = TagManager::new(branch)
                .tags()
                .await?
                .into_iter()
                .filter(|t| t.snapshot.id == e)
                .map(|t| t.name)
                .collect();
            if let [only] = on_earliest.as_slice() {
                created_from_tag = Some(only.clone());
            }
        }
        out.push(BranchInfo { name, created_from_tag, created_from_snapshot: earliest, create_time_millis });
    }
    out.sort_by_key(|b| (b.create_time_millis, b.name.clone()));
    Ok(out)
}

/// Makes main's history the branch's (see the module docs).
pub(crate) async fn fast_forward(io: &FileIO, name: &str) -> Result<FastForwardReport> {
    check_branch_name(name)?;
    if !branch_exists(io, name).await? {
        return Err(not_found(io, name));
    }
    let main = io.on_branch(MAIN_BRANCH);
    let branch = io.on_branch(name);
    let branch_snapshots = SnapshotManager::new(branch.clone());
    let Some(earliest) = branch_snapshots.earliest_id().await? else {
        return Err(Error::InvalidInput(format!(
            "cannot fast-forward main to branch {name:?}: the branch has no snapshot yet"
        )));
    };
    let earliest_schema = branch_snapshots.snapshot(earliest).await?.schema_id;
    let main_snapshots = SnapshotManager::new(main.clone());
    let main_tags = TagManager::new(main.clone());
    let mut report = FastForwardReport::default();

    // Delete main's replaced history, newest first: tags, snapshots (and the LATEST hint), schemas.
    let mut doomed_tags: Vec<String> =
        main_tags.tags().await?.into_iter().filter(|t| t.snapshot.id >= earliest).map(|t| t.name).collect();
    doomed_tags.sort();
    for t in &doomed_tags {
        main_tags.delete_file(t).await?;
    }
    report.tags_replaced = doomed_tags.len();
    main.delete(&crate::spec::paths::latest_hint_path()).await?;
    let mut doomed: Vec<i64> = main_snapshots.snapshot_ids().await?.into_iter().filter(|&id| id >= earliest).collect();
    doomed.sort_unstable_by(|a, b| b.cmp(a));
    for id in &doomed {
        main_snapshots.delete(*id).await?;
    }
    report.snapshots_replaced = doomed.len();
    let main_schemas = SchemaManager::new(main.clone());
    let mut doomed_schemas: Vec<i64> =
        main_schemas.schema_ids().await?.into_iter().filter(|&id| id >= earliest_schema).collect();
    doomed_schemas.sort_unstable_by(|a, b| b.cmp(a));
    for id in &doomed_schemas {
        main.delete(&schema_path(*id)).await?;
    }
    report.schemas_replaced = doomed_schemas.len();

    // Copy the branch's history in, oldest first: schemas, snapshots, tags, then the hint.
    let copy = |rel: String| copy_file(&branch, &main, rel);
    let mut schemas = SchemaManager::new(branch.clone()).schema_ids().await?;
    schemas.sort_unstable();
    for id in schemas.into_iter().filter(|&id| id >= earliest_schema) {
        copy(schema_path(id)).await?;
        report.schemas_copied += 1;
    }
    let mut ids = branch_snapshots.snapshot_ids().await?;
    ids.sort_unstable();
    for id in &ids {
        copy(snapshot_path(*id)).await?;
        report.snapshots_copied += 1;
    }
    for t in TagManager::new(branch.clone()).names().await? {
        copy(tag_path(&t)).await?;
        report.tags_copied += 1;
    }
    if let Some(&latest) = ids.last() {
        main_snapshots.write_latest_hint(latest).await?;
        report.latest = Some(latest);
    }
    Ok(report)
}

/// What every branch other than `io`'s references (its retained snapshots and tags: the data
/// files they read and their manifests): expiry, tag deletion and rollback on one branch must not
/// delete these, since branches share the table root's files.
pub(crate) async fn other_branches_files(io: &FileIO, schema: &Arc<TableSchema>) -> Result<FileSet> {
    let mine = io.branch().to_string();
    let mut others: Vec<String> = branch_names(io).await?;
    others.push(MAIN_BRANCH.to_string());
    let mut snapshots: Vec<Snapshot> = vec![];
    let mut seen = HashSet::new();
    for b in others.into_iter().filter(|b| *b != mine) {
        let bio = io.on_branch(&b);
        let sm = SnapshotManager::new(bio.clone());
        for id in sm.snapshot_ids().await? {
            match sm.snapshot(id).await {
                Ok(s) => {
                    if seen.insert((s.id, s.base_manifest_list.clone())) {
                        snapshots.push(s)
                    }
                }
                Err(Error::SnapshotNotFound(_)) => {} // expired meanwhile
                Err(e) => return Err(e),
            }
        }
        for t in TagManager::new(bio).tags().await? {
            if seen.insert((t.snapshot.id, t.snapshot.base_manifest_list.clone())) {
                snapshots.push(t.snapshot);
            }
        }
    }
    if snapshots.is_empty() {
        return Ok(FileSet::default());
    }
    let all: Vec<&Snapshot> = snapshots.iter().collect();
    let mut refs = FileReferences::new(io.on_branch(MAIN_BRANCH), schema.clone());
    let mut needed = refs.files_of(&all, Reach::Live, false).await?;
    needed.extend(refs.files_of(&all, Reach::Manifests, false).await?);
    Ok(needed)
}
