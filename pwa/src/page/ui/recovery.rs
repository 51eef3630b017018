//! The recovery key of an end-to-end encrypted workspace: made when the
//! workspace is first registered (and again on request), shown once to be
//! written down or printed, and used on a new device to get the workspace
//! back with nothing but the server's address and the key.
//!
//! The device sends the server only the credential's hash and the key
//! epochs wrapped for the recovery key (`hearth_shared::recovery`); the
//! recovery key itself never leaves the screen.

use dioxus::prelude::*;
use hearth_shared::api::{PutRecovery, RecoveryResponse, RedeemRecovery, Scope};
use hearth_shared::claims::Role;
use hearth_shared::error::ErrorCode;
use hearth_shared::recovery::{RecoveryKey, credential_hash};
use hearth_shared::routes::Route;

use crate::device::{self, DeviceRecord};
use crate::fetch::{post_json, put_json};
use crate::page::state::AppState;

/// Makes a new recovery key for the workspace of this device (its
/// owner's, connected, encrypted) and keeps what the server may know of it
/// there; the previous one stops working. The device keeps what it needs
/// to wrap later key epochs for it (not the key). Returns the key as a
/// person writes it, and the record as it is now kept (the caller shows
/// it: setting the shared record here could unmount the screen that
/// awaits this).
pub async fn make_recovery_key(
    state: &AppState,
    mut record: DeviceRecord,
) -> Result<(String, DeviceRecord), String> {
    let (Some(server), Some(token), Some(ring)) = (
        record.server.as_deref(),
        record.token.as_deref(),
        record.keys.as_ref(),
    ) else {
        return Err(
            "only the owner's device of an encrypted, connected workspace makes its recovery key"
                .into(),
        );
    };
    let key = RecoveryKey::new(crate::platform::secure_random::<32>()?);
    let wrapped = key.wrap_keys(ring, &record.workspace_id, crate::platform::fresh_iv);
    let body = PutRecovery::new(&credential_hash(&key.credential()), &wrapped);
    let path = Route::PutRecovery(record.workspace_id.clone()).path();
    put_json::<_, serde_json::Value>(server, &path, token, &body)
        .await
        .map_err(|e| format!("the server did not keep it: {e}"))?;
    if let Some(ring) = &mut record.keys {
        ring.recovery = Some(key.keep(&record.workspace_id));
        let ring = ring.clone();
        device::save_current(&state.db, &record)
            .await
            .map_err(|e| format!("this device could not store it: {e}"))?;
        state
            .link
            .send(crate::protocol::ToWorker::MergeRing { ring });
        // With the app lock on, the new key opens it too, and the old one
        // no longer does.
        crate::page::lock::rewrap_recovery(&state.db, &record).await;
    }
    Ok((key.to_text(), record))
}

/// The recovery key just made, until the person says it is written down.
#[component]
pub fn RecoveryKeyShown() -> Element {
    let state = use_context::<AppState>();
    let mut shown = state.recovery_key;
    // Drawn by the module loaded on first use.
    let qr = use_resource(move || async move {
        match shown() {
            Some(text) => crate::page::extras::qr_svg(&text).await,
            None => None,
        }
    });
    let Some(text) = shown() else {
        return rsx! {};
    };
    let qr = qr.read().clone().flatten();
    rsx! {
        section { class: "card recovery", id: "recovery-card", "aria-labelledby": "recovery-title",
            h2 { id: "recovery-title", "Your recovery key" }
            p { "Write it down or print it, and keep it somewhere safe away from your devices. If you lose every device, it is the only way to get this workspace back: the server cannot read your notes, and no one can reset this key for you." }
            p { class: "recovery-key", id: "recovery-key", translate: "no", "{text}" }
            if let Some(svg) = qr {
                div { class: "qr", id: "recovery-qr", role: "img", "aria-label": "The recovery key as a QR code", dangerous_inner_html: "{svg}" }
            }
            p { class: "muted", "It is shown this once. Under Devices you can make a new one, which replaces it." }
            div { class: "add-row",
                button {
                    id: "recovery-print",
                    class: "secondary",
                    onclick: move |_| {
                        if let Some(w) = web_sys::window() {
                            let _ = w.print();
                        }
                    },
                    "Print"
                }
                button { id: "recovery-done", onclick: move |_| shown.set(None), "I have written it down" }
            }
        }
    }
}

/// On the owner's Devices screen: replace the recovery key.
#[component]
pub fn RecoveryKeyCard() -> Element {
    let state = use_context::<AppState>();
    let mut message = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);
    let make = move |_| {
        let question = "Make a new recovery key? The one you have stops working at once.";
        if !crate::platform::confirm(question) {
            return;
        }
        let state = state.clone();
        let mut shown = state.recovery_key;
        busy.set(true);
        message.set(None);
        spawn(async move {
            let record = state.record.peek().clone();
            match make_recovery_key(&state, record).await {
                Ok((text, kept)) => {
                    let mut shared = state.record;
                    shared.set(kept);
                    shown.set(Some(text));
                }
                Err(e) => message.set(Some(format!("No new recovery key: {e}."))),
            }
            busy.set(false);
        });
    };
    rsx! {
        RecoveryKeyShown {}
        section { class: "card", id: "recovery-key-card",
            h2 { "Recovery key" }
            p { "With the recovery key and this server's address, a new device gets the whole workspace back and becomes its owner; every earlier owner device is locked out. Make a new one if yours is lost or someone else may have seen it." }
            button { id: "new-recovery-key", class: "secondary", disabled: busy(), onclick: make,
                if busy() { "Making…" } else { "Make a new recovery key" }
            }
            if let Some(m) = message() { p { class: "banner error", id: "recovery-key-error", role: "alert", "{m}" } }
        }
    }
}

/// A refused recovery, in words.
fn recover_error(e: &hearth_shared::engine::TransportError) -> String {
    match e.code() {
        Some(ErrorCode::RecoveryInvalid) => "This server has no workspace with that recovery key. Check it group by group, and that the address is the server the workspace synced with; a recovery key that was replaced no longer works.".into(),
        Some(ErrorCode::RateLimited) => "Too many tries in a short time; wait a minute and try again.".into(),
        _ => format!("Could not recover: {e}"),
    }
}

/// Gets the workspace of `text` (a recovery key) back from `server`, as
/// this device's owner record with every key epoch.
async fn recover(server: String, text: &str, label: String) -> Result<DeviceRecord, String> {
    let key = RecoveryKey::parse(text).map_err(|e| {
        format!("That is not a recovery key: {e}. It has 11 groups of five letters and digits.")
    })?;
    let body = RedeemRecovery::new(&key.credential(), label.clone());
    let answer =
        post_json::<_, RecoveryResponse>(&server, &Route::RedeemRecovery.path(), None, &body)
            .await
            .map_err(|e| recover_error(&e))?;
    let wrapped = answer.decoded_keys()?;
    let mut ring = key
        .unwrap_keys(&wrapped, &answer.workspace_id)
        .map_err(|e| {
            format!("The server answered, but its keys do not open with this recovery key ({e}).")
        })?;
    ring.recovery = Some(key.keep(&answer.workspace_id));
    Ok(DeviceRecord {
        workspace_id: answer.workspace_id,
        label,
        server: Some(server),
        token: Some(answer.master_token),
        role: Some(Role::Master),
        scope: Some(Scope::ReadWrite),
        name: None,
        keys: Some(ring),
        sealed: None,
    })
}

/// "Recover a workspace": the server's address and the recovery key.
#[component]
pub fn RecoverWorkspace() -> Element {
    let state = use_context::<AppState>();
    let mut server = use_signal(crate::platform::origin);
    let mut key = use_signal(String::new);
    let mut message = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);
    let submit = move |e: FormEvent| {
        e.prevent_default();
        let state = state.clone();
        let server_url = crate::platform::server_address(&server());
        let text = key();
        let label = state.record.peek().label.clone();
        busy.set(true);
        message.set(None);
        spawn(async move {
            let outcome = match recover(server_url, &text, label).await {
                Ok(record) => {
                    let saved = device::save_current(&state.db, &record)
                        .await
                        .map_err(|e| format!("Recovered, but this device could not store it: {e}"));
                    // With the app lock on, this recovery key opens it too.
                    if saved.is_ok() {
                        crate::page::lock::rewrap_recovery(&state.db, &record).await;
                    }
                    saved
                }
                Err(e) => Err(e),
            };
            match outcome {
                // Open the recovered workspace from scratch.
                Ok(()) => crate::platform::reload(),
                Err(e) => {
                    message.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };
    rsx! {
        section { class: "card", id: "recover-card",
            h2 { "Recover a workspace" }
            p { "Lost your devices? With your server's address and the recovery key you wrote down, this device gets the whole workspace back and becomes its owner. This device's own notes stay on it, under Data → Workspaces on this device." }
            form { class: "stack", onsubmit: submit,
                label { "Server address"
                    input { id: "recover-server-input", value: "{server}", oninput: move |e| server.set(e.value()) }
                }
                label { "Recovery key"
                    textarea {
                        id: "recover-key-input",
                        rows: 3,
                        value: "{key}",
                        "autocapitalize": "characters",
                        "autocomplete": "off",
                        "spellcheck": "false",
                        oninput: move |e| key.set(e.value()),
                    }
                }
                button { id: "recover", r#type: "submit", disabled: busy(),
                    if busy() { "Recovering…" } else { "Recover" }
                }
            }
            if let Some(m) = message() { p { class: "banner error", id: "recover-error", role: "alert", "{m}" } }
        }
    }
}
