//! A note's earlier versions: `hearth_migrations::history` (Loro time
//! travel over the document), re-exported for the notes screen.

pub use hearth_migrations::history::{NoteVersion, note_versions};
