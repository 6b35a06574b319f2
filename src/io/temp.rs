//! Local scratch space: where a writer keeps what does not fit its memory budget (lookup
//! indexes of the files below a compaction's output, spilled runs).
//!
//! Each process works in a directory of its own, `<base>/shoal-<pid>-<uuid>/`, created on first
//! use, holding an exclusive lock on `<dir>/lock` for as long as the process lives. Files in it
//! are removed by their owners when done (on success and on error: every [`TempFile`] deletes
//! itself when dropped), and the directory by [`remove_process_dir`] (the CLI calls it before it
//! exits) or else by the next process, as for a crash. A process killed
//! with `kill -9` leaves its directory behind, but not its lock (the kernel releases it): the
//! next process to use the same base removes every `shoal-*` directory whose lock it can take.
//!
//! The base is, in order: [`set_base`], the `SHOAL_TEMP_DIR` environment variable, or
//! `<system temp dir>/shoal`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Rows per row group of a sorted run spilled to scratch space (by a full write buffer or by a
/// merge of too many runs): a merge reading spilled runs holds one row group (compressed and
/// decoded) and one batch per run, so 16 runs wide and one merge per core, about
/// 2 x 16 x 3 x 4096 rows.
pub(crate) const SPILL_ROW_GROUP_ROWS: usize = 4096;

/// The environment variable naming the base directory of scratch space.
pub(crate) const TEMP_DIR_ENV: &str = "SHOAL_TEMP_DIR";

static BASE: Mutex<Option<PathBuf>> = Mutex::new(None);
static PROCESS_DIR: OnceLock<std::result::Result<ProcessDir, String>> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Sets the base directory of this process's scratch space. Takes effect only before the first
/// scratch file is created (the CLI's `--temp-dir`).
pub fn set_base(dir: impl Into<PathBuf>) {
    *BASE.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir.into());
}

fn base() -> PathBuf {
    if let Some(b) = BASE.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        return b;
    }
    match std::env::var_os(TEMP_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir().join("shoal"),
    }
}

/// The directory of this process, locked while it lives.
struct ProcessDir {
    path: PathBuf,
    /// Held open: the exclusive lock lives as long as this handle.
    _lock: File,
}

/// Removes this process's scratch directory, if it made one (call when no writer is left).
pub fn remove_process_dir() {
    if let Some(Ok(d)) = PROCESS_DIR.get() {
        let _ = std::fs::remove_dir_all(&d.path);
    }
}

/// An error of local scratch space, naming the path.
#[derive(Debug, thiserror::Error)]
#[error("local scratch space {path}: {message}")]
pub struct TempError {
    pub path: String,
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> TempError {
    TempError { path: path.display().to_string(), message: e.to_string() }
}

/// This process's scratch directory (created, and stale ones cleaned, on first call).
pub(crate) fn process_dir() -> std::result::Result<&'static Path, TempError> {
    let dir = PROCESS_DIR.get_or_init(|| open_process_dir(&base()).map_err(|e| e.to_string()));
    match dir {
        Ok(d) => Ok(&d.path),
        Err(m) => Err(TempError { path: base().display().to_string(), message: m.clone() }),
    }
}

fn open_process_dir(base: &Path) -> std::result::Result<ProcessDir, TempError> {
    std::fs::create_dir_all(base).map_err(|e| err(base, format!("cannot create it: {e}")))?;
    remove_stale(base);
    let name = format!("shoal-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    // Made under another name and renamed once locked: another process's `remove_stale` could
    // otherwise find the lock file before it is locked, take it, and remove a live directory.
    let creating = base.join(format!("{CREATING}{name}"));
    std::fs::create_dir(&creating).map_err(|e| err(&creating, format!("cannot create it: {e}")))?;
    let lock_path = creating.join("lock");
    let lock = File::create(&lock_path).map_err(|e| err(&lock_path, e))?;
    lock.try_lock().map_err(|e| err(&lock_path, format!("cannot lock it: {e}")))?;
    let path = base.join(name);
    std::fs::rename(&creating, &path).map_err(|e| err(&path, format!("cannot create it: {e}")))?;
    Ok(ProcessDir { path, _lock: lock })
}

/// The name prefix of a process directory still being made.
const CREATING: &str = ".creating-";

/// Removes the directories of processes that are gone: those whose lock can be taken. Returns
/// how many were removed.
pub(crate) fn remove_stale(base: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(base) else { return 0 };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(CREATING) && e.path().is_dir() {
            // Left by a crash between creating and locking it.
            let old =
                e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().unwrap_or_default().as_secs() > 600);
            if old && std::fs::remove_dir_all(e.path()).is_ok() {
                removed += 1;
            }
            continue;
        }
        if !name.starts_with("shoal-") || !e.path().is_dir() {
            continue;
        }
        let lock_path = e.path().join("lock");
        // A directory without a lock file is one being created right now, or left by a crash
        // between creating it and its lock: only the latter is old.
        let stale = match File::open(&lock_path) {
            Ok(f) => f.try_lock().is_ok(),
            Err(_) => e
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| t.elapsed().unwrap_or_default().as_secs() > 600)
                .unwrap_or(false),
        };
        if stale && std::fs::remove_dir_all(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// A scratch file of this process, deleted when dropped.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// A new, empty file named `<what>-<n>` in this process's scratch directory, opened for
    /// reading and writing.
    pub(crate) fn create(what: &str) -> std::result::Result<(TempFile, File), TempError> {
        let dir = process_dir()?;
        let path = dir.join(format!("{what}-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| err(&path, e))?;
        Ok((TempFile { path }, file))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file again for reading.
    pub(crate) fn open(&self) -> std::result::Result<File, TempError> {
        File::open(&self.path).map_err(|e| err(&self.path, e))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests;
