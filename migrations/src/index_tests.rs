//! The notes index's tests: reading, following the document, search,
//! and the list kept between starts.

#![allow(clippy::unwrap_used)]

use loro::LoroDoc;

use super::*;
use crate::NewNote;

fn note<'a>(title: &'a str, body: &'a str, tags: &'a [&'a str]) -> NewNote<'a> {
    NewNote {
        title,
        body,
        tags,
        pinned: false,
    }
}

fn titles(index: &NoteIndex, hits: &[usize]) -> Vec<String> {
    hits.iter()
        .map(|&i| index.get(i).unwrap().title.clone())
        .collect()
}

fn all(index: &NoteIndex) -> Vec<String> {
    titles(index, &index.search("", None))
}

/// The index after any edits equals one read afresh from the document.
fn same_as_fresh(index: &NoteIndex, ws: &Workspace) {
    let fresh = NoteIndex::new(ws);
    assert_eq!(index.notes, fresh.notes);
    assert_eq!(index.tags, fresh.tags);
}

#[test]
fn follows_edits_one_note_at_a_time() {
    let ws = Workspace::create(LoroDoc::new()).unwrap();
    ws.add_note("a", note("Alpha", "first", &["work"]), 1)
        .unwrap();
    ws.add_note("b", note("Beta", "second", &[]), 2).unwrap();
    let mut index = NoteIndex::new(&ws);
    assert_eq!(all(&index), ["Beta", "Alpha"]);
    assert!(!index.catch_up(&ws), "nothing changed yet");

    // Typing in Alpha moves it to the top and changes its title.
    ws.update_note("a", Some("Alphabet"), None, 3).unwrap();
    assert!(index.catch_up(&ws));
    assert_eq!(all(&index), ["Alphabet", "Beta"]);

    ws.add_note("c", note("Gamma", "", &["home"]), 4).unwrap();
    ws.set_pinned("b", true, 5).unwrap();
    index.catch_up(&ws);
    assert_eq!(all(&index), ["Beta", "Gamma", "Alphabet"]);
    assert_eq!(index.tags().collect::<Vec<_>>(), ["home", "work"]);

    ws.delete_note("c", 6).unwrap();
    ws.set_tags("a", &["play"], 7).unwrap();
    index.catch_up(&ws);
    assert_eq!(all(&index), ["Beta", "Alphabet"]);
    assert_eq!(index.tags().collect::<Vec<_>>(), ["play"]);
    same_as_fresh(&index, &ws);

    ws.restore_note("c", 8).unwrap();
    index.catch_up(&ws);
    assert_eq!(all(&index), ["Beta", "Gamma", "Alphabet"]);
    same_as_fresh(&index, &ws);
}

#[test]
fn follows_changes_imported_from_another_device() {
    let here = Workspace::create(LoroDoc::new()).unwrap();
    here.add_note("a", note("Mine", "", &[]), 1).unwrap();
    let there_doc = LoroDoc::new();
    there_doc
        .import(&here.doc().export(loro::ExportMode::Snapshot).unwrap())
        .unwrap();
    let (there, _) = Workspace::open(there_doc).unwrap();
    let mut index = NoteIndex::new(&here);

    there
        .add_note("b", note("Theirs", "from the phone", &[]), 2)
        .unwrap();
    there
        .update_note("a", None, Some("edited there"), 3)
        .unwrap();
    here.doc()
        .import(
            &there
                .doc()
                .export(loro::ExportMode::updates(&here.doc().oplog_vv()))
                .unwrap(),
        )
        .unwrap();
    assert!(index.catch_up(&here));
    assert_eq!(all(&index), ["Mine", "Theirs"]);
    assert_eq!(titles(&index, &index.search("THERE", None)), ["Mine"]);
    same_as_fresh(&index, &here);
}

#[test]
fn searches_title_body_and_tags_ignoring_case() {
    let ws = Workspace::create(LoroDoc::new()).unwrap();
    ws.add_note("a", note("Groceries", "Milk, EGGS", &["Home"]), 1)
        .unwrap();
    ws.add_note("b", note("Book ideas", "a novel", &["writing"]), 2)
        .unwrap();
    ws.add_note("c", note("Trip", "pack eggs", &["home"]), 3)
        .unwrap();
    let index = NoteIndex::new(&ws);
    assert_eq!(
        titles(&index, &index.search("  eggs ", None)),
        ["Trip", "Groceries"]
    );
    assert_eq!(
        titles(&index, &index.search("home", None)),
        ["Trip", "Groceries"]
    );
    assert_eq!(titles(&index, &index.search("", Some("home"))), ["Trip"]);
    assert_eq!(
        titles(&index, &index.search("novel", Some("home"))),
        Vec::<String>::new()
    );
    assert_eq!(titles(&index, &index.search("BOOK", None)), ["Book ideas"]);
}

#[test]
fn search_ignores_accents_matches_word_starts_and_ranks_titles_first() {
    let ws = Workspace::create(LoroDoc::new()).unwrap();
    ws.add_note("a", note("Paris trip", "the Café de Flore", &[]), 1)
        .unwrap();
    ws.add_note("b", note("Cafe list", "", &[]), 2).unwrap();
    ws.add_note("c", note("Errands", "decaf for mum", &["café"]), 3)
        .unwrap();
    ws.add_note("d", note("Old café notes", "", &[]), 4)
        .unwrap();
    let index = NoteIndex::new(&ws);
    // Title matches first, newest first; then the body and tags;
    // "decaf" does not start with "caf".
    assert_eq!(
        titles(&index, &index.search("CAFE", None)),
        ["Old café notes", "Cafe list", "Errands", "Paris trip"]
    );
    assert_eq!(
        titles(&index, &index.search("caf fl", None)),
        ["Paris trip"]
    );
    assert_eq!(
        titles(&index, &index.search("afe", None)),
        Vec::<String>::new()
    );
    assert_eq!(
        titles(&index, &index.search("café", Some("café"))),
        ["Errands"]
    );
}

#[test]
fn a_cache_from_an_earlier_start_is_brought_up_to_date() {
    let ws = Workspace::create(LoroDoc::new()).unwrap();
    ws.add_note("a", note("Alpha", "first", &["work"]), 1)
        .unwrap();
    ws.add_note("b", note("Beta", "second", &[]), 2).unwrap();
    let mut index = NoteIndex::new(&ws);
    index.catch_up(&ws);
    assert!(index.needs_keeping(), "read afresh, not kept yet");
    let cache = index.to_cache(&ws);
    assert!(!index.needs_keeping());
    drop(index);

    // Unchanged: the cache is used as it is, and need not be kept again.
    let (again, used) = NoteIndex::from_cache(&ws, &cache);
    assert!(used);
    assert!(!again.needs_keeping());
    same_as_fresh(&again, &ws);

    // Changed meanwhile (here, or by a sync before the page opened):
    // only the changed notes are read again, also from a list read
    // before the changes came.
    let kept = KeptList::read(&cache).unwrap();
    ws.update_note("a", Some("Alpha, edited"), None, 3).unwrap();
    ws.delete_note("b", 4).unwrap();
    ws.add_note("c", note("Gamma", "", &["home"]), 5).unwrap();
    let (early, used) = NoteIndex::from_kept(&ws, Some(kept));
    assert!(used);
    same_as_fresh(&early, &ws);
    drop(early);
    let (mut later, used) = NoteIndex::from_cache(&ws, &cache);
    assert!(used);
    assert!(later.needs_keeping(), "notes were read again");
    assert_eq!(all(&later), ["Gamma", "Alpha, edited"]);
    same_as_fresh(&later, &ws);
    // And it follows the document from there.
    ws.set_pinned("a", true, 6).unwrap();
    later.catch_up(&ws);
    assert_eq!(all(&later), ["Alpha, edited", "Gamma"]);

    // A cache of another document, or of nothing, is ignored.
    let other = Workspace::create(LoroDoc::new()).unwrap();
    other.add_note("z", note("Zeta", "", &[]), 1).unwrap();
    let foreign = NoteIndex::new(&other).to_cache(&other);
    for bad in [
        foreign.as_slice(),
        b"",
        b"{\"format\": 99}",
        &cache[..cache.len() / 2],
    ] {
        let (index, used) = NoteIndex::from_cache(&ws, bad);
        assert!(!used);
        same_as_fresh(&index, &ws);
    }
}

#[test]
fn many_changes_at_once_rebuild() {
    let ws = Workspace::create(LoroDoc::new()).unwrap();
    let mut index = NoteIndex::new(&ws);
    for i in 0..(REBUILD_ABOVE + 10) {
        ws.add_note(
            &format!("{i:05}"),
            note(&format!("n{i}"), "", &[]),
            i as i64,
        )
        .unwrap();
    }
    assert!(matches!(
        *index.pending.lock().unwrap(),
        Pending::Everything
    ));
    index.catch_up(&ws);
    assert_eq!(index.len(), REBUILD_ABOVE + 10);
    same_as_fresh(&index, &ws);
}
