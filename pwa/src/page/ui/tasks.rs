//! Task lists with check boxes.

use dioxus::prelude::*;
use hearth_migrations::TaskList;

use crate::page::pages::Page;
use crate::page::state::AppState;
use crate::platform::{new_id, now_ms};

/// The task lists screen: the layout of `/tasks` (every list) and
/// `/tasks/{id}` (one list).
#[component]
pub fn TasksView() -> Element {
    let state = use_context::<AppState>();
    let mut new_title = use_signal(String::new);
    state.track();
    let only = match use_route::<Page>() {
        Page::TaskListOpen { id } => Some(id),
        _ => None,
    };
    let lists: Vec<TaskList> = state
        .workspace
        .read()
        .list_task_lists()
        .into_iter()
        .filter(|l| l.deleted_at.is_none())
        .filter(|l| only.as_deref().is_none_or(|id| l.id == id))
        .collect();
    let read_only = state.read_only_reason().is_some();

    let add_list = {
        let state = state.clone();
        move |e: FormEvent| {
            e.prevent_default();
            let title = new_title().trim().to_owned();
            if title.is_empty() {
                return;
            }
            if state
                .write(|ws| ws.add_task_list(&new_id(), &title, now_ms()))
                .is_some()
            {
                new_title.set(String::new());
            }
        }
    };

    rsx! {
        div { class: "tasks", id: "tasks-view",
            if only.is_some() {
                Link { class: "back", id: "back-to-lists", to: Page::TaskLists {}, "‹ All task lists" }
                if lists.is_empty() {
                    p { class: "empty", id: "list-missing", "This task list is not here: it was deleted, or it belongs to another workspace." }
                }
            } else {
            form { class: "add-row", onsubmit: add_list,
                input {
                    id: "new-list-title",
                    placeholder: "New task list",
                    "aria-label": "New task list",
                    disabled: read_only,
                    value: "{new_title}",
                    oninput: move |e| new_title.set(e.value()),
                }
                button { id: "add-list", r#type: "submit", disabled: read_only, "Add list" }
            }
            if lists.is_empty() {
                p { class: "empty", "No task lists yet." }
            }
            }
            for list in lists {
                TaskListCard { key: "{list.id}", list: list.clone(), read_only }
            }
        }
    }
}

#[component]
fn TaskListCard(list: TaskList, read_only: bool) -> Element {
    let state = use_context::<AppState>();
    let mut new_task = use_signal(String::new);
    let open = list.items.iter().filter(|t| !t.done).count();
    let list_id = list.id.clone();

    let add_task = {
        let (state, list_id) = (state.clone(), list_id.clone());
        move |e: FormEvent| {
            e.prevent_default();
            let text = new_task().trim().to_owned();
            if text.is_empty() {
                return;
            }
            if state
                .write(|ws| ws.add_task(&list_id, &new_id(), &text, now_ms()))
                .is_some()
            {
                new_task.set(String::new());
            }
        }
    };
    let delete_list = {
        let (state, list_id, title) = (state.clone(), list_id.clone(), list.title.clone());
        move |_| {
            let question = format!("Delete the list “{title}” and its tasks?");
            if crate::platform::confirm(&question) {
                state.write(|ws| ws.delete_task_list(&list_id, now_ms()));
            }
        }
    };

    rsx! {
        section { class: "card task-list", "data-id": "{list.id}",
            header { class: "task-list-head",
                h2 { Link { class: "list-link", to: Page::TaskListOpen { id: list.id.clone() }, "{list.title}" } }
                span { class: "count", "{open} open" }
                button { class: "secondary danger", disabled: read_only, onclick: delete_list, "Delete list" }
            }
            ul {
                for task in list.items.iter().cloned() {
                    li { key: "{task.id}", class: if task.done { "task done" } else { "task" },
                        label {
                            input {
                                r#type: "checkbox",
                                checked: task.done,
                                disabled: read_only,
                                onchange: {
                                    let (state, list_id, task_id) = (state.clone(), list_id.clone(), task.id.clone());
                                    move |_| { state.write(|ws| ws.toggle_task(&list_id, &task_id, now_ms())); }
                                },
                            }
                            span { " {task.text}" }
                        }
                        button {
                            class: "icon secondary",
                            "aria-label": "Remove task",
                            disabled: read_only,
                            onclick: {
                                let (state, list_id, task_id) = (state.clone(), list_id.clone(), task.id.clone());
                                move |_| { state.write(|ws| ws.remove_task(&list_id, &task_id, now_ms())); }
                            },
                            "×"
                        }
                    }
                }
            }
            form { class: "add-row", onsubmit: add_task,
                input {
                    class: "new-task",
                    placeholder: "Add a task",
                    "aria-label": "Add a task",
                    disabled: read_only,
                    value: "{new_task}",
                    oninput: move |e| new_task.set(e.value()),
                }
                button { r#type: "submit", disabled: read_only, "Add" }
            }
        }
    }
}
