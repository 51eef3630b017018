//! `hearth`: the home server of Hearth, a durable mailbox of opaque workspace
//! blobs. It registers workspaces, signs and checks tokens, stores entries and
//! snapshots crash-safely, announces new heads, takes backups, and serves the
//! built PWA. The binary (`main.rs`) only parses the command line.
//!
//! Public: [`run`] and [`serve`] (the server core), [`Config`] and
//! [`config`] (the command line), [`backup`] (backups, their check and
//! restore), [`commands`] (what each subcommand does), and, behind the
//! `test-support` feature, `testing` (the storage seam's contracts and
//! in-memory doubles). Everything else is private, so the compiler reports
//! dead code:
//! - `server` (accept loop, graceful shutdown), `conn_limit` (caps per
//!   address and a reserve), `write_timeout` (slow readers);
//! - `router` (resolves `/v1` with the shared route table), `handlers` (one
//!   module per resource), `http` and `body` (request and response helpers),
//!   `error` (`ApiError` and the conversions of storage errors),
//!   `security_headers` (CSP and friends);
//! - `app` (the shared state; the one place the backends are assembled),
//!   `clock` (the wall clock, in one place);
//! - `auth` (JWT checking), `secret` (the signing secret), `setup_code`,
//!   `ratelimit`, `streams` (event-stream caps);
//! - the storage seam: `index` (the `Index` trait, its cache, its SQLite
//!   backend), `storage` (the `LogStore`, `WorkspaceLog`, `ChunkStore` and
//!   `Room` traits; `storage::disk`, the single-node backend with the
//!   disk-only commands), `heads` (the head announcer); `workspaces` (open
//!   workspaces, one group-commit writer each) sees only the traits;
//! - `assets` (the PWA's files), `tls`, `fsutil`.
//!
//! Invariants:
//! - The server never opens an entry or a snapshot: they are opaque bytes
//!   (no envelope, no Loro). It knows sequence numbers, sizes and hashes.
//! - An entry is acknowledged only after it is durable; nothing is visible
//!   to a pull before that, and recovery never shows a torn record.
//! - No file path is built from a workspace id before it has been parsed as
//!   a `WorkspaceId` (32 lowercase hex characters).
//! - Tokens are never stored or logged, only their ids; invite secrets only
//!   as hashes. Error responses and `Debug` output carry no secrets.
//! - Blocking work (SQLite, files) never runs on the async worker threads.
#![forbid(unsafe_code)]

mod admin;
mod app;
mod assets;
mod auth;
mod backends;
pub use storage::disk::backup;
mod body;
mod clock;
pub mod commands;
pub mod config;
mod conn_limit;

mod error;
mod fsutil;
mod handlers;
mod heads;
mod http;
mod index;
mod metrics;
pub mod migrate;
mod pg;
mod proxy;
mod ratelimit;
mod router;
mod secret;
mod security_headers;
mod server;
mod setup_code;
mod storage;
mod streams;
mod tls;
mod workspaces;
mod write_timeout;

pub use config::Config;

/// The storage seam's contracts and in-memory doubles, for the tests of
/// another backend: each contract takes the trait object it checks.
#[cfg(feature = "test-support")]
pub mod testing {
    pub use crate::heads::contract::announces;
    pub use crate::heads::{Heads, LocalHeads};
    pub use crate::index::contract::story;
    pub use crate::index::memory::MemoryIndex;
    pub use crate::index::{Cached, Index, IndexError};
    pub use crate::storage::chunks::contract::keeps_chunks;
    pub use crate::storage::chunks::{ChunkError, ChunkStore};
    pub use crate::storage::memory::{MemoryChunks, MemoryStore};
    pub use crate::storage::model_tests::run as behaves_like_the_model;
    pub use crate::storage::room::Room;
    pub use crate::storage::room::contract::keeps_count;
    pub use crate::storage::{LogStore, StoreError, WorkspaceLog};
}
pub use error::ApiError;
pub use server::{run, serve};
