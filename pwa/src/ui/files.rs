//! A note's attached files: images shown inline (downloaded when the note
//! opens), other files with their name, size and type, downloaded on tap;
//! progress while a file arrives.

use dioxus::prelude::*;
use hearth_shared::files::{FileRef, human_size};

use crate::state::AppState;

/// Images up to this size load as soon as the note opens.
const INLINE_IMAGE_BYTES: u64 = 25 * 1000 * 1000;

/// The files attached to note `note_id`, in the order they were attached.
#[component]
pub fn Attachments(note_id: String) -> Element {
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
    if files.is_empty() {
        return rsx! {};
    }
    rsx! {
        section { class: "attachments", id: "attachments", "aria-label": "Attached files",
            h3 { "Files" }
            ul {
                for file in files {
                    Attachment { key: "{file.id}", file }
                }
            }
        }
    }
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
    {
        let mut fetch = fetch.clone();
        let size = file.size;
        use_effect(move || {
            if image && size <= INLINE_IMAGE_BYTES {
                fetch();
            }
        });
    }
    use_drop(move || {
        if let Got::Here(url) = &*got.peek() {
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
