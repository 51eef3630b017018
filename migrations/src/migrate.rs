//! The ordered client-side migrations and the runner that applies them.
//!
//! Rules every migration follows, so that two devices that run the same
//! migration offline converge when they sync:
//! - it writes only to containers whose ids are deterministic (root
//!   containers, and mergeable children of maps), never creating a regular
//!   child container whose id would depend on the device;
//! - its writes are idempotent (set-like map keys, deletes), so running it
//!   twice, or on two devices, gives one result, never duplicates;
//! - after its data it records its version mark (see [`crate::schema`]),
//!   in the same commit.
//!
//! A document whose schema is newer than [`LATEST_SCHEMA`] is never touched.

use loro::LoroDoc;

use crate::LATEST_SCHEMA;
use crate::error::SchemaError;
use crate::schema::{NOTES_ROOT, has_content, mark_version, schema_version};
use crate::tags::{LEGACY_TAGS, TAG_SET, split_legacy_tags};
use crate::value::{child_map, string};

/// One step of the schema.
pub struct Migration {
    /// The schema version the document has after this step.
    pub version: u32,
    /// What it does, for logs.
    pub name: &'static str,
    apply: fn(&LoroDoc) -> Result<(), SchemaError>,
}

impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Migration({} {})", self.version, self.name)
    }
}

/// Every migration, in order. Version 1 is the first schema and has no
/// migration.
pub static MIGRATIONS: &[Migration] = &[Migration {
    version: 2,
    name: "note tags become a set",
    apply: v2_tags_as_set,
}];

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationOutcome {
    /// The document is empty and has no schema yet; nothing was written.
    Empty,
    /// The document was already at the latest schema.
    UpToDate { version: u32 },
    /// Migrations ran.
    Migrated {
        from: u32,
        to: u32,
        applied: Vec<&'static str>,
    },
    /// The document is newer than this code; it was left untouched.
    NewerSchema { found: u32, known: u32 },
}

/// Brings `doc` to [`LATEST_SCHEMA`], running each missing migration once.
pub fn migrate(doc: &LoroDoc) -> Result<MigrationOutcome, SchemaError> {
    let mut version = schema_version(doc);
    if version > LATEST_SCHEMA {
        return Ok(MigrationOutcome::NewerSchema {
            found: version,
            known: LATEST_SCHEMA,
        });
    }
    if version == 0 {
        if !has_content(doc) {
            return Ok(MigrationOutcome::Empty);
        }
        // Content without marks was written by a device before it first
        // synced; it is at least version 1.
        mark_version(doc, 1)?;
        version = 1;
    }
    let from = version;
    let mut applied = Vec::new();
    for step in MIGRATIONS.iter().filter(|m| m.version > version) {
        (step.apply)(doc)?;
        mark_version(doc, step.version)?;
        doc.commit();
        applied.push(step.name);
    }
    doc.commit();
    if applied.is_empty() {
        Ok(MigrationOutcome::UpToDate { version })
    } else {
        Ok(MigrationOutcome::Migrated {
            from,
            to: LATEST_SCHEMA,
            applied,
        })
    }
}

/// v2: a note's comma-separated `tags` string becomes the set `tag_set`.
fn v2_tags_as_set(doc: &LoroDoc) -> Result<(), SchemaError> {
    let notes = doc.get_map(NOTES_ROOT);
    for key in notes.keys() {
        let Some(note) = child_map(&notes, &key) else {
            continue;
        };
        let Some(legacy) = string(&note, LEGACY_TAGS) else {
            continue;
        };
        let tag_set = note.ensure_mergeable_map(TAG_SET)?;
        for tag in split_legacy_tags(&legacy) {
            tag_set.insert(&tag, true)?;
        }
        note.delete(LEGACY_TAGS)?;
    }
    Ok(())
}
