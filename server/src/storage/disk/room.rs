//! [`DiskRoom`]: the single server's [`Room`]: the workspace quota, the
//! free-space reserve of the data volume (`--min-free-bytes`, by
//! `statvfs`) and the storage limit (`--max-total-bytes`), with the bytes
//! stored counted in memory (read from disk at start).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::storage::room::{Quotas, Refused, Room};

/// Room on one data volume. Shared by every writer.
pub struct DiskRoom {
    /// A directory on the data volume, for `statvfs`.
    data_dir: PathBuf,
    /// The most bytes one workspace may hold.
    quotas: Quotas,
    /// Writes are refused while the volume has fewer free bytes than this.
    min_free: u64,
    /// Most bytes stored over all workspaces (`u64::MAX`: no limit).
    max_total: u64,
    /// Bytes stored over all workspaces (logs, snapshots and chunks).
    total: AtomicU64,
    /// The last free-space reading: when, how much, and the bytes admitted
    /// since. Far above the reserve, a write is admitted on it without
    /// asking the file system again.
    reading: std::sync::Mutex<Option<Reading>>,
}

#[derive(Clone, Copy)]
struct Reading {
    at: std::time::Instant,
    free: u64,
    admitted: u64,
}

/// How long a free-space reading is trusted.
const READING_FRESH: std::time::Duration = std::time::Duration::from_secs(1);
/// How far above the reserve a reading must leave a write to trust it.
const READING_MARGIN: u64 = 64 * 1024 * 1024;

impl DiskRoom {
    pub fn new(
        data_dir: PathBuf,
        quota: u64,
        min_free: u64,
        max_total: u64,
        total: u64,
    ) -> DiskRoom {
        DiskRoom {
            data_dir,
            quotas: Quotas::new(quota),
            min_free,
            max_total,
            total: AtomicU64::new(total),
            reading: std::sync::Mutex::new(None),
        }
    }
}

impl Room for DiskRoom {
    fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn try_admit(&self, bytes: u64) -> Option<Result<(), Refused>> {
        if self.total().saturating_add(bytes) > self.max_total {
            return Some(Err(Refused::Full("the server's storage limit is reached")));
        }
        if self.min_free == 0 {
            return Some(Ok(()));
        }
        let mut reading = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let r = reading.as_mut()?;
        let after = r.free.saturating_sub(r.admitted.saturating_add(bytes));
        if r.at.elapsed() < READING_FRESH && after >= self.min_free.saturating_add(READING_MARGIN) {
            r.admitted = r.admitted.saturating_add(bytes);
            return Some(Ok(()));
        }
        None
    }

    fn admit(&self, bytes: u64) -> Result<(), Refused> {
        if self.total().saturating_add(bytes) > self.max_total {
            return Err(Refused::Full("the server's storage limit is reached"));
        }
        if self.min_free > 0 {
            let read = free_bytes(&self.data_dir);
            if let Ok(free) = read {
                let mut reading = self.reading.lock().unwrap_or_else(|p| p.into_inner());
                *reading = Some(Reading {
                    at: std::time::Instant::now(),
                    free,
                    admitted: bytes,
                });
            }
            match read {
                Ok(free) if free < self.min_free.saturating_add(bytes) => {
                    return Err(Refused::Full("the server's disk is nearly full"));
                }
                Ok(_) => {}
                // Unknown free space: let the write try (its errors are handled).
                Err(err) => tracing::warn!(error = %err, "cannot read free disk space"),
            }
        }
        Ok(())
    }

    fn free_bytes(&self) -> Option<u64> {
        free_bytes(&self.data_dir).ok()
    }

    fn added(&self, bytes: u64) {
        self.total.fetch_add(bytes, Ordering::Relaxed);
    }

    fn removed(&self, bytes: u64) {
        let _ = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_sub(bytes))
            });
    }
}

/// Free bytes for unprivileged writers on the volume holding `dir`.
fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_room_keeps_the_contract() {
        let room = DiskRoom::new(std::env::temp_dir(), 1000, 0, 5000, 0);
        crate::storage::room::contract::keeps_count(&room, 1000, 5000);
    }

    #[test]
    fn a_reserve_larger_than_any_disk_refuses_writes() {
        let room = DiskRoom::new(std::env::temp_dir(), u64::MAX, u64::MAX / 2, u64::MAX, 0);
        assert!(matches!(room.admit(1), Err(Refused::Full(_))));
    }
}
