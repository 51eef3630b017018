//! End-to-end: a phone with notes of its own joins its owner's workspace
//! with a token. Its own notes are not lost or hidden: the Data screen lists
//! both workspaces, either opens with one click, and the joined one still
//! syncs after switching back and forth. A phone whose own workspace is on
//! the server too joins by pairing link, and both go on syncing; every
//! workspace syncs in the background while another is open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};

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

/// The laptop: connected as the workspace's owner, with one note synced.
/// Returns it with the workspace id.
async fn owner_laptop(server: &Server) -> (Device, String) {
    let laptop = Device::launch().await;
    laptop.open(&server.url).await;
    let (workspace, _) = laptop.become_owner(server).await;
    laptop.add_note("Shared note", "from the laptop").await;
    laptop.wait_for_sync_state("synced").await;
    (laptop, workspace)
}

/// A phone that writes `own` notes (title, body) in a workspace of its
/// own, then joins the laptop's workspace by a pairing link.
async fn phone_joining(server: &Server, laptop: &Device, own: &[(&str, &str)]) -> Device {
    let phone = Device::launch_phone().await;
    phone.open(&server.url).await;
    for (title, body) in own {
        phone.add_note(title, body).await;
    }
    let mut titles: Vec<&str> = own.iter().map(|(title, _)| *title).collect();
    titles.reverse();
    phone.wait_for_notes(&titles).await;
    phone.pair_from(laptop, "phone").await;
    phone.wait_for_notes(&["Shared note"]).await;
    phone
}

#[tokio::test]
async fn joining_keeps_the_phones_own_workspace_reachable() {
    let server = Server::start();
    let (laptop, _) = owner_laptop(&server).await;
    let phone = phone_joining(&server, &laptop, &[("Phone's own", "only here")]).await;

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

#[tokio::test]
async fn a_phone_with_its_own_synced_workspace_joins_by_link_and_both_keep_syncing() {
    let server = Server::start();
    let (laptop, _) = owner_laptop(&server).await;

    // The phone's own workspace is on the server too, with a note.
    let phone = Device::launch_phone().await;
    phone.open(&server.url).await;
    phone.add_note("Phone's own", "synced from the phone").await;
    phone.become_owner(&server).await;

    // It opens the laptop's pairing link: the joined workspace comes in
    // beside its own.
    let link = laptop.make_pairing_link("rw").await;
    phone.join_by_link(&link, "Phone").await;
    phone.wait_for_notes(&["Shared note"]).await;
    phone.wait_for_sync_state("synced").await;
    laptop
        .add_note("Later from the laptop", "still syncing")
        .await;
    phone
        .wait_for_notes(&["Shared note", "Later from the laptop"])
        .await;

    // Its own workspace is one click away, and still syncs: a note written
    // there reaches the server (a second device of that workspace sees it).
    let listed = open_other_workspace(&phone, &server).await;
    assert!(listed.contains("Open now"), "{listed}");
    phone.wait_for_notes(&["Phone's own"]).await;
    phone.add_note("Phone, later", "after joining").await;
    phone.wait_for_sync_state("synced").await;
    let tablet = Device::launch().await;
    tablet.open(&server.url).await;
    tablet.pair_from(&phone, "tablet").await;
    tablet
        .wait_for_notes(&["Phone's own", "Phone, later"])
        .await;

    // And back: the joined workspace has everything, nothing lost.
    open_other_workspace(&phone, &server).await;
    phone
        .wait_for_notes(&["Shared note", "Later from the laptop"])
        .await;
    tablet.close().await;
    phone.close().await;
    laptop.close().await;
}

/// What this browser's database holds of `workspace`, store by store.
async fn stored_keys_of(device: &Device, workspace: &str) -> Vec<String> {
    let found = device
        .eval_async(&format!(
            "const done = arguments[arguments.length - 1];
             const ws = {workspace:?};
             const open = indexedDB.open('hearth');
             open.onsuccess = () => {{
               const names = ['meta', 'snapshots', 'updates', 'outbox', 'devices'];
               const tx = open.result.transaction(names);
               const found = [];
               let left = names.length;
               for (const name of names) {{
                 const all = tx.objectStore(name).getAllKeys();
                 all.onsuccess = () => {{
                   for (const key of all.result) {{
                     if (key === ws || (Array.isArray(key) && key[0] === ws)) found.push(name);
                   }}
                   if (--left === 0) {{ open.result.close(); done(found); }}
                 }};
               }}
             }};
             open.onerror = () => done(['could not open the database']);"
        ))
        .await;
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_workspace_is_named_everywhere_and_leaving_it_deletes_it_from_this_device_only() {
    let server = Server::start();
    let (laptop, workspace) = owner_laptop(&server).await;

    // Named on the laptop: the header says so.
    laptop.click("#tab-data").await;
    laptop.clear("#workspace-name-input").await;
    laptop.type_into("#workspace-name-input", "Home\n").await;
    laptop
        .wait_until(
            "the header names the workspace",
            "return document.querySelector('#workspace-name')?.textContent === 'Home'",
        )
        .await;
    laptop.wait_for_sync_state("synced").await;

    // The phone has notes of its own, joins, and sees the name too.
    let phone = Device::launch_phone().await;
    phone.open(&server.url).await;
    phone.add_note("Phone's own", "only here").await;
    let own = phone.device_record().await["workspace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    phone.pair_from(&laptop, "phone").await;
    phone.wait_for_notes(&["Shared note"]).await;
    phone
        .wait_until(
            "the joined workspace's name arrives",
            "return document.querySelector('#workspace-name')?.textContent === 'Home'",
        )
        .await;

    // Leaving warns what goes, and that the server keeps its copy.
    phone.open(&format!("{}/data", server.url)).await;
    phone
        .wait_until(
            "both workspaces are listed",
            "return document.querySelectorAll('#workspace-list li').length === 2",
        )
        .await;
    let listed = phone.text_of("#workspace-list").await;
    assert!(listed.contains("Home"), "{listed}");
    phone.click("#leave-workspace").await;
    let warning = phone.text_of("#leave-warning").await;
    assert!(
        warning.contains("1 note and 0 task lists") && warning.contains("keeps what it has"),
        "{warning}"
    );
    let violations = phone.accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "the warning is accessible: {violations:?}"
    );
    phone.click("#confirm-leave").await;

    // The phone is back in its own workspace; nothing of Home is left here.
    phone.wait_for_notes(&["Phone's own"]).await;
    assert_eq!(phone.device_record().await["workspace_id"], own.as_str());
    assert_eq!(
        stored_keys_of(&phone, &workspace).await,
        Vec::<String>::new()
    );
    assert!(!stored_keys_of(&phone, &own).await.is_empty());
    // The server and the laptop still have it.
    laptop.add_note("After the phone left", "still here").await;
    laptop.wait_for_sync_state("synced").await;
    laptop
        .wait_for_notes(&["After the phone left", "Shared note"])
        .await;

    // Leaving a workspace that is on this device only says it is gone for
    // good; the device then starts an empty one.
    phone.click("#tab-data").await;
    phone.click("#leave-workspace").await;
    let warning = phone.text_of("#leave-warning").await;
    assert!(warning.contains("gone for good"), "{warning}");
    phone.click("#confirm-leave").await;
    phone
        .wait_until(
            "an empty workspace opens",
            "return (document.querySelector('#note-count')?.textContent || '') === '0 notes'",
        )
        .await;
    assert_eq!(stored_keys_of(&phone, &own).await, Vec::<String>::new());

    // A new workspace sits beside the current one.
    phone.click("#tab-data").await;
    let before = phone.text_of("#workspace-name").await;
    phone.click("#new-workspace").await;
    phone
        .wait_until(
            "the new workspace opens",
            &format!(
                "const n = document.querySelector('#workspace-name'); return !!n && n.textContent !== {before:?}"
            ),
        )
        .await;
    phone.open(&format!("{}/data", server.url)).await;
    phone
        .wait_until(
            "two workspaces are listed",
            "return document.querySelectorAll('#workspace-list li').length === 2",
        )
        .await;
    phone.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn a_note_moves_from_the_phones_own_workspace_into_the_joined_one() {
    let server = Server::start();
    let (laptop, workspace) = owner_laptop(&server).await;
    let own = [
        ("Written offline", "on the phone, before joining"),
        ("Stays here", "private to the phone"),
    ];
    let phone = phone_joining(&server, &laptop, &own).await;

    // Back in the phone's own workspace, one note moves into the shared one.
    open_other_workspace(&phone, &server).await;
    phone
        .wait_for_notes(&["Stays here", "Written offline"])
        .await;
    phone.open_note("Written offline").await;
    phone
        .eval(&format!(
            "const s = document.querySelector('#move-note'); s.value = {workspace:?};
             s.dispatchEvent(new Event('change', {{ bubbles: true }})); return true"
        ))
        .await;
    let toast = phone.text_of("#undo-toast").await;
    assert!(toast.contains("Moved “Written offline”"), "{toast}");
    phone.wait_for_notes(&["Stays here"]).await;

    // The shared workspace syncs in the background: the laptop has the
    // note before the phone opens that workspace again.
    laptop
        .wait_for_notes(&["Written offline", "Shared note"])
        .await;
    open_other_workspace(&phone, &server).await;
    phone
        .wait_for_notes(&["Written offline", "Shared note"])
        .await;
    let body = {
        laptop.open_note("Written offline").await;
        laptop
            .eval("return document.querySelector('#note-body').value")
            .await
    };
    assert_eq!(body, "on the phone, before joining");
    phone.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn a_note_written_in_a_second_workspace_reaches_the_phone_while_it_shows_its_first() {
    let server = Server::start();
    let (laptop, _) = owner_laptop(&server).await;
    let phone = Device::phone_joined_by_link(&laptop.make_pairing_link("rw").await).await;
    phone.wait_for_notes(&["Shared note"]).await;

    // The laptop starts a second workspace (a shopping list), on the
    // server too, and the phone joins it.
    laptop.click("#tab-data").await;
    laptop.click("#new-workspace").await;
    laptop.wait_for_notes(&[]).await;
    let (second, _) = laptop.become_owner(&server).await;
    phone
        .join_by_link(&laptop.make_pairing_link("rw").await, "phone")
        .await;
    phone.wait_for_sync_state("synced").await;

    // The phone shows its first workspace; the laptop writes in the second.
    open_other_workspace(&phone, &server).await;
    phone.wait_for_notes(&["Shared note"]).await;
    laptop.click("#tab-notes").await;
    laptop.add_note("Oat milk", "two cartons").await;
    laptop.wait_for_sync_state("synced").await;

    // The phone's Data screen says the second has it, synced...
    phone.click("#tab-data").await;
    phone
        .wait_until(
            "the second workspace synced its new note in the background",
            &format!(
                "const s = document.querySelector('#workspace-list li[data-workspace=\"{second}\"] .workspace-sync');
                 return !!s && s.dataset.state === 'synced' && s.textContent.includes('1 note')"
            ),
        )
        .await;
    phone
        .assert_no_console_errors("syncing in the background")
        .await;
    // ...and it is stored on the phone: with the server gone, opening the
    // second workspace shows it.
    let mut server = server;
    server.kill();
    phone.click("#workspace-list .open-workspace").await;
    phone.wait_for_notes(&["Oat milk"]).await;
    phone.close().await;
    laptop.close().await;
}
