//! End-to-end: a workspace leaves the browser as a file and comes back in
//! another browser profile with the same notes; the plain JSON export holds
//! the notes too; the app shows the browser's storage use and whether it
//! may evict the data; and an Obsidian vault moves in and back out as the
//! same Markdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};

#[tokio::test]
async fn export_then_import_into_a_fresh_device() {
    let server = Server::start();
    let first = Device::launch().await;
    first.open(&server.url).await;
    first.add_note("Recipe", "flour, water, salt").await;
    first.add_note("Journal", "a quiet day").await;
    first.wait_for_notes(&["Recipe", "Journal"]).await;
    first.wait_for_sync_state("local").await;

    first.click("#tab-data").await;
    let storage = first.text_of("#storage-facts").await;
    assert!(storage.contains("MB"), "storage use is shown: {storage}");
    assert!(
        storage.contains("may evict") || storage.contains("persistent"),
        "whether the browser may evict the data is shown: {storage}"
    );

    first.click("#export-workspace").await;
    let file = first.downloaded(".hearth.json").await;
    let text = std::fs::read_to_string(&file).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["format"], "hearth-workspace");
    assert_eq!(parsed["version"], 1);
    assert_eq!(
        parsed["encrypted"], false,
        "a workspace on no server yet has no recovery key"
    );
    let said = first.text_of("#data-message").await;
    assert!(said.contains("not encrypted"), "{said}");

    first.click("#export-json").await;
    let json = std::fs::read_to_string(first.downloaded("hearth-notes.json").await).unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut titles: Vec<&str> = json["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    titles.sort();
    assert_eq!(titles, ["Journal", "Recipe"]);

    // A fresh profile imports the file and shows the same notes.
    let second = Device::launch().await;
    second.open(&server.url).await;
    second.wait_for_notes(&[]).await;
    second.click("#tab-data").await;
    let input = second
        .client
        .find(fantoccini::Locator::Css("#import-file"))
        .await
        .unwrap();
    input.send_keys(&file.to_string_lossy()).await.unwrap();
    second.click("#tab-notes").await;
    second.wait_for_notes(&["Recipe", "Journal"]).await;
    // It is a workspace of its own that keeps working: edit and reload.
    second.add_note("Added after import", "ok").await;
    second.wait_for_sync_state("local").await;
    second.client.refresh().await.unwrap();
    second
        .wait_for_notes(&["Recipe", "Journal", "Added after import"])
        .await;

    // The imported workspace syncs like one made here: connected to the
    // server, a third device that joins gets every note.
    second.click("#tab-sync").await;
    second.click("#connect").await;
    second.wait_for_sync_state("synced").await;
    let third = Device::launch().await;
    third.pair_from(&second, "third").await;
    third
        .wait_for_notes(&["Recipe", "Journal", "Added after import"])
        .await;
    third.close().await;

    // A file that is not a workspace is refused with a reason.
    let bogus = second.downloads.join("bogus.json");
    std::fs::write(&bogus, "{\"hello\": 1}").unwrap();
    second.click("#tab-data").await;
    let input = second
        .client
        .find(fantoccini::Locator::Css("#import-file"))
        .await
        .unwrap();
    input.send_keys(&bogus.to_string_lossy()).await.unwrap();
    let said = second.text_of("#data-message").await;
    assert!(said.contains("not a Hearth workspace file"), "{said}");
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn an_encrypted_workspace_exports_a_sealed_file_that_opens_only_with_its_recovery_key() {
    use base64::Engine as _;
    let server = Server::start();
    let owner = Device::launch().await;
    owner.open(&server.url).await;
    owner.click("#tab-sync").await;
    owner.click("#connect").await;
    owner.wait_for_sync_state("synced").await;
    let recovery = owner.text_of("#recovery-key").await;
    owner.click("#recovery-done").await;
    owner.click("#tab-notes").await;
    let secret = "box 112 at the north branch";
    owner.add_note("Safe deposit", secret).await;
    owner.wait_for_sync_state("synced").await;

    // The file says it is encrypted, and holds no note text.
    owner.click("#tab-data").await;
    owner.click("#export-workspace").await;
    let file = owner.downloaded(".hearth.json").await;
    let text = std::fs::read_to_string(&file).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["encrypted"], true, "{text}");
    assert_eq!(parsed["version"], 2);
    let snapshot = base64::engine::general_purpose::STANDARD
        .decode(parsed["snapshot"].as_str().unwrap())
        .unwrap();
    assert!(hearth_shared::sealed::read_header(&snapshot).is_ok());
    for t in [secret.as_bytes(), b"Safe deposit".as_slice()] {
        assert!(!snapshot.windows(t.len()).any(|w| w == t));
        assert!(!text.as_bytes().windows(t.len()).any(|w| w == t));
    }
    let said = owner.text_of("#data-message").await;
    assert!(said.contains("encrypted"), "{said}");

    // A fresh browser asks for the recovery key, refuses another one, and
    // imports with the right one (typed in lower case).
    let other = Device::launch().await;
    other.open(&server.url).await;
    other.wait_for_notes(&[]).await;
    other.click("#tab-data").await;
    let input = other
        .client
        .find(fantoccini::Locator::Css("#import-file"))
        .await
        .unwrap();
    input.send_keys(&file.to_string_lossy()).await.unwrap();
    let said = other.text_of("#data-message").await;
    assert!(said.contains("recovery key"), "{said}");
    let wrong = hearth_shared::recovery::RecoveryKey::new([9; 32]).to_text();
    other.type_into("#import-key-input", &wrong).await;
    other.click("#import-key-button").await;
    other
        .wait_until(
            "another key is refused",
            "return document.querySelector('#data-message').textContent.includes('does not open')",
        )
        .await;
    other.clear("#import-key-input").await;
    other
        .type_into("#import-key-input", &recovery.trim().to_lowercase())
        .await;
    other.click("#import-key-button").await;
    other
        .wait_until(
            "the file is imported and the app reloaded",
            "return !document.querySelector('#import-key-form')",
        )
        .await;
    other.click("#tab-notes").await;
    other.wait_for_notes(&["Safe deposit"]).await;
    other.open_note("Safe deposit").await;
    other.wait_for_body(secret).await;
    other.close().await;
    owner.close().await;
}

/// The fixture vault (`migrations/interchange/tests/fixtures/vault`), its
/// `.obsidian` folder too, zipped with the vault's folder, as a person
/// would zip it; and the same files read for comparison.
fn zipped_vault(out: &std::path::Path) -> hearth_interchange::Imported {
    use std::io::Write;
    let vault = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations/interchange/tests/fixtures/vault");
    let files = hearth_device::interchange::read_input(&vault).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    for file in &files {
        zip.start_file(file.path.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&file.bytes).unwrap();
    }
    zip.finish().unwrap();
    hearth_interchange::read(files).unwrap()
}

#[tokio::test]
async fn an_obsidian_vault_moves_in_and_back_out_as_the_same_markdown() {
    let server = Server::start();
    let device = Device::launch().await;
    // Connected, so that the vault's images are sent (and kept here).
    device.become_owner(&server).await;
    device.wait_for_notes(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let vault_zip = dir.path().join("My vault.zip");
    let vault = zipped_vault(&vault_zip);

    device.click("#tab-data").await;
    device.pick_file_in("#import-notes-file", &vault_zip).await;
    device
        .wait_until(
            "the vault is imported",
            "return document.querySelector('#interchange-status')?.textContent.startsWith('Imported')",
        )
        .await;
    let said = device.text_of("#interchange-status").await;
    assert!(
        said.contains("Imported 3 notes from Markdown files, with 2 attached files"),
        "{said}"
    );
    assert!(said.contains("no note links to"), "{said}");
    device.click("#tab-notes").await;
    device
        .wait_for_notes(&["Welcome", "Garden", "Quick thought"])
        .await;
    // The garden note's picture and sketch are sent, and it holds them.
    device.open_note("Garden").await;
    device
        .wait_until(
            "the garden note holds its two files",
            "return document.querySelectorAll('#attachments li.attachment:not(.queued)').length === 2",
        )
        .await;

    // Out again: the same notes, tags, bodies and files.
    device.click("#tab-data").await;
    device.click("#export-markdown").await;
    let exported = device.downloaded("hearth-notes.zip").await;
    device
        .wait_until(
            "the export is done",
            "return document.querySelector('#interchange-status')?.textContent.startsWith('Exported as Markdown.')",
        )
        .await;
    let again = hearth_interchange::read(vec![hearth_interchange::InputFile {
        path: "hearth-notes.zip".into(),
        bytes: std::fs::read(&exported).unwrap(),
    }])
    .unwrap();
    assert_eq!(again.comparable(), vault.comparable());
    device
        .assert_no_console_errors("importing and exporting")
        .await;
    device.close().await;
}
