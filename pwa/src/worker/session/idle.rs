//! When the worker folds the local log into the snapshot: once the device
//! has been idle a while, and at most so often.

use hearth_shared::engine::EngineError;

use super::boot::AppEngine;
use crate::platform::now_ms;

/// How long the device must be idle, after its log last grew, before the
/// log is folded into its snapshot.
const FOLD_AFTER_IDLE_MS: i64 = 5_000;
/// At most one fold this often (each writes the whole snapshot).
const FOLD_AT_MOST_EVERY_MS: i64 = 30_000;

/// When to fold the local log into the snapshot (see
/// `Engine::fold_local_log`): once the device has been idle a while.
pub(super) struct IdleFold {
    seen_bytes: u64,
    grew_at: i64,
    folded_at: i64,
}

impl IdleFold {
    pub(super) fn new(engine: &AppEngine) -> Self {
        Self {
            seen_bytes: engine.local_log_bytes(),
            grew_at: now_ms(),
            folded_at: now_ms() - FOLD_AT_MOST_EVERY_MS,
        }
    }

    /// Milliseconds until the fold is due, if there is anything to fold.
    pub(super) fn due_in(&mut self, engine: &AppEngine) -> Option<u64> {
        let bytes = engine.local_log_bytes();
        if bytes == 0 {
            self.seen_bytes = 0;
            return None;
        }
        if bytes != self.seen_bytes {
            self.seen_bytes = bytes;
            self.grew_at = now_ms();
        }
        let at = (self.grew_at + FOLD_AFTER_IDLE_MS).max(self.folded_at + FOLD_AT_MOST_EVERY_MS);
        Some((at - now_ms()).max(0) as u64)
    }

    pub(super) async fn fold(&mut self, engine: &mut AppEngine) -> Result<bool, EngineError> {
        // A failed fold is tried again later, not at once.
        self.folded_at = now_ms();
        engine.fold_local_log().await
    }
}
