//! "Your data": export and import, and the browser's storage (persistence,
//! use, and the risk of eviction).

use dioxus::prelude::*;
use hearth_migrations::Workspace;
use hearth_shared::engine::{Store, SyncMeta};
use js_sys::{Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::device::{self, DeviceRecord};
use crate::idb::IdbStore;
use crate::page::export;
use crate::page::state::AppState;
use crate::platform::{new_workspace_id, now_ms, random8};

/// Offers `part` (a string or a `Uint8Array`) as a file download.
pub(crate) fn download(name: &str, mime: &str, part: &wasm_bindgen::JsValue) -> Option<()> {
    let document = web_sys::window()?.document()?;
    let parts = js_sys::Array::of1(part);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_blob_sequence_and_options(&parts, &options).ok()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a").ok()?.dyn_into().ok()?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Some(())
}

async fn storage_call(method: &str) -> Option<wasm_bindgen::JsValue> {
    let storage = Reflect::get(&web_sys::window()?.navigator(), &"storage".into()).ok()?;
    let f: js_sys::Function = Reflect::get(&storage, &method.into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: Promise = f.call0(&storage).ok()?.dyn_into().ok()?;
    JsFuture::from(promise).await.ok()
}

/// What the browser says about this site's storage.
#[derive(Clone, PartialEq)]
struct StorageFacts {
    persisted: Option<bool>,
    usage: Option<f64>,
    quota: Option<f64>,
}

async fn storage_facts() -> StorageFacts {
    let persisted = storage_call("persisted").await.and_then(|v| v.as_bool());
    let estimate = storage_call("estimate").await;
    let field = |name: &str| {
        estimate
            .as_ref()
            .and_then(|e| Reflect::get(e, &name.into()).ok())
            .and_then(|v| v.as_f64())
    };
    StorageFacts {
        persisted,
        usage: field("usage"),
        quota: field("quota"),
    }
}

fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1_000_000.0)
}

/// The workspaces this device holds: the one open (named, renamed, left
/// from here), and others it joined or imported before (their notes stay
/// on this device), each one click away; and a new, empty one.
#[component]
pub fn WorkspacesCard() -> Element {
    let state = use_context::<AppState>();
    let mut message = use_signal(|| None::<String>);
    let mut confirm_leave = use_signal(|| false);
    let db = state.db.clone();
    let list_db = db.clone();
    let workspaces = use_resource(move || {
        let db = list_db.clone();
        async move { device::all(&db).await.map_err(|e| e.to_string()) }
    });
    state.track();
    let open_name = state.workspace.read().name().unwrap_or_default();
    let read_only = state.read_only_reason().is_some();
    let background = state.background;
    let mut name = use_signal(|| open_name.clone());

    let rename = {
        let state = state.clone();
        move |e: FormEvent| {
            e.prevent_default();
            state.write(|ws| ws.set_name(&name()));
        }
    };
    let new_workspace = {
        let state = state.clone();
        move |_| {
            let key = match crate::platform::secure_random() {
                Ok(key) => key,
                Err(e) => {
                    message.set(Some(e));
                    return;
                }
            };
            let record =
                DeviceRecord::encrypted(new_workspace_id(), state.record.peek().label.clone(), key);
            let db = state.db.clone();
            spawn(async move {
                match device::save_current(&db, &record).await {
                    // The sync worker creates it on the next start.
                    Ok(()) => go_home(),
                    Err(e) => message.set(Some(e.to_string())),
                }
            });
        }
    };
    let leave = {
        let state = state.clone();
        move |_| state.link.send(crate::protocol::ToWorker::Leave)
    };
    let (notes, lists) = {
        let ws = state.workspace.read();
        (state.notes.borrow().len(), ws.list_task_lists().len())
    };
    let held = format!(
        "{} and {}",
        counted(notes, "note", "notes"),
        counted(lists, "task list", "task lists")
    );
    let sync = state.sync.read().clone();
    let record = state.record.read().clone();
    let title = if open_name.is_empty() {
        record.title()
    } else {
        open_name.clone()
    };

    rsx! {
        section { class: "card", id: "workspaces-card",
            h2 { "Workspaces on this device" }
            form { class: "add-row", id: "rename-form", onsubmit: rename,
                input {
                    id: "workspace-name-input",
                    "aria-label": "Name of this workspace",
                    placeholder: "Name this workspace (e.g. Home)",
                    maxlength: "80",
                    readonly: read_only,
                    value: "{name}",
                    oninput: move |e| name.set(e.value()),
                }
                button { id: "rename-workspace", r#type: "submit", disabled: read_only, "Rename" }
            }
            match &*workspaces.read() {
                None => rsx! { p { class: "muted", "Loading…" } },
                Some(Err(e)) => rsx! { p { class: "banner error", "{e}" } },
                Some(Ok((records, current))) => rsx! {
                    if records.len() > 1 {
                        p { class: "muted", "Joining or importing a workspace keeps the others here, with their notes; each syncs in the background while the app is open." }
                    }
                    ul { class: "devices", id: "workspace-list",
                        for other in records.iter().cloned() {
                            li { key: "{other.workspace_id}", class: "device", "data-workspace": "{other.workspace_id}",
                                div {
                                    strong { class: "workspace-title",
                                        if current.as_ref() == Some(&other.workspace_id) { "{title}" } else { "{other.title()}" }
                                    }
                                    span { class: "muted",
                                        match other.server.as_deref() {
                                            Some(server) => rsx! { " · syncs with {server}" },
                                            None => rsx! { " · on this device only" },
                                        }
                                        if other.is_owner() { " · owner" }
                                    }
                                    if let Some(view) = background.read().get(other.workspace_id.as_str()) {
                                        span { class: "muted workspace-sync", "data-state": "{view.sync.state}",
                                            " · {view.sync.text}"
                                            " · {counted(view.notes, NOTE, NOTES)}"
                                        }
                                    }
                                }
                                if current.as_ref() == Some(&other.workspace_id) {
                                    span { class: "current-workspace", "Open now" }
                                } else {
                                    button {
                                        class: "secondary open-workspace",
                                        "aria-label": "Open {other.title()}",
                                        onclick: {
                                            let (id, db) = (other.workspace_id.clone(), db.clone());
                                            move |_| open_workspace(db.clone(), id.clone(), message)
                                        },
                                        "Open"
                                    }
                                }
                            }
                        }
                    }
                },
            }
            div { class: "editor-tools",
                button { class: "secondary", id: "new-workspace", onclick: new_workspace, "New workspace" }
                button {
                    class: "secondary danger",
                    id: "leave-workspace",
                    disabled: state.follower,
                    onclick: move |_| confirm_leave.set(true),
                    "Leave “{title}”…"
                }
            }
            if confirm_leave() {
                div { class: "banner error", id: "leave-warning", role: "alertdialog", "aria-label": "Leave this workspace?",
                    p {
                        strong { "Leave “{title}”? " }
                        "This deletes from this device {held}, with their history. "
                        match record.server.as_deref() {
                            Some(server) => rsx! { "The server at {server} keeps what it has, and this device can join again with a pairing link. " },
                            None => rsx! { strong { "It is on this device only: its notes will be gone for good. " } "Export it first (below) to keep a copy. " },
                        }
                        if sync.pending > 0 && record.server.is_some() {
                            strong { "{sync.pending_what} not on the server yet will be lost. " }
                        }
                    }
                    div { class: "editor-tools",
                        button { class: "danger", id: "confirm-leave", onclick: leave, "Leave and delete from this device" }
                        button { class: "secondary", id: "cancel-leave", onclick: move |_| confirm_leave.set(false), "Cancel" }
                    }
                }
            }
            if let Some(m) = message() { p { class: "banner error", "{m}" } }
        }
    }
}

/// The nouns the workspace list counts with.
const NOTE: &str = "note";
const NOTES: &str = "notes";

/// "1 note", "3 notes".
pub(crate) fn counted(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Reloads the app at its start, which opens the current workspace.
fn go_home() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_href("/");
    }
}

/// Makes `id` the workspace this device opens, and opens it.
fn open_workspace(
    db: std::rc::Rc<rexie::Rexie>,
    id: hearth_shared::id::WorkspaceId,
    mut message: Signal<Option<String>>,
) {
    spawn(async move {
        match device::set_current(&db, &id).await {
            // The sync worker opens the other workspace from scratch.
            Ok(()) => go_home(),
            Err(e) => message.set(Some(e.to_string())),
        }
    });
}

/// The "Your data" card.
#[component]
pub fn DataCard() -> Element {
    let state = use_context::<AppState>();
    let mut message = use_signal(|| None::<String>);
    let mut facts = use_resource(storage_facts);

    let mut pending = use_signal(|| None::<String>);
    let mut recovery_text = use_signal(String::new);
    let export_file = {
        let state = state.clone();
        move |_| {
            let record = state.record.peek().clone();
            // An encrypted workspace's file is sealed, and opens with the
            // recovery key, where this device keeps what that takes.
            let sealing = record
                .keys
                .as_ref()
                .and_then(|ring| Some((ring.writing()?.clone(), ring.recovery.clone()?)));
            if record.is_encrypted()
                && record.server.is_some()
                && sealing.is_none()
                && !crate::platform::confirm(
                    "This device cannot encrypt the file: only the owner's device, once it has made a recovery key, can. Export it unencrypted? Anyone who gets the file can read your notes.",
                )
            {
                return;
            }
            let ivs = [crate::platform::fresh_iv(), crate::platform::fresh_iv()];
            let keys =
                sealing
                    .as_ref()
                    .map(|(key, recovery)| export::ExportKeys { key, recovery, ivs });
            let encrypted = keys.is_some();
            match export::export_file(
                &state.workspace.peek(),
                record.workspace_id.as_str(),
                now_ms(),
                keys,
            ) {
                Ok(text) => {
                    download(
                        &export_file_name(record.workspace_id.as_str()),
                        "application/json",
                        &text.into(),
                    );
                    message.set(Some(match encrypted {
                        true => "Exported, encrypted: importing the file asks for this workspace's recovery key.".into(),
                        false => "Exported. The file is not encrypted: anyone who has it can read your notes.".into(),
                    }));
                }
                Err(e) => message.set(Some(format!("Could not export: {e}"))),
            }
        }
    };
    let export_json = {
        let state = state.clone();
        move |_| {
            let text = export::notes_json(&state.workspace.peek());
            download("hearth-notes.json", "application/json", &text.into());
        }
    };
    let import = {
        let state = state.clone();
        move |e: FormEvent| {
            let state = state.clone();
            let files = e.files();
            spawn(async move {
                let Some(file) = files.first() else { return };
                let text = match file.read_string().await {
                    Ok(text) => text,
                    Err(e) => {
                        message.set(Some(format!("Could not read the file: {e}")));
                        return;
                    }
                };
                if export::is_encrypted(&text) {
                    pending.set(Some(text));
                    message.set(Some(
                        "This file is encrypted: enter its workspace's recovery key to import it."
                            .into(),
                    ));
                    return;
                }
                match import_workspace(&state, &text, None).await {
                    Ok(()) => crate::platform::reload(),
                    Err(e) => message.set(Some(format!("Not imported: {e}"))),
                }
            });
        }
    };
    let import_sealed = {
        let state = state.clone();
        move |e: FormEvent| {
            e.prevent_default();
            let state = state.clone();
            let Some(text) = pending.peek().clone() else {
                return;
            };
            let key = recovery_text.peek().clone();
            spawn(async move {
                match import_workspace(&state, &text, Some(&key)).await {
                    Ok(()) => crate::platform::reload(),
                    Err(e) => message.set(Some(format!("Not imported: {e}"))),
                }
            });
        }
    };
    let persist = move |_| {
        spawn(async move {
            let granted = storage_call("persist")
                .await
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if !granted {
                message.set(Some(
                    "The browser did not grant persistent storage. Installing Hearth as an app, or using it often, usually earns it; keep exports meanwhile.".into(),
                ));
            }
            facts.restart();
        });
    };

    let facts_view = facts.read().clone();
    rsx! {
        section { class: "card", id: "data-card",
            h2 { "Your data" }
            if let Some(f) = facts_view {
                p { id: "storage-facts",
                    match (f.usage, f.quota) {
                        (Some(u), Some(q)) => rsx! { "This site uses {megabytes(u)} of {megabytes(q)} the browser allows. " },
                        _ => rsx! { "The browser does not say how much storage this site uses. " },
                    }
                    match f.persisted {
                        Some(true) => rsx! { span { id: "storage-persisted", "Storage is persistent: the browser will not evict it to free space." } },
                        Some(false) => rsx! {
                            span { class: "warning", id: "storage-evictable",
                                "The browser may evict this data when space runs low. Sync it to your server or export it. "
                            }
                            button { class: "secondary", id: "persist", onclick: persist, "Keep data on this device" }
                        },
                        None => rsx! { "The browser does not say whether it may evict this data." },
                    }
                }
            }
            div { class: "add-row",
                button { class: "secondary", id: "export-workspace", onclick: export_file, "Export workspace" }
                button { class: "secondary", id: "export-json", onclick: export_json, "Export notes as JSON" }
            }
            label { class: "import", "Import a workspace file (it becomes a new workspace on this device): "
                input { id: "import-file", r#type: "file", accept: ".json,application/json", onchange: import }
            }
            if pending().is_some() {
                form { class: "stack", id: "import-key-form", onsubmit: import_sealed,
                    label { "Recovery key of the file's workspace"
                        input {
                            id: "import-key-input",
                            autocomplete: "off",
                            spellcheck: "false",
                            value: "{recovery_text}",
                            oninput: move |e| recovery_text.set(e.value()),
                        }
                    }
                    button { id: "import-key-button", r#type: "submit", "Import" }
                }
            }
            if let Some(m) = message() { p { class: "banner", id: "data-message", "{m}" } }
        }
    }
}

/// Makes a new workspace on this device from a workspace file, and makes it
/// the one this device shows.
///
/// The file's notes and task lists are written afresh under this device's
/// peer id (the sync engine pushes a device's own operations), so that the
/// imported workspace syncs like one made here; the file's edit history
/// stays in the file.
async fn import_workspace(
    state: &AppState,
    text: &str,
    recovery_key: Option<&str>,
) -> Result<(), String> {
    let snapshot = export::read_file(text, recovery_key).map_err(|e| e.to_string())?;
    let source_doc = hearth_shared::engine::loro::LoroDoc::new();
    source_doc
        .import(&snapshot)
        .map_err(|e| format!("the file is damaged: {e}"))?;
    let (source, _) = Workspace::open(source_doc).map_err(|e| e.to_string())?;

    let peer = hearth_shared::engine::peer_id_from_random(random8());
    let doc = hearth_shared::engine::loro::LoroDoc::new();
    doc.set_peer_id(peer).map_err(|e| e.to_string())?;
    let target = Workspace::create(doc.clone()).map_err(|e| e.to_string())?;
    export::copy_workspace(&source, &target, now_ms()).map_err(|e| e.to_string())?;
    let fresh = doc
        .export(hearth_shared::engine::loro::ExportMode::Snapshot)
        .map_err(|e| e.to_string())?;

    let workspace_id = new_workspace_id();
    let store = IdbStore::new(state.db.clone(), workspace_id.clone());
    store
        .compact(&fresh, &SyncMeta::new(peer))
        .await
        .map_err(|e| e.to_string())?;
    let label = state.record.peek().label.clone();
    let record = DeviceRecord::encrypted(workspace_id, label, crate::platform::secure_random()?);
    device::save_current(&state.db, &record)
        .await
        .map_err(|e| e.to_string())
}

/// The export file's name: `hearth-` and the first 8 characters of the
/// workspace id that are safe in a file name. The id may come from an
/// unverified claim of a pasted token, so it is never sliced by bytes.
pub fn export_file_name(workspace_id: &str) -> String {
    let short: String = workspace_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let short = if short.is_empty() {
        "workspace".to_owned()
    } else {
        short
    };
    format!("hearth-{short}.hearth.json")
}

#[cfg(test)]
mod tests {
    use super::export_file_name;
    use wasm_bindgen_test::wasm_bindgen_test;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn export_names_never_panic_on_odd_ids() {
        assert_eq!(
            export_file_name("0123456789abcdef0123456789abcdef"),
            "hearth-01234567.hearth.json"
        );
        assert_eq!(export_file_name("ab"), "hearth-ab.hearth.json");
        assert_eq!(export_file_name(""), "hearth-workspace.hearth.json");
        assert_eq!(export_file_name("ééééééééé/../x"), "hearth-x.hearth.json");
    }
}
