//! The rows of data files a writer wrote recently, kept decoded so that its own compactions and
//! deletion-vector lookups need not read them back from storage: a write-through cache bounded
//! in bytes, shared by the buckets of one writer (and its compaction rewriter).
//!
//! Data files are immutable and their names unique (a uuid per writer and a counter), so a
//! cached entry *is* the file's rows in the data-file layout, exactly as encoded. Entries leave
//! when a compaction replaces the file, or oldest first when the budget is exceeded. A reader
//! that finds no entry reads the file as usual: the cache only ever saves work.
//!
//! Why: with deletion vectors (or the lookup changelog producer) every commit compacts level 0,
//! and universal compaction keeps merging the runs written a few commits ago. Reading those back
//! cost about a fifth of the writer's CPU on the orders workload (zstd decompression and Parquet
//! decoding of files it had just encoded).
//!
//! What is kept: the level-0 files of a writer that compacts level 0 at every commit, and
//! compaction outputs below the last level. Files nothing reads soon are not (level 0 of other
//! writers, last-level outputs): every byte here is a byte of the writer's memory pool, and
//! memory the allocator holds on to after.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;

use crate::memory::{MemoryPool, Reclaim};

/// Default budget: what Paimon's `write-buffer-size` defaults to (256 MiB).
pub(crate) const DEFAULT_DECODED_FILES_BYTES: usize = 256 << 20;

/// Decoded rows of recently written data files, by file name. Cheap to clone (shared). In a
/// [`MemoryPool`], it holds only what the pool's buffers leave (and at most its own budget).
#[derive(Clone)]
pub struct DecodedFiles {
    inner: Arc<Shared>,
}

struct Shared {
    state: Mutex<Inner>,
    /// `state.used`, readable without the lock (the pool asks).
    used: AtomicUsize,
    /// Bytes of rows that writers hold for files they are still writing ([`Held`]): counted
    /// as used, so that two writers filling the same free room do not both take it.
    held: AtomicUsize,
    pool: Option<Arc<MemoryPool>>,
}

impl Reclaim for Shared {
    fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed) + self.held.load(Ordering::Relaxed)
    }
    fn shrink_to(&self, bytes: usize) {
        let mut inner = self.state.lock().unwrap_or_else(|e| e.into_inner());
        inner.evict_to(bytes);
        self.used.store(inner.used, Ordering::Relaxed);
    }
}

struct Inner {
    budget: usize,
    used: usize,
    /// Names in insertion order (oldest first); may name entries already removed.
    order: VecDeque<String>,
    files: HashMap<String, (Vec<RecordBatch>, usize)>,
}

impl Inner {
    /// Drops the oldest entries until at most `bytes` are held.
    fn evict_to(&mut self, bytes: usize) {
        while self.used > bytes {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some((_, s)) = self.files.remove(&oldest) {
                self.used -= s;
            }
        }
    }
}

impl Default for DecodedFiles {
    fn default() -> Self {
        DecodedFiles::new(DEFAULT_DECODED_FILES_BYTES)
    }
}

impl std::fmt::Debug for DecodedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("DecodedFiles")
            .field("budget", &inner.budget)
            .field("used", &inner.used)
            .field("files", &inner.files.len())
            .finish()
    }
}

impl DecodedFiles {
    /// A cache holding at most `budget_bytes` of Arrow memory (0 disables it).
    pub fn new(budget_bytes: usize) -> DecodedFiles {
        Self::build(budget_bytes, None)
    }

    /// A cache holding at most `budget_bytes`, and only what `pool`'s buffers leave.
    pub fn in_pool(budget_bytes: usize, pool: Arc<MemoryPool>) -> DecodedFiles {
        Self::build(budget_bytes, Some(pool))
    }

    fn build(budget: usize, pool: Option<Arc<MemoryPool>>) -> DecodedFiles {
        let state = Mutex::new(Inner { budget, used: 0, order: VecDeque::new(), files: HashMap::new() });
        let inner = Arc::new(Shared { state, used: AtomicUsize::new(0), held: AtomicUsize::new(0), pool });
        if let Some(pool) = &inner.pool {
            let me: Arc<dyn Reclaim> = inner.clone();
            pool.register(Arc::downgrade(&me));
        }
        DecodedFiles { inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent state (every update is one step).
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the cache may hold now: its budget, within what the pool leaves.
    fn room(&self) -> usize {
        let budget = self.lock().budget;
        match &self.inner.pool {
            Some(pool) => budget.min(pool.room_for(self.inner.as_ref())),
            None => budget,
        }
    }

    /// Changes the budget (0 disables the cache), evicting the oldest entries beyond it.
    pub fn set_budget(&self, budget_bytes: usize) {
        let mut inner = self.lock();
        inner.budget = budget_bytes;
        inner.evict_to(budget_bytes);
        self.inner.used.store(inner.used, Ordering::Relaxed);
    }

    /// How many more bytes of rows the cache could take now.
    pub fn free_room(&self) -> usize {
        self.room().saturating_sub(self.used_bytes() + self.inner.held.load(Ordering::Relaxed))
    }

    /// A hold on room for the rows of a file being written, to be kept with [`Self::insert_held`]
    /// when the file is complete; dropped, it gives the room back.
    pub fn hold(&self) -> Held {
        Held { files: self.clone(), bytes: 0 }
    }

    /// Keeps `rows` as the contents of the data file `name`, with the room `held` for them.
    pub fn insert_held(&self, name: &str, rows: Vec<RecordBatch>, held: Held) {
        drop(held);
        self.insert(name, rows);
    }

    /// Keeps `rows` as the contents of the data file `name`, evicting the oldest entries beyond
    /// the room it has. Rows larger than the whole room are not kept.
    pub fn insert(&self, name: &str, rows: Vec<RecordBatch>) {
        let size = rows.iter().map(|b| b.get_array_memory_size()).sum();
        let room = self.room();
        let mut inner = self.lock();
        if size > room {
            return;
        }
        if let Some((_, old)) = inner.files.insert(name.to_string(), (rows, size)) {
            inner.used -= old;
        }
        inner.used += size;
        inner.order.push_back(name.to_string());
        inner.evict_to(room);
        self.inner.used.store(inner.used, Ordering::Relaxed);
    }

    /// The rows of data file `name` (in batches, in file order), if kept.
    pub fn get(&self, name: &str) -> Option<Vec<RecordBatch>> {
        self.lock().files.get(name).map(|(rows, _)| rows.clone())
    }

    /// Forgets files (replaced by a compaction).
    pub fn remove<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        for n in names {
            if let Some((_, s)) = inner.files.remove(n) {
                inner.used -= s;
            }
        }
        self.inner.used.store(inner.used, Ordering::Relaxed);
        if inner.files.is_empty() {
            inner.order.clear();
        } else if inner.order.len() > 2 * inner.files.len() + 64 {
            let Inner { order, files, .. } = &mut *inner;
            order.retain(|n| files.contains_key(n));
        }
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.lock().files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Room held in a [`DecodedFiles`] for the rows of a file still being written
/// ([`DecodedFiles::hold`]); given back when dropped.
pub struct Held {
    files: DecodedFiles,
    bytes: usize,
}

impl Held {
    /// Holds `bytes` more if the cache has the room; false (holding nothing more) if not.
    pub fn grow(&mut self, bytes: usize) -> bool {
        let room = self.files.room().saturating_sub(self.files.used_bytes());
        // Checked and taken in one step, so that two writers do not both take the last room.
        let taken = self.files.inner.held.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
            (room.saturating_sub(held) >= bytes).then_some(held + bytes)
        });
        if taken.is_err() {
            return false;
        }
        self.bytes += bytes;
        true
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.files.inner.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array};

    fn rows(n: i64) -> Vec<RecordBatch> {
        vec![RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef)]).unwrap()]
    }

    #[test]
    fn keeps_within_budget_oldest_out_first() {
        let one = rows(1000)[0].get_array_memory_size();
        let cache = DecodedFiles::new(one * 2 + one / 2);
        cache.insert("a", rows(1000));
        cache.insert("b", rows(1000));
        assert_eq!(cache.len(), 2);
        cache.insert("c", rows(1000));
        assert!(cache.get("a").is_none() && cache.get("b").is_some() && cache.get("c").is_some());
        assert!(cache.used_bytes() <= one * 2 + one / 2);
        cache.remove(["b"]);
        assert_eq!((cache.len(), cache.used_bytes()), (1, one));
        // Too big for the budget: not kept; a zero budget keeps nothing.
        cache.insert("big", rows(10_000));
        assert!(cache.get("big").is_none());
        let off = DecodedFiles::new(0);
        off.insert("a", rows(10));
        assert!(off.is_empty());
        assert_eq!(cache.get("c").unwrap()[0].num_rows(), 1000);
        cache.set_budget(0);
        assert!(cache.is_empty() && cache.used_bytes() == 0);
    }

    #[test]
    fn held_room_is_not_given_twice() {
        let one = rows(1000)[0].get_array_memory_size();
        let cache = DecodedFiles::new(one * 3);
        let mut a = cache.hold();
        let mut b = cache.hold();
        assert!(a.grow(one * 2));
        assert!(!b.grow(one * 2), "only one file's worth of room is left");
        assert!(b.grow(one));
        assert_eq!(cache.free_room(), 0);
        drop(b);
        assert_eq!(cache.free_room(), one);
        cache.insert_held("a", rows(1000), a);
        assert_eq!((cache.len(), cache.free_room()), (1, one * 2));
    }
}
