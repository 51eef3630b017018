//! `hearth`: the home server of Hearth, a durable mailbox of opaque workspace
//! blobs. It registers workspaces, signs and checks tokens, stores entries and
//! snapshots crash-safely, announces new heads, takes backups, and serves the
//! built PWA. The binary (`main.rs`) only parses the command line.
//!
//! Modules:
//! - [`config`]: the command line and the one [`Config`].
//! - [`server`]: [`run`]: accept loop, connection cap, graceful shutdown.
//! - [`router`]: every route; [`handlers`]: one module per resource.
//! - [`app`]: the shared state; [`error`]: [`ApiError`]; [`http`]: helpers.
//! - [`assets`]: the PWA's files (embedded or `--dist`).
//! - [`auth`]: JWT signing and checking; [`secret`]: the signing secret.
//! - [`index`]: the SQLite token index; [`ratelimit`]: per-IP limits.
//! - [`store`]: the blob store trait and the disk store; [`workspaces`]: open
//!   workspaces, group commit, head announcements.
//! - [`backup`]: backups, their check and restore.
//! - [`fsutil`]: fsync and atomic-write helpers.
//! - [`tls`]: optional HTTPS.
//! - `device` (feature `device`): a native sync client, for tests and
//!   benchmarks; nothing else here uses it.
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

pub mod app;
pub mod assets;
pub mod auth;
pub mod backup;
pub mod clock;
pub mod config;
pub mod conn_limit;
pub mod doctor;
#[cfg(feature = "device")]
pub mod device;
pub mod error;
pub mod fsutil;
pub mod handlers;
pub mod http;
pub mod index;
pub mod ratelimit;
pub mod router;
pub mod secret;
pub mod security_headers;
pub mod server;
pub mod setup_code;
pub mod store;
pub mod streams;
pub mod tls;
pub mod workspaces;
pub mod write_timeout;

pub use config::Config;
pub use error::ApiError;
pub use server::{run, serve};
