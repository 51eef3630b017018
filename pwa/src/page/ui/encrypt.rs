//! Encrypting a workspace made before Hearth encrypted (Devices →
//! Encrypt this workspace), on its owner's device.
//!
//! The key is made here and kept in the device record first, so that a
//! device stopped half-way still holds the key its workspace now needs;
//! then the sync worker catches up with the server, switches to the key,
//! replaces the server's log with a sealed snapshot and has the server
//! delete what it kept of the old log for undo. Pressing the button again
//! after a failure goes on from where it stopped. When it is done the
//! workspace gets its recovery key, shown once.

use dioxus::prelude::*;
use hearth_shared::keys::Keyring;

use crate::page::state::{AppState, Encryption};
use crate::protocol::ToWorker;

/// The card, on the owner's Devices screen of a workspace that is not
/// encrypted (or whose encrypting has not finished).
#[component]
pub fn EncryptCard() -> Element {
    let state = use_context::<AppState>();
    let mut encryption = state.encryption;
    let mut message = use_signal(|| None::<String>);
    // The recovery key is made once encrypting is done (once: the state
    // outlives this card).
    {
        let state = state.clone();
        use_effect(move || {
            if encryption() == Encryption::Done {
                encryption.set(Encryption::Keyed);
                let state = state.clone();
                let mut shown = state.recovery_key;
                spawn(async move {
                    let record = state.record.peek().clone();
                    match crate::page::ui::recovery::make_recovery_key(&state, record).await {
                        Ok((text, kept)) => {
                            let mut shared = state.record;
                            shared.set(kept);
                            shown.set(Some(text));
                        }
                        Err(e) => message.set(Some(format!(
                            "Encrypted, but no recovery key yet ({e}): make one under Recovery key."
                        ))),
                    }
                });
            }
        });
    }
    let start = move |_| {
        let question = "Encrypt this workspace? Its notes stay on this device; the server keeps only ciphertext from now on, and deletes its readable copy. Your other devices stop syncing it until you pair them again with a new link.";
        if !crate::platform::confirm(question) {
            return;
        }
        let state = state.clone();
        message.set(None);
        spawn(async move {
            let mut record = state.record.peek().clone();
            let ring = match record.keys.clone() {
                // A start that stopped: go on with the key already kept.
                Some(ring) => ring,
                None => match crate::platform::secure_random::<32>() {
                    Ok(key) => Keyring::first(key),
                    Err(e) => {
                        message.set(Some(format!("No key could be made: {e}.")));
                        return;
                    }
                },
            };
            record.keys = Some(ring.clone());
            if let Err(e) = crate::device::save(&state.db, &record).await {
                message.set(Some(format!(
                    "Nothing changed: this device could not keep the key ({e})."
                )));
                return;
            }
            let mut r = state.record;
            r.set(record);
            encryption.set(Encryption::Working);
            state.link.send(ToWorker::Encrypt { ring });
        });
    };
    let now = encryption();
    let working = now == Encryption::Working;
    rsx! {
        section { class: "card", id: "encrypt-card",
            h2 { "Encryption" }
            match &now {
                Encryption::Done | Encryption::Keyed => rsx! {
                    p { id: "encrypt-done", role: "status", "This workspace is encrypted. The server holds only ciphertext; pair your other devices again to sync them." }
                },
                Encryption::Failed(reason) => rsx! {
                    p { class: "banner error", id: "encrypt-error", role: "alert", "Encrypting stopped: {reason}. Press the button again to finish." }
                },
                _ => rsx! {
                    p { "This workspace was made before Hearth encrypted workspaces: the server and its backups can read its notes. Encrypt it to keep only ciphertext there." }
                },
            }
            if !matches!(now, Encryption::Done | Encryption::Keyed) {
                button { id: "encrypt-workspace", disabled: working, onclick: start,
                    if working { "Encrypting…" } else { "Encrypt this workspace" }
                }
            }
            if let Some(m) = message() { p { class: "banner error", id: "encrypt-message", role: "alert", "{m}" } }
        }
    }
}
