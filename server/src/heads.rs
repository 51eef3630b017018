//! [`Heads`]: the announcer. A workspace's writer publishes the head after
//! each durable write; event streams subscribe to it without opening the
//! log, and keep listening across a log that is closed, reopened after a
//! failure, or written by another server. It also carries token
//! invalidations, so that every server's token cache forgets a revoked
//! token at once.
//!
//! [`LocalHeads`] is the single server's announcer: one watch channel per
//! workspace somebody listens to, in memory. A cluster's announcer relays
//! the same through its database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hearth_shared::id::WorkspaceId;
use tokio::sync::watch;

use crate::index::cached::Invalidation;

/// What [`Heads::on_invalidation`] calls.
pub type ApplyInvalidation = Arc<dyn Fn(&Invalidation) + Send + Sync>;

/// Head announcements and token invalidations, across every server that
/// shares the storage.
pub trait Heads: Send + Sync + 'static {
    /// Announces `head` as the head of `ws`.
    fn publish(&self, ws: &WorkspaceId, head: u64);

    /// The heads of `ws` from now on. The value is the last head announced
    /// for `ws`, or `None` if none is known here yet (then read it from the
    /// log once; later heads still arrive).
    fn subscribe(&self, ws: &WorkspaceId) -> watch::Receiver<Option<u64>>;

    /// Tells every other server to forget what its token cache holds of
    /// `invalidation` (this server's cache already did).
    fn invalidate(&self, invalidation: Invalidation);

    /// Calls `apply` with each invalidation another server announces.
    fn on_invalidation(&self, apply: ApplyInvalidation);

    /// Forgets the heads nobody listens to (they are read from the log
    /// again when somebody does). Returns how many are kept.
    fn forget_unwatched(&self) -> usize;
}

/// The announcer of a single server.
#[derive(Default)]
pub struct LocalHeads {
    channels: Mutex<HashMap<WorkspaceId, watch::Sender<Option<u64>>>>,
}

impl LocalHeads {
    fn channels(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, watch::Sender<Option<u64>>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Heads for LocalHeads {
    fn publish(&self, ws: &WorkspaceId, head: u64) {
        let mut channels = self.channels();
        match channels.get(ws) {
            Some(tx) => {
                tx.send_if_modified(|known| {
                    let changed = *known != Some(head);
                    *known = Some(head);
                    changed
                });
            }
            None => {
                channels.insert(ws.clone(), watch::channel(Some(head)).0);
            }
        }
    }

    fn subscribe(&self, ws: &WorkspaceId) -> watch::Receiver<Option<u64>> {
        self.channels()
            .entry(ws.clone())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    fn invalidate(&self, _invalidation: Invalidation) {
        // No other server to tell.
    }

    fn on_invalidation(&self, _apply: ApplyInvalidation) {
        // No other server announces any.
    }

    fn forget_unwatched(&self) -> usize {
        let mut channels = self.channels();
        channels.retain(|_, tx| tx.receiver_count() > 0);
        channels.len()
    }
}

#[cfg(any(test, feature = "test-support"))]
pub mod contract {
    //! What every announcer must do, seen from one server.

    // A contract is a test: a failed step panics with what differed.
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Runs the contract on a fresh announcer.
    pub async fn announces(heads: &dyn Heads) {
        let ws = WorkspaceId::from_random([1; 16]);
        let other = WorkspaceId::from_random([2; 16]);
        let mut rx = heads.subscribe(&ws);
        assert_eq!(*rx.borrow_and_update(), None, "nothing known yet");
        heads.publish(&ws, 3);
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), Some(3));
        heads.publish(&other, 9);
        heads.publish(&ws, 3);
        assert!(
            !rx.has_changed().unwrap(),
            "the same head, or another workspace's, is no news"
        );
        heads.publish(&ws, 4);
        heads.publish(&ws, 5);
        rx.changed().await.unwrap();
        assert_eq!(
            *rx.borrow_and_update(),
            Some(5),
            "a listener sees the latest head"
        );
        let late = heads.subscribe(&ws);
        assert_eq!(
            *late.borrow(),
            Some(5),
            "a late listener starts from the last head"
        );
        drop((rx, late));
        heads.forget_unwatched();
        let again = heads.subscribe(&ws);
        assert!(
            matches!(*again.borrow(), None | Some(5)),
            "forgotten, or still right"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_local_announcer_keeps_the_contract() {
        contract::announces(&LocalHeads::default()).await;
    }

    #[test]
    fn unwatched_heads_are_forgotten() {
        let heads = LocalHeads::default();
        for i in 0..100u8 {
            heads.publish(&WorkspaceId::from_random([i; 16]), 1);
        }
        let _kept = heads.subscribe(&WorkspaceId::from_random([7; 16]));
        assert_eq!(heads.forget_unwatched(), 1);
    }
}
