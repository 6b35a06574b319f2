//! An object read by blocking ranged reads, a window at a time: Parquet's page-by-page reader
//! ([`parquet::file::reader::ChunkReader`]) over any object store. The async Parquet reader
//! fetches a row group's column chunks whole, which is right for the row groups shoal writes
//! (capped at [`ROW_GROUP_ROWS`](crate) rows) but not for other writers' (Java Paimon's reach
//! `parquet.block.size`, 128 MB): through this reader a file holds a few windows of pages in
//! memory, whatever its row groups.
//!
//! Each read blocks on the runtime handle, so it runs on a blocking thread, as merges do.

use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

/// Bytes fetched at once for a page (at least the page): pages follow each other in a column
/// chunk, so the next header and page usually come from the same window.
const WINDOW: u64 = 1 << 20;
/// Bytes fetched for a page header not in a window (headers are a few dozen bytes).
const HEADER_WINDOW: u64 = 16 << 10;
/// Windows kept (least recently used out): a file holds at most this many windows, or pages
/// when they are larger. With more columns than windows, a page is one request.
const WINDOWS: usize = 4;

/// One object, read a window at a time (cheap to clone).
#[derive(Clone)]
pub(crate) struct RangedObject {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    runtime: tokio::runtime::Handle,
    /// Recently fetched windows (start, bytes), most recent last.
    windows: Mutex<Vec<(u64, Bytes)>>,
}

impl RangedObject {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        size: u64,
        runtime: tokio::runtime::Handle,
    ) -> RangedObject {
        RangedObject { inner: Arc::new(Inner { store, path, size, runtime, windows: Mutex::new(vec![]) }) }
    }

    /// `len` bytes at `start`, from a window or fetched with at least `fetch` bytes around.
    fn bytes(&self, start: u64, len: u64, fetch: u64) -> Result<Bytes, ParquetError> {
        let end = start.checked_add(len).filter(|e| *e <= self.inner.size).ok_or_else(|| {
            ParquetError::EOF(format!("{}: bytes {start}+{len} beyond its {} bytes", self.inner.path, self.inner.size))
        })?;
        let mut windows = self.inner.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = windows.iter().position(|(s, b)| *s <= start && end <= s + b.len() as u64) {
            let (s, b) = windows.remove(i);
            let out = b.slice((start - s) as usize..(end - s) as usize);
            windows.push((s, b));
            return Ok(out);
        }
        drop(windows);
        let fetch_end = end.max(start.saturating_add(fetch)).min(self.inner.size);
        let got = self
            .inner
            .runtime
            .block_on(self.inner.store.get_range(&self.inner.path, start..fetch_end))
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        if (got.len() as u64) < end - start {
            return Err(ParquetError::EOF(format!("{}: short read at {start}", self.inner.path)));
        }
        let out = got.slice(..(end - start) as usize);
        let mut windows = self.inner.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= WINDOWS {
            windows.remove(0);
        }
        windows.push((start, got));
        Ok(out)
    }
}

impl Length for RangedObject {
    fn len(&self) -> u64 {
        self.inner.size
    }
}

impl ChunkReader for RangedObject {
    type T = WindowRead;

    fn get_read(&self, start: u64) -> Result<WindowRead, ParquetError> {
        Ok(WindowRead { object: self.clone(), pos: start, buf: Bytes::new() })
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        self.bytes(start, length as u64, WINDOW)
    }
}

/// Sequential reads from a position of a [`RangedObject`] (page headers).
pub(crate) struct WindowRead {
    object: RangedObject,
    pos: u64,
    buf: Bytes,
}

impl Read for WindowRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            let left = self.object.inner.size.saturating_sub(self.pos);
            if left == 0 {
                return Ok(0);
            }
            let len = left.min(HEADER_WINDOW);
            self.buf = self.object.bytes(self.pos, len, len).map_err(std::io::Error::other)?;
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_windows_and_refuses_beyond_the_end() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let data: Vec<u8> = (0..3 * WINDOW as usize + 7).map(|i| (i % 251) as u8).collect();
        let path = Path::from("f");
        rt.block_on(store.put(&path, data.clone().into())).unwrap();
        let object = RangedObject::new(store, path, data.len() as u64, rt.handle().clone());
        let b = object.get_bytes(10, 100).unwrap();
        assert_eq!(&b[..], &data[10..110]);
        // From the window fetched above.
        let b = object.get_bytes(WINDOW - 5, 5).unwrap();
        assert_eq!(&b[..], &data[WINDOW as usize - 5..WINDOW as usize]);
        // Straddling the end of that window: fetched anew.
        let b = object.get_bytes(WINDOW - 5, 20).unwrap();
        assert_eq!(&b[..], &data[WINDOW as usize - 5..WINDOW as usize + 15]);
        let mut r = object.get_read(3 * WINDOW).unwrap();
        let mut tail = vec![];
        r.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, &data[3 * WINDOW as usize..]);
        assert!(object.get_bytes(data.len() as u64 - 3, 4).is_err());
    }
}
