//! A note's attached files: images shown inline (their thumbnail, made on
//! the device that attached them, or small images whole), full size on tap;
//! other files with their name, size and type, downloaded on tap; progress
//! while a file arrives or is sent.

use dioxus::html::HasFileData as _;
use dioxus::prelude::*;
use hearth_shared::files::{FileRef, human_size};

use crate::state::AppState;

/// Images up to this size load as soon as the note opens.
const INLINE_IMAGE_BYTES: u64 = 25 * 1000 * 1000;

/// The files attached to note `note_id`, in the order they were attached,
/// and (unless `read_only`) a way to attach more.
#[component]
pub fn Attachments(
    note_id: String,
    read_only: bool,
    uploading: Signal<Option<(String, u64, u64)>>,
) -> Element {
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
    let can_attach = !read_only && state.record.read().server.is_some();
    if files.is_empty() && !can_attach {
        return rsx! {};
    }
    let on_pick = {
        let (state, note_id) = (state.clone(), note_id.clone());
        move |e: FormEvent| {
            attach_files(
                state.clone(),
                note_id.clone(),
                uploading,
                e.files().into_iter().map(Picked::Data).collect(),
            )
        }
    };
    let mut dragging = use_signal(|| false);
    let on_drop = {
        let (state, note_id) = (state.clone(), note_id.clone());
        move |e: DragEvent| {
            e.prevent_default();
            dragging.set(false);
            attach_files(
                state.clone(),
                note_id.clone(),
                uploading,
                e.files().into_iter().map(Picked::Data).collect(),
            );
        }
    };
    rsx! {
        section { class: "attachments", id: "attachments", "aria-label": "Attached files",
            if !files.is_empty() {
                h3 { "Files" }
                ul {
                    for file in files {
                        Attachment { key: "{file.id}", file }
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
                        disabled: uploading().is_some(),
                        onchange: on_pick,
                    }
                    label { class: "button secondary attach-button", r#for: "attach-input", "Attach files" }
                    span { class: "muted attach-hint", "or drop them here" }
                    if let Some((name, done, total)) = uploading() {
                        span { class: "muted", id: "attach-status", "Sending {name}…" }
                        progress { class: "attachment-progress", max: "{total}", value: "{done}", "aria-label": "Sending {name}" }
                    }
                }
            }
        }
    }
}

/// A file picked, dropped or pasted.
pub enum Picked {
    Data(dioxus::html::FileData),
    Web(web_sys::File),
}

impl Picked {
    fn name(&self) -> String {
        match self {
            Picked::Data(f) => f.name(),
            Picked::Web(f) => {
                let name = f.name();
                if name.is_empty() {
                    "pasted".to_owned()
                } else {
                    name
                }
            }
        }
    }

    fn mime(&self) -> String {
        match self {
            Picked::Data(f) => f.content_type().unwrap_or_default(),
            Picked::Web(f) => f.type_(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Picked::Data(f) => f.size(),
            Picked::Web(f) => f.size() as u64,
        }
    }

    async fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Picked::Data(f) => f.read_bytes().await.ok().map(|b| b.to_vec()),
            Picked::Web(f) => {
                let buffer = wasm_bindgen_futures::JsFuture::from(f.array_buffer())
                    .await
                    .ok()?;
                Some(js_sys::Uint8Array::new(&buffer).to_vec())
            }
        }
    }
}

/// Attaches the files pasted into the note, if the clipboard holds any
/// (an image copied from another app); text pastes as text.
pub fn paste(
    state: AppState,
    note_id: String,
    uploading: Signal<Option<(String, u64, u64)>>,
    e: ClipboardEvent,
) {
    use wasm_bindgen::JsCast as _;
    let Some(event) = e.data().downcast::<web_sys::Event>().cloned() else {
        return;
    };
    let Ok(clip) = event.dyn_into::<web_sys::ClipboardEvent>() else {
        return;
    };
    let Some(list) = clip.clipboard_data().and_then(|d| d.files()) else {
        return;
    };
    let files: Vec<Picked> = (0..list.length())
        .filter_map(|i| list.get(i))
        .map(Picked::Web)
        .collect();
    if files.is_empty() || state.record.peek().server.is_none() {
        return;
    }
    e.prevent_default();
    attach_files(state, note_id, uploading, files);
}

/// Files picked or dropped, each read, uploaded and then attached to the
/// note (the reference only once its chunks are stored).
fn attach_files(
    state: AppState,
    note_id: String,
    mut uploading: Signal<Option<(String, u64, u64)>>,
    picked: Vec<Picked>,
) {
    if picked.is_empty() || uploading.peek().is_some() {
        return;
    }
    spawn(async move {
        for file in picked {
            let name = file.name();
            uploading.set(Some((name.clone(), 0, file.size())));
            let result = async {
                let bytes = file
                    .bytes()
                    .await
                    .ok_or_else(|| format!("{name} could not be read from this device."))?;
                let record = state.record.peek().clone();
                let mime = file.mime();
                let now = crate::platform::now_ms();
                crate::files::upload(&record, &name, &mime, &bytes, now, |done, total| {
                    uploading.set(Some((name.clone(), done, total)));
                })
                .await
            }
            .await;
            match result {
                Ok(reference) => {
                    let json = reference.to_json();
                    state.write(|ws| {
                        ws.attach_file(&note_id, &reference.id, &json, crate::platform::now_ms())
                    });
                }
                Err(reason) => {
                    let mut error = state.error;
                    error.set(Some(reason));
                }
            }
        }
        uploading.set(None);
    });
}

/// Where a file's download stands.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    No,
    Arriving(u64),
    /// Its object URL.
    Here(String),
    Failed(String),
}

#[component]
fn Attachment(file: FileRef) -> Element {
    let state = use_context::<AppState>();
    let mut got = use_signal(|| Got::No);
    let image = file.is_image();
    let fetch = {
        let (state, file) = (state.clone(), file.clone());
        move || {
            if matches!(*got.peek(), Got::Arriving(_) | Got::Here(_)) {
                return;
            }
            got.set(Got::Arriving(0));
            let record = state.record.peek().clone();
            let file = file.clone();
            spawn(async move {
                let result =
                    crate::files::download(&record, &file, |n| got.set(Got::Arriving(n))).await;
                got.set(match result {
                    Ok(bytes) => match crate::files::object_url(&bytes, &file.mime) {
                        Some(url) => Got::Here(url),
                        None => Got::Failed("The browser could not hold the file.".into()),
                    },
                    Err(e) => Got::Failed(e),
                });
            });
        }
    };
    // The thumbnail when there is one (it synced with the reference);
    // else a small enough image whole.
    let mut thumb = use_signal(|| None::<String>);
    {
        let mut fetch = fetch.clone();
        let (state, file) = (state.clone(), file.clone());
        use_effect(move || {
            if file.thumbnail.is_some() {
                let record = state.record.peek().clone();
                let file = file.clone();
                spawn(async move {
                    if let Ok(bytes) = crate::files::download_thumbnail(&record, &file).await {
                        thumb.set(crate::files::object_url(&bytes, "image/jpeg"));
                    }
                });
            } else if image && file.size <= INLINE_IMAGE_BYTES {
                fetch();
            }
        });
    }
    use_drop(move || {
        if let Got::Here(url) = &*got.peek() {
            let _ = web_sys::Url::revoke_object_url(url);
        }
        if let Some(url) = &*thumb.peek() {
            let _ = web_sys::Url::revoke_object_url(url);
        }
    });
    let size = human_size(file.size);
    let kind = if file.mime.is_empty() {
        "file".to_owned()
    } else {
        file.mime.clone()
    };
    rsx! {
        li { class: "attachment", "data-file": "{file.id}",
            if image {
                if let Got::Here(url) = got() {
                    a { href: "{url}", target: "_blank", rel: "noopener", class: "attachment-full", "aria-label": "Open {file.name} full size",
                        img { class: "attachment-image", src: "{url}", alt: "{file.name}" }
                    }
                } else if let Some(url) = thumb() {
                    button {
                        class: "attachment-thumb-button",
                        "aria-label": "Show {file.name} full size",
                        onclick: {
                            let mut fetch = fetch.clone();
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
                    Got::No | Got::Failed(_) => rsx! {
                        button {
                            class: "secondary attachment-get",
                            onclick: {
                                let mut fetch = fetch.clone();
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
