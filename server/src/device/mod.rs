//! A native Hearth device: the sync engine of `hearth-shared` with a file
//! store and an HTTP transport, driven from the command line
//! (`hearth-device`). Tests and benchmarks use it as "another device".
//!
//! The server's request handling never uses this module; it is compiled
//! only with the `device` feature.
//!
//! Modules:
//! - [`store_fs`]: a crash-safe [`hearth_shared::engine::Store`] on disk.
//! - [`transport_http`]: the [`hearth_shared::engine::Transport`] over
//!   HTTP/1.1 (hyper), with the live events stream.
//! - [`api_client`]: the JSON calls around sync (register, tokens, invites).
//! - [`sse`]: a parser of `text/event-stream` bodies.
//! - [`profile`]: what a device remembers about its workspace.
//! - [`device`]: [`Device`], which ties them together.
//! - [`cli`]: the command line.

pub mod cli;
