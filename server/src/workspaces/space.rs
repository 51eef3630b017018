//! [`Space`]: room for new data on the data volume, server-wide: the
//! free-space reserve (`--min-free-bytes`) and the storage limit
//! (`--max-total-bytes`). Every writer and the chunk handlers ask it before
//! they write, and tell it what they added and removed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::WriteError;

/// Room for new data: the free-space reserve of the data volume and the
/// server-wide storage limit. Shared by every writer.
pub struct Space {
    /// A directory on the data volume, for `statvfs`.
    data_dir: PathBuf,
    /// Writes are refused while the volume has fewer free bytes than this.
    min_free: u64,
    /// Most bytes stored over all workspaces (`u64::MAX`: no limit).
    max_total: u64,
    /// Bytes stored over all workspaces (logs, snapshots and chunks).
    total: AtomicU64,
}

impl Space {
    pub fn new(data_dir: PathBuf, min_free: u64, max_total: u64, total: u64) -> Space {
        Space {
            data_dir,
            min_free,
            max_total,
            total: AtomicU64::new(total),
        }
    }

    /// Bytes stored over all workspaces.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether `bytes` more may be written. Blocking (one `statvfs`).
    pub fn admit(&self, bytes: u64) -> Result<(), WriteError> {
        if self.total().saturating_add(bytes) > self.max_total {
            return Err(WriteError::Full("the server's storage limit is reached"));
        }
        if self.min_free > 0 {
            match free_bytes(&self.data_dir) {
                Ok(free) if free < self.min_free.saturating_add(bytes) => {
                    return Err(WriteError::Full("the server's disk is nearly full"));
                }
                Ok(_) => {}
                // Unknown free space: let the write try (its errors are handled).
                Err(err) => tracing::warn!(error = %err, "cannot read free disk space"),
            }
        }
        Ok(())
    }

    /// Counts bytes written outside a workspace's log (its chunks).
    pub fn added(&self, bytes: u64) {
        self.moved(0, bytes);
    }

    /// Counts bytes deleted outside a workspace's log.
    pub fn removed(&self, bytes: u64) {
        self.moved(bytes, 0);
    }

    pub(super) fn moved(&self, before: u64, after: u64) {
        if after >= before {
            self.total.fetch_add(after - before, Ordering::Relaxed);
        } else {
            let _ = self
                .total
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                    Some(t.saturating_sub(before - after))
                });
        }
    }
}

/// Free bytes for unprivileged writers on the volume holding `dir`.
fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}
