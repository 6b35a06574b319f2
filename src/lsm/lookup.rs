//! Finding where a key lives on the levels below a compaction's output (Paimon's
//! `LookupLevels`), for deletion-vector maintenance and the lookup changelog.
//!
//! Each data file on levels >= 1 is sorted by key and holds a key at most once, so a file's
//! lookup index is its rows in file order with their encoded keys. A level is one sorted run of
//! files that do not overlap, searched by binary search on each file's first key, then within
//! the file. Levels are searched from the shallowest (newest) down; a row already marked in its
//! file's deletion vector does not count.
//!
//! Indexes live on local disk (Paimon keeps its lookup files there too): built on a file's first
//! use into a scratch file of [`crate::io::temp`], in blocks of [`BLOCK_ROWS`] rows (the keys,
//! then the rows as Arrow IPC), with only each block's first key in memory. Blocks are read
//! through a [`BlockCache`] bounded in bytes (`lookup.cache-max-memory-size`, within the
//! writer's memory pool), so lookups over a table of any size hold a bounded amount of memory.
//! A bucket's indexes stay in its [`LookupCache`] across commits, so a writer that compacts
//! level 0 at every commit reads each deeper file once; an index's scratch file goes when the
//! index is dropped. The scratch files of all buckets of a writer share a disk budget
//! (`lookup.cache-max-disk-size`, unlimited by default as in Paimon): past it, the least
//! recently used indexes that no lookup is using are dropped, and built again if needed.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::{RecordBatch, RecordBatchOptions};

use crate::error::{Error, Result};
use crate::io::temp::TempFile;
use crate::lsm::deletion_vectors::BucketDeletionVectors;
use crate::memory::{MemoryPool, Reclaim};
use crate::merge::keys::{KeyEncoder, SortKeys};
use crate::read::SplitReader;
use crate::spec::DataFileMeta;

/// Rows per block of a lookup index: what one cache miss reads.
pub(crate) const BLOCK_ROWS: usize = 4096;

/// Where a block lies in its index file.
struct BlockLocation {
    offset: u64,
    len: usize,
    rows: usize,
    first_row: u32,
}

/// One data file's lookup index on local disk, with each block's first key in memory.
pub(crate) struct LookupFile {
    id: u64,
    scratch: TempFile,
    file: std::fs::File,
    blocks: Vec<BlockLocation>,
    /// Each block's first key (one key each).
    first_keys: Vec<SortKeys>,
    /// Single BIGINT keys: each block's first key as a number.
    first_i64: Option<Vec<i64>>,
    schema: arrow_schema::SchemaRef,
    /// The block cache that holds this index's blocks (set on the first block it caches): the
    /// index takes them out when it is dropped, so a file that left the bucket does not keep
    /// cache room until the budget ages it out (a writer running for weeks would otherwise fill
    /// its whole budget with blocks of files compacted away).
    cached_in: std::sync::OnceLock<std::sync::Weak<BlockShared>>,
    /// Bytes of the scratch file.
    size: u64,
    /// The disk budget this index is counted in (set when a [`LookupCache`] takes it).
    counted_in: std::sync::OnceLock<std::sync::Weak<DiskShared>>,
}

impl Drop for LookupFile {
    fn drop(&mut self) {
        if let Some(cache) = self.cached_in.get().and_then(|c| c.upgrade()) {
            cache.forget(self.id, self.blocks.len());
        }
        if let Some(disk) = self.counted_in.get().and_then(|d| d.upgrade()) {
            disk.forget(self.id);
        }
    }
}

/// The indexes of one [`LookupCache`], by data file name (shared with the disk budget, which
/// drops entries from it).
type CacheFiles = Arc<CacheMap>;
type CacheMap = Mutex<HashMap<String, Arc<LookupFile>>>;

/// The local disk budget of the lookup indexes of a writer or compaction job.
struct DiskShared {
    limit: u64,
    used: AtomicU64,
    peak: AtomicU64,
    state: Mutex<DiskState>,
}

#[derive(Default)]
struct DiskState {
    tick: u64,
    files: HashMap<u64, DiskEntry>,
}

struct DiskEntry {
    size: u64,
    last_used: u64,
    owner: std::sync::Weak<CacheMap>,
    name: String,
}

impl DiskShared {
    fn new(limit: u64) -> Arc<DiskShared> {
        Arc::new(DiskShared { limit, used: AtomicU64::new(0), peak: AtomicU64::new(0), state: Mutex::default() })
    }

    fn forget(&self, id: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = state.files.remove(&id) {
            self.used.fetch_sub(e.size, Ordering::Relaxed);
        }
    }

    fn touch(&self, file: &LookupFile) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.tick += 1;
        let tick = state.tick;
        if let Some(e) = state.files.get_mut(&file.id) {
            e.last_used = tick;
        }
    }

    /// Counts a new index of `owner` and drops the least recently used indexes nobody is using
    /// until the budget holds (or none is left to drop).
    fn add(self: &Arc<Self>, file: &Arc<LookupFile>, owner: &CacheFiles, name: &str) {
        let _ = file.counted_in.get_or_init(|| Arc::downgrade(self));
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.tick += 1;
            let tick = state.tick;
            let entry = DiskEntry { size: file.size, last_used: tick, owner: Arc::downgrade(owner), name: name.into() };
            state.files.insert(file.id, entry);
            let used = self.used.fetch_add(file.size, Ordering::Relaxed) + file.size;
            self.peak.fetch_max(used, Ordering::Relaxed);
        }
        self.trim();
    }

    /// Drops the least recently used indexes nobody is using (no lookup holds them) until the
    /// budget holds, or none is left to drop. Runs when an index is added and when a lookup
    /// lets its indexes go.
    fn trim(&self) {
        if self.used.load(Ordering::Relaxed) <= self.limit {
            return;
        }
        let victims: Vec<(std::sync::Weak<CacheMap>, String)> = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut older: Vec<&DiskEntry> = state.files.values().collect();
            older.sort_by_key(|e| e.last_used);
            older.into_iter().map(|e| (e.owner.clone(), e.name.clone())).collect()
        };
        for (owner, name) in victims {
            if self.used.load(Ordering::Relaxed) <= self.limit {
                break;
            }
            let Some(owner) = owner.upgrade() else { continue };
            let dropped = {
                let mut files = owner.lock().unwrap_or_else(|e| e.into_inner());
                // Only an index nobody holds (no lookup in progress uses it) goes.
                match files.get(&name) {
                    Some(f) if Arc::strong_count(f) == 1 => files.remove(&name),
                    _ => None,
                }
            };
            // Dropped outside both locks: its Drop updates the budget.
            drop(dropped);
        }
    }
}

/// What the lookup indexes of a writer (or compaction job) take on local disk.
#[derive(Clone)]
pub(crate) struct LookupDisk {
    inner: Arc<DiskShared>,
}

impl LookupDisk {
    /// A budget of `limit` bytes (`u64::MAX`: unlimited).
    pub(crate) fn new(limit: u64) -> LookupDisk {
        LookupDisk { inner: DiskShared::new(limit) }
    }

    /// Bytes of the indexes kept now.
    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> u64 {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// The most bytes kept at once since this budget was made.
    #[cfg(test)]
    pub(crate) fn peak_bytes(&self) -> u64 {
        self.inner.peak.load(Ordering::Relaxed)
    }
}

impl Default for LookupDisk {
    /// Unlimited, as Paimon's default.
    fn default() -> Self {
        LookupDisk::new(u64::MAX)
    }
}

/// One block of an index: its keys and rows, and the file position of its first row.
pub(crate) struct Block {
    pub keys: SortKeys,
    pub rows: RecordBatch,
    pub first_row: u32,
}

impl Block {
    fn memory_size(&self) -> usize {
        self.keys.memory_size() + self.rows.get_array_memory_size()
    }
}

static NEXT_INDEX: AtomicU64 = AtomicU64::new(0);

impl LookupFile {
    /// Builds the index of data file `f` from its rows as `reader` reads them (only the
    /// key-value metadata columns when the merge needs no old values); None for an empty file.
    /// Runs on a blocking thread.
    fn build(
        reader: &SplitReader,
        encoder: &KeyEncoder,
        bucket_path: &str,
        f: &DataFileMeta,
    ) -> Result<Option<LookupFile>> {
        let (scratch, file) = TempFile::create("lookup")?;
        let disk_error = |e: std::io::Error| {
            Error::LocalDisk(crate::io::temp::TempError {
                path: scratch.path().display().to_string(),
                message: e.to_string(),
            })
        };
        let mut out = std::io::BufWriter::new(file);
        let mut blocks = vec![];
        let mut first_keys = vec![];
        let mut schema = None;
        let (mut offset, mut row) = (0u64, 0u32);
        let mut bytes = Vec::new();
        reader.for_each_file_batch(bucket_path, f, BLOCK_ROWS, &mut |rows, keys| {
            bytes.clear();
            encoder.write_keys(&keys, 0..keys.len(), &mut bytes);
            let key_bytes = bytes.len();
            if rows.num_columns() > 0 {
                let mut ipc = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &rows.schema())
                    .map_err(Error::arrow("writing a lookup block"))?;
                ipc.write(&rows).map_err(Error::arrow("writing a lookup block"))?;
                ipc.finish().map_err(Error::arrow("writing a lookup block"))?;
            }
            let mut header = Vec::with_capacity(8);
            header.extend_from_slice(&(key_bytes as u32).to_le_bytes());
            header.extend_from_slice(&((bytes.len() - key_bytes) as u32).to_le_bytes());
            out.write_all(&header).and_then(|()| out.write_all(&bytes)).map_err(disk_error)?;
            let len = header.len() + bytes.len();
            blocks.push(BlockLocation { offset, len, rows: rows.num_rows(), first_row: row });
            first_keys.push(encoder.one(&keys, 0));
            schema.get_or_insert_with(|| rows.schema());
            offset += len as u64;
            row += rows.num_rows() as u32;
            Ok(())
        })?;
        let file = out.into_inner().map_err(|e| disk_error(e.into_error()))?;
        let Some(schema) = schema else { return Ok(None) };
        let first_i64 = first_keys
            .iter()
            .map(|k| match k {
                SortKeys::I64(v) => Some(v[0]),
                _ => None,
            })
            .collect();
        Ok(Some(LookupFile {
            id: NEXT_INDEX.fetch_add(1, Ordering::Relaxed),
            scratch,
            file,
            blocks,
            first_keys,
            first_i64,
            schema,
            cached_in: Default::default(),
            size: offset,
            counted_in: Default::default(),
        }))
    }

    /// Reads block `b` from disk.
    fn read_block(&self, b: usize, encoder: &KeyEncoder) -> Result<Block> {
        let loc = &self.blocks[b];
        let corrupt = |what: &str| {
            Error::LocalDisk(crate::io::temp::TempError {
                path: self.scratch.path().display().to_string(),
                message: format!("block {b}: {what}"),
            })
        };
        let mut bytes = vec![0u8; loc.len];
        self.file.read_exact_at(&mut bytes, loc.offset).map_err(|e| corrupt(&e.to_string()))?;
        let word =
            |at: usize| bytes.get(at..at + 4).map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")) as usize);
        let (Some(key_len), Some(rows_len)) = (word(0), word(4)) else { return Err(corrupt("truncated header")) };
        let keys = bytes
            .get(8..8 + key_len)
            .and_then(|k| encoder.read_keys(k, loc.rows))
            .ok_or_else(|| corrupt("unreadable keys"))?;
        let rows = if rows_len == 0 {
            RecordBatch::try_new_with_options(
                self.schema.clone(),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(loc.rows)),
            )
            .map_err(Error::arrow("reading a lookup block"))?
        } else {
            let ipc = bytes.get(8 + key_len..8 + key_len + rows_len).ok_or_else(|| corrupt("truncated rows"))?;
            let mut reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None)
                .map_err(Error::arrow("reading a lookup block"))?;
            reader.next().ok_or_else(|| corrupt("no rows"))?.map_err(Error::arrow("reading a lookup block"))?
        };
        Ok(Block { keys, rows, first_row: loc.first_row })
    }
}

/// Decoded lookup blocks, shared by the buckets of a writer (or compaction job): at most its
/// budget, and within a [`MemoryPool`] only what the pool's buffers leave. Oldest out first
/// (compactions probe keys in order, so a block is used in one stretch). Cheap to clone.
#[derive(Clone)]
pub(crate) struct BlockCache {
    inner: Arc<BlockShared>,
    /// The disk budget of the indexes these blocks come from.
    disk: LookupDisk,
}

struct BlockShared {
    state: Mutex<BlockState>,
    used: AtomicUsize,
    budget: usize,
    pool: Option<Arc<MemoryPool>>,
}

#[derive(Default)]
struct BlockState {
    blocks: HashMap<(u64, usize), (Arc<Block>, usize)>,
    order: VecDeque<(u64, usize)>,
    used: usize,
}

impl BlockState {
    fn evict_to(&mut self, bytes: usize) {
        while self.used > bytes {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some((_, size)) = self.blocks.remove(&oldest) {
                self.used -= size;
            }
        }
    }
}

impl BlockShared {
    /// Takes out the blocks of index `id` (which has `blocks` blocks).
    fn forget(&self, id: u64, blocks: usize) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for b in 0..blocks {
            if let Some((_, size)) = state.blocks.remove(&(id, b)) {
                state.used -= size;
            }
        }
        // `order` may still name the removed blocks; eviction skips them. Rebuilt when it has
        // grown well past the entries, so it stays proportional to what is cached.
        if state.order.len() > 2 * state.blocks.len() + 64 {
            let BlockState { order, blocks, .. } = &mut *state;
            order.retain(|k| blocks.contains_key(k));
        }
        self.used.store(state.used, Ordering::Relaxed);
    }
}

impl Reclaim for BlockShared {
    fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
    fn shrink_to(&self, bytes: usize) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.evict_to(bytes);
        self.used.store(state.used, Ordering::Relaxed);
    }
}

impl Default for BlockCache {
    /// A cache of [`DEFAULT_BLOCK_CACHE_BYTES`] outside any pool.
    fn default() -> Self {
        BlockCache::new(DEFAULT_BLOCK_CACHE_BYTES, None)
    }
}

/// The budget of a block cache outside any pool (tests, one-off lookups).
pub(crate) const DEFAULT_BLOCK_CACHE_BYTES: usize = 64 << 20;

impl BlockCache {
    pub(crate) fn new(budget: usize, pool: Option<Arc<MemoryPool>>) -> BlockCache {
        let inner = Arc::new(BlockShared { state: Mutex::default(), used: AtomicUsize::new(0), budget, pool });
        if let Some(pool) = &inner.pool {
            let me: Arc<dyn Reclaim> = inner.clone();
            pool.register(Arc::downgrade(&me));
        }
        BlockCache { inner, disk: LookupDisk::default() }
    }

    /// The same cache with the indexes it serves held to `disk` on local disk.
    pub(crate) fn with_disk(mut self, disk: LookupDisk) -> BlockCache {
        self.disk = disk;
        self
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> usize {
        self.inner.used()
    }

    fn get(&self, file: &LookupFile, b: usize, encoder: &KeyEncoder) -> Result<Arc<Block>> {
        let key = (file.id, b);
        if let Some((block, _)) = self.inner.state.lock().unwrap_or_else(|e| e.into_inner()).blocks.get(&key) {
            return Ok(block.clone());
        }
        let block = Arc::new(file.read_block(b, encoder)?);
        self.insert(file, b, block.clone());
        Ok(block)
    }

    /// Keeps block `b` of `file`, within the room the cache has.
    fn insert(&self, file: &LookupFile, b: usize, block: Arc<Block>) {
        let key = (file.id, b);
        let size = block.memory_size();
        let room = match &self.inner.pool {
            Some(pool) => self.inner.budget.min(pool.room_for(self.inner.as_ref())),
            None => self.inner.budget,
        };
        if size <= room {
            let _ = file.cached_in.get_or_init(|| Arc::downgrade(&self.inner));
            let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, old)) = state.blocks.insert(key, (block.clone(), size)) {
                state.used -= old;
            } else {
                state.order.push_back(key);
            }
            state.used += size;
            state.evict_to(room);
            self.inner.used.store(state.used, Ordering::Relaxed);
        }
    }
}

/// Loaded lookup indexes of one bucket, by data file name. Clones share the indexes.
#[derive(Clone, Default)]
pub(crate) struct LookupCache {
    files: CacheFiles,
}

impl LookupCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LookupFile>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets files that are no longer in the bucket (their scratch files go with the last
    /// reference).
    pub(crate) fn retain_files(&mut self, live: &[DataFileMeta]) {
        let gone: Vec<Arc<LookupFile>> = {
            let mut files = self.lock();
            let names: Vec<String> =
                files.keys().filter(|n| !live.iter().any(|f| &f.file_name == *n)).cloned().collect();
            names.iter().filter_map(|n| files.remove(n)).collect()
        };
        drop(gone);
    }
}

impl Drop for LookupLevels {
    fn drop(&mut self) {
        // Let the indexes go first: those the budget has no room for are dropped now.
        drop(std::mem::take(&mut self.levels));
        self.blocks.disk.inner.trim();
    }
}

/// A hit: the file, the row position in it, and the block holding the row.
#[derive(Clone)]
pub(crate) struct Found<'a> {
    pub file: &'a DataFileMeta,
    pub position: u32,
    pub block: Arc<Block>,
}

impl Found<'_> {
    /// The row's position within [`Found::block`]'s rows.
    pub(crate) fn row_in_block(&self) -> usize {
        (self.position - self.block.first_row) as usize
    }
}

/// The files of the searched levels with their indexes, each level ordered by first key.
pub(crate) struct LookupLevels {
    levels: Vec<Vec<(DataFileMeta, Arc<LookupFile>)>>,
    blocks: BlockCache,
    encoder: KeyEncoder,
    /// Per level, the block where the previous BIGINT lookup ended (file, block) and the
    /// position in it: compactions probe in key order, so the next key is usually a few
    /// positions further in the same block.
    hints: Vec<std::cell::Cell<(usize, usize, usize)>>,
    /// The block of the previous hit per level, kept at hand between probes.
    current: Vec<std::cell::RefCell<Option<HeldBlock>>>,
}

/// A block and its address (file, block number).
type HeldBlock = ((usize, usize), Arc<Block>);

impl LookupLevels {
    /// Loads (or takes from `cache`) the indexes of `files`, grouped by level. `reader` decides
    /// what is kept besides keys (see [`LookupFile::build`]). Runs on a blocking thread.
    pub(crate) fn load(
        reader: &SplitReader,
        bucket_path: &str,
        files: &[DataFileMeta],
        cache: &mut LookupCache,
        blocks: &BlockCache,
        key_types: &[arrow_schema::DataType],
    ) -> Result<LookupLevels> {
        let above0: Vec<DataFileMeta> = files.iter().filter(|f| f.level >= 1).cloned().collect();
        Self::load_any_level(reader, bucket_path, &above0, cache, blocks, key_types)
    }

    /// [`Self::load`] without leaving out level 0: the caller makes sure that the files of a
    /// level do not overlap (one level-0 file at a time).
    pub(crate) fn load_any_level(
        reader: &SplitReader,
        bucket_path: &str,
        files: &[DataFileMeta],
        cache: &mut LookupCache,
        blocks: &BlockCache,
        key_types: &[arrow_schema::DataType],
    ) -> Result<LookupLevels> {
        let encoder = KeyEncoder::new(key_types)?;
        let mut by_level: std::collections::BTreeMap<i32, Vec<(DataFileMeta, Arc<LookupFile>)>> = Default::default();
        for f in files {
            let cached = cache.lock().get(&f.file_name).cloned();
            let index = match cached {
                Some(i) => {
                    blocks.disk.inner.touch(&i);
                    i
                }
                None => {
                    let Some(built) = LookupFile::build(reader, &encoder, bucket_path, f)? else { continue };
                    let i = Arc::new(built);
                    cache.lock().insert(f.file_name.clone(), i.clone());
                    blocks.disk.inner.add(&i, &cache.files, &f.file_name);
                    i
                }
            };
            by_level.entry(f.level).or_default().push((f.clone(), index));
        }
        let mut levels: Vec<Vec<(DataFileMeta, Arc<LookupFile>)>> = by_level.into_values().collect();
        for level in &mut levels {
            level.sort_by(|a, b| a.1.first_keys[0].cmp_with(0, &b.1.first_keys[0], 0));
        }
        let hints = levels.iter().map(|_| std::cell::Cell::new((0, 0, 0))).collect();
        let current = levels.iter().map(|_| std::cell::RefCell::new(None)).collect();
        Ok(LookupLevels { levels, blocks: blocks.clone(), encoder, hints, current })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Block `b` of file `f` on `level`, from the level's current block or the cache.
    fn block(&self, level: usize, f: usize, b: usize) -> Result<Arc<Block>> {
        let mut current = self.current[level].borrow_mut();
        if let Some((at, block)) = current.as_ref() {
            if *at == (f, b) {
                return Ok(block.clone());
            }
        }
        let block = self.blocks.get(&self.levels[level][f].1, b, &self.encoder)?;
        *current = Some(((f, b), block.clone()));
        Ok(block)
    }

    /// The live row holding key `row` of `keys`, on the shallowest level that has one.
    pub(crate) fn lookup(&self, keys: &SortKeys, row: usize, dvs: &BucketDeletionVectors) -> Result<Option<Found<'_>>> {
        if let SortKeys::I64(probe) = keys {
            return self.lookup_i64(probe[row], dvs);
        }
        for (l, level) in self.levels.iter().enumerate() {
            // The last file whose first key is <= the key, then its last block so.
            let after = level.partition_point(|(_, i)| i.first_keys[0].cmp_with(0, keys, row).is_le());
            let Some(f) = after.checked_sub(1) else { continue };
            let (file, index) = &level[f];
            let Some(b) = index.first_keys.partition_point(|k| k.cmp_with(0, keys, row).is_le()).checked_sub(1) else {
                continue;
            };
            let block = self.block(l, f, b)?;
            let n = block.keys.len();
            let (mut lo, mut hi) = (0usize, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if block.keys.cmp_with(mid, keys, row).is_lt() {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let position = block.first_row + lo as u32;
            if lo < n && block.keys.cmp_with(lo, keys, row).is_eq() && !dvs.is_deleted(&file.file_name, position) {
                return Ok(Some(Found { file, position, block }));
            }
        }
        Ok(None)
    }

    /// [`Self::lookup`] for a single BIGINT key: searches over the key values, galloping forward
    /// from where the previous lookup ended on each level when the key lies beyond it.
    fn lookup_i64(&self, key: i64, dvs: &BucketDeletionVectors) -> Result<Option<Found<'_>>> {
        let first = |i: &LookupFile| i.first_i64.as_ref().and_then(|v| v.first().copied()).unwrap_or(i64::MAX);
        for (l, (level, hint)) in self.levels.iter().zip(&self.hints).enumerate() {
            let (hint_file, hint_block, hint_pos) = hint.get();
            // The last file whose first key is <= the key: the hinted one when the key is in its
            // range of files, else by binary search.
            let in_hinted = hint_file < level.len()
                && first(&level[hint_file].1) <= key
                && level.get(hint_file + 1).is_none_or(|next| first(&next.1) > key);
            let f = if in_hinted {
                hint_file
            } else {
                let Some(i) = level.partition_point(|(_, i)| first(i) <= key).checked_sub(1) else { continue };
                i
            };
            let (file, index) = &level[f];
            let Some(firsts) = &index.first_i64 else { continue };
            // The block: the hinted one when the key is in its range, else by binary search.
            let b = if f == hint_file
                && hint_block < firsts.len()
                && firsts[hint_block] <= key
                && firsts.get(hint_block + 1).is_none_or(|next| *next > key)
            {
                hint_block
            } else {
                let Some(b) = firsts.partition_point(|v| *v <= key).checked_sub(1) else { continue };
                b
            };
            let block = self.block(l, f, b)?;
            let SortKeys::I64(values) = &block.keys else { continue };
            // Keys in a file are strictly increasing: if the hinted position holds a key <= the
            // probe, the probe's lower bound is at or after it.
            let start = if (f, b) == (hint_file, hint_block) && values.get(hint_pos).is_some_and(|v| *v <= key) {
                hint_pos
            } else {
                0
            };
            let pos = gallop_lower_bound(values, start, key);
            hint.set((f, b, pos.min(values.len().saturating_sub(1))));
            let position = block.first_row + pos as u32;
            if pos < values.len() && values[pos] == key && !dvs.is_deleted(&file.file_name, position) {
                return Ok(Some(Found { file, position, block }));
            }
        }
        Ok(None)
    }
}

/// The first position at or after `start` whose value is >= `key` (`values` ascending, and every
/// value before `start` below `key`): exponential steps from `start`, then a binary search.
fn gallop_lower_bound(values: &[i64], start: usize, key: i64) -> usize {
    let (mut lo, mut step) = (start, 1usize);
    let mut hi = start;
    while hi < values.len() && values[hi] < key {
        lo = hi + 1;
        hi = start.saturating_add(step);
        step = step.saturating_mul(2);
    }
    let hi = hi.min(values.len());
    lo + values[lo..hi].partition_point(|v| *v < key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array};

    /// An index with `blocks` block locations (contents never read: blocks are put in the cache
    /// directly).
    fn index(blocks: usize) -> LookupFile {
        let (scratch, file) = TempFile::create("lookup-test").unwrap();
        let rows = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![1i64])) as ArrayRef)]).unwrap();
        LookupFile {
            id: NEXT_INDEX.fetch_add(1, Ordering::Relaxed),
            scratch,
            file,
            blocks: (0..blocks).map(|b| BlockLocation { offset: 0, len: 0, rows: 1, first_row: b as u32 }).collect(),
            first_keys: vec![],
            first_i64: None,
            schema: rows.schema(),
            cached_in: Default::default(),
            size: 100,
            counted_in: Default::default(),
        }
    }

    #[test]
    fn the_disk_budget_drops_the_least_recently_used_index_nobody_holds() {
        let disk = LookupDisk::new(250);
        let cache = LookupCache::default();
        let add = |name: &str| {
            let f = Arc::new(index(1));
            cache.lock().insert(name.to_string(), f.clone());
            disk.inner.add(&f, &cache.files, name);
            f
        };
        let a = add("a");
        drop(add("b"));
        disk.inner.touch(&a);
        assert_eq!(disk.used_bytes(), 200);
        // Over the budget: "b" (least recently used, held by the cache only) goes; "a" is
        // older but in use (held here), so it would stay anyway.
        drop(add("c"));
        assert_eq!(disk.used_bytes(), 200);
        let names: std::collections::BTreeSet<String> = cache.lock().keys().cloned().collect();
        assert_eq!(names, ["a", "c"].iter().map(|s| s.to_string()).collect());
        // With "a" held, a fourth index overshoots until "a" is let go and the budget trimmed.
        drop(add("d"));
        assert_eq!(cache.lock().len(), 2, "c went, a is held");
        assert!(disk.used_bytes() <= 250);
        assert_eq!(disk.peak_bytes(), 300);
        drop(a);
        let mut cache2 = cache.clone();
        cache2.retain_files(&[]);
        assert_eq!(disk.used_bytes(), 0, "indexes that leave the cache leave the budget");
    }

    fn block(n: i64) -> Arc<Block> {
        let rows =
            RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef)]).unwrap();
        Arc::new(Block { keys: SortKeys::I64((0..n).collect()), rows, first_row: 0 })
    }

    #[test]
    fn a_dropped_index_takes_its_blocks_out_of_the_cache() {
        let cache = BlockCache::new(64 << 20, None);
        let (a, b) = (index(3), index(2));
        for i in 0..3 {
            cache.insert(&a, i, block(1000));
        }
        cache.insert(&b, 0, block(1000));
        let one = block(1000).memory_size();
        assert_eq!(cache.used_bytes(), 4 * one);
        drop(a);
        assert_eq!(cache.used_bytes(), one, "only the live index's block is left");
        assert_eq!(cache.inner.state.lock().unwrap().blocks.len(), 1);
        drop(cache);
        drop(b); // the cache is gone first: nothing to take out
    }

    #[test]
    fn gallop_finds_the_lower_bound_from_any_valid_start() {
        let values: Vec<i64> = (0..1000).map(|i| i * 3).collect();
        for key in -2..3005 {
            let want = values.partition_point(|v| *v < key);
            for start in [0usize, want.saturating_sub(1), want / 2, want] {
                if values[..start].iter().all(|v| *v < key) {
                    assert_eq!(gallop_lower_bound(&values, start, key), want, "key {key} start {start}");
                }
            }
        }
        assert_eq!(gallop_lower_bound(&[], 0, 5), 0);
    }
}
