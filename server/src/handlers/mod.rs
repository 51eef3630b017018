//! Request handlers, one module per resource, one function per verb.
//!
//! - [`health`]: `GET /v1/health`.
//! - [`pwa`]: the PWA's files outside `/v1`.

pub mod health;
pub mod pwa;
