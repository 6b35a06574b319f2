//! File IO for a table: an `object_store` rooted at the table directory. Local paths and
//! `file://` URLs are the default, `memory://` serves unit tests, `s3://` goes through the AWS
//! builder with the standard environment variables.
//!
//! The one primitive the commit protocol relies on is [`FileIO::create_new`]: it creates a file
//! only if nothing exists at that path, atomically (local: hard-link of a staged file; object
//! stores: conditional PUT with `If-None-Match: *`).

pub mod counting;
// Public only for the integration tests (tests/faults.rs and others inject store faults).
#[doc(hidden)]
pub mod faults;
pub(crate) mod ranged;
pub mod temp;

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IoError {
    #[error("not found: {path}")]
    NotFound { path: String },
    #[error("already exists: {path}")]
    AlreadyExists { path: String },
    #[error("invalid table location {uri:?}: {message}")]
    InvalidLocation { uri: String, message: String },
    #[error("object store error on {path}: {source}")]
    Store { path: String, source: object_store::Error },
    #[error("unsafe object store at {uri}: {message}")]
    UnsafeStore { uri: String, message: String },
    #[error("cannot remove the directory {path}: {source}")]
    RemoveDir { path: String, source: std::io::Error },
}

pub(crate) type IoResult<T> = std::result::Result<T, IoError>;

/// One entry of a directory listing.
#[derive(Clone, Debug)]
pub struct FileStatus {
    /// The name within the listed directory.
    pub name: String,
    pub size: u64,
    pub last_modified_millis: i64,
}

#[derive(Clone)]
pub struct FileIO {
    store: Arc<dyn ObjectStore>,
    root: Path,
    uri: String,
    /// Whether [`FileIO::create_new`] is known to be atomic (local disk, memory); other stores
    /// are probed once before the first commit.
    trusted_create: bool,
    create_probe: Arc<tokio::sync::OnceCell<()>>,
    /// When set, [`FileIO::create_new`] runs under this lock and checks for the file first, so
    /// stores without conditional PUT can be committed to (see [`CommitLock`]).
    commit_lock: Option<CommitLock>,
    /// The branch whose snapshots, schemas, tags, consumers and changelogs this FileIO reads and
    /// writes (`None`: `main`); see [`FileIO::on_branch`].
    branch: Option<Arc<str>>,
}

/// An in-process commit lock, shared by every [`FileIO`] of this process for one location: with
/// it, [`FileIO::create_new`] is "check that the file is absent, then write it" under the lock,
/// which is create-if-absent for all committers **in this process** even on a store that
/// ignores conditional PUT. It does not protect against committers in other processes (shoal has
/// no external lock service); a store without conditional PUT shared by several processes must not
/// be committed to.
#[derive(Clone, Debug)]
pub(crate) struct CommitLock(Arc<tokio::sync::Mutex<()>>);

impl CommitLock {
    /// The lock for `location` (one per location per process).
    pub(crate) fn for_location(location: &str) -> CommitLock {
        static LOCKS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, CommitLock>>> =
            std::sync::OnceLock::new();
        let mut locks = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        locks
            .entry(location.trim_end_matches('/').to_string())
            .or_insert_with(|| CommitLock(Default::default()))
            .clone()
    }
}

impl std::fmt::Debug for FileIO {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.branch {
            Some(b) => write!(f, "FileIO({}, branch {b})", self.uri),
            None => write!(f, "FileIO({})", self.uri),
        }
    }
}

impl FileIO {
    /// Opens the location of a table (or a warehouse): a local path, `file://`, `memory://`
    /// or `s3://bucket/prefix`.
    pub fn from_uri(uri: &str) -> IoResult<FileIO> {
        let invalid = |m: &str| IoError::InvalidLocation { uri: uri.to_string(), message: m.to_string() };
        if let Some(rest) = uri.strip_prefix("memory://") {
            return Ok(FileIO::new(Arc::new(InMemory::new()), Path::from(rest), uri).trusted());
        }
        if uri.starts_with("s3://") || uri.starts_with("s3a://") {
            let url = url::Url::parse(&uri.replacen("s3a://", "s3://", 1)).map_err(|e| invalid(&e.to_string()))?;
            let bucket = url.host_str().ok_or_else(|| invalid("no bucket in the URL"))?;
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch);
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")) {
                builder = builder.with_endpoint(&endpoint).with_allow_http(endpoint.starts_with("http://"));
            }
            let store = builder.build().map_err(|e| invalid(&e.to_string()))?;
            return Ok(FileIO::new(Arc::new(store), Path::from(url.path().trim_matches('/')), uri));
        }
        let local = match uri.strip_prefix("file://") {
            Some(p) => p.to_string(),
            None if uri.contains("://") => {
                return Err(invalid("unsupported scheme (use a path, file://, s3:// or memory://)"))
            }
            None => uri.to_string(),
        };
        std::fs::create_dir_all(&local).map_err(|e| invalid(&format!("cannot create the directory: {e}")))?;
        let abs = std::fs::canonicalize(&local).map_err(|e| invalid(&e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&abs).map_err(|e| invalid(&e.to_string()))?;
        Ok(FileIO::new(Arc::new(store), Path::from(""), &abs.to_string_lossy()).trusted())
    }

    pub fn new(store: Arc<dyn ObjectStore>, root: Path, uri: &str) -> FileIO {
        FileIO {
            store,
            root,
            uri: uri.trim_end_matches('/').to_string(),
            trusted_create: false,
            create_probe: Arc::new(tokio::sync::OnceCell::new()),
            commit_lock: None,
            branch: None,
        }
    }

    /// The same table seen from one of its branches: paths in the per-branch directories
    /// (`snapshot/`, `changelog/`, `schema/`, `tag/`, `consumer/`) resolve inside
    /// `branch/branch-<name>/`, everything else (manifests, index and data files) at the table
    /// root, as Paimon's managers resolve them. `main` is the table root itself.
    pub fn on_branch(&self, name: &str) -> FileIO {
        let mut io = self.clone();
        io.branch = (name != crate::spec::paths::MAIN_BRANCH).then(|| Arc::from(name));
        io
    }

    /// The branch this FileIO is on (`main` unless [`FileIO::on_branch`] chose another).
    pub fn branch(&self) -> &str {
        self.branch.as_deref().unwrap_or(crate::spec::paths::MAIN_BRANCH)
    }

    /// Commits through this FileIO (and its sub-locations) take this process's [`CommitLock`] for
    /// the location: a store without conditional PUT is then accepted, for committers inside
    /// this process only.
    pub fn with_process_commit_lock(mut self) -> FileIO {
        self.commit_lock = Some(CommitLock::for_location(&self.uri));
        self
    }

    /// Marks create-if-absent as known to be atomic (no probe).
    fn trusted(mut self) -> FileIO {
        self.trusted_create = true;
        self
    }

    /// Makes sure [`FileIO::create_new`] really is create-if-absent before a commit relies on
    /// it: once per store, an object is created twice under `_shoal_probe/`; a store that accepts
    /// the second create ignores conditional PUT (`If-None-Match: *`), and concurrent commits on
    /// it could overwrite each other's snapshots, so committing is refused.
    pub async fn verify_atomic_create(&self) -> IoResult<()> {
        if self.trusted_create {
            return Ok(());
        }
        self.create_probe
            .get_or_try_init(|| async {
                let probe = format!("_shoal_probe/probe-{}", uuid::Uuid::new_v4());
                let first = self.create_new(&probe, "probe").await?;
                let second = self.create_new(&probe, "probe").await?;
                let _ = self.delete(&probe).await;
                if first && !second {
                    Ok(())
                } else {
                    Err(IoError::UnsafeStore {
                        uri: self.uri.clone(),
                        message: "it accepted a second create of the same object, so it ignores conditional PUT \
                                  (If-None-Match: *); concurrent commits could overwrite each other's snapshots. \
                                  shoal refuses to commit to it unless a commit lock is configured; the only one is \
                                  in-process (FileIO::with_process_commit_lock: safe for committers inside one \
                                  process, not across processes; shoal has no external lock service); otherwise use \
                                  a store with conditional writes (AWS S3, MinIO, recent Ceph, moto, local disk)"
                            .into(),
                    })
                }
            })
            .await
            .map(|_| ())
    }

    /// The same location through another store (e.g. a [`counting::CountingStore`] around this one).
    pub fn with_store(&self, store: Arc<dyn ObjectStore>) -> FileIO {
        FileIO {
            store,
            root: self.root.clone(),
            uri: self.uri.clone(),
            trusted_create: self.trusted_create,
            create_probe: Arc::new(tokio::sync::OnceCell::new()),
            commit_lock: self.commit_lock.clone(),
            branch: self.branch.clone(),
        }
    }

    /// The same location with every request counted (and deletes optionally made to fail).
    pub fn counting(&self) -> (FileIO, counting::CountingStore) {
        let c = counting::CountingStore::new(self.store.clone());
        (self.with_store(Arc::new(c.clone())), c)
    }

    /// The same store, rooted at a sub-directory (on its `main` branch).
    pub fn sub(&self, rel: &str) -> FileIO {
        FileIO {
            branch: None,
            store: self.store.clone(),
            root: self.path(rel),
            uri: format!("{}/{}", self.uri, rel.trim_matches('/')),
            trusted_create: self.trusted_create,
            create_probe: Arc::new(tokio::sync::OnceCell::new()),
            commit_lock: self.commit_lock.clone(),
        }
    }

    /// Whether the location is on an object store (not a local path, not memory).
    pub fn is_object_store(&self) -> bool {
        self.uri.contains("://") && !self.uri.starts_with("file://") && !self.uri.starts_with("memory://")
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn path(&self, rel: &str) -> Path {
        let rel = self.path_below_uri(rel);
        let rel = rel.as_ref();
        if self.root.as_ref().is_empty() {
            Path::from(rel)
        } else if rel.is_empty() {
            self.root.clone()
        } else {
            Path::from(format!("{}/{}", self.root, rel))
        }
    }

    fn map_err(&self, rel: &str, e: object_store::Error) -> IoError {
        let path = format!("{}/{}", self.uri, self.path_below_uri(rel));
        match e {
            object_store::Error::NotFound { .. } => IoError::NotFound { path },
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
                IoError::AlreadyExists { path }
            }
            source => IoError::Store { path, source },
        }
    }

    pub async fn read(&self, rel: &str) -> IoResult<Bytes> {
        let r = self.store.get(&self.path(rel)).await.map_err(|e| self.map_err(rel, e))?;
        r.bytes().await.map_err(|e| self.map_err(rel, e))
    }

    pub async fn read_string(&self, rel: &str) -> IoResult<String> {
        let b = self.read(rel).await?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// Writes (or overwrites) a file.
    pub async fn write(&self, rel: &str, data: impl Into<Bytes>) -> IoResult<()> {
        self.store
            .put(&self.path(rel), PutPayload::from(data.into()))
            .await
            .map(|_| ())
            .map_err(|e| self.map_err(rel, e))
    }

    /// Creates a file only if none exists; `Ok(false)` when it already exists.
    pub async fn create_new(&self, rel: &str, data: impl Into<Bytes>) -> IoResult<bool> {
        let locked = match &self.commit_lock {
            Some(lock) => Some(lock.0.lock().await),
            None => None,
        };
        if locked.is_some() && self.exists(rel).await? {
            return Ok(false);
        }
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&self.path(rel), PutPayload::from(data.into()), opts).await {
            Ok(_) => Ok(true),
            Err(e) => match self.map_err(rel, e) {
                IoError::AlreadyExists { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    pub async fn exists(&self, rel: &str) -> IoResult<bool> {
        match self.store.head(&self.path(rel)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.map_err(rel, e)),
        }
    }

    pub async fn size(&self, rel: &str) -> IoResult<u64> {
        self.store.head(&self.path(rel)).await.map(|m| m.size).map_err(|e| self.map_err(rel, e))
    }

    pub async fn delete(&self, rel: &str) -> IoResult<()> {
        match self.store.delete(&self.path(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.map_err(rel, e)),
        }
    }

    /// Deletes a directory and everything below it; returns how many files it held. Object stores
    /// have no directories, but a local disk keeps empty ones, which Paimon would take for a
    /// directory still there (a branch, say), so they go too.
    pub async fn delete_dir(&self, rel_dir: &str) -> IoResult<usize> {
        let files = self.list_recursive(rel_dir).await?;
        let n = files.len();
        for (rel, _) in files {
            self.delete(&rel).await?;
        }
        if !self.uri.contains("://") || self.uri.starts_with("file://") {
            let local = std::path::Path::new(self.uri.trim_start_matches("file://"))
                .join(self.path_below_uri(rel_dir).as_ref());
            match std::fs::remove_dir_all(&local) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(IoError::RemoveDir { path: local.to_string_lossy().into_owned(), source }),
            }
        }
        Ok(n)
    }

    /// `rel` as a path below [`FileIO::uri`], without surrounding slashes: inside the branch's
    /// directory for the per-branch directories (see [`FileIO::on_branch`]).
    fn path_below_uri<'a>(&self, rel: &'a str) -> std::borrow::Cow<'a, str> {
        let rel = rel.trim_matches('/');
        match self.branch.as_deref().and_then(|b| crate::spec::paths::on_branch(rel, b)) {
            Some(mapped) => std::borrow::Cow::Owned(mapped),
            None => std::borrow::Cow::Borrowed(rel),
        }
    }

    /// The files directly inside a directory (an absent directory lists as empty).
    pub async fn list(&self, rel_dir: &str) -> IoResult<Vec<FileStatus>> {
        let prefix = self.path(rel_dir);
        let listed = self.store.list_with_delimiter(Some(&prefix)).await;
        let listed = match listed {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(vec![]),
            Err(e) => return Err(self.map_err(rel_dir, e)),
        };
        Ok(listed
            .objects
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                Some(FileStatus { name, size: m.size, last_modified_millis: m.last_modified.timestamp_millis() })
            })
            .collect())
    }

    /// The names of the directories directly inside a directory (absent: none).
    pub async fn list_dirs(&self, rel_dir: &str) -> IoResult<Vec<String>> {
        let prefix = self.path(rel_dir);
        let listed = match self.store.list_with_delimiter(Some(&prefix)).await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(vec![]),
            Err(e) => return Err(self.map_err(rel_dir, e)),
        };
        Ok(listed.common_prefixes.into_iter().filter_map(|p| p.filename().map(str::to_string)).collect())
    }

    /// Every file below a directory, as paths relative to this FileIO's root.
    pub async fn list_recursive(&self, rel_dir: &str) -> IoResult<Vec<(String, FileStatus)>> {
        let prefix = self.path(rel_dir);
        let root = self.root.to_string();
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await.map_err(|e| self.map_err(rel_dir, e))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let full = m.location.to_string();
                let rel =
                    if root.is_empty() { full.clone() } else { full.strip_prefix(&format!("{root}/"))?.to_string() };
                let name = m.location.filename()?.to_string();
                Some((rel, FileStatus { name, size: m.size, last_modified_millis: m.last_modified.timestamp_millis() }))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_new_refuses_existing_file() {
        for io in [FileIO::from_uri("memory://t").unwrap(), {
            let d = tempfile::tempdir().unwrap();
            let io = FileIO::from_uri(d.path().to_str().unwrap()).unwrap();
            std::mem::forget(d);
            io
        }] {
            assert!(io.create_new("snapshot/snapshot-1", "a").await.unwrap());
            assert!(!io.create_new("snapshot/snapshot-1", "b").await.unwrap());
            assert_eq!(io.read_string("snapshot/snapshot-1").await.unwrap(), "a");
            let names: Vec<_> = io.list("snapshot").await.unwrap().into_iter().map(|s| s.name).collect();
            assert_eq!(names, vec!["snapshot-1"]);
            assert!(io.list("nothing-here").await.unwrap().is_empty());
            assert!(matches!(io.read("missing").await, Err(IoError::NotFound { .. })));
        }
    }

    #[tokio::test]
    async fn a_branch_keeps_its_own_metadata_and_shares_the_rest() {
        let io = FileIO::from_uri("memory://t").unwrap();
        let b = io.on_branch("b1");
        assert_eq!(b.branch(), "b1");
        assert_eq!(io.branch(), "main");
        for rel in ["snapshot/snapshot-1", "schema/schema-0", "tag/tag-x", "consumer/consumer-c", "changelog/LATEST"] {
            assert_eq!(b.path(rel).as_ref(), format!("t/branch/branch-b1/{rel}"));
            assert_eq!(io.path(rel).as_ref(), format!("t/{rel}"));
        }
        for rel in ["manifest/m-1", "index/i-1", "bucket-0/data.parquet", "dt=1/bucket-0/d", "snapshots/x"] {
            assert_eq!(b.path(rel).as_ref(), format!("t/{rel}"), "{rel} is shared");
        }
        b.write("snapshot/snapshot-1", "s").await.unwrap();
        assert!(io.list("snapshot").await.unwrap().is_empty());
        assert_eq!(b.list("snapshot").await.unwrap().len(), 1);
        assert_eq!(io.on_branch("main").path("snapshot/LATEST").as_ref(), "t/snapshot/LATEST");
        match b.read("tag/tag-none").await {
            Err(IoError::NotFound { path }) => assert!(path.ends_with("t/branch/branch-b1/tag/tag-none"), "{path}"),
            other => panic!("{other:?}"),
        }
    }
}
