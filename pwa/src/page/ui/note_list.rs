//! The notes list's parts: which rows to draw, what the count and an empty
//! list say, and how a search's results are shown (the words that matched
//! highlighted, a line of the body around them, the task lists it found).

use dioxus::prelude::*;
use hearth_migrations::{Query, TaskListHit};

use crate::page::pages::Page;

/// The height of one row of the list, in CSS pixels (`.note-item` in
/// `style.css` has the same): the list draws only the rows on screen, and
/// pads above and below for the rest.
pub(super) const ROW: f64 = 64.0;
/// Rows drawn above and below the visible ones, so that scrolling never
/// shows a gap.
const OVERSCAN: usize = 12;

/// Which rows of `total` to draw when the list is scrolled to `top` and is
/// `height` pixels high: `first..end`.
pub(super) fn window(top: f64, height: f64, total: usize) -> (usize, usize) {
    let first_visible = (top.max(0.0) / ROW) as usize;
    let visible = (height.max(ROW) / ROW).ceil() as usize;
    let first = first_visible.saturating_sub(OVERSCAN).min(total);
    let end = (first_visible + visible + OVERSCAN).min(total);
    (first, end.max(first))
}

/// Scrolls the list so that row `at` is on screen (keyboard moves, a
/// note opened by its address).
pub(super) fn reveal(at: usize) {
    let Some(list) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("note-items"))
    else {
        return;
    };
    let row_top = at as f64 * ROW;
    let top = f64::from(list.scroll_top());
    let height = f64::from(list.client_height());
    if row_top < top {
        list.set_scroll_top(row_top as i32);
    } else if row_top + ROW > top + height {
        list.set_scroll_top((row_top + ROW - height) as i32);
    }
}

/// "10,000 notes", "3 of 10,000 notes".
pub(super) fn count_text(shown: usize, total: usize) -> String {
    fn grouped(n: usize) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
    let noun = if total == 1 { "note" } else { "notes" };
    if shown == total {
        format!("{} {noun}", grouped(total))
    } else {
        format!("{} of {} {noun}", grouped(shown), grouped(total))
    }
}

/// What an empty list says: a device whose first sync has not finished
/// says its notes are on their way, never "no notes".
pub(super) fn empty_text(total: usize, sync: &crate::protocol::SyncView) -> &'static str {
    match (total, sync.first_sync, sync.state.as_str()) {
        (0, true, "offline" | "error") => {
            "Your notes have not arrived yet: this device has not reached the server. They appear once it does."
        }
        (0, _, "needs-key" | "wrong-key") => {
            "This workspace's notes are end-to-end encrypted, and this device cannot open them yet."
        }
        (0, true, _) => "Your notes are on their way from the server…",
        (0, false, _) => "No notes yet. Start one with “New note”.",
        _ => "No note matches.",
    }
}

/// Text with what a search matched in `<mark>`.
#[component]
pub(super) fn Marked(text: String, query: Query) -> Element {
    let pieces: Vec<(String, bool)> = query
        .pieces(&text)
        .into_iter()
        .map(|(piece, hit)| (piece.to_owned(), hit))
        .collect();
    rsx! {
        for (piece, hit) in pieces {
            if hit { mark { "{piece}" } } else { "{piece}" }
        }
    }
}

/// The task lists a search found, above the notes it found.
#[component]
pub(super) fn TaskHits(hits: Vec<TaskListHit>, query: Query) -> Element {
    let nav = use_navigator();
    rsx! {
        ul { id: "task-hits", class: "task-hits", "aria-label": "Task lists found",
            for hit in hits {
                li {
                    key: "{hit.id}",
                    class: "note-item task-hit",
                    "data-id": "{hit.id}",
                    tabindex: "0",
                    onclick: {
                        let id = hit.id.clone();
                        move |_| { nav.push(Page::TaskListOpen { id: id.clone() }); }
                    },
                    onkeydown: {
                        let id = hit.id.clone();
                        move |e: KeyboardEvent| if e.key() == Key::Enter { nav.push(Page::TaskListOpen { id: id.clone() }); }
                    },
                    div { class: "note-title",
                        span { class: "pin", "Task list" }
                        Marked { text: hit.title.clone(), query: query.clone() }
                    }
                    if let Some(item) = hit.item.clone() {
                        div { class: "note-meta", Marked { text: item, query: query.clone() } }
                    }
                }
            }
        }
    }
}
