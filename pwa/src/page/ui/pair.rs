//! Joining a workspace from a pairing link (`…/#pair?server=…&workspace=…&invite=…`).

use dioxus::prelude::*;
use hearth_shared::api::{RedeemInvite, RedeemResponse};
use hearth_shared::claims::Role;
use hearth_shared::error::ErrorCode;
use hearth_shared::routes::Route;
use hearth_shared::share_link::ShareLink;

use crate::device::{self, DeviceRecord};
use crate::fetch::post_json;
use crate::idb;

/// The pairing link in the page's address, if any.
pub fn link_in_address() -> Option<Result<ShareLink, String>> {
    let href = web_sys::window()?.location().href().ok()?;
    if !href.contains("#pair") {
        return None;
    }
    Some(ShareLink::parse(&href).map_err(|e| e.to_string()))
}

fn forget_link_and_reload() {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/"));
    }
    crate::platform::reload();
}

/// The join screen.
#[component]
pub fn JoinFromLink(link: Result<ShareLink, String>) -> Element {
    let mut label = use_signal(|| "My phone".to_owned());
    let mut message = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);
    let link = match link {
        Ok(link) => link,
        Err(e) => {
            return rsx! {
                section { class: "card", id: "pair-join",
                    h2 { "This pairing link is damaged" }
                    p { id: "pair-message", "{e}. Make a new link on your main device." }
                }
            };
        }
    };
    let server = link.server.clone();
    let join = move |e: FormEvent| {
        e.prevent_default();
        let link = link.clone();
        let label_text = label().trim().to_owned();
        busy.set(true);
        spawn(async move {
            let body = RedeemInvite {
                invite: link.invite.clone(),
                label: label_text.clone(),
            };
            let answer = post_json::<_, RedeemResponse>(
                &link.server,
                &Route::RedeemInvite.path(),
                None,
                &body,
            )
            .await;
            match answer {
                Ok(answer) => {
                    let keys = match keys_of(&link, &answer) {
                        Ok(keys) => keys,
                        Err(e) => {
                            message.set(Some(e));
                            busy.set(false);
                            return;
                        }
                    };
                    let record = DeviceRecord {
                        workspace_id: answer.workspace_id,
                        label: label_text,
                        server: Some(link.server.clone()),
                        token: Some(answer.token),
                        role: Some(Role::Access),
                        scope: Some(answer.scope),
                        name: None,
                        keys,
                        sealed: None,
                    };
                    let saved = match idb::open(idb::DB_NAME).await {
                        Ok(db) => device::save_current(&db, &record).await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match saved {
                        Ok(()) => forget_link_and_reload(),
                        Err(e) => message.set(Some(e)),
                    }
                }
                Err(e) if e.code() == Some(ErrorCode::InviteInvalid) => message.set(Some(
                    "This pairing link was already used or has expired. Make a new one on your main device.".into(),
                )),
                Err(e) => message.set(Some(format!("Could not join: {e}"))),
            }
            busy.set(false);
        });
    };
    rsx! {
        section { class: "card", id: "pair-join",
            h2 { "Join a workspace" }
            p { "This device will show and sync the workspace kept on " strong { "{server}" } ". Anything already on this device stays here too, under Data → Workspaces on this device." }
            form { class: "stack", onsubmit: join,
                label { "Name of this device"
                    input { id: "pair-label", value: "{label}", oninput: move |e| label.set(e.value()) }
                }
                button { id: "pair-join-button", r#type: "submit", disabled: busy(), "Join" }
            }
            if let Some(m) = message() { p { class: "banner error", id: "pair-message", "{m}" } }
        }
    }
}

/// The workspace's keys a redeemed invite brought: the key the owner's
/// device wrapped for the link's secret, unwrapped. `None` for a workspace
/// that is not encrypted (the owner's device sent no key).
fn keys_of(
    link: &ShareLink,
    answer: &RedeemResponse,
) -> Result<Option<hearth_shared::keys::Keyring>, String> {
    use base64::Engine as _;
    let Some(wrapped) = &answer.wrapped_key else {
        return Ok(None);
    };
    let Some(secret) = &link.secret else {
        return Err("This pairing link lost the part that unlocks the workspace (everything after “secret=”). Copy the whole link, or scan its code, and try again with a new link.".into());
    };
    let wrapped = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(wrapped.as_bytes())
        .map_err(|_| {
            "The server sent a damaged workspace key. Make a new pairing link.".to_owned()
        })?;
    let mut ring = hearth_shared::keywrap::unwrap_ring(&wrapped, secret, &answer.workspace_id).map_err(|e| {
        format!("This pairing link does not unlock the workspace's key ({e}). Make a new link on your main device.")
    })?;
    ring.device = Some(hearth_shared::keys::DeviceSecret::new(
        crate::platform::secure_random()?,
    ));
    Ok(Some(ring))
}
