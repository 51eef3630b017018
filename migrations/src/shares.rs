//! Public read-only links the workspace made: the accessors of
//! [`Workspace`] over the `"shares"` root map.
//!
//! ```text
//! shares (root)   map share id -> string, JSON {"note", "url", "created_ms",
//!                 "expires_ms"}: which note each link shows, the whole
//!                 link (its key in the fragment), and its life
//! ```
//!
//! The links are kept in the (encrypted) document so that each of the
//! owner's devices lists them, shows a link again and can revoke it; the
//! server knows a link's id and chunks but never its key. A link the
//! server forgot (it expired, or another device revoked it) is dropped
//! from the map by whichever device sees it gone.

use loro::{LoroMap, LoroValue, ValueOrContainer};
use serde::{Deserialize, Serialize};

use crate::error::SchemaError;
use crate::workspace::Workspace;

/// Root map of public links (see [`crate::shares`]).
pub const SHARES_ROOT: &str = "shares";

/// A link as the document keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRecord {
    /// The share id (32 lowercase hex).
    #[serde(skip)]
    pub id: String,
    /// The note it shows.
    pub note: String,
    /// The whole link.
    pub url: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

fn valid_share_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Workspace {
    fn shares_root(&self) -> LoroMap {
        self.doc().get_map(SHARES_ROOT)
    }

    /// Keeps link `record` (made on the server already).
    pub fn add_share(&self, record: &ShareRecord) -> Result<(), SchemaError> {
        self.writable()?;
        if !valid_share_id(&record.id) {
            return Err(SchemaError::BadShareId(record.id.clone()));
        }
        let json = serde_json::to_string(record).unwrap_or_default();
        self.shares_root().insert(&record.id, json)?;
        self.commit();
        Ok(())
    }

    /// Forgets link `id` (revoked, or gone from the server).
    pub fn remove_share(&self, id: &str) -> Result<(), SchemaError> {
        self.writable()?;
        let root = self.shares_root();
        if root.get(id).is_some() {
            root.delete(id)?;
            self.commit();
        }
        Ok(())
    }

    /// Every link, newest first; those of `note` only, if given. A record
    /// that does not read is skipped.
    pub fn shares(&self, note: Option<&str>) -> Vec<ShareRecord> {
        let mut out = Vec::new();
        self.shares_root().for_each(|id, value| {
            if let ValueOrContainer::Value(LoroValue::String(s)) = value
                && let Ok(mut record) = serde_json::from_str::<ShareRecord>(&s)
                && note.is_none_or(|n| n == record.note)
            {
                record.id = id.to_owned();
                out.push(record);
            }
        });
        out.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: char, note: &str, created_ms: i64) -> ShareRecord {
        ShareRecord {
            id: id.to_string().repeat(32),
            note: note.into(),
            url: format!(
                "https://home.example/share#{}.key",
                id.to_string().repeat(32)
            ),
            created_ms,
            expires_ms: created_ms + 1_000,
        }
    }

    #[test]
    fn links_are_kept_listed_by_note_and_forgotten() {
        let ws = Workspace::create(loro::LoroDoc::new()).unwrap();
        let a = record('a', "n1", 10);
        let b = record('b', "n2", 20);
        let c = record('c', "n1", 30);
        for r in [&a, &b, &c] {
            ws.add_share(r).unwrap();
        }
        assert_eq!(ws.shares(None), vec![c.clone(), b.clone(), a.clone()]);
        assert_eq!(ws.shares(Some("n1")), vec![c.clone(), a.clone()]);
        ws.remove_share(&a.id).unwrap();
        ws.remove_share(&a.id).unwrap();
        assert_eq!(ws.shares(Some("n1")), vec![c.clone()]);
        let mut bad = record('d', "n1", 1);
        bad.id = "../x".into();
        assert!(ws.add_share(&bad).is_err());
        // Another device sees the same links once the document syncs.
        let other = Workspace::open(loro::LoroDoc::new()).unwrap().0;
        other
            .doc()
            .import(&ws.doc().export(loro::ExportMode::all_updates()).unwrap())
            .unwrap();
        assert_eq!(other.shares(None), vec![c, b]);
    }
}
