//! The page: the app's UI side, which runs in the browser tab. It shows
//! and edits the workspace's document and hands every edit to the sync
//! worker ([`crate::worker`]), the one writer of the open workspace's
//! store, through [`link`].
//!
//! Modules:
//! - [`app`]: the root component.
//! - [`pages`]: the screens as routes (dioxus-router), each a deep link.
//! - [`ui`]: the screens (notes, task lists) and their parts.
//! - [`state`]: the page's handle on the workspace document.
//! - [`stored`]: the page's own reads of IndexedDB (the stored workspace
//!   while the worker boots; a following tab's copy).
//! - [`link`]: the page's end of the line to the worker.
//! - [`lock`]: the app lock: the gate at start, idle locking, on and off;
//!   [`device_unlock`]: its unlock by the device (WebAuthn with PRF).
//! - [`export`]: the workspace file and the JSON export.
//! - [`extras`]: the module loaded on first use (imports from other apps,
//!   Markdown exports).
//! - [`history`]: a note's earlier versions (Loro time travel).
//! - [`move_note`]: copying a note into another workspace of this device.
//! - [`update`]: service-worker registration and the "update available" flow.

pub mod app;
pub mod collect;
pub mod device_unlock;
pub mod export;
pub mod extras;
pub mod history;
pub mod link;
pub mod lock;
pub mod move_note;
pub mod pages;
pub mod share;
pub mod state;
pub mod stored;
pub mod ui;
pub mod update;
