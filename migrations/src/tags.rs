//! How a note's tags are stored, for the notes accessors and the
//! migration that changed it: the key of the tag set (schema v2), the key
//! of the comma-separated string that schema v1 wrote, and how that string
//! is read.

/// Key of the legacy (v1) comma-separated tags string.
pub(crate) const LEGACY_TAGS: &str = "tags";
/// Key of the tag set (v2).
pub(crate) const TAG_SET: &str = "tag_set";

/// Splits a legacy tags string: trimmed, non-empty, deduplicated.
pub(crate) fn split_legacy_tags(s: &str) -> Vec<String> {
    let mut tags: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    tags.sort();
    tags.dedup();
    tags
}
