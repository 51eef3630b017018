//! The owner's device screens: pairing a new device by a share link shown
//! as a QR code, and the list of devices with revoke.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dioxus::prelude::*;
use hearth_shared::api::{
    CreateInvite, InviteResponse, RegisterResponse, Scope, SetExpiry, TokenInfo, TokenList,
};
use hearth_shared::engine::TransportError;
use hearth_shared::error::ErrorCode;
use hearth_shared::routes::Route;
use hearth_shared::share_link::ShareLink;

use crate::fetch::{delete, get_json, post_json, put_json};
use crate::page::state::AppState;
use crate::platform::{now_ms, relative_time};

/// How long a pairing link lives.
const INVITE_SECONDS: u64 = 10 * 60;

fn message_of(e: &TransportError) -> String {
    match e.code() {
        Some(ErrorCode::RateLimited) => {
            "Too many pairing links in a short time; wait a minute and try again.".into()
        }
        _ => e.to_string(),
    }
}

/// Makes a single-use, short-lived pairing link and shows it as a QR code.
#[component]
pub fn PairDevice() -> Element {
    let state = use_context::<AppState>();
    let mut link = use_signal(|| None::<(String, u64)>);
    let mut scope = use_signal(|| Scope::ReadWrite);
    let mut message = use_signal(|| None::<String>);
    let make = move |_| {
        let record = state.record.peek().clone();
        let (Some(server), Some(token)) = (record.server.clone(), record.token.clone()) else {
            return;
        };
        let workspace = record.workspace_id.clone();
        // An encrypted workspace's key travels wrapped for a secret that
        // only the link carries (in its fragment, never sent to a server).
        // Every key epoch goes: what was written before a rotation is
        // read with the earlier ones.
        let sealed = match &record.keys {
            None => None,
            Some(ring) => match crate::platform::secure_random::<32>() {
                Ok(secret) => {
                    let wrapped = hearth_shared::keywrap::wrap_ring(
                        ring,
                        &secret,
                        &workspace,
                        crate::platform::fresh_iv,
                    );
                    Some((secret, URL_SAFE_NO_PAD.encode(wrapped)))
                }
                Err(e) => {
                    message.set(Some(e));
                    return;
                }
            },
        };
        let (secret, wrapped_key) = match sealed {
            Some((secret, wrapped)) => (Some(secret), Some(wrapped)),
            None => (None, None),
        };
        let body = CreateInvite {
            wrapped_key,
            scope: scope(),
            expires_in: Some(INVITE_SECONDS),
        };
        spawn(async move {
            let path = Route::CreateInvite(workspace.clone()).path();
            match post_json::<_, InviteResponse>(&server, &path, Some(&token), &body).await {
                Ok(answer) => {
                    let url = ShareLink {
                        server: server.clone(),
                        workspace,
                        invite: answer.invite,
                        secret,
                    }
                    .to_url();
                    link.set(Some((url, answer.expires_at)));
                    message.set(None);
                }
                Err(e) => message.set(Some(message_of(&e))),
            }
        });
    };
    // Drawn by the module loaded on first use.
    let qr = use_resource(move || async move {
        match link() {
            Some((url, _)) => crate::page::extras::qr_svg(&url).await,
            None => None,
        }
    });
    let qr = qr.read().clone().flatten();
    rsx! {
        section { class: "card", id: "pair-card",
            h2 { "Pair a device" }
            p { "Open the link on the new device, or scan the code with its camera. The link works once, for ten minutes." }
            div { class: "add-row",
                select {
                    id: "pair-scope",
                    "aria-label": "What the new device may do",
                    onchange: move |e| scope.set(if e.value() == "ro" { Scope::ReadOnly } else { Scope::ReadWrite }),
                    option { value: "rw", "Can edit" }
                    option { value: "ro", "Can only read" }
                }
                button { id: "make-pair-link", onclick: make, "Create pairing link" }
            }
            if let Some((url, expires_at)) = link() {
                div { class: "pairing",
                    if let Some(svg) = qr {
                        div { class: "qr", id: "pair-qr", dangerous_inner_html: "{svg}" }
                    }
                    input { id: "pair-link", readonly: true, value: "{url}", "aria-label": "Pairing link", onfocus: move |e| { let _ = e; } }
                    p { class: "muted", "Expires {relative_expiry(expires_at)}." }
                }
            }
            if let Some(m) = message() { p { class: "banner error", id: "pair-error", "{m}" } }
        }
    }
}

/// "stops working in 3 days" / "stopped working".
fn expiry_text(expires_at: u64, now_ms: i64) -> String {
    let left_s = (expires_at as i64)
        .saturating_mul(1000)
        .saturating_sub(now_ms)
        / 1000;
    if left_s <= 0 {
        "stopped working (expired)".to_owned()
    } else if left_s < 2 * 60 * 60 {
        format!("stops working in {} min", (left_s / 60).max(1))
    } else if left_s < 2 * 24 * 60 * 60 {
        format!("stops working in {} h", left_s / 3600)
    } else {
        format!("stops working in {} days", left_s / 86_400)
    }
}

fn relative_expiry(expires_at: u64) -> String {
    let left = (expires_at as i64 * 1000 - now_ms()).max(0) / 60_000;
    format!("in {left} min")
}

/// The workspace's devices, with revoke.
#[component]
pub fn DeviceList() -> Element {
    let state = use_context::<AppState>();
    // The token id of this device, from its own token's claims.
    let this_device = state
        .record
        .read()
        .token
        .as_deref()
        .and_then(hearth_shared::claims::Claims::token_id);
    let mut refresh = use_signal(|| 0u32);
    let mut message = use_signal(|| None::<String>);
    let devices = use_resource(move || {
        let record = state.record.read().clone();
        let _ = refresh();
        async move {
            let (Some(server), Some(token)) = (record.server, record.token) else {
                return Err("not connected".to_owned());
            };
            let ws = record.workspace_id;
            let path = Route::ListTokens(ws).path();
            get_json::<TokenList>(&server, &path, &token)
                .await
                .map(|l| l.tokens)
                .map_err(|e| e.to_string())
        }
    });
    let mut rotation = state.rotation;
    // A copyable handle, so the handler stays `Copy` for every row.
    let link = use_signal(|| state.link.clone());
    let revoke = move |device: TokenInfo| {
        let record = state.record.peek().clone();
        let question = match record.is_encrypted() {
            true => format!(
                "Remove “{}”? It stops syncing at once, and the workspace key is changed, so it cannot read anything written from now on; what it already holds stays on it.",
                device.label
            ),
            false => format!(
                "Remove “{}”? It will stop syncing at once; its local data stays on it.",
                device.label
            ),
        };
        if !crate::platform::confirm(&question) {
            return;
        }
        spawn(async move {
            let (Some(server), Some(token)) = (record.server.clone(), record.token.clone()) else {
                return;
            };
            let ws = record.workspace_id.clone();
            let path = Route::RevokeToken(ws, device.token_id.clone()).path();
            match delete(&server, &path, &token).await {
                Ok(()) => {
                    refresh += 1;
                    if record.is_encrypted() {
                        rotation.set(crate::page::state::Rotation::Working);
                        link.peek().send(crate::protocol::ToWorker::Rotate {
                            removed: Some(device.token_id.clone()),
                        });
                    }
                }
                Err(e) => message.set(Some(e.to_string())),
            }
        });
    };
    let expiry_state = state.clone();
    let set_expiry = move |device: TokenInfo, days: Option<u64>| {
        let record = expiry_state.record.peek().clone();
        spawn(async move {
            let (Some(server), Some(token)) = (record.server, record.token) else {
                return;
            };
            let ws = record.workspace_id.clone();
            let path = Route::SetExpiry(ws, device.token_id.clone()).path();
            let body = SetExpiry {
                expires_in: days.map(|d| d * 24 * 60 * 60),
            };
            match put_json::<_, TokenInfo>(&server, &path, &token, &body).await {
                Ok(_) => refresh += 1,
                Err(e) => message.set(Some(format!(
                    "Could not change when “{}” expires: {e}",
                    device.label
                ))),
            }
        });
    };
    let owner_state = state.clone();
    let replace_owner = move |_| {
        let question = "Replace this device's owner key? The old key stops working at once; this device goes on with the new one.";
        if !crate::platform::confirm(question) {
            return;
        }
        let state = owner_state.clone();
        spawn(async move {
            let mut record = state.record.peek().clone();
            let (Some(server), Some(token)) = (record.server.clone(), record.token.clone()) else {
                return;
            };
            let ws = record.workspace_id.clone();
            let path = Route::ReplaceMaster(ws).path();
            match post_json::<_, RegisterResponse>(
                &server,
                &path,
                Some(&token),
                &serde_json::json!({}),
            )
            .await
            {
                Ok(new) => {
                    record.token = Some(new.master_token);
                    match crate::device::save(&state.db, &record).await {
                        // The sync worker starts again with the new key.
                        Ok(()) => crate::platform::reload(),
                        Err(e) => message.set(Some(format!(
                            "The server made a new owner key, but this device could not store it ({e}); the old key no longer works."
                        ))),
                    }
                }
                Err(e) => message.set(Some(format!("Could not replace the owner key: {e}"))),
            }
        });
    };
    let now = now_ms();
    let encrypted = state.record.read().is_encrypted();
    let members = hearth_shared::engine::roster::members(state.workspace.read().doc());
    let own_fingerprint = super::device_keys::own_fingerprint(state.record.read().keys.as_ref());
    rsx! {
        section { class: "card", id: "devices-card",
            h2 { "Devices" }
            if let Some(fingerprint) = own_fingerprint {
                p { class: "muted own-fingerprint",
                    "This device's key: "
                    code { class: "fingerprint", "{fingerprint}" }
                    ". Each device shows its own here; the list below shows what the workspace recorded for it. They should match."
                }
            }
            match &*devices.read() {
                None => rsx! { p { class: "muted", "Loading…" } },
                Some(Err(e)) => rsx! { p { class: "banner error", "Could not list devices: {e}" } },
                Some(Ok(list)) => rsx! {
                    ul { class: "devices", id: "device-list",
                        for device in list.iter().cloned() {
                            li { key: "{device.token_id}",
                                class: match (device.revoked_at.is_some(), this_device.as_ref() == Some(&device.token_id)) {
                                    (true, _) => "device revoked",
                                    (false, true) => "device this-device",
                                    (false, false) => "device",
                                },
                                "data-label": "{device.label}",
                                div {
                                    strong { "{device.label}" }
                                    span { class: "muted",
                                        if device.role == hearth_shared::claims::Role::Master { " · owner" } else if device.scope == Scope::ReadOnly { " · read-only" } else { " · can edit" }
                                        " · "
                                        // This device asked for the list just now, with its token.
                                        if this_device.as_ref() == Some(&device.token_id) {
                                            strong { class: "this-device-mark", "this device" }
                                            ", seen now"
                                        } else {
                                            match device.last_seen_at {
                                                Some(t) => rsx! { "seen {relative_time(t as i64 * 1000, now)}" },
                                                None => rsx! { "never seen" },
                                            }
                                        }
                                        if device.revoked_at.is_some() { " · removed" }
                                        if let (Some(at), None) = (device.expires_at, device.revoked_at) {
                                            " · {expiry_text(at, now)}"
                                        }
                                    }
                                    {
                                        let line = super::device_keys::key_line(&device, &members, encrypted);
                                        rsx! {
                                            if let Some(fingerprint) = line.fingerprint {
                                                span { class: "muted", " · key " code { class: "fingerprint", "{fingerprint}" } }
                                            }
                                            if let Some(warning) = line.warning {
                                                p { class: "banner error key-warning", role: "alert", "{warning}" }
                                            }
                                        }
                                    }
                                }
                                if device.revoked_at.is_none() && device.role != hearth_shared::claims::Role::Master {
                                    select {
                                        class: "expiry",
                                        "aria-label": "When {device.label} stops working",
                                        onchange: {
                                            let device = device.clone();
                                            move |e: Event<FormData>| {
                                                let days = e.value().parse::<u64>().ok();
                                                set_expiry(device.clone(), days)
                                            }
                                        },
                                        option { value: "", selected: device.expires_at.is_none(), "Keeps working" }
                                        option { value: "1", "Stops in 1 day" }
                                        option { value: "7", "Stops in 7 days" }
                                        option { value: "30", "Stops in 30 days" }
                                    }
                                }
                                if device.revoked_at.is_none() && device.role != hearth_shared::claims::Role::Master {
                                    button {
                                        class: "secondary danger revoke",
                                        onclick: {
                                            let device = device.clone();
                                            move |_| revoke(device.clone())
                                        },
                                        "Remove"
                                    }
                                }
                            }
                        }
                    }
                },
            }
            if let Some(m) = message() { p { class: "banner error", "{m}" } }
            match rotation() {
                crate::page::state::Rotation::Idle => rsx! {},
                crate::page::state::Rotation::Working => rsx! { p { class: "banner", id: "rotation-status", role: "status", "Changing the workspace key…" } },
                crate::page::state::Rotation::Done => rsx! {
                    p { class: "banner", id: "rotation-status", role: "status",
                        "The workspace key was changed: your other devices have the new one, and the removed device cannot read anything written from now on."
                        if state.record.read().keys.as_ref().is_some_and(|k| k.recovery.is_none()) {
                            " Make a new recovery key (Recovery key, on this screen): this device does not hold what it takes to give the new key to the one you have, so that one would not open what is written from now on."
                        }
                    }
                },
                crate::page::state::Rotation::Failed(reason) => rsx! { p { class: "banner error", id: "rotation-status", role: "status", "The workspace key is not changed yet ({reason}); it is finished at the next sync." } },
            }
            if state.record.read().is_owner() {
                div { class: "replace-owner",
                    p { class: "muted",
                        "If this device's owner key may have leaked (a copied browser profile, a backup of this device), replace it: this device gets a new one and the old one stops working at once. Other devices keep syncing."
                    }
                    button {
                        id: "replace-owner-key",
                        class: "secondary",
                        onclick: replace_owner,
                        "Replace the owner key"
                    }
                }
            }
        }
    }
}
