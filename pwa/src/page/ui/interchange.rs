//! "Notes from other apps": importing Markdown files (a folder or a zip,
//! such as an Obsidian vault), a Standard Notes backup, a Joplin export
//! or an Evernote `.enex` into the open workspace, and exporting it as a
//! zip of Markdown files other apps open.
//!
//! Reading and zipping happen in the module loaded on first use
//! ([`crate::page::extras`]); the page writes the notes into its document
//! in batches of [`BATCH`] (each one edit sent to the worker), showing
//! progress, and queues the attachments like files picked in a note.

use dioxus::prelude::*;
use hearth_interchange::export::{Export, ExportFile};
use hearth_interchange::{BATCH, ImportedNote, ImportedTaskList, apply_part};
use hearth_shared::files::FileRef;
use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::page::extras;
use crate::page::state::AppState;
use crate::page::ui::data::counted;
use crate::platform::{new_id, now_ms, sleep_ms};

/// The files picked in the input `id`, each with its path inside a picked
/// folder (or its name).
async fn picked(id: &str) -> Result<Vec<(String, Uint8Array)>, String> {
    let input: web_sys::HtmlInputElement = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into().ok())
        .ok_or("the file picker is gone")?;
    let Some(list) = input.files() else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for at in 0..list.length() {
        let Some(file) = list.get(at) else { continue };
        let path = Reflect::get(&file, &"webkitRelativePath".into())
            .ok()
            .and_then(|p| p.as_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| file.name());
        let buffer = JsFuture::from(file.array_buffer())
            .await
            .map_err(|_| format!("{path} could not be read"))?;
        files.push((path, Uint8Array::new(&buffer)));
    }
    input.set_value("");
    Ok(files)
}

/// A `File` of an imported attachment, to queue like a picked one.
fn file_of(attachment: &hearth_interchange::Attachment) -> Option<web_sys::File> {
    let parts = Array::of1(&Uint8Array::from(attachment.bytes.as_slice()).into());
    let options = web_sys::FilePropertyBag::new();
    if let Some(mime) = &attachment.mime {
        options.set_type(mime);
    }
    web_sys::File::new_with_u8_array_sequence_and_options(&parts, &attachment.name, &options).ok()
}

/// Reads the files picked in input `id` and writes their notes into the
/// workspace. Returns what to tell the person.
async fn import(
    state: &AppState,
    id: &str,
    mut status: Signal<Option<String>>,
) -> Result<String, String> {
    let files = picked(id).await?;
    if files.is_empty() {
        return Err("no file was picked".into());
    }
    status.set(Some("Reading…".into()));
    let imported = extras::read_import(files).await?;
    let total = imported.notes.len();
    let batches: Vec<&[ImportedNote]> = if total == 0 {
        vec![&[]]
    } else {
        imported.notes.chunks(BATCH).collect()
    };
    let last = batches.len() - 1;
    let mut note_ids: Vec<String> = Vec::with_capacity(total);
    for (n, notes) in batches.into_iter().enumerate() {
        let task_lists: &[ImportedTaskList] = if n == last { &imported.task_lists } else { &[] };
        let applied = state
            .write(|ws| apply_part(ws, notes, task_lists, &mut new_id, now_ms()))
            .ok_or("the notes could not be written (see the message above)")?;
        note_ids.extend(applied.note_ids);
        status.set(Some(format!(
            "Importing… {} of {total} notes",
            note_ids.len()
        )));
        // Let the page draw the progress before the next batch.
        sleep_ms(0).await;
    }
    let mut attached = 0;
    for (note, note_id) in imported.notes.iter().zip(&note_ids) {
        let files: Vec<web_sys::File> = note
            .attachments
            .iter()
            .filter_map(|&at| imported.attachments.get(at))
            .filter_map(file_of)
            .collect();
        attached += files.len();
        if !files.is_empty() {
            crate::page::ui::files::attach_files(state.clone(), note_id.clone(), files);
        }
    }
    let mut said = format!(
        "Imported {} from {}",
        counted(total, "note", "notes"),
        imported.format.name()
    );
    if attached > 0 {
        said.push_str(&format!(
            ", with {} (sent in the background)",
            counted(attached, "attached file", "attached files")
        ));
    }
    said.push('.');
    for skipped in &imported.skipped {
        said.push_str(&format!(" Left out: {skipped}."));
    }
    Ok(said)
}

/// The export of the open workspace, with the attached files this device
/// holds; and how many it does not hold.
async fn export_zip(state: &AppState) -> Result<(Uint8Array, usize), String> {
    let record = state.record.peek().clone();
    let refs: Vec<(String, FileRef)> = {
        let ws = state.workspace.peek();
        ws.list_notes(hearth_migrations::NoteFilter::Live)
            .into_iter()
            .flat_map(|note| {
                ws.note_files(&note.id)
                    .into_iter()
                    .filter_map(move |(_, json)| {
                        Some((note.id.clone(), FileRef::from_json(&json)?))
                    })
            })
            .collect()
    };
    let mut files = Vec::new();
    let mut missing = 0;
    for (note_id, file) in refs {
        match crate::files::open_cached(&state.db, &record, &file.name, &file.chunks, file.size)
            .await
        {
            Ok(bytes) => files.push(ExportFile {
                note_id,
                name: file.name,
                bytes,
            }),
            Err(_) => missing += 1,
        }
    }
    let export = Export::of(&state.workspace.peek(), files);
    Ok((extras::markdown_zip(&export).await?, missing))
}

#[component]
pub fn InterchangeCard() -> Element {
    let state = use_context::<AppState>();
    let status = use_signal(|| None::<String>);
    let busy = use_signal(|| false);
    let read_only = state.read_only_reason().is_some();
    let start_import = {
        let state = state.clone();
        move |id: &'static str| {
            let state = state.clone();
            let (mut status, mut busy) = (status, busy);
            busy.set(true);
            spawn(async move {
                let said = match import(&state, id, status).await {
                    Ok(said) => said,
                    Err(e) => format!("Not imported: {e}"),
                };
                status.set(Some(said));
                busy.set(false);
            });
        }
    };
    let import_file = {
        let start = start_import.clone();
        move |_| start("import-notes-file")
    };
    let import_folder = move |_| start_import("import-notes-folder");
    let export = {
        let state = state.clone();
        move |_| {
            let state = state.clone();
            let (mut status, mut busy) = (status, busy);
            busy.set(true);
            status.set(Some("Exporting…".into()));
            spawn(async move {
                let said = match export_zip(&state).await {
                    Ok((zip, missing)) => {
                        crate::page::ui::data::download(
                            "hearth-notes.zip",
                            "application/zip",
                            &zip.into(),
                        );
                        match missing {
                            0 => "Exported as Markdown.".to_owned(),
                            n => format!(
                                "Exported as Markdown, without {}: they are not on this device. Open them in their notes first to include them.",
                                counted(n, "attached file", "attached files")
                            ),
                        }
                    }
                    Err(e) => format!("Not exported: {e}"),
                };
                status.set(Some(said));
                busy.set(false);
            });
        }
    };
    rsx! {
        section { class: "card", id: "interchange-card",
            h2 { "Notes from other apps" }
            p { class: "muted",
                "Import Markdown files (a folder, such as an Obsidian vault, or a .zip), a Standard Notes backup, a Joplin export (.jex) or an Evernote export (.enex) into this workspace. Export makes a .zip of Markdown files, with tags and attached files, that other apps open."
            }
            label { class: "import", "Import a file: "
                input {
                    id: "import-notes-file",
                    r#type: "file",
                    accept: ".zip,.md,.markdown,.enex,.jex,.json,.txt",
                    disabled: busy() || read_only,
                    onchange: import_file,
                }
            }
            label { class: "import", "Import a folder: "
                input {
                    id: "import-notes-folder",
                    r#type: "file",
                    "webkitdirectory": "true",
                    disabled: busy() || read_only,
                    onchange: import_folder,
                }
            }
            div { class: "add-row",
                button { class: "secondary", id: "export-markdown", disabled: busy(), onclick: export, "Export as Markdown (.zip)" }
            }
            if let Some(s) = status() { p { class: "banner", id: "interchange-status", role: "status", "{s}" } }
        }
    }
}
