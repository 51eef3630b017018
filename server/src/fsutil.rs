//! File-system helpers for crash safety: syncing directories, writing a file
//! atomically (temp file, fsync, rename, fsync directory), owner-only
//! directories, and random bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Makes a directory's entries (new, renamed or removed files) durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents, owner-only (0700) on Unix, and
/// makes the new entries durable.
pub fn create_dir_private(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)?;
    if let Some(parent) = dir.parent() {
        let _ = fsync_dir(parent);
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a reader (or a crash) sees the old
/// file or the new one, never a mix. The file is owner-only on Unix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fsync_dir(dir)
}

/// Fills `buf` from the operating system's random source.
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    getrandom::fill(buf).map_err(|e| io::Error::other(e.to_string()))
}

/// 16 random bytes, for ids.
pub fn random16() -> io::Result<[u8; 16]> {
    let mut b = [0u8; 16];
    random_bytes(&mut b)?;
    Ok(b)
}
