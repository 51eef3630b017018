//! Off-site backups: a backup directory copied to an S3-compatible store
//! (`--backup-to s3://bucket/prefix?endpoint=…&region=…`), checked there,
//! pruned there, and brought back from there by `hearth restore`.
//!
//! A backup goes to `<prefix>/<backup name>/<path in the backup>`, its
//! manifest last: a backup without a manifest in the store is one whose
//! upload did not finish, and counts for nothing. Once written, every file
//! is read back from the store and checked against the manifest, so a copy
//! that the store mangled is known at once, not on the day it is needed.
//! Each backup is a full copy, as on disk; each file is held in memory
//! while it travels (a few at a time).
//!
//! A restore downloads into a hidden directory beside the target, then
//! restores from it as from a local backup (which verifies it first).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};

use crate::fsutil::{create_dir_private, random16};
use crate::secret::hex;
use crate::storage::cluster::objects::{Address, Credentials, ObjectError, Objects};
use crate::storage::disk::backup::{
    self, BACKUP_PREFIX, BackupError, FORMAT, MANIFEST_FILE, Manifest, safe_relative,
};

/// Files in flight at once, up or down.
const PARALLEL: usize = 4;

/// Why an off-site backup, check or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum OffsiteError {
    /// The address or the key is unusable.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The address names no backup.
    #[error(
        "{at} is not a backup: it has no {MANIFEST_FILE} (not a backup, or one whose upload did not finish){known}"
    )]
    NoBackup { at: String, known: String },
    /// A file in the store is not what the manifest says.
    #[error("{path} in the store does not match the manifest: {detail}")]
    Mismatch { path: String, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OffsiteError + '_ {
    move |source| OffsiteError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where a backup is, as `hearth verify-backup` and `hearth restore` take
/// it: a local directory, or `s3://bucket/prefix/NAME?endpoint=…&region=…`.
#[derive(Debug, Clone)]
pub enum BackupPlace {
    Local(PathBuf),
    Store(Address),
}

impl std::str::FromStr for BackupPlace {
    type Err = String;
    fn from_str(text: &str) -> Result<BackupPlace, String> {
        if text.starts_with("s3://") {
            Address::parse(text).map(BackupPlace::Store)
        } else {
            Ok(BackupPlace::Local(PathBuf::from(text)))
        }
    }
}

impl std::fmt::Display for BackupPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupPlace::Local(path) => path.display().fmt(f),
            BackupPlace::Store(address) => f.write_str(&describe(address)),
        }
    }
}

/// An address as people write it, without its settings (for messages).
pub fn describe(address: &Address) -> String {
    if address.prefix.is_empty() {
        format!("s3://{}", address.bucket)
    } else {
        format!("s3://{}/{}", address.bucket, address.prefix)
    }
}

/// The address of backup `name` under `address`, settings and all: what
/// `hearth restore` takes.
pub fn address_of(address: &Address, name: &str) -> String {
    let mut text = format!("{}/{name}?region={}", describe(address), address.region);
    if !address.endpoints.is_empty() {
        text.push_str(&format!("&endpoint={}", address.endpoints.join(",")));
    }
    text
}

/// A client of the store at `address`, with the key from `key_file` (two
/// lines: key id, secret) or else from the environment.
pub fn connect(address: &Address, key_file: Option<&Path>) -> Result<Objects, OffsiteError> {
    let key = match key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                OffsiteError::Config(format!(
                    "cannot read the object store key file {}: {e}",
                    path.display()
                ))
            })?;
            Credentials::from_file(&text)
        }
        None => Credentials::from_env(),
    }
    .map_err(OffsiteError::Config)?;
    Objects::new(address, &key).map_err(OffsiteError::Config)
}

/// The store that scheduled backups are copied to (`--backup-to`).
#[derive(Clone)]
pub struct Offsite {
    objects: Objects,
    address: Address,
    at: String,
}

impl Offsite {
    /// Parses `--backup-to` and finds the key; connects lazily, so a store
    /// that is down does not stop the server.
    pub fn new(text: &str, key_file: Option<&Path>) -> Result<Offsite, String> {
        let address = Address::parse(text).map_err(|e| format!("--backup-to: {e}"))?;
        let objects = connect(&address, key_file).map_err(|e| format!("--backup-to: {e}"))?;
        Ok(Offsite {
            objects,
            at: describe(&address),
            address,
        })
    }

    /// Where the backups go, for the log.
    pub fn at(&self) -> &str {
        &self.at
    }

    /// Copies the backup in directory `backup` to the store and checks the
    /// copy, then removes the store's oldest beyond the newest `keep`;
    /// returns the copy's address (as `hearth restore` takes it). A failed
    /// pruning is only logged: the backup itself is safe.
    pub async fn send(&self, backup: &Path, keep: usize) -> Result<String, OffsiteError> {
        let name = upload(&self.objects, backup).await?;
        match prune(&self.objects, keep).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, at = %self.at, "old off-site backups removed"),
            Err(err) => {
                tracing::warn!(error = %err, at = %self.at, "cannot remove old off-site backups")
            }
        }
        Ok(address_of(&self.address, &name))
    }
}

/// Copies a backup directory into `objects` under its own name (manifest
/// last), then reads every file back and checks it; returns the name.
pub async fn upload(objects: &Objects, backup: &Path) -> Result<String, OffsiteError> {
    let name = backup
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.starts_with(BACKUP_PREFIX))
        .ok_or_else(|| {
            OffsiteError::Config(format!("{} is not a backup directory", backup.display()))
        })?
        .to_owned();
    let dest = objects.within(&name);
    let manifest_path = backup.join(MANIFEST_FILE);
    let manifest_bytes = tokio::fs::read(&manifest_path)
        .await
        .map_err(io_err(&manifest_path))?;
    let manifest = parse_manifest(&manifest_bytes)?;
    let dest_ref = &dest;
    all(manifest.files.iter().map(|file| async move {
        let local = backup.join(safe_relative(&file.path)?);
        let bytes = tokio::fs::read(&local).await.map_err(io_err(&local))?;
        dest_ref.put(&file.path, Bytes::from(bytes)).await?;
        Ok(())
    }))
    .await?;
    dest.put(MANIFEST_FILE, Bytes::from(manifest_bytes.clone()))
        .await?;
    let checked = async {
        let stored = dest.get(MANIFEST_FILE).await?;
        if stored.as_ref() != manifest_bytes.as_slice() {
            return Err(OffsiteError::Mismatch {
                path: MANIFEST_FILE.to_owned(),
                detail: "the copy read back differs from what was written".into(),
            });
        }
        check_files(&dest, &manifest).await
    }
    .await;
    if let Err(err) = checked {
        // A copy that failed its check is no backup: without its manifest,
        // nothing restores it, and pruning removes it.
        if let Err(e) = dest.delete(MANIFEST_FILE).await {
            tracing::warn!(error = %e, backup = name, "cannot withdraw a bad copy's manifest");
        }
        return Err(err);
    }
    Ok(name)
}

/// Checks a backup in the store (`objects` is the backup itself): every
/// file read back and compared with the manifest; returns the manifest.
pub async fn verify(objects: &Objects, at: &str) -> Result<Manifest, OffsiteError> {
    let (manifest, _) = fetch_manifest(objects, at).await?;
    check_files(objects, &manifest).await?;
    Ok(manifest)
}

/// Restores a backup in the store (`objects` is the backup itself) into
/// `data_dir`, which must be empty or absent: downloaded into a hidden
/// directory beside it (removed afterwards), then restored from there.
pub async fn restore(
    objects: &Objects,
    at: &str,
    data_dir: &Path,
) -> Result<Manifest, OffsiteError> {
    // Refuse a full directory before downloading anything.
    if let Ok(mut entries) = tokio::fs::read_dir(data_dir).await
        && let Ok(Some(_)) = entries.next_entry().await
    {
        return Err(BackupError::NotEmpty(data_dir.display().to_string()).into());
    }
    let (manifest, manifest_bytes) = fetch_manifest(objects, at).await?;
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tag = hex(&random16().map_err(io_err(&parent))?[..4]);
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.download-{tag}"));
    let done = async {
        let private = tmp.clone();
        tokio::task::spawn_blocking(move || create_dir_private(&private))
            .await
            .map_err(|e| OffsiteError::Config(format!("a download task failed: {e}")))?
            .map_err(io_err(&tmp))?;
        download(objects, &manifest, &manifest_bytes, &tmp).await?;
        let (from, into) = (tmp.clone(), data_dir.to_path_buf());
        tokio::task::spawn_blocking(move || backup::restore(&from, &into))
            .await
            .map_err(|e| OffsiteError::Config(format!("the restore task failed: {e}")))?
            .map_err(OffsiteError::from)
    }
    .await;
    if let Err(err) = tokio::fs::remove_dir_all(&tmp).await
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %tmp.display(), error = %err, "cannot remove the downloaded copy");
    }
    done
}

/// Removes the oldest complete backups in `objects` beyond the newest
/// `keep` (at least one), and the incomplete ones older than the newest
/// complete one (uploads that failed; a newer one may be under way).
/// Returns how many backups were removed.
pub async fn prune(objects: &Objects, keep: usize) -> Result<usize, OffsiteError> {
    let mut backups: std::collections::BTreeMap<String, (bool, Vec<String>)> = Default::default();
    for object in objects.list("").await? {
        let Some((name, rest)) = object.split_once('/') else {
            continue;
        };
        if !name.starts_with(BACKUP_PREFIX) {
            continue;
        }
        let is_manifest = rest == MANIFEST_FILE;
        let entry = backups.entry(name.to_owned()).or_default();
        entry.0 |= is_manifest;
        entry.1.push(object);
    }
    let complete: Vec<&String> = backups.iter().filter(|b| b.1.0).map(|b| b.0).collect();
    let Some(newest) = complete.last().map(|n| (*n).clone()) else {
        return Ok(0);
    };
    let kept: Vec<String> = complete
        .iter()
        .rev()
        .take(keep.max(1))
        .map(|n| (*n).clone())
        .collect();
    let mut removed = 0;
    for (name, (_, mut names)) in backups {
        if kept.contains(&name) || name > newest {
            continue;
        }
        // The manifest first: a half-removed backup is an incomplete one.
        let manifest = format!("{name}/{MANIFEST_FILE}");
        names.sort_by_key(|n| *n != manifest);
        for object in names {
            objects.delete(&object).await?;
        }
        removed += 1;
    }
    Ok(removed)
}

/// The complete backups in `objects`, oldest first.
pub async fn list(objects: &Objects) -> Result<Vec<String>, OffsiteError> {
    let mut names: Vec<String> = objects
        .list("")
        .await?
        .into_iter()
        .filter_map(|o| {
            let (name, rest) = o.split_once('/')?;
            (name.starts_with(BACKUP_PREFIX) && rest == MANIFEST_FILE).then(|| name.to_owned())
        })
        .collect();
    names.sort();
    Ok(names)
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest, OffsiteError> {
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|e| BackupError::Manifest(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Manifest(format!("unknown format {}", manifest.format)).into());
    }
    for file in &manifest.files {
        safe_relative(&file.path)?;
    }
    Ok(manifest)
}

/// The manifest of the backup `objects` is, and its bytes; a clear error,
/// naming the backups under it, when it is none.
async fn fetch_manifest(objects: &Objects, at: &str) -> Result<(Manifest, Bytes), OffsiteError> {
    match objects.get(MANIFEST_FILE).await {
        Ok(bytes) => Ok((parse_manifest(&bytes)?, bytes)),
        Err(ObjectError::NotFound(_)) => {
            let known = match list(objects).await {
                Ok(names) if !names.is_empty() => {
                    format!("; the backups under it, newest last: {}", names.join(", "))
                }
                _ => String::new(),
            };
            Err(OffsiteError::NoBackup {
                at: at.to_owned(),
                known,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Object `file` of a backup, checked against the manifest.
async fn fetch_checked(objects: &Objects, file: &backup::FileSum) -> Result<Bytes, OffsiteError> {
    let bytes = match objects.get(&file.path).await {
        Ok(bytes) => bytes,
        Err(ObjectError::NotFound(_)) => {
            return Err(OffsiteError::Mismatch {
                path: file.path.clone(),
                detail: "it is missing".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let sha256 = hex(&Sha256::digest(&bytes));
    let size = bytes.len() as u64;
    if size != file.size || sha256 != file.sha256 {
        return Err(OffsiteError::Mismatch {
            path: file.path.clone(),
            detail: format!(
                "size {size} and sha256 {sha256}, expected {} and {}",
                file.size, file.sha256
            ),
        });
    }
    Ok(bytes)
}

async fn check_files(objects: &Objects, manifest: &Manifest) -> Result<(), OffsiteError> {
    all(manifest
        .files
        .iter()
        .map(|file| async move { fetch_checked(objects, file).await.map(drop) }))
    .await
}

/// Runs `jobs`, a few at a time. Once one fails it starts no more, waits
/// for those under way, and returns the first error: when it returns,
/// nothing it started is still writing (a failed download's directory is
/// then removed whole, and no late write makes it again).
async fn all<F>(jobs: impl Iterator<Item = F>) -> Result<(), OffsiteError>
where
    F: std::future::Future<Output = Result<(), OffsiteError>>,
{
    use std::sync::atomic::{AtomicBool, Ordering};
    // Collected first: a stream built on a closure over borrowed data is
    // not `Send` for the compiler, though it is.
    let jobs: Vec<F> = jobs.collect();
    let failed = AtomicBool::new(false);
    let failed = &failed;
    let mut running = futures::stream::iter(jobs.into_iter().map(|job| async move {
        match failed.load(Ordering::Relaxed) {
            true => Ok(()),
            false => job.await,
        }
    }))
    .buffer_unordered(PARALLEL);
    let mut first = None;
    while let Some(result) = running.next().await {
        if let Err(e) = result {
            failed.store(true, Ordering::Relaxed);
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Downloads every file of a backup, checked, and its manifest into `dir`.
async fn download(
    objects: &Objects,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    dir: &Path,
) -> Result<(), OffsiteError> {
    all(manifest.files.iter().map(|file| async move {
        let bytes = fetch_checked(objects, file).await?;
        let dst = dir.join(safe_relative(&file.path)?);
        tokio::task::spawn_blocking(move || write_private(&dst, &bytes))
            .await
            .map_err(|e| OffsiteError::Config(format!("a download task failed: {e}")))?
    }))
    .await?;
    write_private(&dir.join(MANIFEST_FILE), manifest_bytes)
}

/// Writes a new owner-only file, making its directory if need be.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), OffsiteError> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        create_dir_private(dir).map_err(io_err(dir))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))
}

#[cfg(test)]
#[path = "offsite_tests.rs"]
mod tests;
