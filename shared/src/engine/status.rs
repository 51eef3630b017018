//! The sync status the UI shows, and the pure function that derives its
//! state from what the engine knows.

use super::store::Ack;

/// The one-word state of sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Edits are stored on this device; some are not on the server yet (or
    /// the device has not synced yet).
    SavedLocally,
    /// A sync round is under way.
    Syncing,
    /// Everything this device saved is on the server, and it has everything
    /// the server announced.
    Synced,
    /// The server cannot be reached; edits are kept and sent later.
    Offline,
    /// The last sync failed for a reason other than being offline (see
    /// `last_error`); it is retried with backoff.
    Error,
}

impl SyncState {
    /// A short label for the UI.
    pub fn label(self) -> &'static str {
        match self {
            SyncState::SavedLocally => "saved locally",
            SyncState::Syncing => "syncing",
            SyncState::Synced => "synced",
            SyncState::Offline => "offline",
            SyncState::Error => "error",
        }
    }
}

/// What the UI shows about sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    pub state: SyncState,
    /// Local changes (operations) not yet acknowledged by the server.
    pub pending: u64,
    /// The last acknowledgement of this device's changes.
    pub last_ack: Option<Ack>,
    /// The error of the last failed round, cleared by a successful one.
    pub last_error: Option<String>,
    /// The last sequence number imported, and the highest head announced.
    pub cursor: u64,
    pub head: u64,
    /// Entries that could not be opened (corrupt or from a newer app) and
    /// were skipped.
    pub skipped_entries: u64,
    /// Which entry was last skipped and why ("skipped entry 12: …"); kept
    /// after rounds that succeed, so that a skip is never silent.
    pub last_skipped: Option<String>,
    /// Records refused since the engine opened because a removed device
    /// wrote them after its removal (edits it made offline and sent late
    /// included); also counted in `skipped_entries`.
    pub refused_from_removed: u64,
    /// What the owner's device found wrong with the devices' keys at its
    /// last key change: a key the server offers that the workspace does
    /// not record ("device … offered a different key"), or a device that
    /// never recorded one. Such a device gets no copy of the new key.
    pub key_warnings: Vec<String>,
    /// Edits this device knows were sent but the server has not delivered
    /// (a record it served depends on one it left out): by device (its
    /// token id, where the workspace records it) and how many. Empty when
    /// nothing is missing.
    pub withheld: Vec<(String, u64)>,
    /// Edits of a removed device that this device took before it learned
    /// of the removal (the server delivered them ahead of it): by device
    /// and how many. They stay in the document; the person is told.
    pub taken_after_removal: Vec<(String, u64)>,
}

/// How the last round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastRound {
    /// No round has run since the engine opened.
    None,
    Ok,
    Offline,
    Failed,
}

/// Derives the state shown to the user.
pub fn derive_state(
    in_round: bool,
    last: LastRound,
    pending: u64,
    cursor: u64,
    head: u64,
) -> SyncState {
    if in_round {
        return SyncState::Syncing;
    }
    match last {
        LastRound::Offline => SyncState::Offline,
        LastRound::Failed => SyncState::Error,
        LastRound::None => SyncState::SavedLocally,
        LastRound::Ok if pending > 0 || cursor < head => SyncState::SavedLocally,
        LastRound::Ok => SyncState::Synced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_table() {
        use LastRound as L;
        use SyncState as S;
        let cases: &[(bool, LastRound, u64, u64, u64, SyncState)] = &[
            (true, L::Failed, 5, 0, 9, S::Syncing),
            (false, L::None, 0, 0, 0, S::SavedLocally),
            (false, L::Ok, 0, 4, 4, S::Synced),
            (false, L::Ok, 2, 4, 4, S::SavedLocally),
            (false, L::Ok, 0, 3, 4, S::SavedLocally),
            (false, L::Offline, 0, 4, 4, S::Offline),
            (false, L::Failed, 0, 4, 4, S::Error),
        ];
        for &(in_round, last, pending, cursor, head, want) in cases {
            assert_eq!(derive_state(in_round, last, pending, cursor, head), want);
        }
    }
}
