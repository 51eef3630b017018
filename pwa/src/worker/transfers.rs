//! The sync worker's transfers of attached files, beside the sync engine:
//!
//! - the sender works through the queue in IndexedDB (`uploads`), oldest
//!   first, one file at a time, so that a file attached offline, or whose
//!   sending a reload, a crash or a server restart stopped, is sent when
//!   the server can be reached (resuming at the first chunk it lacks);
//! - the fetcher brings files into the local cache on demand, keeps the
//!   files of the notes kept offline there, and evicts the least recently
//!   used others beyond the cap ([`cache_cap`](crate::files::cache_cap)).
//!
//! Both read the device record afresh before each transfer, so a new
//! token or key is used at once. Neither writes the document: a sent
//! file's reference goes to the page, which writes it, and the queue item
//! goes once that edit is durable (see `session::drive`).

use std::collections::BTreeSet;
use std::rc::Rc;

use futures::StreamExt as _;
use futures::channel::mpsc::UnboundedReceiver;
use hearth_shared::files::ChunkRef;
use hearth_shared::id::WorkspaceId;
use hearth_storage::files::{Upload, update_upload, uploads};
use rexie::Rexie;

use crate::files::{SendError, cache_cap, fetch_into_cache, send};
use crate::platform::sleep_ms;
use crate::protocol::{FetchView, FromWorker, KeptView, UploadState, UploadView};

/// Tells the page.
pub type Report = Rc<dyn Fn(FromWorker)>;

/// What the fetcher is asked.
#[derive(Debug)]
pub enum FetchKick {
    /// Bring these chunks into the cache (`key` names the answer).
    Fetch {
        key: String,
        name: String,
        chunks: Vec<ChunkRef>,
    },
    /// Keep these chunks cached for good (the page's request `1`).
    Keep(Vec<ChunkRef>, u64),
    /// The server may be reachable again: retry what waits.
    Retry,
}

/// How long the sender waits before trying the server again, at most.
const RETRY_MAX_MS: i32 = 60_000;

/// Sends what is queued, then waits for a kick (a file queued, a new
/// connection, back online) or, while the server cannot be reached, a
/// retry; runs for the life of the worker.
pub async fn run_sender(
    db: Rc<Rexie>,
    workspace: WorkspaceId,
    mut kicks: UnboundedReceiver<()>,
    report: Report,
) {
    let mut retry_ms = 2_000;
    loop {
        let waiting = send_queued(&db, &workspace, &report).await;
        let kicked = if waiting {
            let timer = sleep_ms(retry_ms);
            retry_ms = (retry_ms * 2).min(RETRY_MAX_MS);
            futures::pin_mut!(timer);
            match futures::future::select(kicks.next(), timer).await {
                futures::future::Either::Left((None, _)) => return,
                futures::future::Either::Left((Some(()), _)) => true,
                futures::future::Either::Right(_) => false,
            }
        } else {
            retry_ms = 2_000;
            match kicks.next().await {
                None => return,
                Some(()) => true,
            }
        };
        if kicked {
            // A burst of kicks is one pass.
            while kicks.try_recv().is_ok() {}
        }
    }
}

/// Sends the files queued in every workspace of this device (`unsent`, as
/// `hearth_storage::files::unsent` lists them), for the service worker
/// while no page is open (Background Sync): one pass over each queue, as
/// the sync worker makes, recording each sent file's reference in its queue
/// item; the app writes it into the note when it opens next. A workspace
/// whose token this code cannot read (the app lock is on, or it is not
/// connected) is left to the app. Returns how many workspaces still have
/// files waiting for their server.
pub async fn send_every_queue(db: &Rexie, unsent: Vec<(String, usize)>) -> u32 {
    let report: Report = Rc::new(|_| {});
    let mut waiting = 0;
    for (ws, _) in unsent {
        let Ok(workspace) = WorkspaceId::parse(&ws) else {
            continue;
        };
        let connected = matches!(
            hearth_storage::device::load(db, &workspace).await,
            Ok(Some(record)) if record.connection().is_some()
        );
        if connected && send_queued(db, &workspace, &report).await {
            waiting += 1;
        }
    }
    waiting
}

/// One pass over the queue; returns whether a file waits for the server.
async fn send_queued(db: &Rexie, workspace: &WorkspaceId, report: &Report) -> bool {
    let ws = workspace.as_str();
    let queue = match uploads(db, ws).await {
        Ok(queue) => queue,
        Err(e) => {
            crate::platform::log(&format!("the files to send could not be read: {e}"));
            return true;
        }
    };
    let mut views: Vec<UploadView> = queue.iter().map(view_of).collect();
    report(FromWorker::Uploads(views.clone()));
    let mut removed: Vec<String> = Vec::new();
    for id in queue.iter().map(|u| u.id.clone()) {
        let Some(i) = views.iter().position(|v| v.meta.id == id) else {
            continue;
        };
        if views[i].state != UploadState::Queued {
            continue;
        }
        let record = match hearth_storage::device::load(db, workspace).await {
            Ok(Some(record)) => record,
            _ => return true,
        };
        let Ok(Some(item)) = hearth_storage::files::upload(db, ws, &views[i].meta.id).await else {
            continue; // taken off the queue meanwhile
        };
        views[i].state = UploadState::Sending;
        report(FromWorker::Uploads(views.clone()));
        let result = {
            let (views_now, report) = (std::cell::RefCell::new(views.clone()), report.clone());
            let mut last = 0u64;
            let size = item.meta.size.max(1);
            send(db, &record, &item, move |done| {
                // At most once per percent.
                if (done - last) * 100 >= size || done == size {
                    last = done;
                    let mut now = views_now.borrow_mut();
                    if let Some(v) = now.get_mut(i) {
                        v.done = done;
                    }
                    report(FromWorker::Uploads(now.clone()));
                }
            })
            .await
        };
        let mut meta = item.meta.clone();
        match result {
            Ok(reference) => {
                meta.stored = Some(reference.to_json());
                views[i].done = meta.size;
                views[i].state = UploadState::Stored;
            }
            Err(SendError::Fail(reason)) => {
                meta.failed = Some(reason.clone());
                views[i].state = UploadState::Failed(reason);
            }
            Err(SendError::Wait(reason)) => {
                for view in views.iter_mut().skip(i) {
                    if matches!(view.state, UploadState::Queued | UploadState::Sending) {
                        view.state = UploadState::Waiting(reason.clone());
                    }
                }
                report(FromWorker::Uploads(views));
                return true;
            }
        }
        views[i].meta = meta.clone();
        match update_upload(db, ws, &meta).await {
            Ok(true) => {}
            // Removed by the person while it was being sent: it attaches
            // to nothing.
            Ok(false) => {
                views[i].meta.stored = None;
                removed.push(meta.id.clone());
            }
            // Not kept: the next pass sends it again (finding every chunk
            // stored), which is safe.
            Err(e) => crate::platform::log(&format!("{}: {e}", meta.name)),
        }
        views.retain(|v| !removed.contains(&v.meta.id));
        report(FromWorker::Uploads(views.clone()));
    }
    false
}

fn view_of(meta: &Upload) -> UploadView {
    let state = match (&meta.stored, &meta.failed) {
        (Some(_), _) => UploadState::Stored,
        (None, Some(reason)) => UploadState::Failed(reason.clone()),
        (None, None) => UploadState::Queued,
    };
    UploadView {
        done: if meta.stored.is_some() { meta.size } else { 0 },
        meta: meta.clone(),
        state,
    }
}

/// How long the fetcher waits before trying again to bring the files kept
/// offline, while some are missing.
const KEEP_RETRY_MS: i32 = 30_000;

/// Answers fetches and keeps the notes kept offline cached; runs for the
/// life of the worker.
pub async fn run_fetcher(
    db: Rc<Rexie>,
    workspace: WorkspaceId,
    mut kicks: UnboundedReceiver<FetchKick>,
    report: Report,
) {
    let mut kept: Vec<ChunkRef> = Vec::new();
    let mut round = 0;
    let mut kept_names = BTreeSet::new();
    let mut kept_complete = true;
    // A `Keep` not yet recorded in the cache.
    let mut keep_changed = false;
    loop {
        let kick = if kept_complete {
            kicks.next().await
        } else {
            let timer = sleep_ms(KEEP_RETRY_MS);
            futures::pin_mut!(timer);
            match futures::future::select(kicks.next(), timer).await {
                futures::future::Either::Left((kick, _)) => kick,
                futures::future::Either::Right(_) => Some(FetchKick::Retry),
            }
        };
        let Some(kick) = kick else {
            return;
        };
        let mut fetches = Vec::new();
        for kick in std::iter::once(kick).chain(std::iter::from_fn(|| kicks.try_recv().ok())) {
            match kick {
                FetchKick::Fetch { key, name, chunks } => fetches.push((key, name, chunks)),
                FetchKick::Keep(chunks, asked) => {
                    kept = chunks;
                    round = asked;
                    keep_changed = true;
                    kept_complete = false;
                }
                // Only a wake: what is incomplete is tried below.
                FetchKick::Retry => {}
            }
        }
        let Ok(Some(record)) = hearth_storage::device::load(&db, &workspace).await else {
            let error =
                Some("This device's settings could not be read; reload the page.".to_owned());
            for (key, _, chunks) in fetches {
                let total = chunks.iter().map(|c| u64::from(c.len)).sum();
                report(FromWorker::Fetching(FetchView {
                    key,
                    done: 0,
                    total,
                    finished: true,
                    error: error.clone(),
                }));
            }
            continue;
        };
        let ws = workspace.as_str();
        if keep_changed {
            kept_names = kept.iter().map(|c| c.name.to_string()).collect();
            match hearth_storage::files::set_kept(&db, ws, &kept_names).await {
                Ok(()) => keep_changed = false,
                Err(e) => crate::platform::log(&e.to_string()),
            }
        }
        // What the person asked for first; then what is kept offline.
        for (key, name, chunks) in fetches {
            let total = chunks.iter().map(|c| u64::from(c.len)).sum();
            let show = |done, finished, error| {
                report(FromWorker::Fetching(FetchView {
                    key: key.clone(),
                    done,
                    total,
                    finished,
                    error,
                }))
            };
            let result = fetch_into_cache(&db, &record, &name, &chunks, &kept_names, |done| {
                show(done, false, None)
            })
            .await;
            // Room for others, but never this file.
            let cap = cache_cap(&db).await;
            let _ = hearth_storage::files::evict(&db, ws, cap.max(total)).await;
            match result {
                Ok(()) => show(total, true, None),
                Err(reason) => show(0, true, Some(reason)),
            }
        }
        if !kept_complete {
            let wanted = kept.iter().map(|c| u64::from(c.len)).sum();
            let held = std::cell::Cell::new(0);
            let result = fetch_into_cache(
                &db,
                &record,
                "A file of a note kept offline",
                &kept,
                &kept_names,
                |now| {
                    held.set(now);
                    report(FromWorker::Kept(KeptView {
                        round,
                        wanted,
                        held: now,
                        error: None,
                    }))
                },
            )
            .await;
            kept_complete = result.is_ok();
            report(FromWorker::Kept(KeptView {
                round,
                wanted,
                held: if kept_complete { wanted } else { held.get() },
                error: result.err(),
            }));
            let _ = hearth_storage::files::evict(&db, ws, cache_cap(&db).await).await;
        }
    }
}
