//! "Public link" under a note: make a read-only link that anyone can open
//! without the app or an account, see this note's links with when each
//! ends, copy one again or show it as a QR code, update or revoke one; and Data → "Public links": every link
//! the workspace has, with its note. See [`crate::page::share`].

use dioxus::prelude::*;
use hearth_migrations::shares::ShareRecord;

use crate::page::share::{forget_gone, make_link, revoke, update_link};
use crate::page::state::AppState;
use crate::platform::now_ms;

/// How long a new link lasts: the choices, in seconds, and the default.
const LIVES: [(u64, &str); 4] = [
    (24 * 3600, "1 day"),
    (7 * 24 * 3600, "7 days"),
    (30 * 24 * 3600, "30 days"),
    (365 * 24 * 3600, "1 year"),
];
const DEFAULT_LIFE: u64 = 7 * 24 * 3600;

/// When a link ends, for people.
fn ends(record: &ShareRecord, now: i64) -> String {
    if record.expires_ms <= now {
        return "Expired".into();
    }
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(record.expires_ms as f64));
    let when = String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED));
    format!("Until {when}")
}

/// The public links of note `note_id`.
#[component]
pub fn ShareNote(note_id: String) -> Element {
    let state = use_context::<AppState>();
    state.track();
    let links = state.workspace.read().shares(Some(&note_id));
    let mut life = use_signal(|| DEFAULT_LIFE);
    let mut busy = use_signal(|| false);
    let mut status = use_signal(String::new);
    // Links the server forgot (expired, revoked elsewhere) leave the list.
    use_hook({
        let state = state.clone();
        move || spawn(async move { forget_gone(&state).await })
    });
    let on_make = {
        let (state, note_id) = (state.clone(), note_id.clone());
        move |_| {
            if busy() {
                return;
            }
            busy.set(true);
            let (state, note_id) = (state.clone(), note_id.clone());
            spawn(async move {
                let made = make_link(&state, &note_id, life(), |step| status.set(step)).await;
                status.set(match made {
                    Ok(_) => "Link made. Anyone who has it can read this note until it ends or you revoke it.".into(),
                    Err(why) => format!("No link was made: {why}"),
                });
                busy.set(false);
            });
        }
    };
    let now = now_ms();
    rsx! {
        section { class: "share", id: "share-panel",
            h3 { "Public link" }
            p { class: "hint",
                "Anyone with the link reads this note and its files, without the app or an account. "
                "The server keeps them encrypted; the key is in the link, and the server never sees it."
            }
            div { class: "share-make",
                label { r#for: "share-life", "Lasts" }
                select {
                    id: "share-life",
                    onchange: move |e: FormEvent| {
                        if let Ok(secs) = e.value().parse() {
                            life.set(secs);
                        }
                    },
                    for (secs, name) in LIVES {
                        option { value: "{secs}", selected: secs == DEFAULT_LIFE, "{name}" }
                    }
                }
                button { id: "share-create", disabled: busy(), onclick: on_make, "Make a link" }
            }
            if !status().is_empty() {
                p { id: "share-status", role: "status", "{status}" }
            }
            if !links.is_empty() {
                ul { id: "share-links",
                    for link in links {
                        ShareItem { key: "{link.id}", link: link.clone(), ends: ends(&link, now), status }
                    }
                }
            }
        }
    }
}

/// Every public link of the workspace, with the note each shows.
#[component]
pub fn SharesCard() -> Element {
    let state = use_context::<AppState>();
    state.track();
    let status = use_signal(String::new);
    let links: Vec<(ShareRecord, String)> = {
        let ws = state.workspace.read();
        ws.shares(None)
            .into_iter()
            .map(|link| {
                let title = match ws.get_note(&link.note) {
                    Some(note) if note.deleted_at.is_some() => {
                        format!("{} (in the bin)", note.title)
                    }
                    Some(note) if note.title.is_empty() => "Untitled note".to_owned(),
                    Some(note) => note.title,
                    None => "A note no longer here".to_owned(),
                };
                (link, title)
            })
            .collect()
    };
    use_hook({
        let state = state.clone();
        move || spawn(async move { forget_gone(&state).await })
    });
    let now = now_ms();
    rsx! {
        section { class: "card", id: "shares-card",
            h2 { "Public links" }
            if links.is_empty() {
                p { class: "muted", id: "shares-none",
                    "No note is shared. A note's “Share” makes a read-only link anyone can open."
                }
            } else {
                p { class: "hint", "Anyone with one of these links reads its note. Revoke a link to stop it at once." }
                ul { id: "shares-all",
                    for (link, title) in links {
                        li { key: "{link.id}", class: "share-of",
                            span { class: "share-note", "{title}" }
                            ul { class: "share-one",
                                ShareItem { link: link.clone(), ends: ends(&link, now), status }
                            }
                        }
                    }
                }
            }
            if !status().is_empty() {
                p { role: "status", "{status}" }
            }
        }
    }
}

#[component]
fn ShareItem(link: ShareRecord, ends: String, status: Signal<String>) -> Element {
    let state = use_context::<AppState>();
    let mut status = status;
    let mut show_qr = use_signal(|| false);
    // Drawn by the module loaded on first use, when asked for: to show the
    // link to someone nearby, who scans it with a phone's camera.
    let qr = use_resource({
        let url = link.url.clone();
        move || {
            let url = url.clone();
            async move {
                if show_qr() {
                    crate::page::extras::qr_svg(&url).await
                } else {
                    None
                }
            }
        }
    });
    let qr = qr.read().clone().flatten();
    let url = link.url.clone();
    let on_copy = move |_| {
        let url = url.clone();
        spawn(async move {
            let copied = match web_sys::window() {
                Some(w) => {
                    wasm_bindgen_futures::JsFuture::from(w.navigator().clipboard().write_text(&url))
                        .await
                        .is_ok()
                }
                None => false,
            };
            status.set(if copied {
                "Link copied.".into()
            } else {
                "The browser did not let the page copy; select the link and copy it.".into()
            });
        });
    };
    let on_update = {
        let (state, link) = (state.clone(), link.clone());
        move |_| {
            let (state, link) = (state.clone(), link.clone());
            spawn(async move {
                let done = update_link(&state, &link, |step| status.set(step)).await;
                status.set(match done {
                    Ok(()) => "Link updated: it shows the note as it is now.".into(),
                    Err(why) => format!("The link was not updated: {why}"),
                });
            });
        }
    };
    let on_revoke = {
        let id = link.id.clone();
        move |_| {
            let (state, id) = (state.clone(), id.clone());
            spawn(async move {
                status.set(match revoke(&state, &id).await {
                    Ok(()) => "Link revoked: it opens nothing any more.".into(),
                    Err(why) => format!("The link was not revoked: {why}"),
                });
            });
        }
    };
    rsx! {
        li { class: "share-item", "data-id": "{link.id}",
            input { class: "share-url", readonly: true, "aria-label": "Public link", value: "{link.url}",
                onfocus: move |e: FocusEvent| {
                    if let Some(input) = e
                        .data()
                        .downcast::<web_sys::FocusEvent>()
                        .and_then(|e| e.target())
                        .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(t).ok())
                    {
                        input.select();
                    }
                },
            }
            span { class: "share-ends", "{ends}" }
            button { class: "share-copy secondary", onclick: on_copy, "Copy" }
            button { class: "share-show-qr secondary", "aria-pressed": if show_qr() { "true" } else { "false" },
                onclick: move |_| show_qr.toggle(), "QR code"
            }
            button { class: "share-update secondary", title: "Show the note as it is now, at the same link", onclick: on_update, "Update" }
            button { class: "share-revoke secondary danger", onclick: on_revoke, "Revoke" }
            if show_qr() && let Some(svg) = qr {
                div { class: "qr share-qr", "aria-label": "The link as a QR code", dangerous_inner_html: "{svg}" }
            }
        }
    }
}
