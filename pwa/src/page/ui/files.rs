//! A note's attached files: images shown inline (their thumbnail, made on
//! the device that attached them, or small images whole), full size on tap;
//! other files with their name, size and type, downloaded on tap; the
//! files queued to be sent, with how sending goes; and "keep available
//! offline", which keeps every file of the note on this device.
//!
//! The sync worker does the transfers: the page queues a picked file in
//! IndexedDB (with the thumbnail it draws) and asks the worker for files,
//! which it then opens from the local cache.

use std::cell::RefCell;
use std::rc::Rc;

use dioxus::html::HasFileData as _;
use dioxus::prelude::*;
use hearth_shared::files::{ChunkRef, FileRef, human_size, is_image_mime};
use hearth_storage::files::Upload;
use wasm_bindgen::JsCast as _;

use crate::page::state::AppState;
use crate::protocol::{ToWorker, UploadState, UploadView};

/// Images up to this size load as soon as the note opens.
const INLINE_IMAGE_BYTES: u64 = 25 * 1000 * 1000;

/// The files attached to note `note_id`, in the order they were attached,
/// those queued to be sent, and (unless `read_only`) a way to attach more.
#[component]
pub fn Attachments(note_id: String, read_only: bool) -> Element {
    let state = use_context::<AppState>();
    state.track();
    let mut files: Vec<FileRef> = state
        .workspace
        .read()
        .note_files(&note_id)
        .into_iter()
        .filter_map(|(_, json)| FileRef::from_json(&json))
        .collect();
    files.sort_by(|a, b| (a.added_at, &a.name).cmp(&(b.added_at, &b.name)));
    let queued: Vec<UploadView> = state
        .uploads
        .read()
        .iter()
        .filter(|u| u.meta.note == note_id && !sent_and_attached(u, &files))
        .cloned()
        .collect();
    let can_attach = !read_only && state.record.read().server.is_some();
    let mut dragging = use_signal(|| false);
    if files.is_empty() && queued.is_empty() && !can_attach {
        return rsx! {};
    }
    let on_pick = {
        let (state, note_id) = (state.clone(), note_id.clone());
        move |e: FormEvent| attach_files(state.clone(), note_id.clone(), web_files(e.files()))
    };
    let on_drop = {
        let (state, note_id) = (state.clone(), note_id.clone());
        move |e: DragEvent| {
            e.prevent_default();
            dragging.set(false);
            attach_files(state.clone(), note_id.clone(), web_files(e.files()));
        }
    };
    let pinned = state.pins.read().contains(&note_id);
    let on_pin = {
        let (state, note_id) = (state.clone(), note_id.clone());
        move |e: FormEvent| {
            let on = e.checked();
            let (state, note_id) = (state.clone(), note_id.clone());
            spawn(async move {
                let ws = state.record.peek().workspace_id.as_str().to_owned();
                match hearth_storage::files::pin(&state.db, &ws, &note_id, on).await {
                    Ok(pins) => {
                        let mut signal = state.pins;
                        signal.set(pins);
                    }
                    Err(e) => {
                        let mut error = state.error;
                        error.set(Some(e.to_string()));
                    }
                }
            });
        }
    };
    let kept = state.kept.read().clone();
    let kept_text = match (&kept.error, kept.held >= kept.wanted) {
        (Some(reason), _) => reason.clone(),
        (None, true) => "Kept on this device".to_owned(),
        (None, false) => format!(
            "Bringing to this device: {} of {}",
            human_size(kept.held),
            human_size(kept.wanted)
        ),
    };
    rsx! {
        section { class: "attachments", id: "attachments", "aria-label": "Attached files",
            if !files.is_empty() || !queued.is_empty() {
                h3 { "Files" }
                ul {
                    for file in files.iter().cloned() {
                        Attachment { key: "{file.id}", file }
                    }
                    for upload in queued {
                        Queued { key: "{upload.meta.id}", upload }
                    }
                }
            }
            if !files.is_empty() {
                div { class: "keep-offline",
                    input {
                        id: "keep-offline",
                        r#type: "checkbox",
                        checked: pinned,
                        onchange: on_pin,
                    }
                    label { r#for: "keep-offline", "Keep these files available offline" }
                    if pinned {
                        span { class: "muted", id: "kept-status", role: "status", "{kept_text}" }
                    }
                }
            }
            if can_attach {
                div {
                    class: if dragging() { "attach-row dragging" } else { "attach-row" },
                    id: "attach-drop",
                    ondragover: move |e: DragEvent| {
                        e.prevent_default();
                        dragging.set(true);
                    },
                    ondragleave: move |_| dragging.set(false),
                    ondrop: on_drop,
                    input {
                        id: "attach-input",
                        class: "visually-hidden",
                        r#type: "file",
                        multiple: true,
                        onchange: on_pick,
                    }
                    label { class: "button secondary attach-button", r#for: "attach-input", "Attach files" }
                    span { class: "muted attach-hint", "or drop them here" }
                }
            }
        }
    }
}

/// Whether queued file `upload` is sent and its reference is in the note.
fn sent_and_attached(upload: &UploadView, files: &[FileRef]) -> bool {
    let Some(reference) = upload.meta.stored.as_deref().and_then(FileRef::from_json) else {
        return false;
    };
    files.iter().any(|f| f.id == reference.id)
}

/// A file waiting to be sent, or being sent.
#[component]
fn Queued(upload: UploadView) -> Element {
    let state = use_context::<AppState>();
    let meta = upload.meta.clone();
    let size = human_size(meta.size);
    let words = match &upload.state {
        UploadState::Queued => "waiting to be sent".to_owned(),
        UploadState::Sending => format!("sending, {} done", human_size(upload.done)),
        UploadState::Waiting(reason) => format!("waiting to be sent: {reason}"),
        UploadState::Failed(_) => "not sent".to_owned(),
        UploadState::Stored => "sent".to_owned(),
    };
    let change = {
        let state = state.clone();
        move |retry: bool| {
            let (state, mut meta) = (state.clone(), meta.clone());
            spawn(async move {
                let ws = state.record.peek().workspace_id.as_str().to_owned();
                let result = if retry {
                    meta.failed = None;
                    hearth_storage::files::update_upload(&state.db, &ws, &meta)
                        .await
                        .map(|_| ())
                } else {
                    hearth_storage::files::remove_upload(&state.db, &ws, &meta.id).await
                };
                if let Err(e) = result {
                    let mut error = state.error;
                    error.set(Some(e.to_string()));
                }
                state.link.send(ToWorker::Uploads);
            });
        }
    };
    let sending = upload.state == UploadState::Sending;
    rsx! {
        li { class: "attachment queued", "data-upload": "{upload.meta.id}",
            div { class: "attachment-row",
                span { class: "attachment-name", "{upload.meta.name}" }
                span { class: "muted attachment-meta upload-state", "{size} · {words}" }
                if sending {
                    progress { class: "attachment-progress", max: "{upload.meta.size}", value: "{upload.done}", "aria-label": "Sending {upload.meta.name}" }
                }
                if let UploadState::Failed(_) = upload.state {
                    button {
                        class: "secondary upload-retry",
                        onclick: {
                            let change = change.clone();
                            move |_| change(true)
                        },
                        "Try again"
                    }
                }
                if !sending && upload.state != UploadState::Stored {
                    button {
                        class: "secondary upload-remove",
                        onclick: {
                            let change = change.clone();
                            move |_| change(false)
                        },
                        "Remove"
                    }
                }
            }
            if let UploadState::Failed(reason) = &upload.state {
                p { class: "error attachment-error", role: "alert", "{reason}" }
            }
        }
    }
}

/// The browser's files behind Dioxus's.
fn web_files(files: Vec<dioxus::html::FileData>) -> Vec<web_sys::File> {
    files
        .iter()
        .filter_map(|f| f.inner().downcast_ref::<web_sys::File>().cloned())
        .collect()
}

/// Attaches the files pasted into the note, if the clipboard holds any
/// (an image copied from another app); text pastes as text.
pub fn paste(state: AppState, note_id: String, e: ClipboardEvent) {
    let Some(event) = e.data().downcast::<web_sys::Event>().cloned() else {
        return;
    };
    let Ok(clip) = event.dyn_into::<web_sys::ClipboardEvent>() else {
        return;
    };
    let Some(list) = clip.clipboard_data().and_then(|d| d.files()) else {
        return;
    };
    let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
    if files.is_empty() || state.record.peek().server.is_none() {
        return;
    }
    e.prevent_default();
    attach_files(state, note_id, files);
}

/// Files picked, dropped or pasted: each queued in IndexedDB (with a
/// thumbnail, for an image) for the sync worker to send, online or not.
/// The note gets the reference once every chunk is stored.
pub(crate) fn attach_files(state: AppState, note_id: String, picked: Vec<web_sys::File>) {
    if picked.is_empty() {
        return;
    }
    // Not tied to the note's component: leaving the note must not drop
    // files not yet queued.
    wasm_bindgen_futures::spawn_local(async move {
        let ws = state.record.peek().workspace_id.as_str().to_owned();
        for file in picked {
            let name = match file.name() {
                name if name.is_empty() => "pasted".to_owned(),
                name => name,
            };
            let mime = crate::files::mime_of(&name, &file.type_());
            let thumb = if is_image_mime(&mime) {
                crate::files::thumbnail_of(&file).await
            } else {
                None
            };
            let meta = Upload {
                id: crate::platform::new_id(),
                note: note_id.clone(),
                mime,
                size: file.size() as u64,
                added_at: crate::platform::now_ms(),
                thumb_size: thumb.as_ref().map(|(_, w, h)| (*w, *h)),
                stored: None,
                failed: None,
                name,
            };
            let thumb = thumb.as_ref().map(|(jpeg, _, _)| jpeg.as_slice());
            if let Err(e) =
                hearth_storage::files::enqueue(&state.db, &ws, &meta, &file.into(), thumb).await
            {
                let mut error = state.error;
                error.set(Some(format!("Not attached: {e}")));
            }
        }
        state.link.send(ToWorker::Uploads);
    });
}

/// Writes the reference of every queued file the worker has sent into its
/// note (unless it is there), then lets the worker take it off the queue.
pub fn attach_sent(state: &AppState, list: &[UploadView]) {
    for upload in list {
        let Some(json) = &upload.meta.stored else {
            continue;
        };
        let Some(reference) = FileRef::from_json(json) else {
            continue;
        };
        let note = &upload.meta.note;
        let (exists, holds) = {
            let ws = state.workspace.read();
            let holds = ws
                .note_files(note)
                .iter()
                .any(|(id, _)| *id == reference.id);
            (ws.get_note(note).is_some(), holds)
        };
        // A note deleted for good meanwhile takes nothing.
        let written = !exists
            || holds
            || state
                .write(|ws| ws.attach_file(note, &reference.id, json, crate::platform::now_ms()))
                .is_some();
        // Only once the edit holding the reference went to the worker.
        if written && state.link.has_all_of(state.workspace.read().doc()) {
            state.link.send(ToWorker::Attached {
                upload: upload.meta.id.clone(),
            });
        }
    }
}

/// What the sync pill says of the files being sent.
pub fn sending_words(list: &[UploadView]) -> String {
    if let Some(u) = list.iter().find(|u| u.state == UploadState::Sending) {
        return format!(
            " · sending {} {}%",
            u.meta.name,
            (u.done * 100).checked_div(u.meta.size).unwrap_or(100)
        );
    }
    let waiting = list
        .iter()
        .filter(|u| matches!(u.state, UploadState::Queued | UploadState::Waiting(_)))
        .count();
    match waiting {
        0 => String::new(),
        1 => " · 1 file waiting to be sent".to_owned(),
        n => format!(" · {n} files waiting to be sent"),
    }
}

/// Keeps the sync worker told which chunks the notes kept offline need,
/// whenever that changes.
pub fn use_keep_offline(state: &AppState) {
    let sent = use_hook(|| Rc::new(RefCell::new((0u64, None::<Vec<ChunkRef>>))));
    let state = state.clone();
    use_effect(move || {
        state.track();
        let pins = state.pins.read().clone();
        let mut chunks = Vec::new();
        {
            let ws = state.workspace.read();
            for note in &pins {
                for (_, json) in ws.note_files(note) {
                    if let Some(file) = FileRef::from_json(&json) {
                        chunks.extend(file.chunks.iter().copied());
                        if let Some(thumb) = &file.thumbnail {
                            chunks.extend(thumb.chunks.iter().copied());
                        }
                    }
                }
            }
        }
        let mut sent = sent.borrow_mut();
        if sent.1.as_ref() != Some(&chunks) {
            // Until the worker answers this round, nothing counts as kept.
            let round = sent.0 + 1;
            *sent = (round, Some(chunks.clone()));
            let mut kept = state.kept;
            kept.set(crate::protocol::KeptView {
                round,
                wanted: chunks.iter().map(|c| u64::from(c.len)).sum(),
                held: 0,
                error: None,
            });
            state.link.send(ToWorker::Keep { chunks, round });
        }
    });
}

/// Where a file's download stands.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    No,
    Arriving(u64),
    /// Here, being opened.
    Opening,
    /// Its object URL.
    Here(String),
    Failed(String),
}

/// A file (or thumbnail) brought by the sync worker into the cache under
/// `key`, then opened here: its state, and a way to ask for it.
fn use_fetched(
    key: String,
    name: String,
    chunks: Vec<ChunkRef>,
    size: u64,
    mime: String,
) -> (Signal<Got>, Rc<dyn Fn()>) {
    let state = use_context::<AppState>();
    let mut got = use_signal(|| Got::No);
    let start: Rc<dyn Fn()> = {
        let (state, key, name, chunks) = (state.clone(), key.clone(), name.clone(), chunks.clone());
        Rc::new(move || {
            let mut got = got;
            if matches!(*got.peek(), Got::Arriving(_) | Got::Opening | Got::Here(_)) {
                return;
            }
            let mut fetches = state.fetches;
            fetches.write().remove(&key);
            got.set(Got::Arriving(0));
            if state.follower {
                // No worker in this tab: fetch here, reporting the same way.
                let (state, key, name, chunks) =
                    (state.clone(), key.clone(), name.clone(), chunks.clone());
                spawn(async move {
                    let record = state.record.peek().clone();
                    let total = chunks.iter().map(|c| u64::from(c.len)).sum();
                    let kept = Default::default();
                    let result = crate::files::fetch_into_cache(
                        &state.db,
                        &record,
                        &name,
                        &chunks,
                        &kept,
                        |_| {},
                    )
                    .await;
                    let mut fetches = state.fetches;
                    fetches.write().insert(
                        key.clone(),
                        crate::protocol::FetchView {
                            key,
                            done: total,
                            total,
                            finished: true,
                            error: result.err(),
                        },
                    );
                });
                return;
            }
            state.link.send(ToWorker::Fetch {
                key: key.clone(),
                name: name.clone(),
                chunks: chunks.clone(),
            });
        })
    };
    use_effect(move || {
        let Some(view) = state.fetches.read().get(&key).cloned() else {
            return;
        };
        if !matches!(*got.peek(), Got::Arriving(_)) {
            return;
        }
        match (view.finished, view.error) {
            (false, _) => got.set(Got::Arriving(view.done)),
            (true, Some(reason)) => got.set(Got::Failed(reason)),
            (true, None) => {
                got.set(Got::Opening);
                let (state, name, chunks, mime) =
                    (state.clone(), name.clone(), chunks.clone(), mime.clone());
                spawn(async move {
                    let record = state.record.peek().clone();
                    let opened =
                        crate::files::open_cached(&state.db, &record, &name, &chunks, size).await;
                    got.set(match opened {
                        Ok(bytes) => match crate::files::object_url(&bytes, &mime) {
                            Some(url) => Got::Here(url),
                            None => Got::Failed("The browser could not hold the file.".into()),
                        },
                        Err(e) => Got::Failed(e),
                    });
                });
            }
        }
    });
    use_drop(move || {
        if let Got::Here(url) = &*got.peek() {
            let _ = web_sys::Url::revoke_object_url(url);
        }
    });
    (got, start)
}

#[component]
fn Attachment(file: FileRef) -> Element {
    let image = file.is_image();
    let (got, fetch) = use_fetched(
        file.id.clone(),
        file.name.clone(),
        file.chunks.clone(),
        file.size,
        file.mime.clone(),
    );
    // The thumbnail when there is one (it synced with the reference);
    // else a small enough image whole.
    let (thumb_chunks, thumb_mime) = match &file.thumbnail {
        Some(t) => (t.chunks.clone(), t.mime.clone()),
        None => (Vec::new(), String::new()),
    };
    let thumb_size = thumb_chunks.iter().map(|c| u64::from(c.len)).sum();
    let (thumb, fetch_thumb) = use_fetched(
        format!("thumb:{}", file.id),
        file.name.clone(),
        thumb_chunks,
        thumb_size,
        thumb_mime,
    );
    {
        let (fetch, fetch_thumb) = (fetch.clone(), fetch_thumb.clone());
        let has_thumb = file.thumbnail.is_some();
        let small_image = image && file.size <= INLINE_IMAGE_BYTES;
        use_effect(move || {
            if has_thumb {
                fetch_thumb();
            } else if small_image {
                fetch();
            }
        });
    }
    let size = human_size(file.size);
    let kind = if file.mime.is_empty() {
        "file".to_owned()
    } else {
        file.mime.clone()
    };
    let thumb_url = match thumb() {
        Got::Here(url) => Some(url),
        _ => None,
    };
    rsx! {
        li { class: "attachment", "data-file": "{file.id}",
            if image {
                if let Got::Here(url) = got() {
                    a { href: "{url}", target: "_blank", rel: "noopener", class: "attachment-full", "aria-label": "Open {file.name} full size",
                        img { class: "attachment-image", src: "{url}", alt: "{file.name}" }
                    }
                } else if let Some(url) = thumb_url {
                    button {
                        class: "attachment-thumb-button",
                        "aria-label": "Show {file.name} full size",
                        onclick: {
                            let fetch = fetch.clone();
                            move |_| fetch()
                        },
                        img { class: "attachment-thumb", src: "{url}", alt: "{file.name}" }
                    }
                }
            }
            div { class: "attachment-row",
                span { class: "attachment-name", "{file.name}" }
                span { class: "muted attachment-meta", "{size} · {kind}" }
                match got() {
                    Got::Here(url) => rsx! {
                        a { class: "secondary button attachment-save", href: "{url}", download: "{file.name}", "Save" }
                    },
                    Got::Arriving(n) => rsx! {
                        progress { class: "attachment-progress", max: "{file.size}", value: "{n}", "aria-label": "Downloading {file.name}" }
                    },
                    Got::Opening => rsx! {
                        span { class: "muted", "Opening…" }
                    },
                    Got::No | Got::Failed(_) => rsx! {
                        button {
                            class: "secondary attachment-get",
                            onclick: {
                                let fetch = fetch.clone();
                                move |_| fetch()
                            },
                            if image { "Show" } else { "Download" }
                        }
                    },
                }
            }
            if let Got::Failed(reason) = got() {
                p { class: "error attachment-error", role: "alert", "{reason}" }
            }
        }
    }
}
