//! End-to-end: two browser profiles are two devices of one person. The
//! first connects its workspace to a real `hearth` and becomes its owner;
//! the second joins with an access token; each sees the other's edits
//! within moments; both edit while the server is down, and after it comes
//! back (same data directory) they converge with nothing lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server, mint_token};

#[tokio::test]
async fn two_devices_sync_through_a_real_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = Server::start_in(&data_dir, &[]);

    // Laptop: a note written before any server is known, then connect.
    let laptop = Device::launch().await;
    laptop.open(&server.url).await;
    laptop
        .add_note("Written offline first", "before the server existed")
        .await;
    laptop.wait_for_sync_state("local").await;
    let (workspace, master) = laptop.become_owner(&server).await;
    assert_eq!(laptop.text_of("#server-url").await, server.url);
    assert_eq!(laptop.device_record().await["role"], "master");

    // The owner mints a token for the phone; the phone joins with it and
    // the laptop's note arrives.
    let access = mint_token(&server, &workspace, &master, "phone").await;
    let phone = Device::launch().await;
    phone.join_with_token(&server, &access).await;
    phone.wait_for_notes(&["Written offline first"]).await;
    phone.wait_for_sync_state("synced").await;

    // Live: an edit on one shows on the other without a reload.
    phone.add_note("From the phone", "milk").await;
    laptop.click("#tab-notes").await;
    laptop
        .wait_for_notes(&["Written offline first", "From the phone"])
        .await;
    laptop.add_note("From the laptop", "bread").await;
    phone
        .wait_for_notes(&["Written offline first", "From the phone", "From the laptop"])
        .await;
    laptop.wait_for_sync_state("synced").await;
    phone.wait_for_sync_state("synced").await;

    // The server goes away; both keep working and say so.
    let port = server.addr().rsplit(':').next().unwrap().to_owned();
    server.kill();
    laptop.add_note("Laptop while offline", "1").await;
    phone.add_note("Phone while offline", "2").await;
    laptop.wait_until(
        "the laptop shows it is offline with one note pending (a note, not its keystrokes)",
        "const s = document.querySelector('#sync-status'); return ['offline', 'saved', 'error'].includes(s.dataset.state) && s.textContent.includes('1 note pending')",
    )
    .await;

    // It comes back on the same address with the same data: they converge.
    let listen = format!("127.0.0.1:{port}");
    let _server = Server::start_in(&data_dir, &["--listen", &listen]);
    let all = [
        "Written offline first",
        "From the phone",
        "From the laptop",
        "Laptop while offline",
        "Phone while offline",
    ];
    for device in [&laptop, &phone] {
        device.click("#tab-sync").await;
        device.click("#sync-now").await;
        device.click("#tab-notes").await;
    }
    laptop.wait_for_notes(&all).await;
    phone.wait_for_notes(&all).await;
    laptop.wait_for_sync_state("synced").await;
    phone.wait_for_sync_state("synced").await;

    // A reload keeps everything.
    phone.client.refresh().await.unwrap();
    phone.wait_for_notes(&all).await;
    laptop.close().await;
    phone.close().await;
}

/// A person writes one note after another. Each edit wakes the sync
/// driver from its wait on the live events; that wait's stream must close,
/// or after six edits the browser has no connection left for the server
/// (HTTP/1.1 allows six per host) and the device turns "Offline" with its
/// notes unsent. The phone sees every note.
#[tokio::test]
async fn many_edits_in_a_row_all_reach_the_other_device() {
    let server = Server::start();
    let laptop = Device::launch().await;
    laptop.open(&server.url).await;
    let (workspace, master) = laptop.become_owner(&server).await;
    let phone = Device::launch_phone().await;
    let token = mint_token(&server, &workspace, &master, "phone").await;
    phone.join_with_token(&server, &token).await;

    let titles: Vec<String> = (1..=12).map(|i| format!("Note {i:02}")).collect();
    for title in &titles {
        laptop.add_note(title, "written on the laptop").await;
        laptop.wait_for_sync_state("synced").await;
    }
    let newest_first: Vec<&str> = titles.iter().rev().map(String::as_str).collect();
    phone.wait_for_notes(&newest_first).await;
    laptop.close().await;
    phone.close().await;
}
