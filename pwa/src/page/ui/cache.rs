//! "Files on this device": what the notes hold (kept on the server), how
//! much the cache of attached files holds
//! (and of it, the files of notes kept offline), how much it may hold (a
//! setting of this device, 64 MB to 4 GB), and a way to clear it that
//! keeps what is kept offline. The sync worker evicts the least recently
//! used files beyond the setting; a cleared file comes back from the
//! server when it is opened.

use dioxus::prelude::*;
use hearth_shared::files::{FileRef, human_size};
use hearth_storage::files::CacheUse;

use crate::page::state::AppState;
use crate::page::ui::data::counted;

/// The sizes the cache may be set to.
const CAPS: [(u64, &str); 5] = [
    (64_000_000, "64 MB"),
    (256_000_000, "256 MB"),
    (1_000_000_000, "1 GB"),
    (2_000_000_000, "2 GB"),
    (4_000_000_000, "4 GB"),
];

#[component]
pub fn FilesCard() -> Element {
    let state = use_context::<AppState>();
    let mut message = use_signal(|| None::<String>);
    let db = state.db.clone();
    let ws = state.record.read().workspace_id.as_str().to_owned();
    let mut facts = use_resource(move || {
        let (db, ws) = (db.clone(), ws.clone());
        async move {
            let usage = hearth_storage::files::cache_use(&db, &ws).await.ok();
            (usage, crate::files::cache_cap(&db).await)
        }
    });
    let (usage, cap) = (*facts.read()).unwrap_or((None, crate::files::CACHE_CAP_BYTES));
    // What the notes hold, which the server keeps (the bin counts).
    state.track();
    let (held, held_bytes) = {
        let ws = state.workspace.read();
        ws.referenced_file_ids()
            .iter()
            .filter_map(|id| ws.file(id).and_then(|json| FileRef::from_json(&json)))
            .fold((0usize, 0u64), |(n, bytes), file| {
                (n + 1, bytes + file.size)
            })
    };
    let set_cap = {
        let db = state.db.clone();
        move |e: FormEvent| {
            let db = db.clone();
            let Ok(cap) = e.value().parse::<u64>() else {
                return;
            };
            spawn(async move {
                if let Err(e) = hearth_storage::files::set_cache_cap(&db, cap).await {
                    message.set(Some(format!("Not changed: {e}")));
                }
                facts.restart();
            });
        }
    };
    let clear = {
        let (db, ws) = (
            state.db.clone(),
            state.record.read().workspace_id.as_str().to_owned(),
        );
        move |_| {
            let (db, ws) = (db.clone(), ws.clone());
            spawn(async move {
                match hearth_storage::files::evict(&db, &ws, 0).await {
                    Ok(left) => message.set(Some(format!(
                        "Cleared. What stays, {}, is the files of notes kept offline.",
                        human_size(left.total)
                    ))),
                    Err(e) => message.set(Some(format!("Not cleared: {e}"))),
                }
                facts.restart();
            });
        }
    };
    let owner = state.record.read().is_owner() && state.record.read().server.is_some();
    let mut collecting = use_signal(|| false);
    let collect_now = {
        let state = state.clone();
        move |_| {
            if collecting() {
                return;
            }
            collecting.set(true);
            let state = state.clone();
            spawn(async move {
                let said = match crate::page::collect::collect(&state).await {
                    Ok(c) => {
                        let days = crate::page::collect::WINDOW_MS / (24 * 3600 * 1000);
                        let mut said = format!(
                            "Collected {} and {} left over from unfinished uploads; {} wait out the {days} days in which a note's history can bring them back.",
                            counted(c.collected, "file no note holds", "files no note holds"),
                            counted(c.abandoned, "piece", "pieces"),
                            c.waiting,
                        );
                        if c.marked > 0 {
                            let when = match c.grace_secs / 3600 {
                                0 => "within the hour".to_owned(),
                                h @ 1..48 => format!("in {h} hours"),
                                h => format!("in {} days", h / 24),
                            };
                            said.push_str(&format!(
                                " The server deletes {} {when}.",
                                counted(c.marked as usize, "piece", "pieces"),
                            ));
                        }
                        if c.lost > 0 {
                            said.push_str(&format!(
                                " {} of files the notes hold are missing on the server.",
                                counted(c.lost, "piece", "pieces")
                            ));
                        }
                        said
                    }
                    Err(why) => format!("Nothing was collected: {why}."),
                };
                message.set(Some(said));
                collecting.set(false);
            });
        }
    };
    rsx! {
        section { class: "card", id: "files-card",
            h2 { "Files on this device" }
            p { id: "files-held",
                if held == 1 { "The notes hold 1 attached file" } else { "The notes hold {held} attached files" }
                ", {human_size(held_bytes)} in all, kept on the server."
            }
            p { id: "cache-use",
                match usage {
                    Some(CacheUse { total, kept, .. }) => rsx! {
                        "Attached files take {human_size(total)} on this device, of which {human_size(kept)} are kept offline. "
                    },
                    None => rsx! { "This browser does not say what the attached files take. " },
                }
                "Others are removed, least recently opened first, beyond the size below; a removed file comes back from the server when it is opened."
            }
            div { class: "add-row",
                label { r#for: "cache-cap", "Keep at most " }
                select { id: "cache-cap", onchange: set_cap,
                    for (bytes, words) in CAPS {
                        option { value: "{bytes}", selected: bytes == cap, "{words}" }
                    }
                }
                button { class: "secondary", id: "clear-cache", onclick: clear, "Clear" }
            }
            if owner {
                p { class: "hint",
                    "Files no note has held for 30 days, and pieces of uploads that never finished, are deleted from the server once a day."
                }
                button { class: "secondary", id: "collect-files", disabled: collecting(), onclick: collect_now,
                    if collecting() { "Collecting…" } else { "Collect now" }
                }
            }
            if let Some(m) = message() { p { class: "banner", id: "cache-message", role: "status", "{m}" } }
        }
    }
}
