//! [`Room`]: the one owner of how much may be stored: each workspace's
//! quota (its log, snapshot and chunks together) and the server-wide
//! limits (`--min-free-bytes`, `--max-total-bytes`). Writers and the chunk
//! handlers ask it before they write and tell it what they added and
//! removed; nothing else decides or counts.

use std::collections::HashMap;

use hearth_shared::id::WorkspaceId;

/// Why there is no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The workspace would exceed its quota.
    Quota,
    /// The server's storage is (nearly) full or at its limit; why, in words.
    Full(&'static str),
}

/// Room for new data.
pub trait Room: Send + Sync + 'static {
    /// The server's default quota and the operator's quotas of single
    /// workspaces.
    fn quotas(&self) -> &Quotas;

    /// The most bytes workspace `ws` may hold.
    fn quota(&self, ws: &WorkspaceId) -> u64 {
        self.quotas().of(ws)
    }

    /// Whether `bytes` more may be stored, server-wide. May block (a
    /// free-space check): call it off the async threads.
    fn admit(&self, bytes: u64) -> Result<(), Refused>;

    /// [`Room::admit`] when it can be answered without blocking (`None`:
    /// call `admit` off the async threads).
    fn try_admit(&self, _bytes: u64) -> Option<Result<(), Refused>> {
        None
    }

    /// Whether workspace `ws`, holding `used` bytes, may store `bytes`
    /// more: its quota, then the server-wide limits.
    fn admit_to(&self, ws: &WorkspaceId, used: u64, bytes: u64) -> Result<(), Refused> {
        if used.saturating_add(bytes) > self.quota(ws) {
            return Err(Refused::Quota);
        }
        self.admit(bytes)
    }

    /// Counts bytes stored.
    fn added(&self, bytes: u64);

    /// Counts bytes deleted.
    fn removed(&self, bytes: u64);

    /// Counts a change of a workspace's stored bytes from `before` to
    /// `after`.
    fn moved(&self, before: u64, after: u64) {
        if after >= before {
            self.added(after - before);
        } else {
            self.removed(before - after);
        }
    }

    /// Bytes stored over all workspaces.
    fn total(&self) -> u64;

    /// Free bytes left for the server's data, if the storage says. May
    /// block.
    fn free_bytes(&self) -> Option<u64> {
        None
    }
}

/// Each workspace's quota: the server's default
/// (`--workspace-quota-bytes`), unless the operator set one for it
/// (`hearth admin quota`, kept in the index). Read on every write.
pub struct Quotas {
    default: u64,
    set: std::sync::RwLock<HashMap<WorkspaceId, u64>>,
}

impl Quotas {
    pub fn new(default: u64) -> Quotas {
        Quotas {
            default,
            set: std::sync::RwLock::new(HashMap::new()),
        }
    }

    /// The quota of `ws`.
    pub fn of(&self, ws: &WorkspaceId) -> u64 {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        set.get(ws).copied().unwrap_or(self.default)
    }

    /// Sets (`None`: clears) the operator's quota of `ws`.
    pub fn set(&self, ws: &WorkspaceId, quota: Option<u64>) {
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        match quota {
            Some(q) => set.insert(ws.clone(), q),
            None => set.remove(ws),
        };
    }

    /// Replaces every operator's quota with `all` (as the index has them).
    pub fn replace(&self, all: impl IntoIterator<Item = (WorkspaceId, u64)>) {
        let all: HashMap<WorkspaceId, u64> = all.into_iter().collect();
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = all;
    }
}

#[cfg(any(test, feature = "test-support"))]
pub mod contract {
    //! What every [`Room`] must do.

    use super::*;

    /// Runs the contract on a room with quota `quota` per workspace, a
    /// server-wide limit of `max_total` bytes and nothing stored yet.
    pub fn keeps_count(room: &dyn Room, quota: u64, max_total: u64) {
        let ws = WorkspaceId::from_random([1; 16]);
        assert_eq!(room.quota(&ws), quota);
        assert_eq!(room.total(), 0);
        assert_eq!(room.admit_to(&ws, quota, 1), Err(Refused::Quota));
        assert_eq!(room.admit_to(&ws, 0, quota.min(max_total)), Ok(()));
        room.added(max_total);
        assert!(
            matches!(room.admit(1), Err(Refused::Full(_))),
            "at the limit"
        );
        assert_eq!(room.admit(0), Ok(()), "nothing more is always room");
        room.moved(max_total, max_total - 10);
        assert_eq!(room.total(), max_total - 10);
        assert_eq!(room.admit(10), Ok(()));
        room.removed(u64::MAX);
        assert_eq!(room.total(), 0, "never below nothing");

        // The operator's quota of one workspace, over the default.
        let other = WorkspaceId::from_random([2; 16]);
        room.quotas().set(&ws, Some(10));
        assert_eq!(room.quota(&ws), 10);
        assert_eq!(room.quota(&other), quota, "the others keep the default");
        assert_eq!(room.admit_to(&ws, 5, 6), Err(Refused::Quota));
        assert_eq!(room.admit_to(&ws, 5, 5), Ok(()));
        room.quotas().set(&ws, None);
        assert_eq!(room.quota(&ws), quota);
        room.quotas().replace([(other.clone(), 3)]);
        assert_eq!((room.quota(&ws), room.quota(&other)), (quota, 3));
    }
}
