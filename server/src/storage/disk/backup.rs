//! Backups: a consistent copy of the token index (SQLite's online backup
//! API), the signing secret and every workspace's log and snapshot, with a
//! manifest of sizes and SHA-256 checksums; and checking and restoring them.
//! Attached files' chunks are in it too (hard-linked where they can be:
//! a chunk never changes once stored).
//!
//! A backup can be taken while the server runs. Each workspace's log is
//! copied before its snapshot: a log copied before a compaction plus a newer
//! snapshot still covers everything, and a torn tail (a push being written
//! during the copy, not yet acknowledged) is cut off in the copy, just as at
//! start-up. A backup is built in a temporary directory and renamed into place
//! when complete, so a half-made backup never looks like a backup.

use std::fs::{self, File};
use std::io::{self, Read as _};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hearth_shared::id::{ChunkName, WorkspaceId};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::clock::unix_now;
use crate::fsutil::{create_dir_private, fsync_dir, random16, write_atomic};
use crate::index::INDEX_FILE;
use crate::secret::{SECRET_FILE, hex};
use crate::storage::StoreError;
use crate::storage::disk::chunks::{CHUNKS_DIR, UNREFERENCED_DIR};
use crate::storage::disk::{DiskLog, LOG_FILE, SNAPSHOT_FILE, WORKSPACES_DIR};

/// The manifest's file name inside a backup.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The prefix of backup directory names (then a zero-padded Unix time).
pub const BACKUP_PREFIX: &str = "hearth-backup-";
/// The manifest format this build writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// Why a backup, check or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("copying the token index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("copying a workspace: {0}")]
    Store(#[from] StoreError),
    #[error("the manifest is not valid: {0}")]
    Manifest(String),
    #[error("{path} does not match the manifest: {detail}")]
    Mismatch { path: String, detail: String },
    #[error("{0} is not a hearth data directory (it has no token index)")]
    NotADataDir(String),
    #[error("{0} is not empty; restore only into an empty or new directory")]
    NotEmpty(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The manifest of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: u64,
    pub hearth_version: String,
    pub files: Vec<FileSum>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Path relative to the backup (and to the data directory), `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Takes a backup of `data_dir` into a new directory under `out`; returns it.
pub fn backup(data_dir: &Path, out: &Path) -> Result<PathBuf, BackupError> {
    backup_keeping(data_dir, out, None)
}

/// Takes a backup, and when `keep` is given, removes the oldest backups so
/// that with the new one `keep` remain (done just before the new one is put
/// in place, so there are never more than `keep`).
pub fn backup_keeping(
    data_dir: &Path,
    out: &Path,
    keep: Option<usize>,
) -> Result<PathBuf, BackupError> {
    if !data_dir.join(INDEX_FILE).is_file() {
        return Err(BackupError::NotADataDir(data_dir.display().to_string()));
    }
    create_dir_private(out).map_err(io_err(out))?;
    let now = unix_now();
    remove_stale_partials(out, now);
    let tag = hex(&random16().map_err(io_err(out))?[..4]);
    let name = format!("{BACKUP_PREFIX}{now:012}-{tag}");
    let tmp = out.join(format!(".{name}.partial"));
    let dest = out.join(&name);
    create_dir_private(&tmp).map_err(io_err(&tmp))?;

    let mut paths = Vec::new();
    // The token index, through SQLite's online backup (consistent even while
    // the server writes).
    let index_src = data_dir.join(INDEX_FILE);
    {
        let src = Connection::open_with_flags(&index_src, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut dst = Connection::open(tmp.join(INDEX_FILE))?;
        rusqlite::backup::Backup::new(&src, &mut dst)?.run_to_completion(
            256,
            Duration::from_millis(5),
            None,
        )?;
        dst.pragma_update(None, "journal_mode", "DELETE")?;
        drop(dst);
        paths.push(INDEX_FILE.to_owned());
    }
    let secret = data_dir.join(SECRET_FILE);
    if secret.exists() {
        copy_file(&secret, &tmp.join(SECRET_FILE))?;
        paths.push(SECRET_FILE.to_owned());
    }

    let ws_root = data_dir.join(WORKSPACES_DIR);
    let mut names: Vec<String> = match fs::read_dir(&ws_root) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&ws_root)(e)),
    };
    names.retain(|n| WorkspaceId::parse(n).is_ok());
    names.sort();
    for ws in names {
        let src = ws_root.join(&ws);
        let dst = tmp.join(WORKSPACES_DIR).join(&ws);
        create_dir_private(&dst).map_err(io_err(&dst))?;
        // Log first, then snapshot (see the module docs).
        for file in [LOG_FILE, SNAPSHOT_FILE] {
            match copy_file(&src.join(file), &dst.join(file)) {
                Ok(()) => {}
                Err(BackupError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                }
                Err(e) => return Err(e),
            }
        }
        // Recover the copy: cuts a torn tail, checks the snapshot.
        drop(DiskLog::open(&dst)?);
        for file in [LOG_FILE, SNAPSHOT_FILE] {
            if dst.join(file).exists() {
                paths.push(format!("{WORKSPACES_DIR}/{ws}/{file}"));
            }
        }
        backup_chunks(&src, &dst, &format!("{WORKSPACES_DIR}/{ws}"), &mut paths)?;
    }

    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let full = tmp.join(&path);
        let (size, sha256) = checksum(&full)?;
        files.push(FileSum { path, size, sha256 });
    }
    let manifest = Manifest {
        format: FORMAT,
        created_at: now,
        hearth_version: env!("CARGO_PKG_VERSION").to_owned(),
        files,
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Manifest(e.to_string()))?;
    write_atomic(&tmp.join(MANIFEST_FILE), &json).map_err(io_err(&tmp))?;
    fsync_tree(&tmp)?;
    if let Some(keep) = keep {
        prune(out, keep.max(1) - 1)?;
    }
    fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    fsync_dir(out).map_err(io_err(out))?;
    Ok(dest)
}

/// Checks every file of a backup against its manifest; returns the manifest.
pub fn verify(backup: &Path) -> Result<Manifest, BackupError> {
    let manifest_path = backup.join(MANIFEST_FILE);
    let bytes = fs::read(&manifest_path).map_err(io_err(&manifest_path))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| BackupError::Manifest(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Manifest(format!(
            "unknown format {}",
            manifest.format
        )));
    }
    for file in &manifest.files {
        let rel = safe_relative(&file.path)?;
        let full = backup.join(rel);
        let (size, sha256) = checksum(&full)?;
        if size != file.size || sha256 != file.sha256 {
            return Err(BackupError::Mismatch {
                path: file.path.clone(),
                detail: format!(
                    "size {size} and sha256 {sha256}, expected {} and {}",
                    file.size, file.sha256
                ),
            });
        }
    }
    if manifest.files.iter().any(|f| f.path == INDEX_FILE) {
        let conn =
            Connection::open_with_flags(backup.join(INDEX_FILE), OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(BackupError::Mismatch {
                path: INDEX_FILE.to_owned(),
                detail: check,
            });
        }
    }
    Ok(manifest)
}

/// Restores a verified backup into `data_dir`, which must be empty or absent.
///
/// Atomic: the files are copied into a hidden directory beside `data_dir`,
/// checked again against the manifest there (what was copied, not only what
/// was read), made durable, and only then renamed to `data_dir`. A crash
/// at any point leaves either no `data_dir` (or the empty one) or the whole
/// restored one, never a directory that looks whole and is not; a later
/// restore removes the hidden leftovers.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<Manifest, BackupError> {
    let manifest = verify(backup)?;
    let existed = match fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(data_dir.display().to_string()));
            }
            true
        }
        Err(_) => false,
    };
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| BackupError::NotEmpty(data_dir.display().to_string()))?;
    create_dir_private(&parent).map_err(io_err(&parent))?;
    let tmp = parent.join(format!(".{name}.restoring"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    create_dir_private(&tmp).map_err(io_err(&tmp))?;
    for file in &manifest.files {
        let rel = safe_relative(&file.path)?;
        let dst = tmp.join(rel);
        if let Some(dir) = dst.parent() {
            create_dir_private(dir).map_err(io_err(dir))?;
        }
        copy_file(&backup.join(rel), &dst)?;
        let (size, sha256) = checksum(&dst)?;
        if size != file.size || sha256 != file.sha256 {
            return Err(BackupError::Mismatch {
                path: file.path.clone(),
                detail: "the restored copy differs from the backup (failing disk?)".into(),
            });
        }
    }
    fsync_tree(&tmp)?;
    if existed {
        fs::remove_dir(data_dir).map_err(io_err(data_dir))?;
    }
    fs::rename(&tmp, data_dir).map_err(io_err(data_dir))?;
    fsync_dir(&parent).map_err(io_err(&parent))?;
    Ok(manifest)
}

/// Adds a workspace's chunks (live and set aside, not the half-written
/// ones in `tmp/`) to a backup being made in `dst`, their paths (under
/// `prefix`) to `paths`.
///
/// A chunk never changes once stored, so it is hard-linked into the backup
/// where the backup is on the same file system (no second copy of what may
/// be gigabytes; the manifest's checksum is still of its bytes), and copied
/// where it is not. A chunk set aside, revived or swept while the backup is
/// being made is looked for in its other place, or left out if it is gone.
fn backup_chunks(
    src: &Path,
    dst: &Path,
    prefix: &str,
    paths: &mut Vec<String>,
) -> Result<(), BackupError> {
    let root = src.join(CHUNKS_DIR);
    let mut names = Vec::new();
    let mut list = |dir: &Path| -> Result<(), BackupError> {
        match fs::read_dir(dir) {
            Ok(rd) => {
                for entry in rd.flatten() {
                    if let Some(name) = entry
                        .file_name()
                        .to_str()
                        .and_then(|n| ChunkName::parse(n).ok())
                    {
                        names.push(name);
                    }
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(dir)(e)),
        }
    };
    let fans = match fs::read_dir(&root) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&root)(e)),
    };
    for fan in fans {
        list(&root.join(fan))?;
    }
    list(&root.join(UNREFERENCED_DIR))?;
    names.sort();
    names.dedup();
    for name in names {
        let text = name.to_string();
        let live = format!("{CHUNKS_DIR}/{}/{text}", text.get(..2).unwrap_or("00"));
        let aside = format!("{CHUNKS_DIR}/{UNREFERENCED_DIR}/{text}");
        for rel in [&live, &aside] {
            let from = src.join(rel);
            let to = dst.join(rel);
            if let Some(dir) = to.parent() {
                create_dir_private(dir).map_err(io_err(dir))?;
            }
            let done = match fs::hard_link(&from, &to) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
                Err(_) => match copy_file(&from, &to) {
                    Ok(()) => Ok(()),
                    Err(BackupError::Io { source, .. }) => Err(source),
                    Err(other) => return Err(other),
                },
            };
            match done {
                Ok(()) => {
                    paths.push(format!("{prefix}/{rel}"));
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&to)(e)),
            }
        }
    }
    Ok(())
}

/// Removes the oldest backups under `out` beyond the newest `keep`.
/// (Half-made backups are hidden `.…partial` directories and never count.)
pub fn prune(out: &Path, keep: usize) -> Result<usize, BackupError> {
    let mut names: Vec<String> = fs::read_dir(out)
        .map_err(io_err(out))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(BACKUP_PREFIX))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    for name in &names[..excess] {
        let path = out.join(name);
        fs::remove_dir_all(&path).map_err(io_err(&path))?;
    }
    Ok(excess)
}

/// Removes half-made backups (left by a crash) more than a day old; younger
/// ones may belong to a backup still running in another process.
fn remove_stale_partials(out: &Path, now: u64) {
    let Ok(entries) = fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&format!(".{BACKUP_PREFIX}")) else {
            continue;
        };
        if !name.ends_with(".partial") {
            continue;
        }
        let started: Option<u64> = rest.get(..12).and_then(|t| t.parse().ok());
        if started.is_some_and(|t| t.saturating_add(24 * 60 * 60) < now) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A manifest path, refused if it could leave the backup directory.
pub(crate) fn safe_relative(path: &str) -> Result<&Path, BackupError> {
    let p = Path::new(path);
    if path.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(BackupError::Manifest(format!("unsafe path {path:?}")));
    }
    Ok(p)
}

fn copy_file(src: &Path, dst: &Path) -> Result<(), BackupError> {
    let mut from = File::open(src).map_err(io_err(src))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut to = options.open(dst).map_err(io_err(dst))?;
    io::copy(&mut from, &mut to).map_err(io_err(dst))?;
    to.sync_all().map_err(io_err(dst))
}

fn checksum(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

/// Syncs every file and directory under `dir`.
fn fsync_tree(dir: &Path) -> Result<(), BackupError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            fsync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&path))?;
        }
    }
    fsync_dir(dir).map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_cannot_escape() {
        for bad in ["", "../x", "/etc/passwd", "a/../../b", "./a"] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
        assert!(safe_relative("workspaces/abc/log").is_ok());
    }

    #[test]
    fn backup_verify_restore_and_tamper() {
        let data = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        crate::secret::load_or_create(data.path()).unwrap();
        crate::index::SqliteIndex::open(&data.path().join(INDEX_FILE)).unwrap();
        let ws = "0123456789abcdef0123456789abcdef";
        let log = DiskLog::open(&data.path().join(WORKSPACES_DIR).join(ws)).unwrap();
        use crate::storage::NewEntry;
        log.append(
            &[NewEntry {
                key: None,
                hash: [0; 32],
                payload: bytes::Bytes::from_static(b"x").into(),
            }],
            u64::MAX,
        )
        .unwrap();

        // Two chunks, one of them set aside: both are in the backup.
        let chunks =
            crate::storage::disk::chunks::DiskChunks::new(&data.path().join(WORKSPACES_DIR), 60);
        let wsid = WorkspaceId::parse(ws).unwrap();
        let mut chunk_names = Vec::new();
        for body in [&b"first chunk"[..], b"second chunk"] {
            let name = ChunkName::from_digest(Sha256::digest(body).into());
            chunks.put(&wsid, &name, body, |_, _| true).unwrap();
            chunk_names.push(name);
        }
        chunks
            .set_aside(&wsid, &chunk_names[1..], std::time::SystemTime::now())
            .unwrap();

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            backup(empty.path(), out.path()),
            Err(BackupError::NotADataDir(_))
        ));
        let made = backup(data.path(), out.path()).unwrap();
        let manifest = verify(&made).unwrap();
        assert_eq!(manifest.files.len(), 5);
        assert!(manifest.files.iter().any(|f| f.path.ends_with(&format!(
            "{CHUNKS_DIR}/{UNREFERENCED_DIR}/{}",
            chunk_names[1]
        ))));

        let target = tempfile::tempdir().unwrap();
        let into = target.path().join("restored");
        restore(&made, &into).unwrap();
        assert_eq!(
            fs::read(into.join(SECRET_FILE)).unwrap(),
            fs::read(data.path().join(SECRET_FILE)).unwrap()
        );
        let restored =
            crate::storage::disk::chunks::DiskChunks::new(&into.join(WORKSPACES_DIR), 60);
        assert!(restored.missing(&wsid, &chunk_names).unwrap().is_empty());
        assert_eq!(
            restored.get(&wsid, &chunk_names[0]).unwrap().as_deref(),
            Some(&b"first chunk"[..])
        );
        assert!(matches!(
            restore(&made, &into),
            Err(BackupError::NotEmpty(_))
        ));

        let log_copy = made.join(WORKSPACES_DIR).join(ws).join(LOG_FILE);
        let mut bytes = fs::read(&log_copy).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&log_copy, bytes).unwrap();
        assert!(matches!(verify(&made), Err(BackupError::Mismatch { .. })));

        let stale = out
            .path()
            .join(format!(".{BACKUP_PREFIX}000000000001-abcd.partial"));
        let fresh = out
            .path()
            .join(format!(".{BACKUP_PREFIX}{:012}-abcd.partial", unix_now()));
        fs::create_dir(&stale).unwrap();
        fs::create_dir(&fresh).unwrap();
        backup(data.path(), out.path()).unwrap();
        backup(data.path(), out.path()).unwrap();
        assert_eq!(prune(out.path(), 2).unwrap(), 1);
        assert!(!stale.exists() && fresh.exists());
    }
}
