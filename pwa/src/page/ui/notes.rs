//! Notes: a searchable, tag-filtered list beside an editor; on a narrow
//! screen the list and the open note are two screens (`/` and
//! `/notes/{id}`), with a way back.

use std::cell::RefCell;
use std::rc::Rc;

use dioxus::prelude::*;
use futures::StreamExt;
use hearth_migrations::{NewNote, Note, NoteSummary, Query};

use super::keys::{self, Shortcut};
use super::note_list::{Marked, ROW, TaskHits, count_text, empty_text, reveal, window};

use crate::page::pages::Page;
use crate::page::state::{AppState, Undo};
use crate::platform::{new_id, now_ms, relative_time};

/// The notes screen: the layout of the `/` and `/notes/{id}` routes, so it
/// stays mounted (search, filter, scroll) while notes are opened.
#[component]
pub fn NotesView() -> Element {
    let state = use_context::<AppState>();
    let nav = use_navigator();
    let selected = match use_route::<Page>() {
        Page::NoteOpen { id } => Some(id),
        _ => None,
    };
    let mut query = use_signal(String::new);
    let mut tag = use_signal(|| None::<String>);
    // Where the list is scrolled, and how high it is: which rows to draw.
    let mut scroll = use_signal(|| (0.0_f64, 900.0_f64));
    // Reading (rendered Markdown) or editing; kept while moving between
    // notes.
    let reading = use_signal(|| false);
    state.track();

    // The index re-reads only the notes changed since the last render (a
    // keystroke: one note), and the search scans its text.
    // A search shows, in each row drawn, a line of the body around what
    // it matched; and the task lists it found.
    let searched = Query::new(&query());
    let (rows, tags, hits, total, task_hits) = {
        let mut index = state.notes.borrow_mut();
        let workspace = state.workspace.read();
        index.catch_up(&workspace);
        let tags: Vec<String> = index.tags().map(str::to_owned).collect();
        let hits = index.search_with(&searched, tag().as_deref());
        let (top, height) = scroll();
        let (first, end) = window(top, height, hits.len());
        let rows: Vec<(usize, NoteSummary, Option<String>)> = hits
            .get(first..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| index.get(i).cloned())
            .enumerate()
            .map(|(n, note)| {
                let snippet = (!searched.is_empty())
                    .then(|| workspace.get_note(&note.id))
                    .flatten()
                    .and_then(|full| searched.snippet(&full.body, 90));
                (first + n, note, snippet)
            })
            .collect();
        let task_hits = if tag().is_none() {
            let mut found = searched.task_lists(workspace.list_task_lists());
            found.truncate(5);
            found
        } else {
            Vec::new()
        };
        (rows, tags, hits.len(), index.len(), task_hits)
    };
    let first_row = rows.first().map_or(0, |(at, _, _)| *at);
    let pad_top = first_row as f64 * ROW;
    let pad_bottom = hits.saturating_sub(first_row + rows.len()) as f64 * ROW;
    let read_only = state.read_only_reason().is_some();
    let now = now_ms();
    let current = selected
        .as_deref()
        .and_then(|id| state.workspace.read().get_note(id))
        .filter(|n| n.deleted_at.is_none());
    let open = selected.is_some();
    // Back to the list: the browser's back when the list is where we came
    // from, else the list's address.
    let back = move |_| {
        if nav.can_go_back() {
            nav.go_back();
        } else {
            nav.replace(Page::NoteList {});
        }
    };

    let new_note = {
        let state = state.clone();
        move |_| create_note(&state, tag(), nav)
    };

    // Keyboard: the shortcuts act on the list as it is now.
    let shortcuts = keys::use_shortcuts();
    let open_id = use_hook(|| Rc::new(RefCell::new(None::<String>)));
    open_id.borrow_mut().clone_from(&selected);
    let mut help = use_signal(|| false);
    {
        let state = state.clone();
        let open_id = open_id.clone();
        use_future(move || {
            let (state, open_id, shortcuts) = (state.clone(), open_id.clone(), shortcuts.clone());
            async move {
                let Some(mut presses) = shortcuts.borrow_mut().take() else {
                    return;
                };
                while let Some(press) = presses.next().await {
                    let open = open_id.borrow().clone();
                    match press {
                        Shortcut::NewNote => create_note(&state, tag(), nav),
                        Shortcut::Search => keys::focus("search"),
                        Shortcut::Next | Shortcut::Previous => {
                            let target = {
                                let index = state.notes.borrow();
                                let hits = index.search(&query.peek(), tag.peek().as_deref());
                                let at = open.as_deref().and_then(|id| {
                                    hits.iter()
                                        .position(|&i| index.get(i).is_some_and(|n| n.id == id))
                                });
                                let next = match (press, at) {
                                    (Shortcut::Next, Some(i)) => {
                                        (i + 1).min(hits.len().saturating_sub(1))
                                    }
                                    (Shortcut::Previous, Some(i)) => i.saturating_sub(1),
                                    _ => 0,
                                };
                                hits.get(next)
                                    .and_then(|&i| index.get(i))
                                    .map(|n| (next, n.id.clone()))
                            };
                            if let Some((at, id)) = target {
                                reveal(at);
                                nav.push(Page::NoteOpen { id });
                            }
                        }
                        Shortcut::Escape => {
                            if help() {
                                help.set(false);
                            } else if !keys::leave_field() && open.is_some() {
                                nav.push(Page::NoteList {});
                            }
                        }
                        Shortcut::Help => help.toggle(),
                    }
                }
            }
        });
    }

    rsx! {
        div { class: if open { "notes note-open" } else { "notes" }, id: "notes-view",
            aside { class: "note-list",
                div { class: "list-tools",
                    input {
                        id: "search",
                        r#type: "search",
                        placeholder: "Search notes",
                        "aria-label": "Search notes",
                        value: "{query}",
                        oninput: move |e| {
                            query.set(e.value());
                            scroll.with_mut(|s| s.0 = 0.0);
                            reveal(0);
                        },
                    }
                    button { id: "new-note", disabled: read_only, onclick: new_note, title: "New note", "New note" }
                }
                if !tags.is_empty() {
                    div { class: "tags", role: "group", "aria-label": "Filter by tag",
                        button {
                            class: if tag().is_none() { "chip active" } else { "chip" },
                            onclick: move |_| tag.set(None),
                            "All"
                        }
                        for t in tags {
                            button {
                                key: "{t}",
                                class: if tag().as_deref() == Some(t.as_str()) { "chip active" } else { "chip" },
                                "data-tag": "{t}",
                                onclick: {
                                    let t = t.clone();
                                    move |_| tag.set(Some(t.clone()))
                                },
                                "#{t}"
                            }
                        }
                    }
                }
                p { class: "muted note-count", id: "note-count", role: "status",
                    "{count_text(hits, total)}"
                }
                if !task_hits.is_empty() {
                    TaskHits { hits: task_hits.clone(), query: searched.clone() }
                }
                if hits == 0 && task_hits.is_empty() {
                    p { class: "empty", id: "notes-empty",
                        {empty_text(total, &(state.sync)())}
                    }
                }
                ul {
                    id: "note-items",
                    "aria-label": "Notes",
                    style: "padding-top: {pad_top}px; padding-bottom: {pad_bottom}px",
                    onscroll: move |e| {
                        let data = e.data();
                        scroll.set((data.scroll_top(), f64::from(data.client_height())));
                    },
                    for (at, note, snippet) in rows {
                        li {
                            key: "{note.id}",
                            class: if selected.as_deref() == Some(note.id.as_str()) { "note-item selected" } else { "note-item" },
                            "data-id": "{note.id}",
                            "aria-setsize": "{hits}",
                            "aria-posinset": "{at + 1}",
                            tabindex: "0",
                            onclick: {
                                let id = note.id.clone();
                                move |_| { nav.push(Page::NoteOpen { id: id.clone() }); }
                            },
                            onkeydown: {
                                let id = note.id.clone();
                                move |e: KeyboardEvent| if e.key() == Key::Enter { nav.push(Page::NoteOpen { id: id.clone() }); }
                            },
                            div { class: "note-title",
                                if note.pinned { span { class: "pin", "Pinned" } }
                                if note.title.is_empty() { "Untitled" } else { Marked { text: note.title.clone(), query: searched.clone() } }
                            }
                            if let Some(line) = snippet {
                                div { class: "note-meta snippet", Marked { text: line, query: searched.clone() } }
                            } else {
                                div { class: "note-meta",
                                    "{relative_time(note.updated_at, now)}"
                                    for t in note.tags.iter() { span { class: "tag", " #{t}" } }
                                }
                            }
                        }
                    }
                }
                p { class: "muted keys-hint", "Press ? for keyboard shortcuts." }
            }
            section { class: "editor-pane",
                if open {
                    button { class: "back secondary", id: "back-to-list", onclick: back, "aria-label": "Back to the notes", "‹ Notes" }
                }
                if let Some(note) = current {
                    NoteEditor { key: "{note.id}", note: note.clone(), read_only, reading, on_deleted: move |_| { nav.replace(Page::NoteList {}); } }
                } else if open {
                    p { class: "empty", id: "note-missing", "This note is not here: it was deleted, or it belongs to another workspace." }
                } else {
                    p { class: "empty", "Select a note, or start a new one." }
                }
            }
            if help() {
                keys::ShortcutHelp { on_close: move |_| help.set(false) }
            }
        }
    }
}

/// Adds an empty note (with the tag being filtered on, if any) and opens it.
fn create_note(state: &AppState, tag: Option<String>, nav: dioxus::router::Navigator) {
    let id = new_id();
    let initial_tags: Vec<String> = tag.into_iter().collect();
    let tag_refs: Vec<&str> = initial_tags.iter().map(String::as_str).collect();
    let new = NewNote {
        title: "",
        body: "",
        tags: &tag_refs,
        pinned: false,
    };
    if state.write(|ws| ws.add_note(&id, new, now_ms())).is_some() {
        nav.push(Page::NoteOpen { id });
    }
}

/// Edits one note; every keystroke is a local write.
#[component]
fn NoteEditor(
    note: Note,
    read_only: bool,
    reading: Signal<bool>,
    on_deleted: EventHandler<()>,
) -> Element {
    let state = use_context::<AppState>();
    let mut reading = reading;
    // A new (untitled) note opens with its title ready for typing.
    let untitled = note.title.is_empty() && !read_only;
    use_effect(move || {
        if untitled {
            keys::focus("note-title");
        }
    });
    let mut show_history = use_signal(|| false);
    let mut show_share = use_signal(|| false);
    let can_share = !read_only && state.record.read().server.is_some();
    let id = note.id.clone();
    let tags_text = note.tags.join(", ");

    let on_title = {
        let (state, id) = (state.clone(), id.clone());
        move |e: FormEvent| {
            state.write(|ws| ws.update_note(&id, Some(&e.value()), None, now_ms()));
        }
    };
    let on_body = {
        let (state, id) = (state.clone(), id.clone());
        move |e: FormEvent| {
            state.write(|ws| ws.update_note(&id, None, Some(&e.value()), now_ms()));
        }
    };
    let on_tags = {
        let (state, id) = (state.clone(), id.clone());
        move |e: FormEvent| {
            let value = e.value();
            let tags: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect();
            state.write(|ws| ws.set_tags(&id, &tags, now_ms()));
        }
    };
    let on_toggle = {
        let (state, id) = (state.clone(), id.clone());
        move |offset: usize| {
            // Read the body as it is now: the offset is checked against it.
            let body = state.workspace.peek().get_note(&id).map(|n| n.body);
            if let Some((pos, mark)) = body.and_then(|b| hearth_markdown::toggle_task(&b, offset)) {
                state.write(|ws| ws.splice_body(&id, pos, 1, &mark.to_string(), now_ms()));
            }
        }
    };
    let on_pin = {
        let (state, id, pinned) = (state.clone(), id.clone(), note.pinned);
        move |_| {
            state.write(|ws| ws.set_pinned(&id, !pinned, now_ms()));
        }
    };
    let on_delete = {
        let (state, id, title) = (state.clone(), id.clone(), note.title.clone());
        move |_| {
            if state.write(|ws| ws.delete_note(&id, now_ms())).is_some() {
                let mut undo = state.undo;
                undo.set(Some(Undo::DeletedNote {
                    id: id.clone(),
                    title: title.clone(),
                }));
                on_deleted.call(());
            }
        }
    };

    rsx! {
        article { class: "editor", id: "editor", "data-id": "{note.id}",
            input {
                id: "note-title",
                class: "title-input",
                placeholder: "Title",
                "aria-label": "Title",
                readonly: read_only,
                value: "{note.title}",
                oninput: on_title,
            }
            if reading() {
                super::markdown::Rendered { body: note.body.clone(), read_only, on_toggle }
            } else {
                textarea {
                    id: "note-body",
                    placeholder: "Write something… (Markdown: # heading, - list, - [ ] task, **bold**, [link](https://…))",
                    "aria-label": "Body",
                    readonly: read_only,
                    value: "{note.body}",
                    oninput: on_body,
                    onpaste: {
                        let (state, id) = (state.clone(), id.clone());
                        move |e: ClipboardEvent| {
                            if !read_only {
                                super::files::paste(state.clone(), id.clone(), e);
                            }
                        }
                    },
                }
            }
            super::files::Attachments { note_id: note.id.clone(), read_only }
            div { class: "editor-tools",
                button {
                    id: "note-mode",
                    class: "secondary",
                    "aria-pressed": if reading() { "true" } else { "false" },
                    onclick: move |_| reading.toggle(),
                    if reading() { "Edit" } else { "Read" }
                }
                input {
                    id: "note-tags",
                    placeholder: "tags, separated by commas",
                    "aria-label": "Tags",
                    readonly: read_only,
                    initial_value: "{tags_text}",
                    onchange: on_tags,
                }
                button { id: "pin-note", class: "secondary", disabled: read_only, onclick: on_pin,
                    if note.pinned { "Unpin" } else { "Pin" }
                }
                button { id: "delete-note", class: "secondary danger", disabled: read_only, onclick: on_delete, "Delete" }
                if !read_only {
                    MoveNote { note: note.clone(), on_moved: move |_| { on_deleted.call(()); } }
                }
                button { id: "note-history", class: "secondary", onclick: move |_| show_history.toggle(),
                    if show_history() { "Hide history" } else { "History" }
                }
                if can_share {
                    button { id: "note-share", class: "secondary", "aria-expanded": if show_share() { "true" } else { "false" },
                        onclick: move |_| show_share.toggle(), "Share"
                    }
                }
            }
            if show_share() && can_share {
                super::share::ShareNote { note_id: note.id.clone() }
            }
            if show_history() {
                NoteHistory { id: note.id.clone(), read_only }
            }
        }
    }
}

/// "Move to…": the other workspaces this device holds (and may write),
/// one choice moves the note there.
#[component]
fn MoveNote(note: Note, on_moved: EventHandler<()>) -> Element {
    let state = use_context::<AppState>();
    let db = state.db.clone();
    let others = use_resource(move || {
        let db = db.clone();
        async move { crate::device::all(&db).await.ok() }
    });
    let open = state.record.read().workspace_id.clone();
    let targets: Vec<crate::device::DeviceRecord> = others
        .read()
        .clone()
        .flatten()
        .map(|(records, _)| records)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.workspace_id != open && r.can_write())
        .collect();
    if targets.is_empty() {
        return rsx! {};
    }
    let choose = {
        let (state, targets) = (state.clone(), targets.clone());
        move |e: FormEvent| {
            let Some(target) = targets
                .iter()
                .find(|r| r.workspace_id.as_str() == e.value())
                .cloned()
            else {
                return;
            };
            let (state, note) = (state.clone(), note.clone());
            spawn(async move {
                match crate::page::move_note::copy_into(&state, &target.workspace_id, &note).await {
                    Ok(()) => {
                        if state
                            .write(|ws| ws.delete_note(&note.id, now_ms()))
                            .is_some()
                        {
                            let mut undo = state.undo;
                            undo.set(Some(Undo::MovedNote {
                                id: note.id.clone(),
                                title: note.title.clone(),
                                to: target.title(),
                            }));
                            on_moved.call(());
                        }
                    }
                    Err(e) => {
                        let mut error = state.error;
                        error.set(Some(format!("The note was not moved: {e}")));
                    }
                }
            });
        }
    };
    rsx! {
        select { id: "move-note", class: "secondary", "aria-label": "Move this note to another workspace", onchange: choose,
            option { value: "", selected: true, "Move to…" }
            for target in targets {
                option { key: "{target.workspace_id}", value: "{target.workspace_id}", "{target.title()}" }
            }
        }
    }
}

/// Earlier versions of a note, each restorable as a new change.
#[component]
fn NoteHistory(id: String, read_only: bool) -> Element {
    let state = use_context::<AppState>();
    state.track();
    let versions = crate::page::history::note_versions(state.workspace.read().doc(), &id, 20);
    let now = now_ms();
    rsx! {
        section { class: "history", id: "history",
            h3 { "Earlier versions" }
            if versions.len() < 2 {
                p { class: "muted", "No earlier versions yet." }
            }
            ol {
                for (i, version) in versions.into_iter().enumerate().skip(1) {
                    li { key: "{i}", class: "version",
                        div { class: "version-text",
                            strong { if version.note.title.is_empty() { "Untitled" } else { "{version.note.title}" } }
                            span { class: "muted",
                                " · "
                                if version.timestamp > 0 { "{relative_time(version.timestamp * 1000, now)}" } else { "{relative_time(version.note.updated_at, now)}" }
                            }
                            p { class: "version-body", "{version.note.body}" }
                            if !version.files.is_empty() {
                                p { class: "muted version-files", "With {version.files.len()} attached file(s)" }
                            }
                        }
                        button {
                            class: "secondary restore",
                            disabled: read_only,
                            onclick: {
                                let (state, id, version) = (state.clone(), id.clone(), version.clone());
                                move |_| {
                                    state.write(|ws| ws.restore_version(&id, &version, now_ms()));
                                }
                            },
                            "Restore"
                        }
                    }
                }
            }
        }
    }
}
