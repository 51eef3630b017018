//! Errors of the typed schema: what a caller can get wrong, and what a
//! document from elsewhere can contain that this code cannot work with.

/// Why a schema operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The document was written by a newer app; it stays untouched.
    #[error(
        "this workspace uses schema version {found}, newer than the {known} this app knows; \
         it is open read-only until the app is updated"
    )]
    NewerSchema { found: u32, known: u32 },
    #[error("no note with id {0}")]
    NoSuchNote(String),
    #[error("no task list with id {0}")]
    NoSuchTaskList(String),
    #[error("no task with id {0}")]
    NoSuchTask(String),
    #[error("{0:?} is not a file id (1 to 64 of 0-9, a-z, - and _)")]
    BadFileId(String),
    #[error("{0:?} is not a link id (32 of 0-9 and a-f)")]
    BadShareId(String),
    #[error("note {0} is not in the bin; delete it first")]
    NotInBin(String),
    #[error("a note or task needs a non-empty id")]
    EmptyId,
    /// The document holds something of an unexpected type where the schema
    /// says otherwise.
    #[error("the workspace document is malformed at {0}")]
    Malformed(String),
    #[error("document operation failed: {0}")]
    Loro(#[from] loro::LoroError),
}
