//! Attached files: what a note holds of a file ([`FileRef`]), and (with the
//! `seal` feature) how a file becomes chunks the server stores.
//!
//! A file is cut into content-defined chunks (FastCDC: 256 KiB to 4 MiB,
//! 1 MiB on average), so an edit in the middle of a large file changes the
//! one or two chunks around it and every other chunk keeps its bytes and
//! its name: re-attaching an edited file uploads little. Fixed-size chunks
//! would shift every chunk after an insertion.
//!
//! Each chunk is stored as an 18-byte header and a body:
//!
//! ```text
//! 0      version      1
//! 1      flags        bit 0: encrypted
//! 2..6   key epoch    u32 big-endian (0 when not encrypted)
//! 6..18  nonce        12 bytes (zero when not encrypted)
//! 18..   body         AES-256-GCM ciphertext and 16-byte tag, the header
//!                     as associated data; or the content itself
//! ```
//!
//! A chunk's name ([`ChunkName`]) is the SHA-256 of all its stored bytes,
//! which the server checks. Encryption is convergent within a workspace and
//! a key epoch: the chunk key is derived from the epoch's key, and the
//! nonce from that key and the content's hash, so the same content always
//! seals to the same bytes and is stored once (the same file attached to
//! two notes, or a chunk an edit did not touch), while the server, without
//! the key, learns only that two chunks are equal. A file's id is a keyed
//! hash of its whole content, so it says nothing to the server either.

use serde::{Deserialize, Serialize};

use crate::id::ChunkName;

/// Smallest chunk (except a file's last).
pub const MIN_CHUNK: usize = 256 * 1024;
/// The average chunk the cut points aim at.
pub const AVG_CHUNK: usize = 1024 * 1024;
/// Largest chunk.
pub const MAX_CHUNK: usize = 4 * 1024 * 1024;
/// Bytes of a chunk's header.
pub const CHUNK_HEADER_LEN: usize = 18;
/// The chunk format version.
pub const CHUNK_VERSION: u8 = 1;
#[cfg(feature = "seal")]
const FLAG_ENCRYPTED: u8 = 0x01;

/// A chunk of a file: its name and the bytes of content it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub name: ChunkName,
    pub len: u32,
}

/// A small picture of an image, made on the device that attached it, so
/// that a list of notes never downloads the full-size image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub chunks: Vec<ChunkRef>,
}

/// What a note holds of an attached file; stored in the workspace document
/// as JSON, so it syncs like any edit. It is written only once every chunk
/// is stored on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// 32 hex characters: a keyed hash of the content (the same content
    /// has the same id in a workspace).
    pub id: String,
    pub name: String,
    /// The media type, e.g. `image/jpeg` (`application/octet-stream` if
    /// unknown).
    pub mime: String,
    /// Bytes of content.
    pub size: u64,
    pub chunks: Vec<ChunkRef>,
    #[serde(default)]
    pub thumbnail: Option<Thumbnail>,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub added_at: i64,
}

impl FileRef {
    /// Every chunk name it uses, the thumbnail's too.
    pub fn chunk_names(&self) -> impl Iterator<Item = ChunkName> + '_ {
        self.chunks
            .iter()
            .chain(self.thumbnail.iter().flat_map(|t| t.chunks.iter()))
            .map(|c| c.name)
    }

    /// Whether it is an image the app can show.
    pub fn is_image(&self) -> bool {
        is_image_mime(&self.mime)
    }

    /// Parses the JSON a note holds.
    pub fn from_json(text: &str) -> Option<FileRef> {
        serde_json::from_str(text).ok()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether a media type is an image a browser shows.
pub fn is_image_mime(mime: &str) -> bool {
    matches!(
        mime,
        "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "image/avif" | "image/bmp"
    )
}

/// The media type of a file name, by its extension
/// (`application/octet-stream` when unknown).
pub fn mime_of(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "heic" => "image/heic",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "txt" | "md" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "zip" => "application/zip",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        _ => "application/octet-stream",
    }
}

/// A size for people: `512 B`, `3.4 KB`, `5.0 MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("TB"))
}

#[cfg(feature = "seal")]
pub use sealing::*;

#[cfg(feature = "seal")]
mod sealing {
    use hkdf::Hkdf;
    use sha2::{Digest as _, Sha256};

    use super::{
        AVG_CHUNK, CHUNK_HEADER_LEN, CHUNK_VERSION, ChunkRef, FLAG_ENCRYPTED, MAX_CHUNK, MIN_CHUNK,
    };
    use crate::id::ChunkName;
    use crate::keys::{EpochKey, key_of};
    use crate::sealed::{IV_LEN, decrypt, encrypt};

    /// Why a chunk does not open.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum ChunkError {
        #[error("the chunk's bytes do not match its name")]
        NameMismatch,
        #[error("the chunk is too short or of an unknown version")]
        Malformed,
        #[error("the chunk was encrypted under key epoch {0}, which this device lacks")]
        UnknownEpoch(u32),
        #[error("the chunk fails authentication (damaged, or not of this workspace)")]
        Authentication,
        #[error("the chunk holds {actual} bytes, the file says {expected}")]
        WrongLength { expected: u32, actual: usize },
    }

    fn derive(key: &[u8; 32], info: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = Hkdf::<Sha256>::new(Some(b"hearth file v1"), key).expand(info, &mut out);
        out
    }

    /// Seals chunks for one workspace: with the key it writes with, or in
    /// plain for a workspace that is not encrypted.
    pub struct ChunkSealer {
        /// The epoch and the chunk key derived from its key.
        key: Option<EpochKey>,
        /// The key of file ids.
        id_key: [u8; 32],
    }

    impl ChunkSealer {
        /// `writing`: the workspace key a device writes with (`None`: not
        /// encrypted).
        pub fn new(writing: Option<&EpochKey>) -> Self {
            match writing {
                Some(key) => ChunkSealer {
                    key: Some(EpochKey::new(
                        key.epoch(),
                        derive(key.bytes(), b"chunk key"),
                    )),
                    id_key: derive(key.bytes(), b"file id"),
                },
                None => ChunkSealer {
                    key: None,
                    id_key: [0; 32],
                },
            }
        }

        /// Seals one chunk of content: its stored bytes and their name.
        pub fn seal(&self, content: &[u8]) -> (ChunkName, Vec<u8>) {
            let mut header = [0u8; CHUNK_HEADER_LEN];
            header[0] = CHUNK_VERSION;
            let stored = match &self.key {
                Some(key) => {
                    let digest: [u8; 32] = Sha256::digest(content).into();
                    let mut nonce = [0u8; IV_LEN];
                    let _ = Hkdf::<Sha256>::new(Some(key.bytes()), &digest)
                        .expand(b"hearth chunk nonce", &mut nonce);
                    header[1] = FLAG_ENCRYPTED;
                    header[2..6].copy_from_slice(&key.epoch().to_be_bytes());
                    header[6..18].copy_from_slice(&nonce);
                    let ct = encrypt(key, &nonce, &header, content);
                    let mut out = Vec::with_capacity(CHUNK_HEADER_LEN + ct.len());
                    out.extend_from_slice(&header);
                    out.extend_from_slice(&ct);
                    out
                }
                None => {
                    let mut out = Vec::with_capacity(CHUNK_HEADER_LEN + content.len());
                    out.extend_from_slice(&header);
                    out.extend_from_slice(content);
                    out
                }
            };
            (name_of(&stored), stored)
        }

        /// The id of a file whose content has SHA-256 `digest`.
        pub fn file_id(&self, digest: &[u8; 32]) -> String {
            let mut out = [0u8; 16];
            let _ = Hkdf::<Sha256>::new(Some(&self.id_key), digest).expand(b"file id", &mut out);
            crate::id::TokenId::from_random(out).to_string()
        }
    }

    /// The name of stored chunk bytes.
    pub fn name_of(stored: &[u8]) -> ChunkName {
        ChunkName::from_digest(Sha256::digest(stored).into())
    }

    /// Opens a stored chunk fetched under `chunk`'s name with the
    /// workspace keys `keys`: checks the name, authenticates, and checks the
    /// length the file expects.
    pub fn open_chunk(
        keys: &[EpochKey],
        chunk: &ChunkRef,
        stored: &[u8],
    ) -> Result<Vec<u8>, ChunkError> {
        let content = open_named(keys, &chunk.name, stored)?;
        if content.len() != chunk.len as usize {
            return Err(ChunkError::WrongLength {
                expected: chunk.len,
                actual: content.len(),
            });
        }
        Ok(content)
    }

    /// Opens a stored chunk fetched under `name` whatever its length:
    /// checks the name and authenticates.
    pub fn open_named(
        keys: &[EpochKey],
        name: &ChunkName,
        stored: &[u8],
    ) -> Result<Vec<u8>, ChunkError> {
        if name_of(stored) != *name {
            return Err(ChunkError::NameMismatch);
        }
        let (header, body) = stored
            .split_at_checked(CHUNK_HEADER_LEN)
            .ok_or(ChunkError::Malformed)?;
        let [version, flags, e0, e1, e2, e3, nonce @ ..] = header else {
            return Err(ChunkError::Malformed);
        };
        if *version != CHUNK_VERSION {
            return Err(ChunkError::Malformed);
        }
        let content = if flags & FLAG_ENCRYPTED != 0 {
            let epoch = u32::from_be_bytes([*e0, *e1, *e2, *e3]);
            let key = key_of(keys, epoch).ok_or(ChunkError::UnknownEpoch(epoch))?;
            let chunk_key = EpochKey::new(epoch, derive(key.bytes(), b"chunk key"));
            let nonce: [u8; IV_LEN] = nonce.try_into().map_err(|_| ChunkError::Malformed)?;
            decrypt(&chunk_key, &nonce, header, body).ok_or(ChunkError::Authentication)?
        } else {
            body.to_vec()
        };
        Ok(content)
    }

    /// The cut points of `content`: `(offset, len)` of each chunk, in order.
    pub fn cut_points(content: &[u8]) -> Vec<(usize, usize)> {
        fastcdc::v2020::FastCDC::new(content, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK)
            .map(|c| (c.offset, c.length))
            .collect()
    }

    /// A file read from `source`, cut into chunks as it is read: an
    /// iterator of each chunk's content, which also hashes the whole.
    pub struct FileChunks<R: std::io::Read> {
        cuts: fastcdc::v2020::StreamCDC<R>,
        hash: Sha256,
        size: u64,
    }

    impl<R: std::io::Read> FileChunks<R> {
        pub fn new(source: R) -> Self {
            FileChunks {
                cuts: fastcdc::v2020::StreamCDC::new(source, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK),
                hash: Sha256::new(),
                size: 0,
            }
        }

        /// The SHA-256 and size of what was read so far (the whole file
        /// once the iterator is done).
        pub fn digest(&self) -> ([u8; 32], u64) {
            (self.hash.clone().finalize().into(), self.size)
        }
    }

    impl<R: std::io::Read> Iterator for FileChunks<R> {
        type Item = std::io::Result<Vec<u8>>;

        fn next(&mut self) -> Option<Self::Item> {
            let chunk = self.cuts.next()?.map_err(|e| match e {
                fastcdc::v2020::Error::IoError(e) => e,
                other => std::io::Error::other(other.to_string()),
            });
            Some(chunk.map(|chunk| {
                self.hash.update(&chunk.data);
                self.size += chunk.data.len() as u64;
                chunk.data
            }))
        }
    }

    /// SHA-256 of content (a file's, for [`ChunkSealer::file_id`]).
    pub fn content_digest(content: &[u8]) -> [u8; 32] {
        Sha256::digest(content).into()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn content(len: usize, seed: u64) -> Vec<u8> {
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        }

        #[test]
        fn the_same_content_seals_to_the_same_named_bytes_and_opens_again() {
            let key = EpochKey::new(3, [7; 32]);
            let sealer = ChunkSealer::new(Some(&key));
            let data = content(100_000, 1);
            let (name, stored) = sealer.seal(&data);
            let (again, stored_again) = sealer.seal(&data);
            assert_eq!((name, &stored), (again, &stored_again));
            assert!(!stored.windows(32).any(|w| w == &data[..32]));
            let chunk = ChunkRef {
                name,
                len: data.len() as u32,
            };
            assert_eq!(
                open_chunk(std::slice::from_ref(&key), &chunk, &stored).unwrap(),
                data
            );
            // Another workspace key seals it differently.
            let other = ChunkSealer::new(Some(&EpochKey::new(3, [8; 32])));
            assert_ne!(other.seal(&data).0, name);
            // Wrong key, altered byte, wrong name, wrong length.
            assert_eq!(
                open_chunk(&[EpochKey::new(3, [8; 32])], &chunk, &stored),
                Err(ChunkError::Authentication)
            );
            assert_eq!(
                open_chunk(&[], &chunk, &stored),
                Err(ChunkError::UnknownEpoch(3))
            );
            for at in [0, 1, 5, 17, 18, stored.len() - 1] {
                let mut bad = stored.clone();
                bad[at] ^= 1;
                let renamed = ChunkRef {
                    name: name_of(&bad),
                    ..chunk
                };
                assert!(
                    open_chunk(std::slice::from_ref(&key), &chunk, &bad).is_err(),
                    "{at}"
                );
                assert!(
                    open_chunk(std::slice::from_ref(&key), &renamed, &bad).is_err(),
                    "{at}"
                );
            }
            let short = ChunkRef { len: 5, ..chunk };
            assert!(matches!(
                open_chunk(&[key], &short, &stored),
                Err(ChunkError::WrongLength { .. })
            ));
        }

        #[test]
        fn plain_chunks_are_named_and_checked_too() {
            let sealer = ChunkSealer::new(None);
            let (name, stored) = sealer.seal(b"hello");
            let chunk = ChunkRef { name, len: 5 };
            assert_eq!(open_chunk(&[], &chunk, &stored).unwrap(), b"hello");
            let mut bad = stored.clone();
            bad[CHUNK_HEADER_LEN] = b'j';
            assert_eq!(open_chunk(&[], &chunk, &bad), Err(ChunkError::NameMismatch));
        }

        #[test]
        fn an_insertion_in_a_large_file_changes_few_chunks() {
            let data = content(12 * 1024 * 1024, 2);
            let mut edited = data.clone();
            let middle = edited.len() / 2;
            edited.splice(middle..middle, b"an edit in the middle".iter().copied());
            let sealer = ChunkSealer::new(Some(&EpochKey::new(1, [1; 32])));
            let names = |d: &[u8]| -> Vec<ChunkName> {
                cut_points(d)
                    .into_iter()
                    .map(|(at, len)| sealer.seal(&d[at..at + len]).0)
                    .collect()
            };
            let (before, after) = (names(&data), names(&edited));
            let changed = after.iter().filter(|n| !before.contains(n)).count();
            assert!(before.len() >= 4, "{} chunks", before.len());
            assert!(changed <= 2, "{changed} of {} chunks changed", after.len());
            // The stream and the slice cut alike.
            let mut stream = FileChunks::new(&edited[..]);
            let streamed: Vec<ChunkName> = stream
                .by_ref()
                .map(|c| sealer.seal(&c.unwrap()).0)
                .collect();
            let (digest, size) = stream.digest();
            assert_eq!(streamed, after);
            assert_eq!(
                (digest, size),
                (content_digest(&edited), edited.len() as u64)
            );
        }

        #[test]
        fn file_ids_are_keyed() {
            let digest = content_digest(b"photo");
            let a = ChunkSealer::new(Some(&EpochKey::new(1, [1; 32])));
            let b = ChunkSealer::new(Some(&EpochKey::new(1, [2; 32])));
            assert_eq!(a.file_id(&digest), a.file_id(&digest));
            assert_ne!(a.file_id(&digest), b.file_id(&digest));
            assert_eq!(a.file_id(&digest).len(), 32);
        }
    }
}
