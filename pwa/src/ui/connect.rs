//! The Sync screen: the state of sync in words, and connecting this
//! workspace to a server, as its owner (register) or as another device
//! (with an access token).

use dioxus::prelude::*;
use hearth_shared::api::{RegisterResponse, RegisterWorkspace};
use hearth_shared::id::WorkspaceId;

use crate::device::{self, DeviceRecord};
use crate::fetch::post_json;
use crate::protocol::ToWorker;
use crate::state::AppState;

/// The page's own origin: the default server.
fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// The claims of a token that the app needs (read, not verified: the
/// server verifies).
struct TokenFacts {
    workspace: String,
    scope: String,
    role: String,
}

fn read_token(token: &str) -> Option<TokenFacts> {
    let payload = token.split('.').nth(1)?;
    let mut b64 = payload.replace('-', "+").replace('_', "/");
    while b64.len() % 4 != 0 {
        b64.push('=');
    }
    let window = web_sys::window()?;
    let json = window.atob(&b64).ok()?;
    let claims: serde_json::Value = serde_json::from_str(&json).ok()?;
    Some(TokenFacts {
        workspace: claims["ws"].as_str()?.to_owned(),
        scope: claims["scope"].as_str().unwrap_or("rw").to_owned(),
        role: claims["role"].as_str().unwrap_or("access").to_owned(),
    })
}

/// The Sync screen.
#[component]
pub fn SyncScreen() -> Element {
    let state = use_context::<AppState>();
    let record = state.record;
    let sync = state.sync;
    let view = sync();
    let r = record();

    rsx! {
        section { class: "card", id: "sync-card",
            h2 { "Sync" }
            p { id: "sync-detail",
                strong { "{view.text}" }
                if view.pending > 0 { " — {view.pending} change(s) not on the server yet." }
            }
            if let Some(detail) = view.detail.clone() {
                p { class: "muted", id: "sync-error", "{detail}" }
            }
            if r.server.is_some() {
                button {
                    id: "sync-now",
                    class: "secondary",
                    onclick: move |_| state.link.send(ToWorker::SyncNow),
                    "Sync now"
                }
            }
            dl { class: "facts",
                dt { "Workspace" } dd { id: "workspace-id", "{r.workspace_id}" }
                dt { "This device" } dd { "{r.label}" }
                if let Some(server) = r.server.clone() {
                    dt { "Server" } dd { id: "server-url", "{server}" }
                    dt { "Access" } dd {
                        if r.role.as_deref() == Some("master") { "owner (master token)" } else { "device token" }
                        if r.scope.as_deref() == Some("ro") { ", read-only" }
                    }
                }
            }
        }
        if r.server.is_none() {
            ConnectOwner {}
            JoinWithToken {}
        }
        if r.role.as_deref() == Some("master") {
            crate::ui::devices::PairDevice {}
            crate::ui::devices::DeviceList {}
        }
        crate::ui::data::DataCard {}
    }
}

/// Registers this workspace with a server and becomes its owner.
#[component]
fn ConnectOwner() -> Element {
    let state = use_context::<AppState>();
    let mut server = use_signal(origin);
    let mut label = use_signal(|| state.record.peek().label.clone());
    let mut busy = use_signal(|| false);
    let mut message = use_signal(|| None::<String>);

    let connect = move |e: FormEvent| {
        e.prevent_default();
        let state = state.clone();
        let server_url = server().trim().trim_end_matches('/').to_owned();
        let label_text = label().trim().to_owned();
        busy.set(true);
        spawn(async move {
            let mut record = state.record.peek().clone();
            let result = match WorkspaceId::parse(&record.workspace_id) {
                Ok(workspace_id) => {
                    let body = RegisterWorkspace { workspace_id, label: label_text.clone() };
                    post_json::<_, RegisterResponse>(&server_url, "/v1/workspaces", None, &body).await.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(answer) => {
                    record.server = Some(server_url);
                    record.token = Some(answer.master_token);
                    record.role = Some("master".into());
                    record.scope = Some("rw".into());
                    record.label = label_text;
                    match device::save(&state.db, &record).await {
                        Ok(()) => {
                            if let Some(connection) = record.connection() {
                                state.link.send(ToWorker::Connect { connection, can_write: record.can_write() });
                            }
                            let mut r = state.record;
                            r.set(record);
                            message.set(None);
                        }
                        Err(e) => message.set(Some(e.to_string())),
                    }
                }
                Err(e) => message.set(Some(format!("Could not connect: {e}"))),
            }
            busy.set(false);
        });
    };

    rsx! {
        section { class: "card", id: "connect-card",
            h2 { "Connect to your server" }
            p { "Your workspace lives on this device. Connect it to your Hearth server to sync it with your other devices and keep a copy at home." }
            form { class: "stack", onsubmit: connect,
                label { "Server address"
                    input { id: "server-input", value: "{server}", oninput: move |e| server.set(e.value()) }
                }
                label { "Name of this device"
                    input { id: "label-input", value: "{label}", oninput: move |e| label.set(e.value()) }
                }
                button { id: "connect", r#type: "submit", disabled: busy(), if busy() { "Connecting…" } else { "Connect and become owner" } }
            }
            if let Some(m) = message() { p { class: "banner error", id: "connect-error", "{m}" } }
        }
    }
}

/// Joins an existing workspace with an access token minted by its owner.
#[component]
fn JoinWithToken() -> Element {
    let state = use_context::<AppState>();
    let mut server = use_signal(origin);
    let mut token = use_signal(String::new);
    let mut message = use_signal(|| None::<String>);

    let join = move |e: FormEvent| {
        e.prevent_default();
        let state = state.clone();
        let token_text = token().trim().to_owned();
        let server_url = server().trim().trim_end_matches('/').to_owned();
        let Some(facts) = read_token(&token_text) else {
            message.set(Some("That is not a Hearth access token.".into()));
            return;
        };
        spawn(async move {
            let record = DeviceRecord {
                workspace_id: facts.workspace,
                label: state.record.peek().label.clone(),
                server: Some(server_url),
                token: Some(token_text),
                role: Some(facts.role),
                scope: Some(facts.scope),
            };
            match device::save(&state.db, &record).await {
                // Open the joined workspace from scratch.
                Ok(()) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().reload();
                    }
                }
                Err(e) => message.set(Some(e.to_string())),
            }
        });
    };

    rsx! {
        section { class: "card", id: "join-card",
            h2 { "Join a workspace" }
            p { "Paste an access token made on your main device to show its workspace here instead." }
            form { class: "stack", onsubmit: join,
                label { "Server address"
                    input { id: "join-server-input", value: "{server}", oninput: move |e| server.set(e.value()) }
                }
                label { "Access token"
                    input { id: "token-input", value: "{token}", oninput: move |e| token.set(e.value()) }
                }
                button { id: "join", r#type: "submit", "Join" }
            }
            if let Some(m) = message() { p { class: "banner error", id: "join-error", "{m}" } }
        }
    }
}
