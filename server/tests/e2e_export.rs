//! End-to-end: a workspace leaves the browser as a file and comes back in
//! another browser profile with the same notes; the plain JSON export holds
//! the notes too; and the app shows the browser's storage use and whether
//! it may evict the data.
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
