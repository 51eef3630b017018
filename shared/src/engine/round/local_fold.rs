//! Folding this device's local log into its local snapshot: the step of a
//! round, and [`Engine::fold_local_log`], which the host calls when the
//! device is idle.

use loro::ExportMode;

use crate::engine::engine::Engine;
use crate::engine::error::EngineError;
use crate::engine::store::Store;
use crate::engine::transport::Transport;

impl<S: Store, T: Transport> Engine<S, T> {
    /// Bytes of this device's log since its last local snapshot.
    pub fn local_log_bytes(&self) -> u64 {
        self.local_log_bytes
    }

    /// Folds the local log into the local snapshot now, whatever its size,
    /// if every edit is saved; returns whether it did. The host calls it
    /// when the device is idle: a workspace stored as a snapshot alone opens
    /// lazily, while one with updates after its snapshot must decode every
    /// note to apply them (about a quarter of a second at 10,000 notes,
    /// at each start).
    pub async fn fold_local_log(&mut self) -> Result<bool, EngineError> {
        if self.local_log_bytes == 0 || self.own_counter() != self.saved_counter {
            return Ok(false);
        }
        self.compact_local().await?;
        Ok(true)
    }

    /// Folds the local log into a new local snapshot.
    pub(super) async fn compact_local(&mut self) -> Result<(), EngineError> {
        if self.own_counter() != self.saved_counter {
            return Ok(());
        }
        let snapshot = self
            .doc
            .export(ExportMode::Snapshot)
            .map_err(|e| EngineError::Document(e.to_string()))?;
        self.store.compact(&snapshot, &self.meta).await?;
        self.local_log_bytes = 0;
        self.local_snapshot_bytes = snapshot.len() as u64;
        Ok(())
    }
}
