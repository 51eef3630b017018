//! An upload's bytes (an entry, a snapshot): held in memory when small,
//! and in an unnamed file of the data directory's `spool/` when larger than
//! [`SPOOL_AT`], so that a 16 MiB push costs the server a few hundred KiB
//! of memory, not 16 MiB. Backends read a spooled payload in pieces of
//! [`PIECE`] bytes (the disk log copies it into its file, the object store
//! uploads it in parts); its length, CRC-32 and SHA-256 are taken as it
//! arrives, so nothing reads it twice to check it.
//!
//! The file is opened unnamed (`O_TMPFILE` where the file system has it):
//! nothing is left behind by a crash, and it is gone when the last clone
//! of the payload is dropped.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sha2::{Digest as _, Sha256};

/// Bodies larger than this go to a file as they arrive.
pub const SPOOL_AT: usize = 256 * 1024;

/// Most bytes of a spooled payload read into memory at once.
pub const PIECE: usize = 256 * 1024;

/// The bytes of an upload. Cloning is cheap (a reference count).
#[derive(Clone, Debug)]
pub struct Payload {
    repr: Repr,
    crc: u32,
    /// Its SHA-256 when taken on arrival (always, for a spooled one).
    sha: Option<[u8; 32]>,
}

#[derive(Clone, Debug)]
enum Repr {
    Memory(Bytes),
    Spooled { file: Arc<File>, len: u64 },
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Payload {
        Payload {
            crc: crc32fast::hash(&bytes),
            repr: Repr::Memory(bytes),
            sha: None,
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Payload {
        Payload::from(Bytes::from(bytes))
    }
}

impl From<&'static [u8]> for Payload {
    fn from(bytes: &'static [u8]) -> Payload {
        Payload::from(Bytes::from_static(bytes))
    }
}

impl Payload {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Memory(b) => b.len() as u64,
            Repr::Spooled { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The CRC-32 (IEEE) of its bytes.
    pub fn crc32(&self) -> u32 {
        self.crc
    }

    /// The SHA-256 of its bytes: as taken on arrival, or computed now
    /// (blocking for a spooled payload without one, which the spool never
    /// makes).
    pub fn sha256(&self) -> io::Result<[u8; 32]> {
        if let Some(sha) = self.sha {
            return Ok(sha);
        }
        let mut hasher = Sha256::new();
        self.pieces(&mut |piece| {
            hasher.update(piece);
            Ok(())
        })?;
        Ok(hasher.finalize().into())
    }

    /// Its bytes, if they are in memory (never for one above [`SPOOL_AT`]
    /// that arrived over the network).
    pub fn in_memory(&self) -> Option<&Bytes> {
        match &self.repr {
            Repr::Memory(b) => Some(b),
            Repr::Spooled { .. } => None,
        }
    }

    /// Hands `each` its bytes in order, at most [`PIECE`] at a time.
    /// Blocking when spooled.
    pub fn pieces(&self, each: &mut dyn FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        match &self.repr {
            Repr::Memory(b) => b.chunks(PIECE).try_for_each(each),
            Repr::Spooled { file, len } => {
                let mut buf = vec![0u8; PIECE.min(usize::try_from(*len).unwrap_or(PIECE))];
                let mut at = 0u64;
                while at < *len {
                    let want = usize::try_from(*len - at).unwrap_or(PIECE).min(PIECE);
                    let piece = buf.get_mut(..want).ok_or_else(short_buffer)?;
                    file.read_exact_at(piece, at)?;
                    each(piece)?;
                    at += want as u64;
                }
                Ok(())
            }
        }
    }

    /// `n` bytes from `at` (fewer at the end). Blocking when spooled.
    pub fn range(&self, at: u64, n: usize) -> io::Result<Bytes> {
        let end = at.saturating_add(n as u64).min(self.len());
        let n = usize::try_from(end.saturating_sub(at)).unwrap_or(0);
        match &self.repr {
            Repr::Memory(b) => {
                let start = usize::try_from(at).unwrap_or(usize::MAX).min(b.len());
                Ok(b.slice(start..start.saturating_add(n).min(b.len())))
            }
            Repr::Spooled { file, .. } => {
                let mut buf = vec![0u8; n];
                file.read_exact_at(&mut buf, at)?;
                Ok(Bytes::from(buf))
            }
        }
    }

    /// All of its bytes in one buffer. Blocking when spooled; for backends
    /// that keep a payload whole (the in-memory one of the tests).
    pub fn read_all(&self) -> io::Result<Bytes> {
        self.range(0, usize::try_from(self.len()).unwrap_or(usize::MAX))
    }

    /// A payload spooled to a file in `dir` whatever its size (tests of the
    /// backends' spooled path).
    #[cfg(any(test, feature = "test-support"))]
    pub async fn spooled(dir: &Path, bytes: &[u8]) -> io::Result<Payload> {
        let mut spool = Spool::new(dir);
        spool.file_now = true;
        spool.push(Bytes::copy_from_slice(bytes)).await?;
        Ok(spool.finish().await?.0)
    }
}

fn short_buffer() -> io::Error {
    io::Error::other("a spooled payload's piece is larger than its buffer")
}

/// Receives a body piece by piece into a [`Payload`], hashing it as it
/// comes. The body's size is checked by the caller.
pub struct Spool {
    dir: PathBuf,
    buf: BytesMut,
    file: Option<Arc<File>>,
    written: u64,
    sha: Sha256,
    crc: crc32fast::Hasher,
    #[cfg(any(test, feature = "test-support"))]
    file_now: bool,
}

impl Spool {
    /// A spool whose file, if the body needs one, is made in `dir`
    /// (created if missing).
    pub fn new(dir: &Path) -> Spool {
        Spool {
            dir: dir.to_owned(),
            buf: BytesMut::new(),
            file: None,
            written: 0,
            sha: Sha256::new(),
            crc: crc32fast::Hasher::new(),
            #[cfg(any(test, feature = "test-support"))]
            file_now: false,
        }
    }

    fn to_file(&self) -> bool {
        #[cfg(any(test, feature = "test-support"))]
        if self.file_now {
            return true;
        }
        self.file.is_some() || self.buf.len() > SPOOL_AT
    }

    /// Takes the next piece of the body.
    pub async fn push(&mut self, data: Bytes) -> io::Result<()> {
        self.sha.update(&data);
        self.crc.update(&data);
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= PIECE && self.to_file() {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what is buffered to the file (made now if there is none).
    async fn flush(&mut self) -> io::Result<()> {
        let data = self.buf.split().freeze();
        let n = data.len() as u64;
        let file = self.file.clone();
        let dir = self.dir.clone();
        let at = self.written;
        let file = tokio::task::spawn_blocking(move || -> io::Result<Arc<File>> {
            let file = match file {
                Some(f) => f,
                None => Arc::new(unnamed_file(&dir)?),
            };
            file.write_all_at(&data, at)?;
            Ok(file)
        })
        .await
        .map_err(io::Error::other)??;
        self.written = at + n;
        self.file = Some(file);
        Ok(())
    }

    /// The whole body, with its SHA-256.
    pub async fn finish(mut self) -> io::Result<(Payload, [u8; 32])> {
        let sha: [u8; 32] = self.sha.clone().finalize().into();
        if !self.to_file() {
            let bytes = self.buf.split().freeze();
            let crc = self.crc.clone().finalize();
            return Ok((
                Payload {
                    repr: Repr::Memory(bytes),
                    crc,
                    sha: Some(sha),
                },
                sha,
            ));
        }
        self.flush().await?;
        let file = self
            .file
            .clone()
            .ok_or_else(|| io::Error::other("no spool file"))?;
        Ok((
            Payload {
                repr: Repr::Spooled {
                    file,
                    len: self.written,
                },
                crc: self.crc.clone().finalize(),
                sha: Some(sha),
            },
            sha,
        ))
    }
}

/// A file with no name in `dir`, made private; `dir` is made if missing.
fn unnamed_file(dir: &Path) -> io::Result<File> {
    match tempfile::tempfile_in(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::fsutil::create_dir_private(dir)?;
            tempfile::tempfile_in(dir)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    async fn received(dir: &Path, all: &[u8], piece: usize) -> (Payload, [u8; 32]) {
        let mut spool = Spool::new(dir);
        for part in all.chunks(piece) {
            spool.push(Bytes::copy_from_slice(part)).await.unwrap();
        }
        spool.finish().await.unwrap()
    }

    fn gathered(p: &Payload) -> Vec<u8> {
        let mut out = Vec::new();
        let mut count = 0;
        p.pieces(&mut |piece| {
            assert!(piece.len() <= PIECE);
            count += 1;
            out.extend_from_slice(piece);
            Ok(())
        })
        .unwrap();
        assert!(count >= out.len().div_ceil(PIECE));
        out
    }

    #[tokio::test]
    async fn a_large_body_goes_to_a_file_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let spool_dir = dir.path().join("spool");
        let all = body(3 * SPOOL_AT + 12_345);
        let (p, sha) = received(&spool_dir, &all, 16 * 1024 + 3).await;
        assert!(p.in_memory().is_none(), "kept in memory");
        assert_eq!(p.len(), all.len() as u64);
        assert_eq!(p.crc32(), crc32fast::hash(&all));
        assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&all)));
        assert!(gathered(&p) == all);
        assert!(p.read_all().unwrap() == all);
        assert!(p.range(100, 10).unwrap() == all[100..110]);
        assert!(p.range(all.len() as u64 - 5, 10).unwrap() == all[all.len() - 5..]);
        assert!(p.range(all.len() as u64 + 5, 10).unwrap().is_empty());
        // The file has no name: the spool directory stays empty.
        assert_eq!(std::fs::read_dir(&spool_dir).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_small_body_stays_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let all = body(SPOOL_AT);
        let (p, sha) = received(dir.path(), &all, 1000).await;
        assert!(p.in_memory().is_some_and(|b| b[..] == all[..]));
        assert_eq!(p.crc32(), crc32fast::hash(&all));
        assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&all)));
        assert!(gathered(&p) == all);
        let (empty, _) = received(dir.path(), &[], 1).await;
        assert!(empty.is_empty() && empty.read_all().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_spool_that_cannot_be_written_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a file");
        std::fs::write(&file, b"x").unwrap();
        let mut spool = Spool::new(&file.join("spool"));
        let mut failed = None;
        for _ in 0..4 {
            if let Err(e) = spool.push(Bytes::from(body(SPOOL_AT))).await {
                failed = Some(e);
                break;
            }
        }
        assert!(failed.is_some(), "a spool under a file was written");
    }
}
