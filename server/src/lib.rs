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

mod app;
mod assets;
mod auth;
pub mod backup;
mod body;
mod clock;
pub mod commands;
pub mod config;
mod conn_limit;
mod doctor;
mod error;
mod fsutil;
mod handlers;
mod http;
mod index;
mod ratelimit;
mod router;
mod secret;
mod security_headers;
mod server;
mod setup_code;
mod store;
mod streams;
mod tls;
mod workspaces;
mod write_timeout;

pub use config::Config;
pub use error::ApiError;
pub use server::{run, serve};
