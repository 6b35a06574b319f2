//! Leases that keep two maintainers off one table: `<dir>/<db>.<table>/lease-<generation>`
//! files in the warehouse, each created only if absent (the same atomic create that commits
//! snapshots). The holder is the newest generation while it has not expired; taking a lease
//! over, renewing it and letting it go each create the next generation, so two processes can
//! never both believe they hold it: only one create of a generation succeeds. A holder that
//! died on this host (its process is gone) is taken over at once, others when their lease
//! expires.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::FileIO;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct LeaseFile {
    owner: String,
    host: String,
    pid: u32,
    /// Epoch millis; 0: let go.
    expires_millis: i64,
}

/// A held lease.
#[derive(Debug)]
pub(super) struct Lease {
    io: FileIO,
    dir: String,
    generation: u64,
    owner: String,
    ttl: Duration,
}

/// What [`Lease::acquire`] found.
pub(super) enum Acquired {
    Held(Lease),
    /// Another live maintainer holds it: (owner, host, pid).
    Busy(String),
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl Lease {
    /// Takes the lease `dir` (relative to `io`) for `ttl`, unless a live holder has it.
    pub(super) async fn acquire(io: &FileIO, dir: &str, owner: &str, ttl: Duration) -> Result<Acquired> {
        let (newest, holder) = newest(io, dir).await?;
        if let Some(h) = holder {
            let expired = h.expires_millis <= now_millis();
            let dead_here = h.host == host_name() && !process_alive(h.pid);
            if h.owner != owner && !expired && !dead_here {
                return Ok(Acquired::Busy(format!("{} (host {}, pid {})", h.owner, h.host, h.pid)));
            }
        }
        let mut lease = Lease { io: io.clone(), dir: dir.to_string(), generation: newest, owner: owner.into(), ttl };
        if !lease.write_next(now_millis() + ttl.as_millis() as i64).await? {
            return Ok(Acquired::Busy("another maintainer that took it at the same moment".into()));
        }
        Ok(Acquired::Held(lease))
    }

    /// Extends the lease by its time to live; an error if another maintainer took it over.
    pub(super) async fn renew(&mut self) -> Result<()> {
        if self.write_next(now_millis() + self.ttl.as_millis() as i64).await? {
            Ok(())
        } else {
            Err(Error::CommitConflict(format!("lease {} was taken over by another maintainer", self.dir)))
        }
    }

    /// Lets the lease go (best effort: an unreleased lease expires).
    pub(super) async fn release(mut self) {
        let _ = self.write_next(0).await;
    }

    /// Creates the next generation; false if someone else created it first. Older generations
    /// are deleted (best effort).
    async fn write_next(&mut self, expires_millis: i64) -> Result<bool> {
        let next = self.generation + 1;
        let file = LeaseFile { owner: self.owner.clone(), host: host_name(), pid: std::process::id(), expires_millis };
        let body = serde_json::to_vec(&file).map_err(Error::internal("lease"))?;
        if !self.io.create_new(&format!("{}/lease-{next:020}", self.dir), body).await? {
            return Ok(false);
        }
        for g in self.generation.saturating_sub(2)..self.generation {
            let _ = self.io.delete(&format!("{}/lease-{g:020}", self.dir)).await;
        }
        self.generation = next;
        Ok(true)
    }
}

/// The newest generation in `dir` (0 when none) and its content (None if unreadable or absent).
async fn newest(io: &FileIO, dir: &str) -> Result<(u64, Option<LeaseFile>)> {
    let newest = io
        .list(dir)
        .await?
        .iter()
        .filter_map(|f| f.name.strip_prefix("lease-").and_then(|g| g.parse::<u64>().ok()))
        .max()
        .unwrap_or(0);
    if newest == 0 {
        return Ok((0, None));
    }
    let holder = match io.read(&format!("{dir}/lease-{newest:020}")).await {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(_) => None,
    };
    Ok((newest, holder))
}

#[cfg(test)]
mod tests;
