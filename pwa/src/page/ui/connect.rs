//! The Sync screen: the state of sync in words, and connecting this
//! workspace to a server, as its owner (register, with the server's setup
//! code when it asks for one) or as another device (with an access token).

use dioxus::prelude::*;
use hearth_shared::api::{Health, RegisterResponse, RegisterWorkspace, Registration, Scope};
use hearth_shared::claims::{Claims, Role};
use hearth_shared::engine::TransportError;
use hearth_shared::error::ErrorCode;
use hearth_shared::routes::Route;

use crate::device::{self, DeviceRecord};
use crate::fetch::{Connection, get_public_json, post_json};
use crate::page::state::AppState;
use crate::platform::{origin, server_address};
use crate::protocol::ToWorker;

/// The Sync screen.
#[component]
pub fn SyncScreen() -> Element {
    let state = use_context::<AppState>();
    let record = state.record;
    let sync = state.sync;
    let view = sync();
    let r = record();

    rsx! {
        crate::page::ui::recovery::RecoveryKeyShown {}
        section { class: "card", id: "sync-card",
            h2 { "Sync" }
            p { id: "sync-detail",
                strong { "{view.text}" }
                if view.pending > 0 { " — {view.pending_what} not on the server yet." }
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
                        if r.is_owner() { "owner (master token)" } else { "device token" }
                        if !r.can_write() { ", read-only" }
                    }
                }
            }
        }
        if r.server.is_none() {
            ConnectOwner {}
            JoinWithToken {}
            crate::page::ui::recovery::RecoverWorkspace {}
        }
    }
}

/// Where a setup code comes from, for the errors about it.
const CODE_SOURCE: &str = "Use the code the server printed when it started, or run “hearth setup-code” on the server for a new one.";

/// What the screen says when a server takes no new workspaces.
const CLOSED: &str = "This server takes no new workspaces. To use it on this device, join an existing \
    workspace with a pairing link made on a device that already syncs with it.";

/// Who may register a workspace at `server`, from its `GET /v1/health`;
/// `None` when it does not answer (unreachable, or not a Hearth server).
async fn registration_of(server: &str) -> Option<Registration> {
    get_public_json::<Health>(server, &Route::Health.path())
        .await
        .ok()
        .map(|h| h.registration)
}

/// A refused registration, in words.
fn register_error(e: &TransportError) -> String {
    match e.code() {
        Some(ErrorCode::SetupCodeInvalid) => {
            format!(
                "That setup code is wrong or was already used (each code registers one workspace). {CODE_SOURCE}"
            )
        }
        Some(ErrorCode::RegistrationClosed) => CLOSED.to_owned(),
        Some(ErrorCode::WorkspaceExists) => {
            "This workspace is already registered on that server.".to_owned()
        }
        _ => format!("Could not connect: {e}"),
    }
}

/// Registers this device's workspace at `server_url` and saves it as the
/// owner's; `registration` learns what the server said about registering.
async fn register_here(
    state: &AppState,
    server_url: String,
    label_text: String,
    setup_code: String,
    mut registration: Signal<Option<Registration>>,
) -> Result<(), String> {
    // Read afresh: the address may have changed since the screen asked.
    let mode = registration_of(&server_url).await;
    registration.set(mode);
    match mode {
        Some(Registration::Closed) => return Err(CLOSED.to_owned()),
        Some(Registration::Code) if setup_code.is_empty() => {
            return Err(format!("This server asks for a setup code. {CODE_SOURCE}"));
        }
        _ => {}
    }
    let mut record = state.record.peek().clone();
    let body = RegisterWorkspace {
        workspace_id: record.workspace_id.clone(),
        label: label_text.clone(),
        setup_code: (!setup_code.is_empty()).then_some(setup_code),
    };
    let answer =
        match post_json::<_, RegisterResponse>(&server_url, &Route::Register.path(), None, &body)
            .await
        {
            Ok(answer) => answer,
            Err(e) => {
                match e.code() {
                    Some(ErrorCode::SetupCodeInvalid) => registration.set(Some(Registration::Code)),
                    Some(ErrorCode::RegistrationClosed) => {
                        registration.set(Some(Registration::Closed))
                    }
                    _ => {}
                }
                return Err(register_error(&e));
            }
        };
    record.server = Some(server_url);
    record.token = Some(answer.master_token);
    record.role = Some(Role::Master);
    record.scope = Some(Scope::ReadWrite);
    record.label = label_text;
    device::save_current(&state.db, &record)
        .await
        .map_err(|e| e.to_string())?;
    // An encrypted workspace gets its recovery key now, shown once.
    if record.is_encrypted() {
        match crate::page::ui::recovery::make_recovery_key(state, record.clone()).await {
            Ok((text, kept)) => {
                record = kept;
                let mut shown = state.recovery_key;
                shown.set(Some(text));
            }
            Err(e) => {
                let mut error = state.error;
                error.set(Some(format!(
                    "Connected, but no recovery key yet ({e}): make one under Devices → Recovery key."
                )));
            }
        }
    }
    if let Some(connection) = Connection::of(&record) {
        state.link.send(ToWorker::Connect {
            connection,
            can_write: record.can_write(),
        });
    }
    let mut r = state.record;
    r.set(record);
    Ok(())
}

/// Registers this workspace with a server and becomes its owner.
#[component]
fn ConnectOwner() -> Element {
    let state = use_context::<AppState>();
    let mut server = use_signal(origin);
    let mut label = use_signal(|| state.record.peek().label.clone());
    let mut setup_code = use_signal(String::new);
    // The address whose health the screen reads: the typed one, once the
    // field is left.
    let mut checked = use_signal(|| server_address(&origin()));
    // Who may register there; `None` until (unless) the server answers.
    let mut registration = use_signal(|| None::<Registration>);
    let mut busy = use_signal(|| false);
    let mut message = use_signal(|| None::<String>);

    let _health = use_resource(move || {
        let address = checked();
        async move {
            let mode = registration_of(&address).await;
            if *checked.peek() == address {
                registration.set(mode);
            }
        }
    });

    let connect = move |e: FormEvent| {
        e.prevent_default();
        let state = state.clone();
        let server_url = server_address(&server());
        let label_text = label().trim().to_owned();
        let code = setup_code().trim().to_owned();
        busy.set(true);
        message.set(None);
        spawn(async move {
            let outcome = register_here(&state, server_url, label_text, code, registration).await;
            // On a closed server the form's notice already says why.
            let closed = *registration.peek() == Some(Registration::Closed);
            message.set(outcome.err().filter(|_| !closed));
            busy.set(false);
        });
    };

    let mode = registration();
    let closed = mode == Some(Registration::Closed);
    // Unknown counts as "asks for a code", the servers' default.
    let wants_code = matches!(mode, None | Some(Registration::Code));
    let said = mode.map_or("unknown", Registration::as_str);
    rsx! {
        section { class: "card", id: "connect-card", "data-registration": "{said}",
            h2 { "Connect to your server" }
            p { "Your workspace lives on this device. Connect it to your Hearth server to sync it with your other devices and keep a copy at home." }
            form { class: "stack", onsubmit: connect,
                label { "Server address"
                    input {
                        id: "server-input",
                        value: "{server}",
                        oninput: move |e| server.set(e.value()),
                        onchange: move |e| checked.set(server_address(&e.value())),
                    }
                }
                if closed {
                    p { class: "banner", id: "registration-closed", role: "status", "{CLOSED}" }
                } else {
                    label { "Name of this device"
                        input { id: "label-input", value: "{label}", oninput: move |e| label.set(e.value()) }
                    }
                    if wants_code {
                        label { "Setup code"
                            input {
                                id: "setup-code-input",
                                value: "{setup_code}",
                                "autocomplete": "one-time-code",
                                "autocapitalize": "characters",
                                "spellcheck": "false",
                                "aria-describedby": "setup-code-hint",
                                oninput: move |e| setup_code.set(e.value()),
                            }
                        }
                        p { class: "muted", id: "setup-code-hint",
                            "Printed by the server when it starts; "
                            code { "hearth setup-code" }
                            " on the server prints another."
                        }
                    }
                }
                button {
                    id: "connect",
                    r#type: "submit",
                    disabled: busy() || closed,
                    if busy() { "Connecting…" } else { "Connect and become owner" }
                }
            }
            if let Some(m) = message() { p { class: "banner error", id: "connect-error", role: "alert", "{m}" } }
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
        let server_url = server_address(&server());
        // Read, not verified: the server verifies on the first request.
        let claims = match Claims::read_unverified(&token_text) {
            Ok(claims) => claims,
            Err(e) => {
                message.set(Some(format!("That is not a Hearth access token: {e}.")));
                return;
            }
        };
        spawn(async move {
            let record = DeviceRecord {
                workspace_id: claims.ws,
                label: state.record.peek().label.clone(),
                server: Some(server_url),
                token: Some(token_text),
                role: Some(claims.role),
                scope: Some(claims.scope),
                name: None,
                // A token carries no key: an encrypted workspace's key
                // comes only by pairing link (or the recovery key).
                keys: None,
                sealed: None,
            };
            match device::save_current(&state.db, &record).await {
                // Open the joined workspace from scratch.
                Ok(()) => crate::platform::reload(),
                Err(e) => message.set(Some(e.to_string())),
            }
        });
    };

    rsx! {
        section { class: "card", id: "join-card",
            h2 { "Join a workspace" }
            p { "Paste an access token made on your main device to open its workspace here. This device's own notes stay on it, under Data → Workspaces on this device." }
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
