//! `hearth-migrations`: the schema of the workspace document (notes and task
//! lists in a Loro document), typed accessors over its containers, and the
//! ordered client-side migrations that bring a document to the latest schema.

/// The schema version this code writes.
pub const LATEST_SCHEMA: u32 = 1;
