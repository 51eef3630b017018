//! `hearth-migrations`: the schema of the workspace document (notes and task
//! lists in a Loro document), typed accessors over its containers, and the
//! ordered client-side migrations that bring a document to the latest schema.
//!
//! Modules:
//! - [`schema`]: the root containers and the schema version marks.
//! - [`workspace`]: [`Workspace`], the typed handle; opening runs migrations
//!   and makes a newer-schema document read-only.
//! - [`notes`]: notes (title, body, tags, pinned, timestamps, soft delete).
//! - `tags`: how a note's tags are stored (v2's set, v1's string), shared
//!   by [`notes`] and the migration that changed it.
//! - [`tasks`]: task lists and their items.
//! - [`files`]: attached files' references and the notes that hold them.
//! - [`history`]: a note's earlier versions (text and files), and
//!   restoring one.
//! - [`mod@migrate`]: the ordered migrations and their runner.
//! - [`index`]: the notes list as shown, kept in step with the document.
//! - [`search`]: folding text and matching queries (accents, case, word
//!   starts), highlights and snippets; `fold_table`, its generated table.
//! - [`touched`]: which notes and lists a device's unsent operations changed.
//! - [`legacy_v1`]: a writer of the first schema, for fixtures and tests.
//! - [`error`]: the error type, `SchemaError`.
//!
//! Time and ids are passed in by the caller; nothing here reads a clock or a
//! random source.

pub mod error;
pub mod files;
mod fold_table;
pub mod history;
pub mod index;
pub mod legacy_v1;
pub mod migrate;
pub mod notes;
pub mod schema;
pub mod search;
pub mod shares;
mod tags;
pub mod tasks;
pub mod touched;
mod value;
pub mod workspace;

pub use error::SchemaError;
pub use index::{KeptList, NoteIndex, NoteSummary};
pub use loro;
pub use migrate::{MIGRATIONS, MigrationOutcome, migrate};
pub use notes::{NewNote, Note, NoteFilter};
pub use schema::schema_version;
pub use search::{Query, TaskListHit};
pub use tasks::{Task, TaskList};
pub use touched::{Touched, touched_between, touched_since};
pub use workspace::{ReadOnly, Workspace, new_id};

/// The schema version this code writes.
pub const LATEST_SCHEMA: u32 = 2;
