//! The memory budget of writers: one [`MemoryPool`] per process or per writer, shared by the
//! rows waiting in write buffers and by the caches that only save work (the decoded rows of
//! recently written files, the lookup blocks of deletion-vector and changelog lookups).
//!
//! Buffered rows have priority: when the buffers grow, the caches shrink, and when the buffers
//! alone exceed the budget, the writers flush (Paimon bounds a writer by `write-buffer-size`
//! the same way; its Flink sink shares one managed-memory pool among the writers of a task).
//! Caches take what the buffers leave, up to their own caps, and together at most half the
//! limit ([`CACHE_SHARE`]). So the bytes a pool accounts for stay within its limit; what is not
//! accounted (a flush or compaction in progress: one batch per input run, one row group being
//! encoded, upload parts) is bounded per operation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A cache whose memory the pool may reclaim.
pub trait Reclaim: Send + Sync {
    /// Bytes held now.
    fn used(&self) -> usize;
    /// Drops entries (oldest first) until at most `bytes` are held.
    fn shrink_to(&self, bytes: usize);
}

/// The caches of a pool hold together at most `limit / CACHE_SHARE`. Filling the whole limit
/// when the buffers were empty (at a commit) left nothing for what the pool does not account
/// for and what the allocator keeps of the caches' churn: a 40M-row commit with deletion
/// vectors and a 256 MiB buffer had 160 MiB of lookup blocks and 100 MiB of kept rows live at
/// its peak, and peaked at 444 MiB RSS against its 384 MiB bound.
pub(crate) const CACHE_SHARE: usize = 2;

/// A memory budget shared by write buffers and caches. Cheap to share (`Arc`).
pub struct MemoryPool {
    limit: usize,
    buffered: AtomicUsize,
    /// Bytes of buffered rows released since the allocator last gave free memory back.
    released: AtomicUsize,
    caches: Mutex<Vec<Weak<dyn Reclaim>>>,
}

impl std::fmt::Debug for MemoryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryPool").field("limit", &self.limit).field("buffered", &self.buffered()).finish()
    }
}

impl MemoryPool {
    pub fn new(limit_bytes: usize) -> Arc<MemoryPool> {
        Arc::new(MemoryPool {
            limit: limit_bytes,
            buffered: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            caches: Mutex::new(vec![]),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of buffered rows, over every writer of the pool.
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    /// Whether the buffered rows alone exceed the budget (the writers must flush).
    pub fn over_limit(&self) -> bool {
        self.buffered() > self.limit
    }

    /// Accounts `bytes` more of buffered rows, shrinking the caches to make room.
    pub fn grow_buffered(&self, bytes: usize) {
        self.buffered.fetch_add(bytes, Ordering::Relaxed);
        self.reclaim();
    }

    /// Releases `bytes` of buffered rows (flushed). Once a quarter of the limit has been
    /// released, the allocator's free memory goes back to the system (glibc's `malloc_trim`).
    pub fn shrink_buffered(&self, bytes: usize) {
        let _ = self.buffered.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(bytes)));
        let released = self.released.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if released >= self.limit / RETURN_EVERY && self.released.swap(0, Ordering::Relaxed) > 0 {
            return_free_memory();
        }
    }

    /// Registers a cache whose memory counts against the pool.
    pub fn register(&self, cache: Weak<dyn Reclaim>) {
        let mut caches = self.lock();
        caches.retain(|c| c.strong_count() > 0);
        caches.push(cache);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<dyn Reclaim>>> {
        self.caches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many bytes `me` (a registered cache) may hold: what the buffers and the other caches
    /// leave of the limit.
    pub fn room_for(&self, me: &dyn Reclaim) -> usize {
        let others: usize = self
            .lock()
            .iter()
            .filter_map(|c| c.upgrade())
            .filter(|c| !std::ptr::addr_eq(Arc::as_ptr(c), me as *const dyn Reclaim))
            .map(|c| c.used())
            .sum();
        let for_caches = (self.limit / CACHE_SHARE).saturating_sub(others);
        self.limit.saturating_sub(self.buffered() + others).min(for_caches)
    }

    /// Shrinks caches (the largest first) until buffers and caches fit the limit.
    fn reclaim(&self) {
        let caches: Vec<Arc<dyn Reclaim>> = self.lock().iter().filter_map(|c| c.upgrade()).collect();
        let mut used: Vec<(usize, &Arc<dyn Reclaim>)> = caches.iter().map(|c| (c.used(), c)).collect();
        let total: usize = used.iter().map(|u| u.0).sum();
        let mut excess = (self.buffered() + total).saturating_sub(self.limit);
        used.sort_by_key(|u| std::cmp::Reverse(u.0));
        for (u, c) in used {
            if excess == 0 {
                break;
            }
            let keep = u.saturating_sub(excess);
            c.shrink_to(keep);
            excess = excess.saturating_sub(u - c.used().min(u));
        }
    }
}

/// Allocations of at least this size go straight to mmap and back to the system when freed.
/// glibc raises its threshold after each freed mmap chunk (up to 32 MiB), after which the
/// writer's multi-MiB column and upload buffers stayed in the arenas as fragmented heap.
const MMAP_THRESHOLD: i32 = 1 << 20;

/// The pool gives free memory back to the system after each `limit / RETURN_EVERY` bytes of
/// released rows.
const RETURN_EVERY: usize = 4;

/// Gives the memory that the allocator holds free back to the system (glibc's `malloc_trim`,
/// which also releases whole free pages inside its arenas, not only at their tops). A write
/// buffer is refilled with rows whose sizes differ from those it released, so without this the
/// freed rows of each flush stayed in the arenas as scattered free chunks: a writer's resident
/// memory grew with the length of its input (a 64 MiB buffer: 57, 80, then 112 MiB of
/// anonymous memory over three 4M-row files, while its live heap stayed under 58 MiB). A no-op
/// where the allocator is not glibc's.
fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own arenas to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Limits glibc's malloc to `arenas` arenas. By default it keeps up to eight per core, one per
/// thread that allocates, and memory freed in one stays there: with the runtime's workers, the
/// blocking threads of flushes and compactions and the column encoders, a writer whose
/// accounted memory stayed at a 32 MiB budget peaked at 264 MiB RSS, and at 162 MiB with two
/// arenas. With two, a long `shoal write` still grew with its input (memory freed in the second
/// arena stayed there); with one it stays flat and is no slower (figures in issue 18's note), so
/// the `shoal` binary asks for one. It also fixes the mmap threshold at [`MMAP_THRESHOLD`]. Call
/// once at the start of a process (the `shoal` binary does); a no-op elsewhere.
pub fn limit_malloc_arenas(arenas: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = arenas;
}

/// The peak resident memory of this process so far (Linux's `VmHWM`), where the system tells.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(AtomicUsize);
    impl Reclaim for Fake {
        fn used(&self) -> usize {
            self.0.load(Ordering::Relaxed)
        }
        fn shrink_to(&self, bytes: usize) {
            self.0.fetch_min(bytes, Ordering::Relaxed);
        }
    }

    #[test]
    fn buffers_push_caches_out() {
        let pool = MemoryPool::new(1000);
        let a: Arc<dyn Reclaim> = Arc::new(Fake(AtomicUsize::new(600)));
        let b: Arc<dyn Reclaim> = Arc::new(Fake(AtomicUsize::new(300)));
        pool.register(Arc::downgrade(&a));
        pool.register(Arc::downgrade(&b));
        // What the buffers and the other cache leave (700), within the caches' half (500 - 300).
        assert_eq!(pool.room_for(a.as_ref()), 200);
        pool.grow_buffered(400); // 400 + 900 > 1000: the largest cache gives up 300
        assert_eq!((a.used(), b.used()), (300, 300));
        assert!(!pool.over_limit());
        pool.grow_buffered(500); // 900 buffered: caches keep 100 between them
        assert_eq!(a.used() + b.used(), 100);
        pool.grow_buffered(200);
        assert!(pool.over_limit());
        assert_eq!(a.used() + b.used(), 0);
        pool.shrink_buffered(1100);
        assert_eq!(pool.buffered(), 0);
        assert_eq!(pool.room_for(b.as_ref()), 500, "caches hold at most half the limit");
    }
}
