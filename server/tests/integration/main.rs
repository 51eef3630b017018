//! Integration tests: a real `hearth` on loopback, driven over HTTP.

#[path = "../common/mod.rs"]
mod common;

mod entries;
mod events;
mod static_files;
mod tls;
mod tokens;
mod process;
