//! Which files a set of snapshots and tags references: the manifest lists, manifests, index
//! manifests, data files (with their extra files) and changelog files, as paths relative to the
//! table root. Expiry, tag deletion, rollback and orphan-file removal all delete
//! `candidates - needed`, computed here.
//!
//! Two main reaches: [`Reach::Live`] counts the data files a snapshot reads (ADD/DELETE
//! reconciled, what readers of a retained snapshot or tag need); [`Reach::All`] counts every file
//! any entry of its manifests names (what a snapshot about to disappear may have been the last to
//! know). [`Reach::LongLived`] is what a long-lived changelog (`changelog/changelog-<id>`) keeps;
//! the others pick parts (a delta's additions or deletions, changelog files, lists only).
//! Manifests are read once per run and shared between snapshots (a base list repeats most of
//! the previous snapshot's manifests).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use crate::error::Result;
use crate::io::{FileIO, IoError};
use crate::spec::manifest::FileSource;
use crate::spec::paths::{bucket_dir, manifest_path, partition_path};
use crate::spec::{FileKind, ManifestEntry, ManifestFileMeta, Snapshot, TableSchema};
use crate::store::manifests::merge_entries;
use crate::store::ManifestStore;

/// Files referenced, relative to the table root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileSet {
    /// Data, extra and changelog files (`<partition>/bucket-N/<name>`).
    pub data: HashSet<String>,
    /// Manifest lists and manifests (`manifest/<name>`).
    pub manifests: HashSet<String>,
    /// Index manifests (`manifest/<name>`).
    pub index_manifests: HashSet<String>,
    /// The index files they list (`index/<name>`: deletion vectors).
    pub index_files: HashSet<String>,
}

impl FileSet {
    pub(crate) fn extend(&mut self, other: FileSet) {
        self.data.extend(other.data);
        self.manifests.extend(other.manifests);
        self.index_manifests.extend(other.index_manifests);
        self.index_files.extend(other.index_files);
    }

    /// What `self` has that `needed` does not.
    pub(crate) fn minus(&self, needed: &FileSet) -> FileSet {
        let diff = |a: &HashSet<String>, b: &HashSet<String>| a.difference(b).cloned().collect::<HashSet<_>>();
        FileSet {
            data: diff(&self.data, &needed.data),
            manifests: diff(&self.manifests, &needed.manifests),
            index_manifests: diff(&self.index_manifests, &needed.index_manifests),
            index_files: diff(&self.index_files, &needed.index_files),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reach {
    /// The data files the snapshot reads, and its changelog files.
    Live,
    /// Every file its manifests mention (ADD and DELETE entries, base, delta and changelog).
    All,
    /// The files its delta added (its own new files), and its changelog files.
    Added,
    /// The files its delta deleted for good (not re-added by the same delta, as a level
    /// upgrade does). Changelog files are not included.
    Deleted,
    /// Of [`Reach::Deleted`], only the files compactions wrote (`_FILE_SOURCE` = COMPACT). With
    /// a decoupled changelog lifecycle and no changelog producer, Paimon's snapshot expiry leaves
    /// the others (written by writers, or of unknown source) to changelog expiry: the long-lived
    /// changelogs read them.
    DeletedCompacted,
    /// Its changelog files only.
    Changelog,
    /// No data files: only its manifest lists and the manifests they name.
    Manifests,
    /// No data files: its base and delta lists and their manifests (not the changelog list).
    DataManifests,
    /// Only its index manifest and the index files it lists.
    Index,
    /// What a long-lived changelog (`changelog/changelog-<id>`) keeps: its changelog list, the
    /// manifests and files it names; its base and delta lists and their manifests where they
    /// still exist (they are skipped when gone); without a changelog list, the files its delta
    /// adds and deletes. Not its index manifest, which went with its snapshot.
    LongLived,
}

impl Reach {
    /// Whether the entries of base manifests are needed (not only their names).
    fn reads_base(self) -> bool {
        matches!(self, Reach::Live | Reach::All)
    }
    fn reads_delta(self) -> bool {
        matches!(
            self,
            Reach::Live | Reach::All | Reach::Added | Reach::Deleted | Reach::DeletedCompacted | Reach::LongLived
        )
    }
    fn reads_changelog(self) -> bool {
        matches!(self, Reach::Live | Reach::All | Reach::Added | Reach::Changelog | Reach::LongLived)
    }
    fn has_index(self) -> bool {
        self != Reach::LongLived
    }
    /// The lists a snapshot owns under this reach: (name, missing tolerated).
    fn lists(self, s: &Snapshot, tolerant: bool) -> Vec<(String, bool)> {
        let data = [(s.base_manifest_list.clone(), tolerant), (s.delta_manifest_list.clone(), tolerant)];
        let changelog = s.changelog_manifest_list.clone().map(|l| (l, tolerant));
        match self {
            Reach::Index => vec![],
            Reach::DataManifests => data.to_vec(),
            Reach::LongLived => {
                let mut v: Vec<(String, bool)> = data.iter().map(|(l, _)| (l.clone(), true)).collect();
                v.extend(changelog);
                v
            }
            _ => {
                let mut v = data.to_vec();
                v.extend(changelog);
                v
            }
        }
    }
}

/// Reads and caches a table's manifests to compute [`FileSet`]s.
pub(super) struct FileReferences {
    manifests: ManifestStore,
    schema: Arc<TableSchema>,
    /// None: the file is missing (only recorded for tolerant reads).
    lists: HashMap<String, Option<Arc<Vec<ManifestFileMeta>>>>,
    entries: HashMap<String, Option<Arc<Vec<ManifestEntry>>>>,
    /// Index manifest name -> the index files it lists.
    index_entries: HashMap<String, Option<Arc<Vec<String>>>>,
    bucket_dirs: HashMap<(Vec<u8>, i32), String>,
    /// Manifest files read (lists and manifests), for reports.
    pub reads: usize,
}

const READ_CONCURRENCY: usize = 16;

impl FileReferences {
    pub(super) fn new(io: FileIO, schema: Arc<TableSchema>) -> Self {
        FileReferences {
            manifests: ManifestStore::new(io, &schema.core_options().manifest_compression()),
            schema,
            lists: HashMap::new(),
            entries: HashMap::new(),
            index_entries: HashMap::new(),
            bucket_dirs: HashMap::new(),
            reads: 0,
        }
    }

    /// The files `snapshots` reference (see [`Reach`]), changelog files included. With
    /// `tolerant`, manifests and lists that are gone are skipped (an interrupted expiry already
    /// deleted them, and their files before them); otherwise a missing one is an error.
    pub(super) async fn files_of(&mut self, snapshots: &[&Snapshot], reach: Reach, tolerant: bool) -> Result<FileSet> {
        let lists: Vec<(String, bool)> = snapshots.iter().flat_map(|s| reach.lists(s, tolerant)).collect();
        let strict: Vec<String> = lists.iter().filter(|(_, t)| !t).map(|(l, _)| l.clone()).collect();
        let lenient: Vec<String> = lists.iter().filter(|(_, t)| *t).map(|(l, _)| l.clone()).collect();
        self.load_lists(&strict, false).await?;
        self.load_lists(&lenient, true).await?;
        // Only the manifests whose entries this reach reads (a base list's names suffice else).
        let mut wanted: Vec<String> = vec![];
        for s in snapshots {
            let lists = [
                Some(&s.base_manifest_list).filter(|_| reach.reads_base()),
                Some(&s.delta_manifest_list).filter(|_| reach.reads_delta()),
                s.changelog_manifest_list.as_ref().filter(|_| reach.reads_changelog()),
            ];
            for l in lists.into_iter().flatten() {
                if let Some(metas) = self.lists.get(l).cloned().flatten() {
                    wanted.extend(metas.iter().map(|m| m.file_name.clone()));
                }
            }
        }
        self.load_manifests(&wanted, tolerant || reach == Reach::LongLived).await?;
        let index_names: Vec<String> =
            snapshots.iter().filter(|_| reach.has_index()).filter_map(|s| s.index_manifest.clone()).collect();
        self.load_index_manifests(&index_names, tolerant).await?;

        let mut out = FileSet::default();
        for s in snapshots {
            for (l, list_tolerant) in reach.lists(s, tolerant) {
                let metas = self.lists.get(&l).cloned().flatten();
                if metas.is_none() && list_tolerant && reach == Reach::LongLived {
                    continue; // gone with its snapshot
                }
                out.manifests.insert(manifest_path(&l));
                if let Some(metas) = metas {
                    out.manifests.extend(metas.iter().map(|m| manifest_path(&m.file_name)));
                }
            }
            if let Some(i) = s.index_manifest.as_ref().filter(|_| reach.has_index()) {
                out.index_manifests.insert(manifest_path(i));
                if let Some(files) = self.index_entries.get(i).cloned().flatten() {
                    out.index_files.extend(files.iter().map(|f| crate::spec::paths::index_path(f)));
                }
            }
            if reach.reads_changelog() {
                if let Some(l) = &s.changelog_manifest_list {
                    for e in self.entries_of_list(l) {
                        self.insert_data_file(&e, &mut out.data)?;
                    }
                }
            }
            match reach {
                Reach::Live => {
                    let mut entries = self.entries_of_list(&s.base_manifest_list);
                    entries.extend(self.entries_of_list(&s.delta_manifest_list));
                    for e in merge_entries(entries, true, &format!("snapshot {}", s.id))? {
                        self.insert_data_file(&e, &mut out.data)?;
                    }
                }
                Reach::All => {
                    for l in [&s.base_manifest_list, &s.delta_manifest_list] {
                        for e in self.entries_of_list(l) {
                            self.insert_data_file(&e, &mut out.data)?;
                        }
                    }
                }
                Reach::Added => {
                    for e in self.entries_of_list(&s.delta_manifest_list).iter().filter(|e| e.kind == FileKind::Add) {
                        self.insert_data_file(e, &mut out.data)?;
                    }
                }
                Reach::Deleted | Reach::DeletedCompacted => {
                    let delta = self.entries_of_list(&s.delta_manifest_list);
                    let readded: HashSet<&str> =
                        delta.iter().filter(|e| e.kind == FileKind::Add).map(|e| e.file.file_name.as_str()).collect();
                    let compacted_only = reach == Reach::DeletedCompacted;
                    for e in delta
                        .iter()
                        .filter(|e| e.kind == FileKind::Delete && !readded.contains(e.file.file_name.as_str()))
                    {
                        if compacted_only && e.file.file_source != Some(FileSource::Compact) {
                            continue;
                        }
                        self.insert_data_file(e, &mut out.data)?;
                    }
                }
                Reach::LongLived if s.changelog_manifest_list.is_none() => {
                    for e in self.entries_of_list(&s.delta_manifest_list) {
                        self.insert_data_file(&e, &mut out.data)?;
                    }
                }
                Reach::LongLived | Reach::Changelog | Reach::Manifests | Reach::DataManifests | Reach::Index => {}
            }
        }
        Ok(out)
    }

    /// The entries of a list's manifests read so far (missing ones skipped).
    fn entries_of_list(&self, list: &str) -> Vec<ManifestEntry> {
        let Some(metas) = self.lists.get(list).cloned().flatten() else { return vec![] };
        metas
            .iter()
            .filter_map(|m| self.entries.get(&m.file_name).cloned().flatten())
            .flat_map(|entries| entries.iter().cloned().collect::<Vec<_>>())
            .collect()
    }

    fn insert_data_file(&mut self, e: &ManifestEntry, out: &mut HashSet<String>) -> Result<()> {
        if e.file.external_path.is_some() {
            // Lives outside the table directory; shoal leaves such files alone.
            return Ok(());
        }
        let key = (e.partition.data().to_vec(), e.bucket);
        let dir = match self.bucket_dirs.get(&key) {
            Some(d) => d.clone(),
            None => {
                let opts = self.schema.core_options();
                let d = bucket_dir(
                    &partition_path(
                        &e.partition,
                        &self.schema.partition_keys,
                        &self.schema.partition_types(),
                        opts.partition_default_name(),
                    )?,
                    e.bucket,
                );
                self.bucket_dirs.insert(key, d.clone());
                d
            }
        };
        out.insert(format!("{dir}/{}", e.file.file_name));
        for extra in &e.file.extra_files {
            out.insert(format!("{dir}/{extra}"));
        }
        Ok(())
    }

    async fn load_lists(&mut self, names: &[String], tolerant: bool) -> Result<()> {
        let missing = unique_missing(names, |n| self.lists.contains_key(n));
        self.reads += missing.len();
        let loaded =
            read_all(&self.manifests, missing, |store, n| async move { store.read_manifest_list(&n).await }).await;
        for (n, r) in loaded {
            let v = keep_missing(r, tolerant)?;
            self.lists.insert(n, v.map(Arc::new));
        }
        Ok(())
    }

    async fn load_index_manifests(&mut self, names: &[String], tolerant: bool) -> Result<()> {
        let missing = unique_missing(names, |n| self.index_entries.contains_key(n));
        self.reads += missing.len();
        let loaded = read_all(&self.manifests, missing, |store, n| async move {
            Ok(store.read_index_manifest(&n).await?.into_iter().map(|e| e.file_name).collect::<Vec<_>>())
        })
        .await;
        for (n, r) in loaded {
            let v = keep_missing(r, tolerant)?;
            self.index_entries.insert(n, v.map(Arc::new));
        }
        Ok(())
    }

    async fn load_manifests(&mut self, names: &[String], tolerant: bool) -> Result<()> {
        let missing = unique_missing(names, |n| self.entries.contains_key(n));
        self.reads += missing.len();
        let loaded = read_all(&self.manifests, missing, |store, n| async move { store.read_manifest(&n).await }).await;
        for (n, r) in loaded {
            let v = keep_missing(r, tolerant)?;
            self.entries.insert(n, v.map(Arc::new));
        }
        Ok(())
    }
}

/// Reads the named manifests (or lists) a few at a time, keeping each name with its result.
async fn read_all<T, F, Fut>(store: &ManifestStore, names: Vec<String>, read: F) -> Vec<(String, Result<T>)>
where
    F: Fn(ManifestStore, String) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    stream::iter(names)
        .map(|n| {
            let r = read(store.clone(), n.clone());
            async move { (n, r.await) }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .collect()
        .await
}

fn unique_missing(names: &[String], present: impl Fn(&String) -> bool) -> Vec<String> {
    let mut seen = HashSet::new();
    names.iter().filter(|n| !present(n) && seen.insert((*n).clone())).cloned().collect()
}

/// A missing file is `None` when tolerated, an error otherwise.
fn keep_missing<T>(r: Result<T>, tolerant: bool) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(crate::Error::Io(IoError::NotFound { .. })) if tolerant => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes files (paths relative to the table root) concurrently; absent files are fine, so an
/// interrupted run can simply be repeated. Returns how many were deleted.
pub(super) async fn delete_files(io: &FileIO, paths: impl IntoIterator<Item = String>) -> Result<usize> {
    let results: Vec<std::result::Result<(), IoError>> = stream::iter(paths)
        .map(|p| {
            let io = io.clone();
            async move { io.delete(&p).await }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .collect()
        .await;
    let n = results.len();
    for r in results {
        r?;
    }
    Ok(n)
}
