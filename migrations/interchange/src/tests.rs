//! Each reader on a fixture in its app's documented format
//! (`tests/fixtures/`), malformed input refused, and a vault through
//! Hearth and back out as Markdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hearth_migrations::Workspace;
use hearth_migrations::loro::LoroDoc;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// Every file under a fixture folder, with paths relative to its parent
/// (as a browser's folder picker gives them: `vault/Welcome.md`).
fn folder(name: &str) -> Vec<InputFile> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    let mut dirs = vec![base.join(name)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(InputFile {
                    path: path
                        .strip_prefix(&base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    bytes: std::fs::read(&path).unwrap(),
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn one(name: &str) -> Vec<InputFile> {
    vec![InputFile {
        path: name.to_owned(),
        bytes: fixture(name),
    }]
}

fn zip_of(files: &[InputFile]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for file in files {
        zip.start_file(file.path.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&file.bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn note<'a>(imported: &'a Imported, title: &str) -> &'a ImportedNote {
    imported
        .notes
        .iter()
        .find(|n| n.title == title)
        .unwrap_or_else(|| panic!("no note {title:?} in {:#?}", imported.notes))
}

#[test]
fn an_obsidian_vault_keeps_tags_links_and_attachments() {
    let imported = read(folder("vault")).unwrap();
    assert_eq!(imported.format, Format::Markdown);
    assert_eq!(imported.notes.len(), 3, "the .obsidian folder is left out");
    let welcome = note(&imported, "Welcome");
    assert_eq!(welcome.tags, ["inbox", "reading list"]);
    assert!(
        welcome
            .body
            .starts_with("---\naliases:\n  - Start here\n---\n# Welcome")
    );
    assert!(welcome.body.contains("[[Projects/Garden|the garden plan]]"));
    let garden = note(&imported, "Garden");
    assert_eq!(garden.tags, ["garden", "outdoors", "Projects"]);
    let names: Vec<&str> = garden
        .attachments
        .iter()
        .map(|&at| imported.attachments[at].name.as_str())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"bed.png") && names.contains(&"sketch 1.svg"));
    assert!(note(&imported, "Quick thought").tags.is_empty());
    assert_eq!(
        imported.skipped,
        ["1 file(s) no note links to were left out"]
    );

    // The same vault zipped (with its folder) reads the same.
    let zipped = read(vec![InputFile {
        path: "vault.zip".into(),
        bytes: zip_of(&folder("vault")),
    }])
    .unwrap();
    assert_eq!(zipped, imported);
}

#[test]
fn a_standard_notes_backup_keeps_titles_tags_times_and_super_notes() {
    let imported = read(one("standard-notes-backup.txt")).unwrap();
    assert_eq!(imported.format, Format::StandardNotes);
    assert_eq!(imported.notes.len(), 2, "the trashed note is left out");
    let packing = note(&imported, "Packing list");
    assert_eq!(packing.tags, ["travel"]);
    assert_eq!(packing.body, "- passport\n- charger\n- rain jacket");
    assert_eq!(
        packing.created_ms,
        date::iso8601_ms("2023-05-02T08:15:30.123Z")
    );
    assert_eq!(packing.updated_ms, date::iso8601_ms("2023-06-11T19:02:00Z"));
    let super_note = note(&imported, "Super note");
    assert_eq!(
        super_note.body,
        "Groceries for the week\n- [x] leeks\n- [ ] crème fraîche"
    );
    assert_eq!(imported.skipped.len(), 1);

    assert!(matches!(
        read(one("standard-notes-encrypted.txt")),
        Err(ImportError::Encrypted)
    ));
}

#[test]
fn a_joplin_export_keeps_notebooks_tags_todos_and_resources() {
    let jex = read(one("joplin-export.jex")).unwrap();
    let raw = read(folder("joplin-raw")).unwrap();
    assert_eq!(jex, raw, "JEX is the RAW folder in a tar");
    assert_eq!(jex.format, Format::Joplin);
    assert_eq!(jex.notes.len(), 2);
    let trip = note(&jex, "Trip to Lisbon");
    assert_eq!(trip.tags, ["Travel/Portugal", "trains"]);
    assert_eq!(
        trip.body,
        "Take tram **28** up to the castle.\n\n![tram.png](attachments/tram.png)"
    );
    assert_eq!(trip.attachments, [0]);
    assert_eq!(jex.attachments[0].name, "tram.png");
    assert_eq!(jex.attachments[0].mime.as_deref(), Some("image/png"));
    assert_eq!(
        jex.attachments[0].bytes,
        fixture("vault/attachments/bed.png")
    );
    assert_eq!(
        trip.created_ms,
        date::iso8601_ms("2023-03-04T10:20:30.456Z")
    );
    let todo = note(&jex, "Renew passport");
    assert_eq!(todo.body, "- [x] Renew passport\n\nBefore May.");
    assert_eq!(todo.tags, ["Travel"]);
}

#[test]
fn an_evernote_export_becomes_markdown_with_its_attachments() {
    let imported = read(one("evernote-export.enex")).unwrap();
    assert_eq!(imported.format, Format::Evernote);
    let recipe = note(&imported, "Recipe: Shakshuka");
    assert_eq!(recipe.tags, ["cooking", "favourites"]);
    assert_eq!(recipe.created_ms, date::enex_ms("20230110T183000Z"));
    assert_eq!(
        recipe.body,
        "**Serves 2** — quick & warm\n- 4 eggs\n- 1 tin tomatoes\n- [x] Buy cumin\n- [ ] Warm the pita\n[Original recipe](https://example.org/shakshuka)\n![pan.png](attachments/pan.png)"
    );
    assert_eq!(recipe.attachments, [0]);
    assert_eq!(
        imported.attachments[0].bytes,
        fixture("vault/attachments/bed.png")
    );
    let phones = note(&imported, "Phone numbers");
    assert_eq!(
        phones.body,
        "## Family\n| Mum | 0123\n| Zoë | 0456\n1. first\n2. second\n---\nCafé on the corner\nopens at 8"
    );
}

#[test]
fn malformed_files_are_refused_with_a_reason() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("notes.zip", b"PK\x03\x04 not really a zip".to_vec()),
        ("notes.zip", zip_of(&folder("vault"))[..200].to_vec()),
        ("backup.txt", b"{\"items\": [".to_vec()),
        ("backup.json", b"{\"something\": 1}".to_vec()),
        ("export.enex", b"<en-export><note><title>x</title>".to_vec()),
        (
            "export.enex",
            b"<en-export><note><title>a</note></en-export>".to_vec(),
        ),
        ("export.jex", fixture("joplin-export.jex")[..700].to_vec()),
        ("picture.png", fixture("vault/attachments/bed.png")),
        ("empty.enex", b"<en-export></en-export>".to_vec()),
    ];
    for (name, bytes) in cases {
        let result = read(vec![InputFile {
            path: name.into(),
            bytes,
        }]);
        let error = result.expect_err(name);
        assert!(error.to_string().len() > 30, "{name}: {error}");
    }
}

#[test]
fn a_zip_bomb_is_refused() {
    // A small zip that unpacks to more than the cap (here 1 MiB, for
    // speed; the real cap is a GiB) is refused before it is all unpacked.
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("big.md", options).unwrap();
    zip.write_all(&vec![0u8; 3 << 20]).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    assert!(bytes.len() < 64 << 10);
    let error = archive::zip_entries_within(&bytes, 1 << 20).unwrap_err();
    assert!(matches!(error, ImportError::TooLarge { .. }), "{error}");
    assert!(error.to_string().contains("1 MiB"), "{error}");
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("{n:032x}")
    }
}

#[test]
fn a_vault_goes_into_a_workspace_and_back_out_as_equal_markdown() {
    let imported = read(folder("vault")).unwrap();
    let ws = Workspace::create(LoroDoc::new()).unwrap();
    let mut reports = Vec::new();
    let applied = apply(&ws, &imported, &mut ids(), 1_000, &mut |done, total| {
        reports.push((done, total));
    })
    .unwrap();
    assert_eq!(applied.note_ids.len(), 3);
    assert_eq!(reports.last(), Some(&(3, 3)));

    // Out, with the attachments the notes hold.
    let files: Vec<export::ExportFile> = imported
        .notes
        .iter()
        .zip(&applied.note_ids)
        .flat_map(|(note, id)| {
            note.attachments.iter().map(|&at| export::ExportFile {
                note_id: id.clone(),
                name: imported.attachments[at].name.clone(),
                bytes: imported.attachments[at].bytes.clone(),
            })
        })
        .collect();
    let zip = export::markdown_zip(&export::Export::of(&ws, files)).unwrap();
    let again = read(vec![InputFile {
        path: "export.zip".into(),
        bytes: zip,
    }])
    .unwrap();
    // The folder became a tag, so the note comes back at the top level
    // with that tag; its relative link to `../attachments` is kept as
    // written, and the attachment comes back linked by name.
    assert_eq!(again.comparable(), imported.comparable());
}

#[test]
fn many_notes_are_written_in_batches_with_progress() {
    let mut imported = Imported::new(Format::Markdown);
    for i in 0..(BATCH * 2 + 7) {
        imported.notes.push(ImportedNote {
            title: format!("Note {i}"),
            body: "text".into(),
            ..ImportedNote::default()
        });
    }
    imported.task_lists.push(ImportedTaskList {
        title: "Chores".into(),
        items: vec![("sweep".into(), true), ("dust".into(), false)],
    });
    let ws = Workspace::create(LoroDoc::new()).unwrap();
    let mut reports = Vec::new();
    apply(&ws, &imported, &mut ids(), 5, &mut |done, total| {
        reports.push((done, total));
    })
    .unwrap();
    let total = BATCH * 2 + 8;
    assert_eq!(
        reports,
        [(BATCH, total), (BATCH * 2, total), (total, total)]
    );
    assert_eq!(
        ws.list_notes(hearth_migrations::NoteFilter::Live).len(),
        BATCH * 2 + 7
    );
    let lists = ws.list_task_lists();
    assert_eq!(lists.len(), 1);
    assert!(lists[0].items[0].done && !lists[0].items[1].done);
    let files = export::markdown_files(&export::Export::of(&ws, Vec::new()));
    let chores = files
        .iter()
        .find(|(path, _)| path == "Task lists/Chores.md")
        .unwrap();
    assert_eq!(chores.1, b"- [x] sweep\n- [ ] dust\n");
}
