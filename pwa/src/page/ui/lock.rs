//! The app lock's screens: the lock screen a locked start shows instead
//! of anything of the workspaces (passcode; a forgotten one opened with a
//! recovery key, or the lock removed), and Data → "App lock" (turning it
//! on with a passcode and an idle time, locking now, turning it off).

use dioxus::prelude::*;
use hearth_storage::lock::LockRecord;

use crate::page::lock::{DEFAULT_IDLE, IDLE_CHOICES, IDLE_MINUTES, lock_now, opened};
use crate::page::state::AppState;

/// What the lock screen is doing.
#[derive(Clone, Copy, PartialEq)]
enum Step {
    Passcode,
    Forgot,
}

/// The lock screen: the only thing a locked app shows.
#[component]
pub fn LockScreen(lock: Option<LockRecord>) -> Element {
    // A damaged lock record opens with nothing: only removing it is left.
    let damaged = lock.is_none();
    let lock = lock.unwrap_or_else(|| LockRecord {
        version: 0,
        iterations: 0,
        salt: String::new(),
        passcode: String::new(),
        recovery: Vec::new(),
        idle_minutes: 0,
        device: None,
        key_id: String::new(),
    });
    let mut passcode = use_signal(String::new);
    let mut recovery = use_signal(String::new);
    let mut message = use_signal(|| None::<String>);
    let mut busy = use_signal(|| false);
    let mut step = use_signal(move || {
        if damaged {
            Step::Forgot
        } else {
            Step::Passcode
        }
    });
    let by_device = lock.device.is_some() && crate::page::device_unlock::available();
    let unlock_by_device = {
        let lock = lock.clone();
        move |_| {
            let lock = lock.clone();
            busy.set(true);
            message.set(None);
            spawn(async move {
                let lock = crate::page::lock::current_record(&lock).await;
                match crate::page::device_unlock::open(&lock).await {
                    Ok(key) => opened(key),
                    Err(why) => {
                        message.set(Some(why));
                        busy.set(false);
                    }
                }
            });
        }
    };
    let unlock = {
        let lock = lock.clone();
        move |e: FormEvent| {
            e.prevent_default();
            let lock = lock.clone();
            busy.set(true);
            message.set(None);
            let typed = passcode.peek().clone();
            spawn(async move {
                let lock = crate::page::lock::current_record(&lock).await;
                match crate::lock::open_with_passcode(&lock, &typed).await {
                    Ok(key) => opened(key),
                    Err(why) => {
                        passcode.set(String::new());
                        message.set(Some(why));
                        busy.set(false);
                    }
                }
            });
        }
    };
    // A recovery key the owner's device kept opens the lock with no
    // server; the lock is then off, for a new passcode to be chosen.
    let unlock_by_recovery = {
        let lock = lock.clone();
        move |e: FormEvent| {
            e.prevent_default();
            let key = match crate::lock::open_with_recovery(&lock, &recovery.peek()) {
                Ok(key) => key,
                Err(why) => return message.set(Some(why)),
            };
            busy.set(true);
            spawn(async move {
                crate::lock::install(&key);
                let off = match crate::idb::open(crate::idb::DB_NAME).await {
                    Ok(db) => hearth_storage::lock::turn_off(&db).await,
                    Err(e) => Err(e),
                };
                match off {
                    Ok(()) => {
                        *IDLE_MINUTES.write() = None;
                        opened(key);
                    }
                    Err(e) => {
                        hearth_storage::lock::forget_key();
                        message.set(Some(format!("Could not remove the lock: {e}")));
                        busy.set(false);
                    }
                }
            });
        }
    };
    let mut removing = use_signal(|| false);
    let remove = move |_| {
        spawn(async move {
            let gone = match crate::idb::open(crate::idb::DB_NAME).await {
                Ok(db) => crate::page::lock::remove_with_everything(&db).await,
                Err(e) => Err(e.to_string()),
            };
            match gone {
                Ok(()) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href("/sync");
                    }
                }
                Err(e) => message.set(Some(format!("Could not remove the lock: {e}"))),
            }
        });
    };
    rsx! {
        main {
            section { class: "card", id: "lock-screen",
                h2 { "Hearth is locked" }
                if step() == Step::Passcode {
                    form { class: "stack", onsubmit: unlock,
                        label { "Passcode"
                            input {
                                id: "unlock-passcode",
                                r#type: "password",
                                autocomplete: "current-password",
                                autofocus: true,
                                value: "{passcode}",
                                oninput: move |e| passcode.set(e.value()),
                            }
                        }
                        button { id: "unlock", r#type: "submit", disabled: busy(),
                            if busy() { "Unlocking…" } else { "Unlock" }
                        }
                    }
                    if by_device {
                        button { id: "unlock-device", class: "secondary", disabled: busy(), onclick: unlock_by_device, "Unlock with this device" }
                    }
                    button { id: "lock-forgot", class: "link", onclick: move |_| { message.set(None); step.set(Step::Forgot) }, "Forgot your passcode?" }
                } else if damaged {
                    p { id: "lock-damaged", "This device's app lock is damaged (its settings were changed), so nothing opens it." }
                } else {
                    p { "On the device that owns a workspace, its recovery key opens the lock. The lock is then off: turn it on again under Data with a new passcode." }
                    form { class: "stack", onsubmit: unlock_by_recovery,
                        label { "Recovery key"
                            textarea {
                                id: "forgot-recovery-key",
                                rows: 3,
                                value: "{recovery}",
                                "autocapitalize": "characters",
                                "autocomplete": "off",
                                "spellcheck": "false",
                                oninput: move |e| recovery.set(e.value()),
                            }
                        }
                        button { id: "forgot-unlock", r#type: "submit", disabled: busy(), "Unlock with the recovery key" }
                    }
                }
                if step() == Step::Forgot {
                    p { "No recovery key for this device? Removing the lock removes this device's copy of your workspaces with it." }
                    if removing() {
                        p { class: "banner error", id: "forgot-remove-warning", role: "alert",
                            "Every workspace on this device is deleted from it, with its keys: whoever holds the device reads nothing. Each one comes back from your server with its recovery key (Sync → Recover a workspace) or by pairing this device again; changes not yet synced are lost."
                        }
                        button { id: "forgot-remove-confirm", class: "danger", onclick: remove, "Delete this device's copy and remove the lock" }
                    } else {
                        button { id: "forgot-remove", class: "danger", onclick: move |_| removing.set(true), "Remove the lock" }
                    }
                    if !damaged {
                        button { id: "forgot-back", class: "link", onclick: move |_| { message.set(None); step.set(Step::Passcode) }, "Back to the passcode" }
                    }
                }
                if let Some(m) = message() { p { class: "banner error", id: "unlock-error", role: "alert", "{m}" } }
            }
        }
    }
}

/// Data → "App lock".
#[component]
pub fn AppLockCard() -> Element {
    let state = use_context::<AppState>();
    let mut passcode = use_signal(String::new);
    let mut confirm = use_signal(String::new);
    let mut idle = use_signal(|| DEFAULT_IDLE);
    let mut message = use_signal(|| None::<(bool, String)>);
    let mut busy = use_signal(|| false);
    let mut current = use_signal(String::new);
    let mut new_passcode = use_signal(String::new);
    let mut new_confirm = use_signal(String::new);
    let change = {
        let state = state.clone();
        move |e: FormEvent| {
            e.prevent_default();
            if *new_passcode.peek() != *new_confirm.peek() {
                return message.set(Some((false, "The two new passcodes differ.".into())));
            }
            let state = state.clone();
            let (old, new) = (current.peek().clone(), new_passcode.peek().clone());
            busy.set(true);
            message.set(None);
            spawn(async move {
                let outcome = crate::page::lock::change_passcode(&state.db, &old, &new).await;
                busy.set(false);
                current.set(String::new());
                match outcome {
                    Ok(()) => {
                        new_passcode.set(String::new());
                        new_confirm.set(String::new());
                        message.set(Some((true, "The passcode is changed.".into())));
                    }
                    Err(why) => message.set(Some((false, why))),
                }
            });
        }
    };
    let on = IDLE_MINUTES();
    // The worker belongs to the tab that syncs: only it tells the worker
    // the key, so only it turns the lock on or off.
    let follower = state.follower;
    // Whether the device's own unlock is set up (read from the lock record).
    let mut device_on = use_signal(|| false);
    {
        let db = state.db.clone();
        use_future(move || {
            let db = db.clone();
            async move {
                if let Ok(Some(lock)) = hearth_storage::lock::load(&db).await {
                    device_on.set(lock.device.is_some());
                }
            }
        });
    }
    let device_unlock = {
        let state = state.clone();
        move |_| {
            let state = state.clone();
            let adding = !device_on();
            busy.set(true);
            message.set(None);
            spawn(async move {
                let outcome = if adding {
                    crate::page::lock::add_device_unlock(&state.db).await
                } else {
                    crate::page::lock::remove_device_unlock(&state.db).await
                };
                busy.set(false);
                match outcome {
                    Ok(()) => {
                        device_on.set(adding);
                        let said = if adding {
                            "This device's own unlock opens Hearth too."
                        } else {
                            "Only the passcode opens Hearth now."
                        };
                        message.set(Some((true, said.into())));
                    }
                    Err(why) => message.set(Some((false, why))),
                }
            });
        }
    };
    let turn_on = {
        let state = state.clone();
        move |e: FormEvent| {
            e.prevent_default();
            if *passcode.peek() != *confirm.peek() {
                return message.set(Some((false, "The two passcodes differ.".into())));
            }
            let state = state.clone();
            let typed = passcode.peek().clone();
            busy.set(true);
            message.set(None);
            spawn(async move {
                let link = state.link.clone();
                let outcome = crate::page::lock::turn_on(&state.db, &typed, idle(), |key| {
                    link.send(crate::protocol::ToWorker::Unlock {
                        key: key.bytes().to_vec(),
                    })
                })
                .await;
                busy.set(false);
                match outcome {
                    Ok(()) => {
                        passcode.set(String::new());
                        confirm.set(String::new());
                        message.set(Some((true, "The app lock is on.".into())));
                    }
                    Err(why) => message.set(Some((false, why))),
                }
            });
        }
    };
    let turn_off = {
        let state = state.clone();
        move |e: FormEvent| {
            e.prevent_default();
            let state = state.clone();
            busy.set(true);
            message.set(None);
            let typed = passcode.peek().clone();
            spawn(async move {
                let outcome = crate::page::lock::turn_off(&state.db, &typed).await;
                busy.set(false);
                passcode.set(String::new());
                match outcome {
                    Ok(()) => message.set(Some((true, "The app lock is off.".into()))),
                    Err(why) => message.set(Some((false, why))),
                }
            });
        }
    };
    rsx! {
        section { class: "card", id: "lock-card",
            h2 { "App lock" }
            if let Some(minutes) = on {
                p { id: "lock-state", "On: Hearth asks for the passcode when it opens, and locks after {idle_words(minutes)} without a touch or a key. While it is locked, this device's keys and tokens are sealed under the passcode." }
                button { id: "lock-card-now", onclick: move |_| lock_now(), "Lock now" }
                if crate::page::device_unlock::available() {
                    if device_on() {
                        p { id: "lock-device-state", "This device's own unlock (fingerprint, face or screen lock) opens Hearth too." }
                        button { id: "lock-remove-device", class: "secondary", disabled: busy(), onclick: device_unlock, "Stop unlocking with this device" }
                    } else {
                        button { id: "lock-add-device", class: "secondary", disabled: busy(), onclick: device_unlock, "Also unlock with this device's fingerprint, face or screen lock" }
                    }
                }
                form { class: "stack", onsubmit: turn_off,
                    label { "Passcode, to turn the lock off"
                        input { id: "lock-off-passcode", r#type: "password", autocomplete: "current-password", value: "{passcode}", oninput: move |e| passcode.set(e.value()) }
                    }
                    button { id: "lock-turn-off", r#type: "submit", disabled: busy() || follower, "Turn off" }
                }
                details { id: "lock-change-details",
                    summary { "Change the passcode" }
                    form { class: "stack", onsubmit: change,
                        label { "Current passcode"
                            input { id: "lock-current", r#type: "password", autocomplete: "current-password", value: "{current}", oninput: move |e| current.set(e.value()) }
                        }
                        label { "New passcode (at least 4 characters)"
                            input { id: "lock-new", r#type: "password", autocomplete: "new-password", value: "{new_passcode}", oninput: move |e| new_passcode.set(e.value()) }
                        }
                        label { "The same new passcode again"
                            input { id: "lock-new-confirm", r#type: "password", autocomplete: "new-password", value: "{new_confirm}", oninput: move |e| new_confirm.set(e.value()) }
                        }
                        button { id: "lock-change", r#type: "submit", disabled: busy(), "Change the passcode" }
                    }
                }
            } else {
                p { id: "lock-state", "Off. With the lock on, Hearth asks for a passcode when it opens and after it is left alone, shows nothing of your notes until then, and keeps this device's keys and tokens sealed under the passcode." }
                form { class: "stack", onsubmit: turn_on,
                    label { "Passcode (at least 4 characters)"
                        input { id: "lock-passcode", r#type: "password", autocomplete: "new-password", value: "{passcode}", oninput: move |e| passcode.set(e.value()) }
                    }
                    label { "The same passcode again"
                        input { id: "lock-confirm", r#type: "password", autocomplete: "new-password", value: "{confirm}", oninput: move |e| confirm.set(e.value()) }
                    }
                    label { "Lock after"
                        select {
                            id: "lock-idle",
                            onchange: move |e| idle.set(e.value().parse().unwrap_or(DEFAULT_IDLE)),
                            for (minutes, words) in IDLE_CHOICES {
                                option { value: "{minutes}", selected: minutes == idle(), "{words}" }
                            }
                        }
                    }
                    button { id: "lock-turn-on", r#type: "submit", disabled: busy() || follower,
                        if busy() { "Turning on…" } else { "Turn on" }
                    }
                }
            }
            if follower {
                p { class: "muted", id: "lock-follower", "Another tab of this browser syncs the workspace: turn the lock on or off there." }
            }
            if let Some((ok, m)) = message() {
                p { class: if ok { "banner" } else { "banner error" }, id: "lock-message", role: if ok { "status" } else { "alert" }, "{m}" }
            }
        }
    }
}

fn idle_words(minutes: u32) -> String {
    IDLE_CHOICES
        .iter()
        .find(|(m, _)| *m == minutes)
        .map_or_else(
            || format!("{minutes} minutes"),
            |(_, words)| (*words).to_owned(),
        )
}
