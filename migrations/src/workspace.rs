//! [`Workspace`]: the typed handle over a workspace's Loro document.
//!
//! Opening a workspace runs the pending migrations (see [`mod@crate::migrate`]).
//! A document of a newer schema than this code knows is opened read-only:
//! reads work, every write returns [`SchemaError::NewerSchema`], and nothing
//! is written into it.
//!
//! The accessors live beside the data they touch: notes in
//! [`crate::notes`], task lists in [`crate::tasks`].

use loro::LoroDoc;

use crate::LATEST_SCHEMA;
use crate::error::SchemaError;
use crate::migrate::{self, MigrationOutcome};
use crate::schema::{self, mark_version};

/// Why a workspace is read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOnly {
    /// The schema version of the document.
    pub found: u32,
    /// The newest schema version this code knows.
    pub known: u32,
}

impl ReadOnly {
    /// A sentence the UI can show.
    pub fn reason(&self) -> String {
        SchemaError::NewerSchema {
            found: self.found,
            known: self.known,
        }
        .to_string()
    }
}

/// A workspace document with typed accessors.
///
/// It holds a handle to the document (a [`LoroDoc`] clone shares the same
/// document), so the sync engine and the UI see the same state.
#[derive(Debug, Clone)]
pub struct Workspace {
    doc: LoroDoc,
    read_only: Option<ReadOnly>,
}

impl Workspace {
    /// Starts a new workspace in an empty document, at the latest schema.
    pub fn create(doc: LoroDoc) -> Result<Self, SchemaError> {
        for version in 1..=LATEST_SCHEMA {
            mark_version(&doc, version)?;
        }
        doc.commit();
        Ok(Self {
            doc,
            read_only: None,
        })
    }

    /// Opens an existing document: runs the migrations it lacks, or opens
    /// it read-only if its schema is newer than this code.
    pub fn open(doc: LoroDoc) -> Result<(Self, MigrationOutcome), SchemaError> {
        let outcome = migrate::migrate(&doc)?;
        let read_only = match outcome {
            MigrationOutcome::NewerSchema { found, known } => Some(ReadOnly { found, known }),
            _ => None,
        };
        Ok((Self { doc, read_only }, outcome))
    }

    /// Re-checks the schema after remote changes were imported: migrates
    /// data that an older device wrote, or turns read-only if a newer
    /// device raised the schema.
    pub fn refresh(&mut self) -> Result<MigrationOutcome, SchemaError> {
        let outcome = migrate::migrate(&self.doc)?;
        self.read_only = match outcome {
            MigrationOutcome::NewerSchema { found, known } => Some(ReadOnly { found, known }),
            _ => None,
        };
        Ok(outcome)
    }

    /// The underlying document.
    pub fn doc(&self) -> &LoroDoc {
        &self.doc
    }

    /// The document's schema version.
    pub fn schema_version(&self) -> u32 {
        schema::schema_version(&self.doc)
    }

    /// `Some` when the workspace must not be written to, with the reason.
    pub fn read_only(&self) -> Option<ReadOnly> {
        self.read_only
    }

    /// What the person calls this workspace, if they named it (the same on
    /// every device: it syncs like any edit).
    pub fn name(&self) -> Option<String> {
        crate::value::string(&self.doc.get_map(schema::SETTINGS_ROOT), "name")
            .filter(|n| !n.trim().is_empty())
    }

    /// Names the workspace (trimmed; at most 80 characters); an empty
    /// name removes it.
    pub fn set_name(&self, name: &str) -> Result<(), SchemaError> {
        self.writable()?;
        let name: String = name.trim().chars().take(80).collect();
        let settings = self.doc.get_map(schema::SETTINGS_ROOT);
        if name.is_empty() {
            settings.delete("name")?;
        } else {
            settings.insert("name", name)?;
        }
        self.commit();
        Ok(())
    }

    /// Fails if writes are not allowed.
    pub(crate) fn writable(&self) -> Result<(), SchemaError> {
        match self.read_only {
            Some(ReadOnly { found, known }) => Err(SchemaError::NewerSchema { found, known }),
            None => Ok(()),
        }
    }

    /// Ends the current transaction so that the edits become one change
    /// (the sync engine also commits before it exports).
    pub(crate) fn commit(&self) {
        self.doc.commit();
    }
}

/// Makes a 32-character hex id from 16 random bytes that the caller drew.
pub fn new_id(random: [u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in random {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

impl Workspace {
    /// A writable handle without running migrations (for fixtures).
    pub(crate) fn from_doc_unchecked(doc: LoroDoc) -> Self {
        Self {
            doc,
            read_only: None,
        }
    }
}
