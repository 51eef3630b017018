//! File-system helpers for crash safety: syncing directories, writing a file
//! atomically (temp file, fsync, rename, fsync directory), owner-only
//! directories, the data directory's lock, and random bytes.

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
/// makes the new directory entries durable (each new directory's parent is
/// synced).
pub fn create_dir_private(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // The nearest ancestor that exists; everything below it is new.
    let mut existing = dir.parent();
    while let Some(p) = existing {
        if p.as_os_str().is_empty() || p.is_dir() {
            break;
        }
        existing = p.parent();
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)?;
    let mut to_sync: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|p| Some(*p) != existing)
        .collect();
    if let Some(p) = existing {
        to_sync.push(p);
    }
    for p in to_sync {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        fsync_dir(p)?;
    }
    Ok(())
}

/// Options that create files owner-only (0600 on Unix), whatever the umask
/// (the mode is also set on files that already exist, see
/// [`make_private`]).
pub fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    options.mode(0o600);
    options
}

/// Sets `path` to owner-only (0600 for files, 0700 for directories) on
/// Unix: the data directory's files keep that whatever the process umask.
pub fn make_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = fs::symlink_metadata(path)?;
        let mode = if meta.is_dir() { 0o700 } else { 0o600 };
        if meta.permissions().mode() & 0o777 != mode {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a reader (or a crash) sees the old
/// file or the new one, never a mix. The file is owner-only on Unix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
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

/// An exclusive advisory lock on a directory, held while this value lives
/// (and released by the kernel if the process dies).
#[derive(Debug)]
pub struct DirLock {
    /// The locked file; closing it releases the lock.
    _file: File,
}

/// The lock file's name inside a locked directory.
pub const LOCK_FILE: &str = "hearth.lock";

/// Takes the lock on `dir`; `None` if another holder has it.
pub fn lock_dir(dir: &Path) -> io::Result<Option<DirLock>> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(DirLock { _file: file })),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(None),
        Err(e) => Err(io::Error::from(e)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_private_dirs_and_atomic_writes() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        create_dir_private(&deep).unwrap();
        assert!(deep.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(root.path().join("a"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let file = deep.join("f");
        write_atomic(&file, b"one").unwrap();
        write_atomic(&file, b"two").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(&deep).unwrap().count(),
            1,
            "no temp files left"
        );
    }
}
