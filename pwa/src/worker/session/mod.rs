//! Opening the workspace and driving its sync engine (in the sync worker).
//!
//! [`boot()`] opens IndexedDB, finds (or creates) this device's workspace,
//! opens the engine over the IndexedDB store and the fetch transport, and
//! runs the schema migrations. [`drive()`] then runs for the life of the
//! worker: it imports the page's edits and saves them to IndexedDB (only
//! then does the page show them as saved), and, when the workspace is
//! connected, syncs as `hearth_shared::engine::next_action` decides: after
//! each edit, whenever the live events announce a new head, at the safety
//! poll, and with backoff after failures; it stops syncing (and keeps
//! saving) once the server refuses the token for good.
//!
//! Its parts:
//! - `boot`: opening the workspace, the engine and its store;
//! - `driver`: the driver loop, what wakes it ([`Kick`]) and what it
//!   tells the page ([`Hooks`]);
//! - `pill`: the sync pill's words (status, progress, lockout, what is
//!   pending);
//! - `keys`: rotating the workspace key and keeping a changed keyring in
//!   the device record;
//! - `idle`: when to fold the local log into the snapshot.

mod boot;
mod driver;
mod idle;
mod keys;
mod pill;

pub use boot::{AppEngine, Booted, boot, open_background};
pub use driver::{Hooks, Kick, drive};
pub use pill::{receiving_view, view_of};
