//! An object store wrapper that counts the requests a job makes (for benchmarks and tests of
//! request budgets) and can make deletes fail after a budget (to interrupt a job midway in
//! tests of resumability). Everything else goes to the wrapped store unchanged.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result,
};

/// Request counts (one list call counts once, whatever its page count).
#[derive(Debug, Default)]
pub(crate) struct RequestCounts {
    pub puts: AtomicU64,
    pub gets: AtomicU64,
    pub heads: AtomicU64,
    pub deletes: AtomicU64,
    pub lists: AtomicU64,
    pub copies: AtomicU64,
}

/// A snapshot of [`RequestCounts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    pub puts: u64,
    pub gets: u64,
    pub heads: u64,
    pub deletes: u64,
    pub lists: u64,
    pub copies: u64,
}

impl Requests {
    pub fn total(&self) -> u64 {
        self.puts + self.gets + self.heads + self.deletes + self.lists + self.copies
    }
}

impl fmt::Display for Requests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests ({} GET, {} HEAD, {} PUT, {} DELETE, {} LIST, {} COPY)",
            self.total(),
            self.gets,
            self.heads,
            self.puts,
            self.deletes,
            self.lists,
            self.copies
        )
    }
}

#[derive(Debug, Clone)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<RequestCounts>,
    /// Deletes still allowed; negative: unlimited.
    delete_budget: Arc<AtomicI64>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        CountingStore { inner, counts: Default::default(), delete_budget: Arc::new(AtomicI64::new(-1)) }
    }

    pub fn requests(&self) -> Requests {
        let c = &self.counts;
        Requests {
            puts: c.puts.load(Ordering::Relaxed),
            gets: c.gets.load(Ordering::Relaxed),
            heads: c.heads.load(Ordering::Relaxed),
            deletes: c.deletes.load(Ordering::Relaxed),
            lists: c.lists.load(Ordering::Relaxed),
            copies: c.copies.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        for c in [
            &self.counts.puts,
            &self.counts.gets,
            &self.counts.heads,
            &self.counts.deletes,
            &self.counts.lists,
            &self.counts.copies,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// After `n` more deletes, every delete fails (None: no limit).
    pub fn fail_deletes_after(&self, n: Option<u64>) {
        self.delete_budget.store(n.map(|n| n as i64).unwrap_or(-1), Ordering::SeqCst);
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.counts.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.counts.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let c = if options.head { &self.counts.heads } else { &self.counts.gets };
        c.fetch_add(1, Ordering::Relaxed);
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let counts = self.counts.clone();
        let budget = self.delete_budget.clone();
        let gated = locations
            .map(move |r| {
                let p = r?;
                counts.deletes.fetch_add(1, Ordering::Relaxed);
                let left = budget.load(Ordering::SeqCst);
                if left == 0 {
                    return Err(object_store::Error::Generic {
                        store: "CountingStore",
                        source: format!("injected failure: delete budget exhausted before {p}").into(),
                    });
                }
                if left > 0 {
                    budget.fetch_sub(1, Ordering::SeqCst);
                }
                Ok(p)
            })
            .boxed();
        self.inner.delete_stream(gated)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.counts.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.counts.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.counts.copies.fetch_add(1, Ordering::Relaxed);
        self.inner.copy_opts(from, to, options).await
    }
}
