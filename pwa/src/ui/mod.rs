//! The Dioxus components of the app.
//!
//! - [`notes`]: the notes list with search and tag filter, and the editor.
//! - [`tasks`]: task lists with check boxes.
//! - [`toast`]: the undo toast and the error line.

pub mod notes;
pub mod tasks;
pub mod toast;
