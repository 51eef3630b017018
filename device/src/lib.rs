//! A native Hearth device: the sync engine of `hearth-shared` with a file
//! store and an HTTP transport, driven from the command line
//! (`hearth-device`). Tests and benchmarks use it as "another device".
//!
//! A client like the PWA: it speaks the `/v1` API of a `hearth` server and
//! knows nothing of the server's insides. The server uses it only in its
//! tests and benchmarks (a dev-dependency), so `hearth` never links Loro
//! or zstd.
//!
//! Modules:
//! - [`device`]: [`Device`], which ties the parts together and hosts the
//!   engine (sleeping, listening): its lifecycle, the owner's powers and
//!   the sync loop, each in a file of its own.
//! - [`platform`]: the clock and the operating system's random source.
//! - [`store_fs`]: a crash-safe `Store` on disk: a checkpoint and a
//!   [`journal`] of the calls since (one `fdatasync` per call).
//! - [`transport_http`]: the `Transport` over HTTP/1.1 (hyper), with the
//!   live events stream.
//! - [`http_client`]: requests and error mapping; [`api_client`]: the JSON
//!   calls around sync (register, tokens, invites).
//! - [`profile`]: what a device remembers about its workspace.
//! - [`atomic`]: temp file + fsync + rename.
//! - [`interchange`]: notes from other apps' files in, Markdown out.
//! - [`thumbnail`]: the 320-pixel JPEG of an attached photo, as the app
//!   makes it.
//! - [`cli`]: the command line; [`error`]: `DeviceError`.

pub mod api_client;
pub mod atomic;
pub mod cli;
#[allow(clippy::module_inception)]
pub mod device;
pub mod error;
pub mod files;
pub mod http_client;
pub mod interchange;
pub mod journal;
pub mod keyring;
pub mod platform;
pub mod profile;
pub mod share;
pub mod store_fs;
pub mod thumbnail;
pub mod transport_http;

pub use device::Device;
pub use error::DeviceError;
pub use profile::{Profile, ServerLink};
pub use store_fs::FsStore;
pub use transport_http::HttpTransport;
