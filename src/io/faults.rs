//! An object store that fails on purpose, for fault-injection tests: the k-th call (put, get,
//! copy, rename, delete; listings are not counted) fails, either before reaching the inner store
//! (the request never arrived) or after it (the request took effect but the caller saw an error,
//! as when a process dies or a connection drops before the acknowledgement). It can also hold
//! a put until the test lets it go ([`FaultyStore::hold_put`]), to interleave another process's
//! work at a chosen point of this one's.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// When the failing call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMode {
    /// The call does not reach the store.
    Before,
    /// The call takes effect, then reports an error.
    After,
}

#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    calls: Arc<AtomicU64>,
    /// The call number (1-based) that fails; 0: none.
    fail_at: Arc<AtomicU64>,
    mode: FaultMode,
    /// The put to hold: (path pattern, its hold).
    hold: Arc<std::sync::Mutex<Option<HeldPut>>>,
}

type HeldPut = (String, Arc<PutHold>);

/// A put held by [`FaultyStore::hold_put`].
#[derive(Debug, Default)]
pub struct PutHold {
    reached: tokio::sync::Notify,
    released: tokio::sync::Notify,
}

impl PutHold {
    /// Waits until the held put arrives (it then waits for [`PutHold::release`]).
    pub async fn reached(&self) {
        self.reached.notified().await
    }

    /// Lets the held put go on.
    pub fn release(&self) {
        self.released.notify_one()
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, mode: FaultMode) -> Self {
        FaultyStore {
            inner,
            calls: Arc::new(AtomicU64::new(0)),
            fail_at: Arc::new(AtomicU64::new(0)),
            mode,
            hold: Default::default(),
        }
    }

    /// Holds the next put whose path contains `pattern` before it reaches the store, until
    /// [`PutHold::release`].
    pub fn hold_put(&self, pattern: &str) -> Arc<PutHold> {
        let hold = Arc::new(PutHold::default());
        if let Ok(mut h) = self.hold.lock() {
            *h = Some((pattern.to_string(), hold.clone()));
        }
        hold
    }

    /// Fails the `k`-th call from now (0 disables faults).
    pub fn fail_call(&self, k: u64) {
        self.calls.store(0, Ordering::SeqCst);
        self.fail_at.store(k, Ordering::SeqCst);
    }

    /// Calls counted since the last [`Self::fail_call`].
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Whether this call is the failing one.
    fn hit(&self) -> bool {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        n == self.fail_at.load(Ordering::SeqCst)
    }

    /// Runs `call`, failing it before or after when this is the chosen call.
    async fn guard<T, F: std::future::Future<Output = Result<T>>>(
        &self,
        op: &str,
        location: &Path,
        call: F,
    ) -> Result<T> {
        if !self.hit() {
            return call.await;
        }
        match self.mode {
            FaultMode::Before => Err(fault(self.mode, op, location)),
            FaultMode::After => {
                let _ = call.await;
                Err(fault(self.mode, op, location))
            }
        }
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        let held = match self.hold.lock() {
            Ok(mut h) if h.as_ref().is_some_and(|(p, _)| location.as_ref().contains(p.as_str())) => h.take(),
            _ => None,
        };
        if let Some((_, hold)) = held {
            hold.reached.notify_one();
            hold.released.notified().await;
        }
        self.guard("put", location, self.inner.put_opts(location, payload, opts)).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.guard("multipart put", location, self.inner.put_multipart_opts(location, opts)).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.guard("get", location, self.inner.get_opts(location, options)).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.guard("get ranges", location, self.inner.get_ranges(location, ranges)).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        // Each deleted path counts as one call.
        let (inner, calls, fail_at, mode) = (self.inner.clone(), self.calls.clone(), self.fail_at.clone(), self.mode);
        locations
            .then(move |loc| {
                let (inner, calls, fail_at) = (inner.clone(), calls.clone(), fail_at.clone());
                async move {
                    let loc = loc?;
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    let hit = n == fail_at.load(Ordering::SeqCst);
                    if hit && mode == FaultMode::Before {
                        return Err(fault(mode, "delete", &loc));
                    }
                    let r = inner.delete_stream(futures::stream::iter([Ok(loc.clone())]).boxed()).next().await;
                    if hit {
                        return Err(fault(mode, "delete", &loc));
                    }
                    r.unwrap_or(Ok(loc))
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.guard("copy", to, self.inner.copy_opts(from, to, options)).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.guard("rename", to, self.inner.rename_opts(from, to, options)).await
    }
}

fn fault(mode: FaultMode, op: &str, location: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected fault ({mode:?}) on {op} {location}").into(),
    }
}

/// A store that ignores conditional PUT (`PutMode::Create` becomes an overwrite), as some
/// S3-compatible servers do: what shoal must detect and refuse to commit to.
#[derive(Debug)]
pub struct IgnoresConditionalPut(pub Arc<dyn ObjectStore>);

impl fmt::Display for IgnoresConditionalPut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IgnoresConditionalPut({})", self.0)
    }
}

#[async_trait]
impl ObjectStore for IgnoresConditionalPut {
    async fn put_opts(&self, location: &Path, payload: PutPayload, mut opts: PutOptions) -> Result<PutResult> {
        opts.mode = object_store::PutMode::Overwrite;
        self.0.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.0.get_opts(location, options).await
    }
    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.0.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}
