//! The snapshot file of a workspace: the magic [`SNAPSHOT_MAGIC`], then
//! `upto` u64 LE, `len` u64 LE, the CRC-32 of the payload u32 LE, and the
//! payload. It is replaced by writing a temporary file, syncing it, renaming
//! it over the old one and syncing the directory, so a reader or a crash
//! sees the old snapshot or the new one, whole.

use std::fs::{self, File};
use std::io::{self, BufReader, Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use crate::fsutil::fsync_dir;
use crate::storage::StoreError;
use crate::storage::payload::Payload;

/// A workspace's snapshot file, beside its log.
pub const SNAPSHOT_FILE: &str = "snapshot";

/// The first bytes of a snapshot file.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"HEARTHS1";
/// Bytes before the payload.
pub const SNAPSHOT_HEADER_LEN: u64 = 8 + 8 + 8 + 4;
/// The temporary name a new snapshot is written under.
pub const SNAPSHOT_TMP: &str = "snapshot.tmp";

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::io(path.display(), source)
}

/// The snapshot file and where its payload lies.
#[derive(Debug, Clone)]
pub struct Snap {
    pub file: Arc<File>,
    pub upto: u64,
    pub len: u64,
    pub file_len: u64,
}

/// Opens and checks the snapshot file, if there is one.
pub fn open_snapshot(path: &Path) -> Result<Option<Snap>, StoreError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let corrupt = |detail: &str| StoreError::Corrupt {
        at: path.display().to_string(),
        detail: detail.to_owned(),
    };
    let file_len = file.metadata().map_err(io_err(path))?.len();
    let mut header = [0u8; SNAPSHOT_HEADER_LEN as usize];
    file.read_exact(&mut header)
        .map_err(|_| corrupt("short header"))?;
    if &header[..8] != SNAPSHOT_MAGIC {
        return Err(corrupt("not a hearth snapshot"));
    }
    let upto = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
    let len = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
    let crc = u32::from_le_bytes(header[24..28].try_into().unwrap_or_default());
    if file_len != SNAPSHOT_HEADER_LEN + len {
        return Err(corrupt("length does not match"));
    }
    let mut hasher = crc32fast::Hasher::new();
    let mut reader = BufReader::with_capacity(1 << 16, &mut file);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut chunk).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    if hasher.finalize() != crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Some(Snap {
        file: Arc::new(file),
        upto,
        len,
        file_len,
    }))
}

/// Why writing a snapshot failed, and whether the swap had happened.
#[derive(Debug)]
pub enum WriteFailed {
    /// Nothing changed: the old snapshot (if any) is still the one.
    Before(StoreError),
    /// The new file was renamed into place, but making that durable failed:
    /// which one a crash would leave is unknown, so the log must take no
    /// more writes until it is reopened.
    After(StoreError),
}

/// Writes a new snapshot into `dir` and swaps it in atomically. The new
/// file is opened for reading before the rename, so that nothing can fail
/// between the swap and having a handle on what was swapped in.
pub fn write_snapshot(dir: &Path, upto: u64, data: &Payload) -> Result<Snap, WriteFailed> {
    let tmp = dir.join(SNAPSHOT_TMP);
    let path = dir.join(SNAPSHOT_FILE);
    let before = |e: StoreError| WriteFailed::Before(e);
    let mut f = crate::fsutil::private_file()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))
        .map_err(before)?;
    let mut header = Vec::with_capacity(SNAPSHOT_HEADER_LEN as usize);
    header.extend_from_slice(SNAPSHOT_MAGIC);
    header.extend_from_slice(&upto.to_le_bytes());
    header.extend_from_slice(&data.len().to_le_bytes());
    header.extend_from_slice(&data.crc32().to_le_bytes());
    let written = f
        .write_all(&header)
        .and_then(|()| data.pieces(&mut |piece| f.write_all(piece)))
        .and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = fs::remove_file(&tmp);
        return Err(before(io_err(&tmp)(e)));
    }
    if let Err(e) = fs::rename(&tmp, &path) {
        drop(f);
        let _ = fs::remove_file(&tmp);
        return Err(before(io_err(&path)(e)));
    }
    fsync_dir(dir)
        .map_err(io_err(dir))
        .map_err(WriteFailed::After)?;
    Ok(Snap {
        file: Arc::new(f),
        upto,
        len: data.len(),
        file_len: SNAPSHOT_HEADER_LEN + data.len(),
    })
}
