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
//! - [`tls`]: optional HTTPS.
#![forbid(unsafe_code)]

pub mod app;
pub mod assets;
pub mod config;
pub mod error;
pub mod handlers;
pub mod http;
pub mod router;
pub mod server;
pub mod tls;

pub use config::Config;
pub use error::ApiError;
pub use server::{run, serve};
