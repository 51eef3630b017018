//! End-to-end: a person's first minutes with the app, in headless Chromium
//! against a real `hearth`: notes and tasks are created, found, pinned,
//! deleted and restored, and everything is still there after a reload
//! (IndexedDB). Set `HEARTH_SCREENSHOTS=DIR` to keep screenshots of the
//! main screens at desktop and phone widths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};

async fn screenshot(device: &Device, name: &str) {
    if let Ok(dir) = std::env::var("HEARTH_SCREENSHOTS") {
        let png = device.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

#[tokio::test]
async fn notes_and_tasks_are_kept_on_the_device() {
    let server = Server::start();
    let device = Device::launch().await;
    device.open(&server.url).await;
    device.text_of("#notes-view").await;

    // Three notes, two tagged.
    for (title, body, tags) in [
        (
            "Groceries",
            "oat milk, lemons, basil, crème fraîche",
            "home",
        ),
        (
            "Boiler service",
            "call on Tuesday, ask about the valve",
            "home, bills",
        ),
        ("Book ideas", "a lighthouse keeper who syncs notes", ""),
    ] {
        device.click("#new-note").await;
        device.type_into("#note-title", title).await;
        device.type_into("#note-body", body).await;
        if !tags.is_empty() {
            device.type_into("#note-tags", &format!("{tags}\n")).await;
            // Tags are applied when the field changes (blur or Enter).
            device.click("#note-body").await;
        }
    }
    device
        .wait_until(
            "three notes are listed",
            "return document.querySelectorAll('#note-items li').length === 3",
        )
        .await;
    device
        .wait_until(
            "everything is saved",
            "return document.querySelector('#sync-status').dataset.state !== 'saving'",
        )
        .await;

    // Search finds by body text; the tag filter narrows the list.
    device.type_into("#search", "valve").await;
    device
        .wait_until(
            "search shows one note",
            "return document.querySelectorAll('#note-items li').length === 1",
        )
        .await;
    assert!(
        device
            .text_of("#note-items li")
            .await
            .contains("Boiler service")
    );
    device.clear("#search").await;
    device.type_into("#search", " ").await;
    device.click("button.chip[data-tag='home']").await;
    device
        .wait_until(
            "the home tag shows two notes",
            "return document.querySelectorAll('#note-items li').length === 2",
        )
        .await;
    screenshot(&device, "notes-desktop").await;
    device.click(".tags .chip").await; // "All"

    // Pin the oldest note: it moves to the top.
    device
        .eval("[...document.querySelectorAll('#note-items li')].find(li => li.textContent.includes('Groceries')).click(); return true")
        .await;
    device.click("#pin-note").await;
    device
        .wait_until(
            "the pinned note is first",
            "return document.querySelector('#note-items li').textContent.includes('Groceries')",
        )
        .await;

    // Delete one and undo.
    device
        .eval("[...document.querySelectorAll('#note-items li')].find(li => li.textContent.includes('Book ideas')).click(); return true")
        .await;
    device.click("#delete-note").await;
    device
        .wait_until(
            "the note is gone",
            "return document.querySelectorAll('#note-items li').length === 2",
        )
        .await;
    device.click("#undo").await;
    device
        .wait_until(
            "the note is back",
            "return document.querySelectorAll('#note-items li').length === 3",
        )
        .await;

    // A task list with two tasks, one done.
    device.click("#tab-tasks").await;
    device.type_into("#new-list-title", "Weekend\n").await;
    device
        .type_into(".task-list .new-task", "Fix the bike\n")
        .await;
    device
        .type_into(".task-list .new-task", "Call grandma\n")
        .await;
    device
        .wait_until(
            "two tasks",
            "return document.querySelectorAll('.task-list li').length === 2",
        )
        .await;
    device.click(".task-list li input[type=checkbox]").await;
    device
        .wait_until(
            "one task done",
            "return document.querySelectorAll('.task-list li.done').length === 1",
        )
        .await;
    device
        .wait_until(
            "everything is saved",
            "return document.querySelector('#sync-status').dataset.state !== 'saving'",
        )
        .await;
    screenshot(&device, "tasks-desktop").await;

    // A reload shows everything, from IndexedDB.
    device.client.refresh().await.unwrap();
    device.click("#tab-tasks").await;
    assert_eq!(
        device.text_of(".task-list li.done span").await.trim(),
        "Fix the bike"
    );
    device.click("#tab-notes").await;
    device
        .wait_until(
            "three notes after reload",
            "return document.querySelectorAll('#note-items li').length === 3",
        )
        .await;
    let first = device.text_of("#note-items li").await;
    assert!(
        first.contains("Groceries"),
        "pinned note first after reload, got {first:?}"
    );

    // Search as people expect: no accents needed, word starts, the
    // matched words marked, a line of the body shown, task lists found.
    device.type_into("#search", "CREME fr").await;
    device
        .wait_until(
            "the search finds the note with crème fraîche",
            "return document.querySelectorAll('#note-items li').length === 1",
        )
        .await;
    let marks = device
        .eval("return [...document.querySelectorAll('#note-items li mark')].map(m => m.textContent).join('|')")
        .await;
    assert_eq!(marks.as_str(), Some("crème|fr"), "highlighted: {marks:?}");
    assert!(
        device
            .text_of("#note-items li .snippet")
            .await
            .contains("crème fraîche")
    );
    device.clear("#search").await;
    device.type_into("#search", "grand").await;
    device
        .wait_until(
            "the search finds the task list by its item",
            "return document.querySelector('#task-hits li')?.textContent.includes('Weekend')",
        )
        .await;
    assert_eq!(device.text_of("#task-hits li mark").await, "grand");
    device.click("#task-hits li").await;
    device
        .wait_until(
            "the task list opens",
            "return location.pathname.startsWith('/tasks/')",
        )
        .await;
    device.click("#tab-notes").await;

    // Phone width.
    device.client.set_window_size(390, 844).await.unwrap();
    screenshot(&device, "notes-phone").await;
    device.close().await;
}
