//! [`ChunkStore`]: where the chunks of attached files are kept, named by
//! the SHA-256 of their bytes. A chunk no note uses any more is set aside
//! and deleted by a sweep after a grace period, unless a device puts, asks
//! for or fetches it meanwhile. The store never opens a chunk.

use std::time::SystemTime;

use bytes::Bytes;
use hearth_shared::id::{ChunkName, WorkspaceId};

use super::payload::Payload;

/// Why a chunk operation failed, in words that say nothing of the engine.
/// A failed operation stored nothing half-way.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The storage is full; retrying later may succeed.
    #[error("the chunk storage is full: {0}")]
    Full(String),
    /// The storage cannot be reached now; retrying shortly may succeed.
    #[error("the chunk storage is unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Written and durable.
    Created,
    /// It was stored already (or set aside, and is kept again).
    Existed,
    /// The bytes do not hash to the name; nothing was written.
    Mismatch,
    /// Refused by the caller's room check; nothing was written.
    Refused,
}

/// Asked before a new chunk is written, with the bytes of the workspace's
/// chunks and the bytes to add; `false` refuses it. It runs while the
/// store holds the workspace's chunks still, so two puts cannot both pass
/// the check with room for one.
pub type RoomCheck = Box<dyn FnOnce(u64, u64) -> bool + Send>;

/// The chunk store's operations.
#[async_trait::async_trait]
pub trait ChunkStore: Send + Sync + 'static {
    /// Stores `data` under `name` (checked against its hash) unless it is
    /// there; durable at return. Returns what happened and the bytes added.
    async fn put(
        &self,
        ws: &WorkspaceId,
        name: &ChunkName,
        data: Payload,
        room: RoomCheck,
    ) -> Result<(Put, u64), ChunkError>;

    /// The bytes of chunk `name`, if stored (a set-aside one is kept again).
    async fn get(&self, ws: &WorkspaceId, name: &ChunkName) -> Result<Option<Bytes>, ChunkError>;

    /// Which of `names` are not stored (set-aside ones are kept again and
    /// count as stored).
    async fn missing(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
    ) -> Result<Vec<ChunkName>, ChunkError>;

    /// Sets `names` aside for deletion after the grace period; how many
    /// were newly set aside.
    async fn set_aside(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
        now: SystemTime,
    ) -> Result<u64, ChunkError>;

    /// Deletes the chunks of `ws` set aside for longer than the grace
    /// period; the bytes freed.
    async fn sweep(&self, ws: &WorkspaceId, now: SystemTime) -> Result<u64, ChunkError>;

    /// Deletes every chunk of `ws`; the bytes freed.
    async fn delete(&self, ws: &WorkspaceId) -> Result<u64, ChunkError>;

    /// Bytes of the chunks of `ws`, set aside or not.
    async fn bytes_used(&self, ws: &WorkspaceId) -> Result<u64, ChunkError>;

    /// Every chunk of `ws`, with when it was set aside if it was (for
    /// `hearth migrate`; it keeps nothing again).
    async fn list(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Vec<(ChunkName, Option<SystemTime>)>, ChunkError>;

    /// The workspaces with set-aside chunks (`everywhere`: as the storage
    /// says, not only as this server saw; for the first sweep after start).
    async fn pending(&self, everywhere: bool) -> Vec<WorkspaceId>;

    /// Seconds a set-aside chunk waits before a sweep deletes it.
    fn grace_secs(&self) -> u64;
}

#[cfg(any(test, feature = "test-support"))]
pub mod contract {
    //! What every [`ChunkStore`] must do. Run on a fresh, empty store whose
    //! grace period is `grace_secs`.

    // A contract is a test: a failed step panics with what differed.
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use hearth_shared::id::{ChunkName, WorkspaceId};
    use sha2::{Digest as _, Sha256};

    use super::{ChunkStore, Put};

    fn named(data: &[u8]) -> (ChunkName, Bytes) {
        let digest: [u8; 32] = Sha256::digest(data).into();
        (ChunkName::from_digest(digest), Bytes::copy_from_slice(data))
    }

    fn admit() -> super::RoomCheck {
        Box::new(|_, _| true)
    }

    /// Runs the contract.
    pub async fn keeps_chunks(store: &dyn ChunkStore) {
        let ws = WorkspaceId::from_random([3; 16]);
        let other = WorkspaceId::from_random([4; 16]);
        let (a, a_bytes) = named(b"chunk a");
        let (b, b_bytes) = named(b"chunk bb");
        let grace = store.grace_secs();

        // A body that does not hash to its name is refused, and so is one
        // the room check refuses; nothing is stored either way.
        assert_eq!(
            store
                .put(&ws, &a, b_bytes.clone().into(), admit())
                .await
                .unwrap(),
            (Put::Mismatch, 0)
        );
        let refuse: super::RoomCheck = Box::new(|used, len| {
            assert_eq!((used, len), (0, 7));
            false
        });
        assert_eq!(
            store
                .put(&ws, &a, a_bytes.clone().into(), refuse)
                .await
                .unwrap(),
            (Put::Refused, 0)
        );
        assert_eq!(store.get(&ws, &a).await.unwrap(), None);

        // Put once, then it exists; per workspace.
        assert_eq!(
            store
                .put(&ws, &a, a_bytes.clone().into(), admit())
                .await
                .unwrap(),
            (Put::Created, 7)
        );
        assert_eq!(
            store
                .put(&ws, &a, a_bytes.clone().into(), admit())
                .await
                .unwrap(),
            (Put::Existed, 0)
        );
        assert_eq!(store.get(&ws, &a).await.unwrap(), Some(a_bytes.clone()));
        assert_eq!(
            store.get(&other, &a).await.unwrap(),
            None,
            "another workspace's"
        );
        assert_eq!(store.missing(&ws, vec![a, b]).await.unwrap(), vec![b]);
        let seen: super::RoomCheck = Box::new(|used, len| {
            assert_eq!(
                (used, len),
                (7, 8),
                "the room check sees what the workspace holds"
            );
            true
        });
        assert_eq!(
            store
                .put(&ws, &b, b_bytes.clone().into(), seen)
                .await
                .unwrap(),
            (Put::Created, 8)
        );
        assert_eq!(store.bytes_used(&ws).await.unwrap(), 15);
        let mut listed = store.list(&ws).await.unwrap();
        listed.sort();
        let mut both = vec![(a, None), (b, None)];
        both.sort();
        assert_eq!(listed, both);
        assert!(store.list(&other).await.unwrap().is_empty());

        // Set aside, then swept only after the grace period; a chunk asked
        // for meanwhile is kept.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(store.set_aside(&ws, vec![a, b], now).await.unwrap(), 2);
        assert!(
            store
                .list(&ws)
                .await
                .unwrap()
                .iter()
                .all(|(_, t)| *t == Some(now)),
            "set aside at that moment"
        );
        assert!(store.pending(false).await.contains(&ws));
        assert!(store.pending(true).await.contains(&ws));
        assert_eq!(
            store.missing(&ws, vec![b]).await.unwrap(),
            Vec::<ChunkName>::new(),
            "asked for: kept again"
        );
        assert_eq!(
            store.sweep(&ws, now).await.unwrap(),
            0,
            "within the grace period"
        );
        let later = now + Duration::from_secs(grace + 1);
        assert_eq!(
            store.sweep(&ws, later).await.unwrap(),
            7,
            "a goes, b was kept"
        );
        assert_eq!(store.get(&ws, &a).await.unwrap(), None);
        assert_eq!(store.get(&ws, &b).await.unwrap(), Some(b_bytes));
        assert_eq!(store.bytes_used(&ws).await.unwrap(), 8);
        assert!(!store.pending(false).await.contains(&ws));
    }
}
