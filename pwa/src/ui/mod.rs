//! The Dioxus components of the app.
//!
//! - [`connect`]: the Sync screen: status, connecting to a server, joining.
//! - [`notes`]: the notes list with search and tag filter, and the editor.
//! - [`tasks`]: task lists with check boxes.
//! - [`toast`]: the undo toast and the error line.

pub mod connect;
pub mod notes;
pub mod tasks;
pub mod toast;
