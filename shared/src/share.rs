//! Public read-only links to one note: what the owner's device seals and
//! the link page opens.
//!
//! A link is `{server}/share#{share id}.{key}`: the key (32 random bytes,
//! base64url without padding) is in the fragment, which browsers never
//! send, so the server, which holds the link's chunks, cannot open them.
//! The note is a [`SharedNote`] (JSON) sealed as one chunk (the link's
//! `document`); each attached file is cut and sealed as chunks under the
//! same key, as a workspace's files are (`files::ChunkSealer`, key epoch
//! [`SHARE_EPOCH`]), so the same note shared twice shares no byte
//! between its two links, nor with the workspace's own copy.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::files::{ChunkRef, ChunkSealer, MAX_CHUNK, open_chunk, open_named};
use crate::id::{ChunkName, ShareId};
use crate::keys::EpochKey;
use crate::routes::SHARE_PAGE;

/// The key epoch a link's chunks say they are sealed under.
pub const SHARE_EPOCH: u32 = 1;
/// What a shared note's `format` says.
pub const FORMAT: &str = "hearth-shared-note";
/// The version of [`SharedNote`] written now (and the newest read).
pub const VERSION: u32 = 1;

/// Why a link or what it reads cannot be opened, in words for the person
/// who followed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("this link is incomplete: {0}. Ask whoever shared it to send the whole link again.")]
    BadLink(&'static str),
    #[error(
        "the shared note does not open with this link's key: the link was changed or the server's copy is damaged"
    )]
    Sealed,
    #[error("the shared note is in a form this page does not read ({0})")]
    Unreadable(String),
    #[error("the note is too long to share ({0} bytes; at most {MAX_CHUNK})")]
    TooLong(usize),
}

/// A link: which share the server keeps, and the key that opens it.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareLink {
    pub id: ShareId,
    pub key: [u8; 32],
}

impl std::fmt::Debug for ShareLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShareLink({}, key hidden)", self.id)
    }
}

impl ShareLink {
    /// The fragment, without its `#`.
    pub fn fragment(&self) -> String {
        format!("{}.{}", self.id, URL_SAFE_NO_PAD.encode(self.key))
    }

    /// The whole link on `server` (an origin, with or without a trailing
    /// `/`).
    pub fn url(&self, server: &str) -> String {
        format!(
            "{}{SHARE_PAGE}#{}",
            server.trim_end_matches('/'),
            self.fragment()
        )
    }

    /// Reads a link's fragment (with or without its `#`), or a whole link.
    pub fn parse(text: &str) -> Result<ShareLink, ShareError> {
        let fragment = match text.split_once('#') {
            Some((_, fragment)) => fragment,
            None => text,
        };
        let (id, key) = fragment
            .trim()
            .split_once('.')
            .ok_or(ShareError::BadLink("it has no key"))?;
        let id = ShareId::parse(id).map_err(|_| ShareError::BadLink("its id is damaged"))?;
        let key: [u8; 32] = URL_SAFE_NO_PAD
            .decode(key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or(ShareError::BadLink("its key is damaged"))?;
        Ok(ShareLink { id, key })
    }

    fn keys(&self) -> [EpochKey; 1] {
        [EpochKey::new(SHARE_EPOCH, self.key)]
    }

    /// What seals the note and its files for this link.
    pub fn sealer(&self) -> ChunkSealer {
        ChunkSealer::new(Some(&EpochKey::new(SHARE_EPOCH, self.key)))
    }

    /// Seals `note` as the link's document: its name and stored bytes.
    pub fn seal_note(&self, note: &SharedNote) -> Result<(ChunkName, Vec<u8>), ShareError> {
        let json = serde_json::to_vec(note).map_err(|e| ShareError::Unreadable(e.to_string()))?;
        if json.len() > MAX_CHUNK {
            return Err(ShareError::TooLong(json.len()));
        }
        Ok(self.sealer().seal(&json))
    }

    /// Opens the link's document, fetched under `name`.
    pub fn open_note(&self, name: &ChunkName, stored: &[u8]) -> Result<SharedNote, ShareError> {
        let json = open_named(&self.keys(), name, stored).map_err(|_| ShareError::Sealed)?;
        let note: SharedNote =
            serde_json::from_slice(&json).map_err(|e| ShareError::Unreadable(e.to_string()))?;
        if note.format != FORMAT || note.version > VERSION {
            return Err(ShareError::Unreadable(format!(
                "{} version {}",
                note.format, note.version
            )));
        }
        Ok(note)
    }

    /// Opens one chunk of a shared file.
    pub fn open_chunk(&self, chunk: &ChunkRef, stored: &[u8]) -> Result<Vec<u8>, ShareError> {
        open_chunk(&self.keys(), chunk, stored).map_err(|_| ShareError::Sealed)
    }
}

/// A note as a link shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedNote {
    pub format: String,
    pub version: u32,
    pub title: String,
    /// Markdown.
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the note was last edited, Unix milliseconds.
    #[serde(default)]
    pub updated_ms: i64,
    #[serde(default)]
    pub files: Vec<SharedFile>,
}

impl SharedNote {
    pub fn new(title: String, body: String, tags: Vec<String>, updated_ms: i64) -> Self {
        SharedNote {
            format: FORMAT.into(),
            version: VERSION,
            title,
            body,
            tags,
            updated_ms,
            files: Vec::new(),
        }
    }

    /// Every chunk of its files, each once.
    pub fn chunk_names(&self) -> Vec<ChunkName> {
        let mut seen = std::collections::BTreeSet::new();
        self.files
            .iter()
            .flat_map(|f| f.chunks.iter().map(|c| c.name))
            .filter(|n| seen.insert(*n))
            .collect()
    }
}

/// A file attached to a shared note, sealed under the link's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFile {
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub chunks: Vec<ChunkRef>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::name_of;

    fn link() -> ShareLink {
        ShareLink {
            id: ShareId::from_random([7; 16]),
            key: [9; 32],
        }
    }

    #[test]
    fn a_link_round_trips_and_a_damaged_one_says_what_is_wrong() {
        let link = link();
        let url = link.url("https://home.example/");
        assert!(
            url.starts_with("https://home.example/share#07070707"),
            "{url}"
        );
        assert_eq!(ShareLink::parse(&url), Ok(link.clone()));
        assert_eq!(
            ShareLink::parse(&format!("#{}", link.fragment())),
            Ok(link.clone())
        );
        assert!(!format!("{link:?}").contains(&URL_SAFE_NO_PAD.encode(link.key)));
        for bad in [
            "",
            "#",
            "#abc",
            "#07070707070707070707070707070707.",
            "#xyz.AAAA",
        ] {
            assert!(
                matches!(ShareLink::parse(bad), Err(ShareError::BadLink(_))),
                "{bad}"
            );
        }
        let short = format!("#{}.{}", link.id, URL_SAFE_NO_PAD.encode([1u8; 31]));
        assert!(ShareLink::parse(&short).is_err());
    }

    #[test]
    fn a_note_opens_with_its_link_and_with_no_other() {
        let link = link();
        let mut note = SharedNote::new("Soup".into(), "Leeks, *butter*".into(), vec![], 5);
        let (photo_name, photo) = link.sealer().seal(b"jpeg bytes");
        note.files.push(SharedFile {
            name: "soup.jpg".into(),
            mime: "image/jpeg".into(),
            size: 10,
            chunks: vec![ChunkRef {
                name: photo_name,
                len: 10,
            }],
        });
        let (name, stored) = link.seal_note(&note).unwrap();
        assert_eq!(name, name_of(&stored));
        assert!(!stored.windows(4).any(|w| w == b"Soup"), "sealed");
        assert_eq!(link.open_note(&name, &stored), Ok(note.clone()));
        assert_eq!(
            link.open_chunk(&note.files[0].chunks[0], &photo),
            Ok(b"jpeg bytes".to_vec())
        );
        let other = ShareLink {
            key: [8; 32],
            ..link.clone()
        };
        assert_eq!(other.open_note(&name, &stored), Err(ShareError::Sealed));
        let mut damaged = stored.clone();
        if let Some(last) = damaged.last_mut() {
            *last ^= 1;
        }
        assert_eq!(link.open_note(&name, &damaged), Err(ShareError::Sealed));
        // The same note under another link shares no byte with the first.
        assert_ne!(other.seal_note(&note).unwrap().0, name);
    }
}
