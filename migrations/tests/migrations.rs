//! Migrations as a user meets them: an old workspace opens in the new app
//! with its data intact; two offline devices that both migrate end with one
//! schema and no duplicates; a workspace from a newer app opens read-only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hearth_migrations::loro::{ExportMode, LoroDoc};
use hearth_migrations::{
    LATEST_SCHEMA, MigrationOutcome, NoteFilter, SchemaError, Workspace, legacy_v1, schema_version,
};

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace_v1.loro")
}

/// The committed v1 fixture. `HEARTH_REGEN_FIXTURES=1` rewrites it from
/// [`legacy_v1::fixture_doc`].
fn v1_fixture_bytes() -> Vec<u8> {
    let path = fixture_path();
    if std::env::var_os("HEARTH_REGEN_FIXTURES").is_some() || !path.exists() {
        let doc = legacy_v1::fixture_doc().unwrap();
        std::fs::write(&path, doc.export(ExportMode::Snapshot).unwrap()).unwrap();
    }
    std::fs::read(&path).unwrap()
}

fn device(peer: u64, bytes: &[u8]) -> LoroDoc {
    let doc = LoroDoc::new();
    doc.set_peer_id(peer).unwrap();
    doc.import(bytes).unwrap();
    doc
}

fn sync(a: &LoroDoc, b: &LoroDoc) {
    a.import(&b.export(ExportMode::updates(&a.oplog_vv())).unwrap())
        .unwrap();
    b.import(&a.export(ExportMode::updates(&b.oplog_vv())).unwrap())
        .unwrap();
}

#[test]
fn a_stored_v1_workspace_opens_at_the_latest_schema_with_its_data() {
    let doc = device(7, &v1_fixture_bytes());
    assert_eq!(schema_version(&doc), 1);
    let (ws, outcome) = Workspace::open(doc).unwrap();
    assert_eq!(
        outcome,
        MigrationOutcome::Migrated {
            from: 1,
            to: LATEST_SCHEMA,
            applied: vec!["note tags become a set"]
        }
    );
    assert_eq!(ws.schema_version(), LATEST_SCHEMA);
    assert!(ws.read_only().is_none());
    let notes = ws.list_notes(NoteFilter::Live);
    assert_eq!(notes.len(), 3);
    assert_eq!(notes[0].title, "Ideas"); // pinned
    assert_eq!(notes[0].tags, ["ideas", "work"]);
    let groceries = notes.iter().find(|n| n.title == "Groceries").unwrap();
    assert_eq!(groceries.tags, ["errands", "home"]);
    assert_eq!(groceries.body, "milk, eggs");
    assert!(
        notes
            .iter()
            .find(|n| n.title == "Untagged")
            .unwrap()
            .tags
            .is_empty()
    );
    let lists = ws.list_task_lists();
    assert_eq!(
        lists[0].items.iter().map(|t| t.done).collect::<Vec<_>>(),
        [false, true]
    );

    // Each migration runs once: opening again writes nothing.
    let vv = ws.doc().oplog_vv();
    let (ws, outcome) = Workspace::open(ws.doc().clone()).unwrap();
    assert_eq!(
        outcome,
        MigrationOutcome::UpToDate {
            version: LATEST_SCHEMA
        }
    );
    assert_eq!(ws.doc().oplog_vv(), vv);
}

#[test]
fn two_devices_that_migrate_offline_converge_without_duplicates() {
    let bytes = v1_fixture_bytes();
    let a = device(10, &bytes);
    let b = device(11, &bytes);
    let (wa, _) = Workspace::open(a.clone()).unwrap();
    let (wb, _) = Workspace::open(b.clone()).unwrap();
    // Both keep working offline after migrating.
    let ideas = "0000000000000000000000000000000b";
    wa.set_tags(ideas, &["work", "ideas", "later"], 5).unwrap();
    wb.update_note(ideas, Some("Ideas (b)"), None, 6).unwrap();
    sync(&a, &b);
    assert_eq!(a.get_deep_value(), b.get_deep_value());
    assert_eq!(schema_version(&a), LATEST_SCHEMA);
    let notes = wa.list_notes(NoteFilter::All);
    assert_eq!(notes.len(), 3);
    let note = wa.get_note(ideas).unwrap();
    assert_eq!(note.tags, ["ideas", "later", "work"]);
    assert_eq!(note.title, "Ideas (b)");
    assert_eq!(wa.list_task_lists()[0].items.len(), 2);
    // A third open after the merge has nothing left to do.
    let (_, outcome) = Workspace::open(a.clone()).unwrap();
    assert_eq!(
        outcome,
        MigrationOutcome::UpToDate {
            version: LATEST_SCHEMA
        }
    );
}

#[test]
fn tags_written_by_an_old_device_during_the_migration_are_kept() {
    let bytes = v1_fixture_bytes();
    let old = device(20, &bytes);
    let new = device(21, &bytes);
    legacy_v1::add_note_v1(
        &old,
        "000000000000000000000000000000dd",
        "Old app",
        "",
        "red, blue",
        false,
        9,
    )
    .unwrap();
    let (wn, _) = Workspace::open(new.clone()).unwrap();
    sync(&old, &new);
    let mut wn = wn;
    let outcome = wn.refresh().unwrap();
    assert!(matches!(outcome, MigrationOutcome::UpToDate { .. }));
    assert_eq!(
        wn.get_note("000000000000000000000000000000dd")
            .unwrap()
            .tags,
        ["blue", "red"]
    );
}

#[test]
fn a_newer_schema_opens_read_only_and_is_never_written() {
    let doc = device(30, &v1_fixture_bytes());
    doc.get_map("schema").insert("2", true).unwrap();
    doc.get_map("schema")
        .insert(&(LATEST_SCHEMA + 1).to_string(), true)
        .unwrap();
    doc.commit();
    let vv = doc.oplog_vv();
    let (ws, outcome) = Workspace::open(doc.clone()).unwrap();
    assert_eq!(
        outcome,
        MigrationOutcome::NewerSchema {
            found: LATEST_SCHEMA + 1,
            known: LATEST_SCHEMA
        }
    );
    let read_only = ws.read_only().unwrap();
    assert!(
        read_only.reason().contains("read-only"),
        "{}",
        read_only.reason()
    );
    // Reads work.
    assert_eq!(ws.list_notes(NoteFilter::Live).len(), 3);
    // Writes are refused with the reason, and nothing is written.
    let err = ws
        .set_pinned("0000000000000000000000000000000a", true, 1)
        .unwrap_err();
    assert!(matches!(err, SchemaError::NewerSchema { .. }));
    assert!(ws.add_task_list("x", "x", 1).is_err());
    doc.commit();
    assert_eq!(doc.oplog_vv(), vv);
}

#[test]
fn an_empty_document_gets_no_schema_until_it_has_content() {
    let doc = LoroDoc::new();
    let (_, outcome) = Workspace::open(doc.clone()).unwrap();
    assert_eq!(outcome, MigrationOutcome::Empty);
    assert!(doc.oplog_vv().is_empty());
    let created = Workspace::create(LoroDoc::new()).unwrap();
    assert_eq!(created.schema_version(), LATEST_SCHEMA);
}
