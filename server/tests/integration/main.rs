//! Integration tests: a real `hearth` on loopback, driven over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod chunks;
mod cluster;
mod entries;
mod events;
mod hardening;
mod http2;
mod metrics;
mod migrate;
mod offsite;
mod old_data;
mod process;
mod proxy;
mod service;
mod shares;
mod static_files;
mod tls;
mod tokens;
