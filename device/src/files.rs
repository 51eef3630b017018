//! Attached files on a native device: attaching a file to a note (cut into
//! content-defined chunks and sealed with the workspace key on a reading
//! thread, sent where the server lacks them, and only then referenced in
//! the note), fetching
//! one back (every chunk checked against its name and key), and, on the
//! owner's device, collecting the files no note holds any more.
//!
//! An attach that is cut off (the server restarts, the network goes) is
//! simply run again: the server says which chunks it already holds, and
//! only the others are sent. A chunk is durable on the server before it is
//! acknowledged, and the note's reference is written only after every chunk
//! is acknowledged, so no device ever sees a reference to a chunk that is
//! not stored.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use hearth_shared::api::MAX_CHUNK_NAMES;
use hearth_shared::collect;
use hearth_shared::files::{
    ChunkRef, ChunkSealer, FileChunks, FileRef, Thumbnail, human_size, mime_of, open_chunk,
};
use hearth_shared::id::{ChunkName, WorkspaceId};
use hearth_shared::keys::EpochKey;
use tokio::task::JoinSet;

use super::api_client::ApiClient;
use super::atomic::{sync_dir, write_atomic};
use super::device::Device;
use super::error::DeviceError;
use super::http_client::HttpClient;
use super::platform::now_ms;
use super::thumbnail;

/// Chunk uploads in flight at once.
const IN_FLIGHT: usize = 4;
/// Sealed chunks the reading thread may get ahead by.
const READ_AHEAD: usize = 8;
/// The server is asked which chunks it lacks for this many at a time (or
/// this many bytes, whichever comes first).
const BATCH_CHUNKS: usize = 8;
const BATCH_BYTES: usize = 16 * 1024 * 1024;
/// The owner's record of when each file was first seen unreferenced.
const LEDGER_FILE: &str = "files-ledger.json";
/// The window in which history can bring a detached file back, by default:
/// a file no note has held for this long may be collected.
pub const DEFAULT_HISTORY_WINDOW_MS: u64 = 30 * 24 * 3600 * 1000;

/// What attaching a file did.
#[derive(Debug, Clone)]
pub struct AttachReport {
    pub file: FileRef,
    /// Chunks sent in this call, and how many of those the server newly
    /// stored (the others it had meanwhile).
    pub sent: usize,
    pub created: usize,
    /// Bytes sent (sealed).
    pub sent_bytes: u64,
    /// Chunks the server already held when asked.
    pub already_stored: usize,
    /// Whether the reference reached the server too (if not, the next sync
    /// sends it).
    pub synced: bool,
}

/// What a collection round did (owner's device).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectReport {
    /// Files some note holds (their chunks are kept, and brought back if
    /// they had been set aside).
    pub referenced: usize,
    /// Files no note holds that are still inside the history window.
    pub waiting: usize,
    /// Files collected in this round, and their chunks told to the server.
    pub collected: usize,
    pub chunks_marked: u64,
    /// Chunks of referenced files the server does not hold (should be 0).
    pub lost_chunks: usize,
    /// Chunks no file names (unfinished uploads), marked in this round.
    pub abandoned: usize,
    /// Seconds until the server deletes what was marked.
    pub grace_secs: u64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DeviceError + '_ {
    move |e| DeviceError::Io(format!("{}: {e}", path.display()))
}

/// A chunk call's context: the server, the token, the workspace.
#[derive(Clone)]
pub(crate) struct Chunks {
    pub(crate) api: ApiClient,
    pub(crate) token: String,
    pub(crate) ws: WorkspaceId,
}

impl Chunks {
    /// Which of `names` the server lacks, asked in batches.
    async fn missing(&self, names: &[ChunkName]) -> Result<BTreeSet<ChunkName>, DeviceError> {
        let mut out = BTreeSet::new();
        for batch in names.chunks(MAX_CHUNK_NAMES) {
            out.extend(
                self.api
                    .missing_chunks(&self.token, &self.ws, batch)
                    .await?,
            );
        }
        Ok(out)
    }
}

impl Device {
    pub(crate) fn chunks(&self) -> Result<Chunks, DeviceError> {
        let server = self
            .profile()
            .server
            .as_ref()
            .ok_or(DeviceError::NoServer)?;
        Ok(Chunks {
            api: ApiClient::new(HttpClient::new(&server.origin)?),
            token: server.token.clone(),
            ws: self.profile().workspace.clone(),
        })
    }

    fn sealer(&self) -> ChunkSealer {
        ChunkSealer::new(self.keys().and_then(|k| k.writing()))
    }

    pub(crate) fn epoch_keys(&self) -> Vec<EpochKey> {
        self.keys().map(|k| k.epochs.clone()).unwrap_or_default()
    }

    /// Attaches the file at `path` to note `note_id`: uploads the chunks
    /// the server lacks, then writes the reference and syncs it. Run again
    /// after a failure, it resumes where the server's chunks end.
    pub async fn attach(
        &mut self,
        note_id: &str,
        path: &Path,
    ) -> Result<AttachReport, DeviceError> {
        if self.workspace().get_note(note_id).is_none() {
            return Err(hearth_migrations::SchemaError::NoSuchNote(note_id.to_owned()).into());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        let meta = std::fs::metadata(path).map_err(io(path))?;
        if !meta.is_file() {
            return Err(DeviceError::File(name, "is not a regular file".into()));
        }
        let chunks = self.chunks()?;
        let max = chunks.api.health().await?.max_file_bytes;
        if meta.len() > max {
            return Err(DeviceError::FileTooLarge {
                name,
                size: human_size(meta.len()),
                max: human_size(max),
            });
        }
        // One pass: a blocking thread reads, cuts and seals; this side asks
        // the server which of each batch it lacks and sends those, four at
        // a time, while the thread goes on with the next chunks.
        let writing = self.keys().and_then(|k| k.writing()).cloned();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(ChunkName, u32, Vec<u8>)>(READ_AHEAD);
        let source_path = path.to_owned();
        let reader = tokio::task::spawn_blocking(move || -> std::io::Result<([u8; 32], u64)> {
            let sealer = ChunkSealer::new(writing.as_ref());
            // StreamCDC reads in large blocks itself: no BufReader.
            let mut cuts = FileChunks::new(File::open(&source_path)?);
            for content in cuts.by_ref() {
                let content = content?;
                let (chunk_name, stored) = sealer.seal(&content);
                if tx
                    .blocking_send((chunk_name, content.len() as u32, stored))
                    .is_err()
                {
                    break;
                }
            }
            Ok(cuts.digest())
        });

        let mut refs = Vec::new();
        let mut seen = BTreeSet::new();
        let mut in_flight = JoinSet::new();
        let (mut sent, mut created, mut sent_bytes, mut already_stored) =
            (0usize, 0usize, 0u64, 0usize);
        let outcome: Result<(), DeviceError> = async {
            let mut batch: Vec<(ChunkName, Vec<u8>)> = Vec::new();
            let mut batch_bytes = 0usize;
            let mut size = 0u64;
            loop {
                let next = rx.recv().await;
                let done = next.is_none();
                if let Some((chunk_name, len, stored)) = next {
                    size += u64::from(len);
                    if size > max {
                        return Err(DeviceError::FileTooLarge {
                            name: name.clone(),
                            size: format!("over {}", human_size(size)),
                            max: human_size(max),
                        });
                    }
                    refs.push(ChunkRef {
                        name: chunk_name,
                        len,
                    });
                    batch_bytes += stored.len();
                    batch.push((chunk_name, stored));
                }
                let full = batch.len() >= BATCH_CHUNKS || batch_bytes >= BATCH_BYTES;
                if !batch.is_empty() && (full || done) {
                    let names: Vec<ChunkName> = batch.iter().map(|(n, _)| *n).collect();
                    let missing = chunks.missing(&names).await?;
                    for (chunk_name, stored) in batch.drain(..) {
                        if !seen.insert(chunk_name) || !missing.contains(&chunk_name) {
                            already_stored += 1;
                            continue;
                        }
                        while in_flight.len() >= IN_FLIGHT {
                            created += joined(in_flight.join_next().await)?;
                        }
                        let c = chunks.clone();
                        sent += 1;
                        sent_bytes += stored.len() as u64;
                        in_flight.spawn(async move {
                            c.api
                                .put_chunk(&c.token, &c.ws, &chunk_name, &stored)
                                .await
                                .map(|r| r.created)
                        });
                    }
                    batch_bytes = 0;
                }
                if done {
                    return Ok(());
                }
            }
        }
        .await;
        // Whatever happened, stop the reader and wait for the uploads
        // already sent.
        drop(rx);
        let mut failure = outcome.err();
        while let Some(done) = in_flight.join_next().await {
            match joined(Some(done)) {
                Ok(n) => created += n,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let read = reader
            .await
            .map_err(|e| DeviceError::Io(format!("reading {}: {e}", path.display())));
        if let Some(e) = failure {
            return Err(e);
        }
        let (digest, size) = read?.map_err(io(path))?;
        let names: Vec<ChunkName> = refs.iter().map(|c| c.name).collect();
        let sealer = self.sealer();
        // Every chunk is acknowledged, hence durable; check once more that
        // none went missing meanwhile (a collection on the owner's device).
        let still = chunks.missing(&names).await?;
        if !still.is_empty() {
            return Err(DeviceError::File(
                name,
                format!(
                    "{} of its chunks are not on the server; attach it again",
                    still.len()
                ),
            ));
        }

        // A photo gets the app's thumbnail, so that no device fetches it
        // whole to show it in its note.
        let mime = mime_of(&name).to_owned();
        let thumbnail = if mime.starts_with("image/") && size <= thumbnail::MAX_SOURCE_BYTES {
            let source = path.to_owned();
            let made = tokio::task::spawn_blocking(move || {
                std::fs::read(&source).ok().and_then(|b| thumbnail::of(&b))
            })
            .await
            .ok()
            .flatten();
            match made {
                Some((jpeg, width, height)) => Some(Thumbnail {
                    mime: "image/jpeg".into(),
                    width,
                    height,
                    chunks: store_small(&chunks, &self.sealer(), &jpeg).await?,
                }),
                None => None,
            }
        } else {
            None
        };
        let file = FileRef {
            id: sealer.file_id(&digest),
            mime,
            name,
            size,
            chunks: refs,
            thumbnail,
            added_at: i64::try_from(now_ms()).unwrap_or(i64::MAX),
        };
        let json = file.to_json();
        let id = file.id.clone();
        self.edit(|ws, now| ws.attach_file(note_id, &id, &json, now))
            .await?;
        // The reference is saved here; if it cannot be sent now, the next
        // round sends it (the chunks are already on the server).
        let synced = self.sync_once().await.is_ok();
        Ok(AttachReport {
            file,
            sent,
            created,
            sent_bytes,
            already_stored,
            synced,
        })
    }

    /// The reference of an attached file.
    pub fn file(&self, file_id: &str) -> Result<FileRef, DeviceError> {
        let json = self
            .workspace()
            .file(file_id)
            .ok_or_else(|| DeviceError::NoSuchFile(file_id.to_owned()))?;
        FileRef::from_json(&json).ok_or_else(|| {
            DeviceError::File(
                file_id.to_owned(),
                "its reference is of a newer or unknown format".into(),
            )
        })
    }

    /// Every attached file: `(note id, reference)`, by note.
    pub fn attached_files(&self) -> Vec<(String, FileRef)> {
        let mut out = Vec::new();
        for note in self.list_notes() {
            for (_, json) in self.workspace().note_files(&note.id) {
                if let Some(file) = FileRef::from_json(&json) {
                    out.push((note.id.clone(), file));
                }
            }
        }
        out
    }

    /// Downloads file `file_id` into `out` (written whole, or not at all):
    /// every chunk is checked against its name, its key and its length.
    /// Returns the bytes written.
    pub async fn fetch(&self, file_id: &str, out: &Path) -> Result<u64, DeviceError> {
        let file = self.file(file_id)?;
        let chunks = self.chunks()?;
        let keys = self.epoch_keys();
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let part = dir.join(format!(
            ".{}.part",
            out.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "fetch".into())
        ));
        let result = async {
            let mut target = File::create(&part).map_err(io(&part))?;
            let mut written = 0u64;
            // Two chunks in flight: the next downloads while this one is
            // checked and written.
            let mut next = None;
            for (i, chunk) in file.chunks.iter().enumerate() {
                let this = match next.take() {
                    Some(handle) => handle,
                    None => spawn_get(&chunks, chunk.name),
                };
                if let Some(after) = file.chunks.get(i + 1) {
                    next = Some(spawn_get(&chunks, after.name));
                }
                let stored = this
                    .await
                    .map_err(|e| DeviceError::Io(format!("download task: {e}")))??;
                let content = open_chunk(&keys, chunk, &stored)
                    .map_err(|e| DeviceError::File(file.name.clone(), e.to_string()))?;
                target.write_all(&content).map_err(io(&part))?;
                written += content.len() as u64;
            }
            if written != file.size {
                return Err(DeviceError::File(
                    file.name.clone(),
                    format!("{written} bytes arrived, the file has {}", file.size),
                ));
            }
            target.sync_all().map_err(io(&part))?;
            drop(target);
            std::fs::rename(&part, out).map_err(io(out))?;
            sync_dir(&dir).map_err(io(&dir))?;
            Ok(written)
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        result
    }

    /// Collects the files no note holds (the bin counts as holding) once
    /// they have been unheld for `window_ms`, and the chunks no file names
    /// (uploads that never finished) once seen so for the server's grace
    /// period (owner's device only), by `hearth_shared::collect`'s plan:
    /// the chunks of every held file are asked for, which brings back any
    /// the server had set aside; the others are told to the server, which
    /// deletes them after its grace period; the collected files'
    /// references are dropped. Run it more often than the server's grace
    /// period (a day is plenty).
    pub async fn collect_files(
        &mut self,
        window_ms: u64,
        now: u64,
    ) -> Result<CollectReport, DeviceError> {
        let server = self
            .profile()
            .server
            .as_ref()
            .ok_or(DeviceError::NoServer)?;
        if server.role != hearth_shared::claims::Role::Master {
            return Err(DeviceError::NotMaster);
        }
        self.sync_once().await?;
        let chunks = self.chunks()?;
        let ledger_path = self.dir().join(LEDGER_FILE);
        let ledger: collect::Ledger = match std::fs::read(&ledger_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => collect::Ledger::default(),
            Err(e) => return Err(io(&ledger_path)(e)),
        };
        let stored = chunks.api.stored_chunks(&chunks.token, &chunks.ws).await?;
        let (attached, held) = (self.workspace().files(), self.workspace().held_files());
        let plan = collect::plan(
            collect::Files {
                attached: &attached,
                held: &held,
            },
            &ledger,
            now,
            window_ms,
            Some((&stored.names, stored.grace_secs)),
        );
        let mut report = CollectReport {
            referenced: plan.referenced,
            waiting: plan.waiting,
            abandoned: plan.abandoned,
            grace_secs: stored.grace_secs,
            ..CollectReport::default()
        };
        report.lost_chunks = chunks.missing(&plan.keep).await?.len();
        let save_ledger = |ledger: &collect::Ledger| {
            let json = serde_json::to_vec(ledger).unwrap_or_default();
            write_atomic(&ledger_path, &json, true).map_err(io(&ledger_path))
        };
        for batch in plan.mark_batches() {
            let answer = chunks
                .api
                .unreferenced_chunks(&chunks.token, &chunks.ws, batch)
                .await?;
            report.chunks_marked += answer.marked;
            report.grace_secs = answer.grace_secs;
        }
        if !plan.due.is_empty() {
            self.edit(|ws, _| {
                for id in &plan.due {
                    ws.forget_file(id)?;
                }
                Ok(())
            })
            .await?;
        }
        save_ledger(&plan.ledger)?;
        report.collected = plan.due.len();
        if !plan.due.is_empty() {
            self.sync_once().await?;
        }
        Ok(report)
    }
}

/// How many chunks a finished upload newly stored (0 or 1).
fn joined(
    done: Option<
        Result<Result<bool, hearth_shared::engine::TransportError>, tokio::task::JoinError>,
    >,
) -> Result<usize, DeviceError> {
    match done {
        None | Some(Ok(Ok(false))) => Ok(0),
        Some(Ok(Ok(true))) => Ok(1),
        Some(Ok(Err(e))) => Err(e.into()),
        Some(Err(e)) => Err(DeviceError::Io(format!("upload task: {e}"))),
    }
}

fn spawn_get(
    chunks: &Chunks,
    name: ChunkName,
) -> tokio::task::JoinHandle<Result<Vec<u8>, DeviceError>> {
    let c = chunks.clone();
    tokio::spawn(async move { Ok(c.api.get_chunk(&c.token, &c.ws, &name).await?) })
}

/// Cuts, seals with `sealer` and stores a file held in memory (a
/// thumbnail, a file of a public link): only the chunks the server lacks
/// are sent. Its chunks.
pub(crate) async fn store_small(
    chunks: &Chunks,
    sealer: &ChunkSealer,
    bytes: &[u8],
) -> Result<Vec<ChunkRef>, DeviceError> {
    let mut sealed = Vec::new();
    for content in FileChunks::new(std::io::Cursor::new(bytes)) {
        let content = content.map_err(|e| DeviceError::Io(format!("a file in memory: {e}")))?;
        let (name, stored) = sealer.seal(&content);
        sealed.push((
            ChunkRef {
                name,
                len: content.len() as u32,
            },
            stored,
        ));
    }
    let names: Vec<ChunkName> = sealed.iter().map(|(r, _)| r.name).collect();
    let missing = chunks.missing(&names).await?;
    for (chunk, stored) in &sealed {
        if missing.contains(&chunk.name) {
            chunks
                .api
                .put_chunk(&chunks.token, &chunks.ws, &chunk.name, stored)
                .await?;
        }
    }
    Ok(sealed.into_iter().map(|(r, _)| r).collect())
}
