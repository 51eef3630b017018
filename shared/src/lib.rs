//! `hearth-shared`: everything the parts of Hearth must agree on, and nothing
//! that does I/O.
//!
//! It compiles for native targets and for `wasm32-unknown-unknown`; it never
//! touches a file, a socket, a clock or a random source (callers pass time and
//! random bytes in).
//!
//! Modules:
//! - [`id`]: workspace and token identifiers and their one strict format.
//! - [`error`]: the stable error codes of the HTTP API and the JSON error body.
//! - [`access`]: what a token is and may do (`Role`, `Scope`), shared by
//!   the API's bodies and the JWT claims.
//! - [`api`]: request and response bodies of the `/v1` HTTP API.
//! - [`answer`]: reading the server's answers (errors, retry, position).
//! - [`routes`]: the route table of the `/v1` API (method, path, who, body),
//!   used by the server's router and every client.
//! - [`claims`]: the JWT claims that the server signs.
//! - [`frame`]: the binary framing of `GET …/entries` responses.
//! - [`sse`]: the parser of the live events stream.
//! - [`envelope`]: the client-made blob envelope (codec, checksum, payload).
//! - `sealed` (feature `seal`): encrypted records, the envelope's version 2
//!   (AES-256-GCM under a key epoch, the header as associated data).
//! - `signed` (feature `seal`): signed records, the envelope's version 3
//!   (bound to their workspace, signed by the device that wrote them,
//!   padded to a size class); what devices write from this version on.
//! - `identity` (feature `seal`): a device's public keys (X25519, Ed25519
//!   derived from the same secret) and the fingerprint a person compares.
//! - `keywrap` (feature `seal`): a workspace key wrapped for a pairing link
//!   (HKDF-SHA256 from the link's own secret, then AES-256-GCM).
//! - `devicekey` (feature `seal`): a workspace key wrapped for one
//!   device's X25519 public key, for key rotation.
//! - `recovery` (feature `seal`): the recovery key a person writes down,
//!   and what it derives (a credential for the server, a wrapping key).
//! - [`share_link`]: the pairing link (server, workspace, invite in the
//!   URL fragment).
//! - [`store`]: what a device keeps of a workspace between runs (the sync
//!   bookkeeping, the pending batch, snapshot and log) and the trait a local
//!   store implements; no Loro, so the service worker reads it too.
//! - `engine` (feature `engine`): the sync engine core, generic over a
//!   local store and a transport.

pub mod access;
pub mod answer;
pub mod api;
#[cfg(feature = "seal")]
pub mod applock;
pub mod claims;
pub mod collect;
#[cfg(feature = "seal")]
pub mod devicekey;
#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "envelope")]
pub mod envelope;
pub mod error;
pub mod files;
pub mod frame;
pub mod id;
#[cfg(feature = "seal")]
pub mod identity;
pub mod keys;
#[cfg(feature = "seal")]
pub mod keywrap;
#[cfg(feature = "seal")]
pub mod recovery;
pub mod routes;
#[cfg(feature = "seal")]
pub mod sealed;
#[cfg(feature = "seal")]
pub mod share;
pub mod share_link;
#[cfg(feature = "seal")]
pub mod signed;
pub mod sse;
pub mod store;

/// The version of the wire protocol spoken under `/v1`.
pub const PROTOCOL_VERSION: u32 = 1;
