//! End-to-end: a phone with notes of its own joins its owner's workspace
//! with a token. Its own notes are not lost or hidden: the Data screen lists
//! both workspaces, either opens with one click, and the joined one still
//! syncs after switching back and forth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server, mint_token};

/// Opens the workspace that is not open, from the Data screen; returns what
/// the list said.
async fn open_other_workspace(device: &Device, server: &Server) -> String {
    device.open(&format!("{}/data", server.url)).await;
    device
        .wait_until(
            "two workspaces are listed",
            "return document.querySelectorAll('#workspace-list li').length === 2",
        )
        .await;
    let listed = device.text_of("#workspace-list").await;
    device.click("#workspace-list .open-workspace").await;
    device
        .wait_until(
            "the notes screen opens",
            "return location.pathname === '/' && !!document.querySelector('#note-items')",
        )
        .await;
    listed
}

#[tokio::test]
async fn joining_keeps_the_phones_own_workspace_reachable() {
    let server = Server::start();
    let laptop = Device::launch().await;
    laptop.open(&server.url).await;
    let (workspace, master) = laptop.become_owner(&server).await;
    laptop.add_note("Shared note", "from the laptop").await;
    laptop.wait_for_sync_state("synced").await;

    let phone = Device::launch_phone().await;
    phone.open(&server.url).await;
    phone.add_note("Phone's own", "only here").await;
    phone.wait_for_notes(&["Phone's own"]).await;
    let token = mint_token(&server, &workspace, &master, "phone").await;
    phone.join_with_token(&server, &token).await;
    phone.wait_for_notes(&["Shared note"]).await;

    // The phone's own workspace is one click away, with its note.
    let listed = open_other_workspace(&phone, &server).await;
    assert!(
        listed.contains("on this device only") && listed.contains("Open now"),
        "{listed}"
    );
    phone.wait_for_notes(&["Phone's own"]).await;

    // And back: the joined workspace is still synced.
    open_other_workspace(&phone, &server).await;
    phone.wait_for_notes(&["Shared note"]).await;
    laptop
        .add_note("Later from the laptop", "still syncing")
        .await;
    phone
        .wait_for_notes(&["Shared note", "Later from the laptop"])
        .await;
    phone.close().await;
    laptop.close().await;
}
