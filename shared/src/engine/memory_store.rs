//! [`MemoryStore`]: a [`Store`] in memory, for tests and for hosts that keep
//! nothing between runs. Clones share the same contents, so a test can drop
//! an engine (a crash) and open a new one on what was stored.

use std::sync::{Arc, Mutex, MutexGuard};

use super::store::{Loaded, Outbox, Store, StoreError, SyncMeta};

/// A store in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    data: Loaded,
    /// When set, every write fails (a full disk), and nothing is written.
    failing: bool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every following write fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// A copy of what is stored.
    pub fn contents(&self) -> Loaded {
        self.lock().data.clone()
    }
}

impl Store for MemoryStore {
    async fn load(&self) -> Result<Loaded, StoreError> {
        Ok(self.lock().data.clone())
    }

    async fn append(&self, updates: &[Vec<u8>], meta: &SyncMeta) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.failing {
            return Err(StoreError::Io("the store is failing".into()));
        }
        inner.data.log.extend(updates.iter().cloned());
        inner.data.meta = Some(meta.clone());
        Ok(())
    }

    async fn compact(&self, snapshot: &[u8], meta: &SyncMeta) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.failing {
            return Err(StoreError::Io("the store is failing".into()));
        }
        inner.data.snapshot = Some(snapshot.to_vec());
        inner.data.log.clear();
        inner.data.meta = Some(meta.clone());
        Ok(())
    }

    async fn set_outbox(&self, outbox: Option<&Outbox>, meta: &SyncMeta) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.failing {
            return Err(StoreError::Io("the store is failing".into()));
        }
        inner.data.outbox = outbox.cloned();
        inner.data.meta = Some(meta.clone());
        Ok(())
    }
}
