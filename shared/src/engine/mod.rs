//! The sync engine core: a workspace's Loro document kept in a [`Store`]
//! and synced through a [`Transport`], with no I/O of its own.
//!
//! Modules:
//! - [`store`] (re-exported from the crate root): the local persistence
//!   trait and what it holds.
//! - [`transport`]: the server API trait.
//! - [`engine`]: [`Engine`]: open, edit-and-save, status.
//! - [`round`]: a sync round (push, pull, compaction), with the
//!   workspace's keys (checks, rotation, encryption) and the local fold.
//! - [`roster`]: the devices the workspace's own document records (their
//!   public keys, and removals), and the judgement of each pulled record
//!   against them.
//! - [`decide`]: the sync decisions as a pure function.
//! - [`backoff`]: retry delays as a pure function.
//! - [`driver`]: the sync driver's next action (round, wait, sleep, stop)
//!   as a pure function; both hosts' driver loops only carry it out.
//! - [`random`]: peer ids and retry jitter from the host's random bytes.
//! - [`status`]: the status the UI shows.
//! - [`memory_store`], [`memory_server`]: an in-memory store, and a model of
//!   the server with a fault-injecting transport, for tests.
//! - [`error`]: the error type, `EngineError`.
//!
//! The traits use `async fn` without `Send` bounds, so the same engine runs
//! in a browser (IndexedDB, `fetch`) and natively (files, hyper).

pub mod backoff;
pub mod decide;
pub mod driver;
#[allow(clippy::module_inception)]
pub mod engine;
pub mod error;
pub mod memory_server;
pub mod memory_store;
pub mod random;
pub mod roster;
pub mod round;
pub mod status;
pub mod transport;
/// The store contract lives outside the engine (it needs no Loro); it is
/// re-exported here.
pub use crate::store;

pub use backoff::{Backoff, retry_delay};
pub use decide::{Facts, Step, Thresholds, next_step};
pub use driver::{
    Action, DriverFacts, EVENTS_RETRY_MS, RoundOutcome, SAFETY_POLL_MS, Standing, next_action,
};
pub use engine::{Engine, EngineConfig, Keys, StatusObserver};
pub use error::{EngineError, KeyProblem};
pub use loro;
pub use memory_server::{Faults, MemoryServer, MemoryTransport, ServerBackup, ServerStats};
pub use memory_store::MemoryStore;
pub use random::{jitter_from_random, peer_id_from_random};
pub use round::RoundReport;
pub use status::{SyncState, SyncStatus};
pub use store::{Ack, Loaded, Outbox, Store, StoreError, SyncMeta};
pub use transport::{Pulled, Transport, TransportError};
