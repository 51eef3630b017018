//! The typed schema as a user sees it: notes and task lists round-trip,
//! deleted notes come back, edits are character-level.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_migrations::loro::{ExportMode, LoroDoc};
use hearth_migrations::{NewNote, NoteFilter, SchemaError, Workspace, new_id};

fn workspace(peer: u64) -> Workspace {
    let doc = LoroDoc::new();
    doc.set_peer_id(peer).unwrap();
    Workspace::create(doc).unwrap()
}

#[test]
fn notes_round_trip_and_sort_pinned_first() {
    let ws = workspace(1);
    let a = new_id([1; 16]);
    let b = new_id([2; 16]);
    ws.add_note(
        &a,
        NewNote {
            title: "First",
            body: "hello",
            tags: &["x", " y ", ""],
            pinned: false,
        },
        10,
    )
    .unwrap();
    ws.add_note(
        &b,
        NewNote {
            title: "Second",
            body: "",
            tags: &[],
            pinned: false,
        },
        20,
    )
    .unwrap();
    let titles: Vec<String> = ws
        .list_notes(NoteFilter::Live)
        .into_iter()
        .map(|n| n.title)
        .collect();
    assert_eq!(titles, ["Second", "First"]);
    ws.set_pinned(&a, true, 30).unwrap();
    let notes = ws.list_notes(NoteFilter::Live);
    assert_eq!(notes[0].id, a);
    assert!(notes[0].pinned);
    assert_eq!(notes[0].tags, ["x", "y"]);
    assert_eq!(notes[0].created_at, 10);
    assert_eq!(notes[0].updated_at, 30);

    ws.update_note(&a, Some("First!"), Some("hello world"), 40)
        .unwrap();
    ws.set_tags(&a, &["y", "z"], 41).unwrap();
    let note = ws.get_note(&a).unwrap();
    assert_eq!(
        (note.title.as_str(), note.body.as_str()),
        ("First!", "hello world")
    );
    assert_eq!(note.tags, ["y", "z"]);
}

#[test]
fn deleted_notes_go_to_the_bin_and_come_back() {
    let ws = workspace(1);
    let id = new_id([3; 16]);
    ws.add_note(
        &id,
        NewNote {
            title: "t",
            ..Default::default()
        },
        1,
    )
    .unwrap();
    ws.delete_note(&id, 2).unwrap();
    assert!(ws.list_notes(NoteFilter::Live).is_empty());
    assert_eq!(ws.list_notes(NoteFilter::Deleted)[0].deleted_at, Some(2));
    ws.restore_note(&id, 3).unwrap();
    assert_eq!(ws.list_notes(NoteFilter::Live).len(), 1);
    assert!(matches!(
        ws.delete_note("nope", 4),
        Err(SchemaError::NoSuchNote(_))
    ));
}

#[test]
fn task_lists_hold_ordered_tasks_that_toggle() {
    let ws = workspace(1);
    ws.add_task_list("l1", "Chores", 1).unwrap();
    ws.add_task("l1", "t1", "dishes", 2).unwrap();
    ws.add_task("l1", "t2", "laundry", 3).unwrap();
    assert!(ws.toggle_task("l1", "t2", 4).unwrap());
    assert!(!ws.toggle_task("l1", "t2", 5).unwrap());
    assert!(ws.toggle_task("l1", "t1", 6).unwrap());
    ws.remove_task("l1", "t2", 7).unwrap();
    let lists = ws.list_task_lists();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].title, "Chores");
    assert_eq!(lists[0].items.len(), 1);
    assert_eq!(
        (lists[0].items[0].text.as_str(), lists[0].items[0].done),
        ("dishes", true)
    );
    assert!(matches!(
        ws.toggle_task("l1", "zz", 8),
        Err(SchemaError::NoSuchTask(_))
    ));
    ws.set_task_text("l1", "t1", "the dishes", 9).unwrap();
    ws.rename_task_list("l1", "House", 9).unwrap();
    let list = ws.get_task_list("l1").unwrap();
    assert_eq!(
        (list.title.as_str(), list.items[0].text.as_str()),
        ("House", "the dishes")
    );
    ws.delete_task_list("l1", 10).unwrap();
    assert!(ws.list_task_lists().is_empty());
    ws.restore_task_list("l1", 11).unwrap();
    assert_eq!(ws.list_task_lists().len(), 1);
}

#[test]
fn tasks_added_on_two_devices_both_survive() {
    let a = workspace(1);
    a.add_task_list("l", "Shared", 1).unwrap();
    let b_doc = LoroDoc::new();
    b_doc.set_peer_id(2).unwrap();
    b_doc
        .import(&a.doc().export(ExportMode::Snapshot).unwrap())
        .unwrap();
    let (b, _) = Workspace::open(b_doc).unwrap();
    a.add_task("l", "ta", "from a", 2).unwrap();
    b.add_task("l", "tb", "from b", 2).unwrap();
    a.doc()
        .import(&b.doc().export(ExportMode::all_updates()).unwrap())
        .unwrap();
    b.doc()
        .import(&a.doc().export(ExportMode::all_updates()).unwrap())
        .unwrap();
    assert_eq!(a.list_task_lists(), b.list_task_lists());
    assert_eq!(a.list_task_lists()[0].items.len(), 2);
}

#[test]
fn a_one_character_edit_exports_a_few_bytes() {
    let ws = workspace(1);
    let id = new_id([4; 16]);
    let big: String = "lorem ipsum dolor sit amet ".repeat(4_000);
    ws.add_note(
        &id,
        NewNote {
            title: "big",
            body: &big,
            ..Default::default()
        },
        1,
    )
    .unwrap();
    let before = ws.doc().oplog_vv();
    ws.splice_body(&id, 50_000, 0, "x", 2).unwrap();
    let update = ws.doc().export(ExportMode::updates(&before)).unwrap();
    assert!(
        update.len() < 300,
        "{} bytes for one character",
        update.len()
    );
    let mut edited = big.clone();
    edited.insert(50_000, 'y');
    let before = ws.doc().oplog_vv();
    ws.update_note(&id, None, Some(&edited.replacen('x', "", 1)), 3)
        .unwrap();
    let update = ws.doc().export(ExportMode::updates(&before)).unwrap();
    assert!(
        update.len() < 400,
        "{} bytes for a diffed one-character edit",
        update.len()
    );
}

#[test]
fn a_workspace_name_syncs_and_an_empty_one_clears_it() {
    let here = Workspace::create(LoroDoc::new()).unwrap();
    assert_eq!(here.name(), None);
    here.set_name("  Home notes  ").unwrap();
    assert_eq!(here.name().as_deref(), Some("Home notes"));
    let there = LoroDoc::new();
    there
        .import(&here.doc().export(ExportMode::Snapshot).unwrap())
        .unwrap();
    let (there, _) = Workspace::open(there).unwrap();
    assert_eq!(there.name().as_deref(), Some("Home notes"));
    here.set_name(&"x".repeat(200)).unwrap();
    assert_eq!(here.name().map(|n| n.chars().count()), Some(80));
    here.set_name("   ").unwrap();
    assert_eq!(here.name(), None);
}
