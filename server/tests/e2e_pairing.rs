//! End-to-end: pairing by share link and QR code, the device list, revoke,
//! and read-only devices, in headless Chromium against a real `hearth`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};
use fantoccini::Locator;

/// Connects `device` to the server as the workspace's owner.
async fn become_owner(device: &Device, server: &Server) {
    device.open(&server.url).await;
    device.click("#tab-sync").await;
    device.click("#connect").await;
    device.wait_for_sync_state("synced").await;
}

/// Makes a pairing link on the owner's Devices screen; returns it and what
/// its QR code decodes to.
async fn make_link(owner: &Device, scope: &str) -> (String, String) {
    let link = owner.make_pairing_link(scope).await;
    owner
        .eval("document.querySelector('#pair-qr').scrollIntoView({ block: 'center' }); return true")
        .await;
    (link, read_qr(owner, "#pair-qr").await)
}

/// The text of the QR code shown in `css`, read from a screenshot (taken
/// again until the code has been painted: a busy machine paints late).
/// The last screenshot is kept in `target/screenshots` if none reads.
async fn read_qr(device: &Device, css: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let element = device.client.find(Locator::Css(css)).await.unwrap();
        let png = element.screenshot().await.unwrap();
        if let Some(text) = decode_qr(&png) {
            return text;
        }
        if std::time::Instant::now() > deadline {
            let kept = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/screenshots/unreadable-qr.png");
            let _ = std::fs::create_dir_all(kept.parent().unwrap());
            let _ = std::fs::write(&kept, &png);
            panic!(
                "no readable QR code in {css} (the last screenshot: {})",
                kept.display()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn decode_qr(png_bytes: &[u8]) -> Option<String> {
    if let Ok(dir) = std::env::var("HEARTH_SCREENSHOTS") {
        std::fs::write(format!("{dir}/qr.png"), png_bytes).unwrap();
    }
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let luma = |x: usize, y: usize| -> u8 {
        let i = (y * w + x) * channels;
        let px = &buf[i..i + channels.min(3)];
        (px.iter().map(|&v| u32::from(v)).sum::<u32>() / px.len() as u32) as u8
    };
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, luma);
    let grids = image.detect_grids();
    match grids.as_slice() {
        [one] => one.decode().ok().map(|(_, text)| text),
        _ => None,
    }
}

#[tokio::test]
async fn a_device_pairs_by_link_and_is_revoked() {
    let server = Server::start();
    let laptop = Device::launch().await;
    become_owner(&laptop, &server).await;
    laptop.add_note("Shared by pairing", "hello phone").await;
    laptop.wait_for_sync_state("synced").await;

    let (link, from_qr) = make_link(&laptop, "rw").await;
    assert_eq!(from_qr, link, "the QR code carries the link");
    assert!(link.starts_with(&server.url), "{link}");
    let fragment = link.split_once('#').unwrap().1;
    assert!(
        fragment.contains("invite="),
        "the invite travels in the fragment: {link}"
    );

    // The phone opens the link, names itself, and gets the workspace.
    let phone = Device::launch().await;
    phone.join_by_link(&link, "Phone").await;
    phone.wait_for_notes(&["Shared by pairing"]).await;
    phone.wait_for_sync_state("synced").await;

    // The same link opens nothing a second time.
    let stranger = Device::launch().await;
    stranger.open(&link).await;
    stranger.click("#pair-join-button").await;
    let refused = stranger.text_of("#pair-message").await;
    assert!(refused.contains("already used or has expired"), "{refused}");
    stranger.close().await;

    // The owner sees the phone and removes it.
    laptop.click("#tab-notes").await;
    laptop.click("#tab-devices").await;
    let listed = laptop.text_of("#device-list li[data-label='Phone']").await;
    assert!(listed.contains("can edit"), "{listed}");
    // The laptop's own entry says it is this device, seen now.
    let own = laptop.text_of("#device-list li.this-device").await;
    assert!(
        own.contains("owner") && own.contains("this device, seen now"),
        "{own}"
    );
    assert!(!listed.contains("this device"), "{listed}");
    laptop
        .click("#device-list li[data-label='Phone'] .revoke")
        .await;
    laptop.client.accept_alert().await.unwrap();
    laptop
        .wait_until(
            "the phone shows as removed",
            "return !!document.querySelector(\"#device-list li.revoked[data-label='Phone']\")",
        )
        .await;

    // The phone learns it was removed at its next sync, and keeps its data.
    phone.click("#tab-sync").await;
    phone.click("#sync-now").await;
    phone.wait_for_sync_state("revoked").await;
    let said = phone.text_of("#sync-status").await;
    assert!(said.contains("Removed"), "{said}");
    phone.click("#tab-notes").await;
    phone.wait_for_notes(&["Shared by pairing"]).await;
    phone.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn a_read_only_device_cannot_edit() {
    let server = Server::start();
    let laptop = Device::launch().await;
    become_owner(&laptop, &server).await;
    laptop.add_note("Read me", "only").await;
    laptop.wait_for_sync_state("synced").await;
    let (link, _) = make_link(&laptop, "ro").await;

    let tablet = Device::launch().await;
    tablet.open(&link).await;
    tablet.click("#pair-join-button").await;
    tablet.wait_for_notes(&["Read me"]).await;
    let banner = tablet.text_of("#read-only-banner").await;
    assert!(banner.contains("read-only"), "{banner}");
    let disabled = tablet
        .eval("return document.querySelector('#new-note').disabled")
        .await;
    assert_eq!(disabled.as_bool(), Some(true));

    // Changes still arrive.
    laptop.add_note("Second", "two").await;
    tablet.wait_for_notes(&["Read me", "Second"]).await;
    tablet.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn the_owner_replaces_a_leaked_owner_key() {
    let server = Server::start();
    let laptop = Device::launch().await;
    let (workspace, old_key) = laptop.become_owner(&server).await;
    laptop.add_note("Before the new key", "").await;
    laptop.wait_for_sync_state("synced").await;

    // A device the owner lets in for a day only.
    let tablet = e2e_support::mint_token(&server, &workspace, &old_key, "Tablet").await;
    laptop.click("#tab-notes").await;
    laptop.click("#tab-devices").await;
    laptop.text_of("#device-list li[data-label='Tablet']").await;
    laptop
        .eval(
            "const s = document.querySelector(\"#device-list li[data-label='Tablet'] select.expiry\");
             s.value = '1';
             s.dispatchEvent(new Event('change', { bubbles: true }));
             return true;",
        )
        .await;
    laptop
        .wait_until(
            "the tablet shows when it stops working",
            "const li = document.querySelector(\"#device-list li[data-label='Tablet']\");
             return !!li && li.textContent.includes('stops working in');",
        )
        .await;
    let path = format!("/v1/workspaces/{workspace}/tokens");
    let listed = e2e_support::request(server.addr(), "GET", &path, Some(&old_key), None).await;
    let list: serde_json::Value = serde_json::from_slice(&listed.body).unwrap();
    let expires = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "Tablet")
        .map(|t| t["expires_at"].as_u64());
    assert!(matches!(expires, Some(Some(_))), "{list}");
    // The tablet still works until then.
    let pull = format!("/v1/workspaces/{workspace}/entries?after=0");
    assert_eq!(
        e2e_support::request(server.addr(), "GET", &pull, Some(&tablet), None)
            .await
            .status,
        200
    );

    laptop.click("#tab-notes").await;
    laptop.click("#tab-devices").await;
    laptop.click("#replace-owner-key").await;
    laptop.client.accept_alert().await.unwrap();
    // The app reloads with the new key and goes on syncing.
    let mut new_key = old_key.clone();
    for _ in 0..100 {
        new_key = laptop.device_record().await["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if new_key != old_key {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(new_key, old_key, "the device stored a new owner key");
    laptop.add_note("After the new key", "").await;
    laptop.wait_for_sync_state("synced").await;

    // The leaked key opens nothing any more; the new one is the owner.
    let refused = e2e_support::request(server.addr(), "GET", &path, Some(&old_key), None).await;
    assert_eq!(refused.status, 401);
    let listed = e2e_support::request(server.addr(), "GET", &path, Some(&new_key), None).await;
    assert_eq!(listed.status, 200);
    laptop.close().await;
}

/// Asserts that no file under `roots` (which hold some) holds any of
/// `needles`.
fn holds_none(roots: &[&std::path::Path], needles: &[Vec<u8>]) {
    let mut searched = 0;
    for root in roots {
        for (path, bytes) in e2e_support::files_under(root) {
            searched += bytes.len();
            for needle in needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{} holds {:?}",
                    path.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }
    assert!(searched > 0, "the data directory and backup hold files");
}

/// The workspace's keys in a device's record: its current epoch and the
/// bytes of its key.
async fn key_of(device: &Device) -> (u64, Vec<u8>) {
    use base64::Engine as _;
    let record = device.device_record().await;
    let keys = &record["keys"];
    let current = keys["current"].as_u64().expect("the record holds keys");
    let key = keys["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["epoch"].as_u64() == Some(current))
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key)
        .unwrap();
    assert_eq!(key.len(), 32);
    (current, key)
}

#[tokio::test]
async fn an_encrypted_workspace_pairs_by_link_and_the_servers_disk_and_backup_hold_no_note_text() {
    use base64::Engine as _;
    let server = Server::start();
    let laptop = Device::launch().await;
    become_owner(&laptop, &server).await;
    let texts = [
        "Passport renewal",
        "the spare key is under the third flowerpot",
        "Boiler code",
        "reset with 4471 then hold the red valve",
    ];
    laptop.add_note(texts[0], texts[1]).await;
    laptop.wait_for_sync_state("synced").await;

    // The link carries the invite and, beside it, the pairing secret, both
    // in the fragment (which a browser never sends to a server).
    let link = laptop.make_pairing_link("rw").await;
    let fragment = link.split_once('#').unwrap().1;
    assert!(
        !link.split_once('#').unwrap().0.contains("secret"),
        "{link}"
    );
    let secret = fragment
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap_or_else(|| panic!("the link carries no secret: {link}"));
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret)
        .unwrap();
    let phone = Device::launch_phone().await;
    phone.join_by_link(&link, "Phone").await;
    phone.wait_for_notes(&[texts[0]]).await;
    phone.open_note(texts[0]).await;
    phone.wait_for_body(texts[1]).await;
    phone.wait_for_sync_state("synced").await;
    let key = key_of(&laptop).await;
    assert_eq!(
        key_of(&phone).await,
        key,
        "the phone holds the laptop's key"
    );

    // A session of edits on both.
    phone.click("#tab-notes").await;
    phone.add_note(texts[2], texts[3]).await;
    phone.wait_for_sync_state("synced").await;
    laptop.click("#tab-notes").await;
    laptop.wait_for_notes(&[texts[0], texts[2]]).await;
    laptop.open_note(texts[2]).await;
    laptop.wait_for_body(texts[3]).await;

    // Neither the data directory nor a backup taken now holds a note's
    // text, the workspace key or the pairing secret.
    let out = tempfile::tempdir().unwrap();
    let backup = server.backup(out.path());
    let mut needles: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    needles.extend(
        texts
            .iter()
            .map(|t| t.as_bytes()[..t.len().min(12)].to_vec()),
    );
    needles.push(key.1.clone());
    needles.push(secret.clone());
    holds_none(&[server.data_dir.as_path(), backup.as_path()], &needles);
    phone.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn a_device_joined_with_a_token_alone_says_it_needs_the_key_and_writes_nothing() {
    let server = Server::start();
    let laptop = Device::launch().await;
    become_owner(&laptop, &server).await;
    laptop.add_note("Private", "only with the key").await;
    laptop.wait_for_sync_state("synced").await;
    let record = laptop.device_record().await;
    let (workspace, master) = (
        record["workspace_id"].as_str().unwrap().to_owned(),
        record["token"].as_str().unwrap().to_owned(),
    );
    let head = || {
        let (addr, path, master) = (
            server.addr().to_owned(),
            format!("/v1/workspaces/{workspace}/entries?after=0"),
            master.clone(),
        );
        async move {
            let pulled = e2e_support::request(&addr, "GET", &path, Some(&master), None).await;
            assert_eq!(pulled.status, 200);
            pulled.header("hearth-head").unwrap().to_owned()
        }
    };
    let before = head().await;

    let token = e2e_support::mint_token(&server, &workspace, &master, "tablet").await;
    let tablet = Device::launch().await;
    tablet.join_with_token(&server, &token).await;
    tablet.wait_for_sync_state("needs-key").await;
    let said = tablet.text_of("#key-banner").await;
    assert!(
        said.contains("end-to-end encrypted") && said.contains("pairing link"),
        "{said}"
    );
    assert_eq!(tablet.note_titles().await, Vec::<String>::new());
    let empty = tablet.text_of("#notes-empty").await;
    assert!(empty.contains("encrypted"), "{empty}");
    // It cannot write here either.
    assert_eq!(
        tablet
            .eval("return document.querySelector('#new-note').disabled")
            .await,
        serde_json::json!(true)
    );
    tablet.click("#tab-sync").await;
    tablet.click("#sync-now").await;
    tablet.wait_for_sync_state("needs-key").await;
    assert_eq!(head().await, before, "the tablet wrote nothing");

    // Paired by link, the same browser gets the key and the notes.
    tablet.pair_from(&laptop, "Tablet").await;
    tablet.wait_for_notes(&["Private"]).await;
    tablet.wait_for_sync_state("synced").await;
    tablet.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn a_fresh_browser_with_only_the_server_address_and_the_recovery_key_gets_the_workspace_back()
{
    let server = Server::start();
    let laptop = Device::launch().await;
    become_owner(&laptop, &server).await;

    // Registering shows the recovery key once, as text and as a QR code.
    let recovery = laptop.text_of("#recovery-key").await;
    let groups: Vec<&str> = recovery.trim().split('-').collect();
    assert_eq!(groups.len(), 11, "{recovery}");
    assert!(groups.iter().all(|g| g.len() == 5), "{recovery}");
    laptop
        .eval("document.querySelector('#recovery-qr').scrollIntoView({ block: 'center' }); return true")
        .await;
    assert_eq!(read_qr(&laptop, "#recovery-qr").await, recovery.trim());
    let violations = laptop.accessibility_violations().await;
    assert!(violations.is_empty(), "the recovery key: {violations:#?}");
    laptop.click("#recovery-done").await;
    laptop
        .wait_until(
            "the recovery key is put away",
            "return !document.querySelector('#recovery-key')",
        )
        .await;
    laptop.click("#tab-notes").await;
    laptop
        .add_note(
            "Passport renewal",
            "the spare key is under the third flowerpot",
        )
        .await;
    laptop
        .add_note("Boiler code", "reset with 4471 then hold the red valve")
        .await;
    laptop.wait_for_sync_state("synced").await;
    let key = key_of(&laptop).await;

    // Neither the recovery key nor anything the server could open with is
    // on the server's disk.
    let compact: String = recovery.trim().replace('-', "");
    holds_none(
        &[server.data_dir.as_path()],
        &[
            recovery.trim().as_bytes().to_vec(),
            compact.as_bytes().to_vec(),
            key.1.clone(),
        ],
    );

    // Every device is lost. A new phone has the address and the key, typed
    // as a person might: lower case, spaces for dashes.
    let phone = Device::launch_phone().await;
    phone.open(&server.url).await;
    phone.click("#tab-sync").await;
    phone.type_into("#recover-key-input", "not a key").await;
    phone.click("#recover").await;
    let said = phone.text_of("#recover-error").await;
    assert!(said.contains("not a recovery key"), "{said}");
    let mut typo: Vec<char> = compact.chars().collect();
    typo[7] = if typo[7] == 'A' { 'B' } else { 'A' };
    phone.clear("#recover-key-input").await;
    phone
        .type_into("#recover-key-input", &typo.into_iter().collect::<String>())
        .await;
    phone.click("#recover").await;
    phone
        .wait_until(
            "a mistyped key is caught",
            "const e = document.querySelector('#recover-error'); return !!e && e.innerText.includes('mistyped')",
        )
        .await;
    phone.clear("#recover-key-input").await;
    phone
        .type_into(
            "#recover-key-input",
            &recovery.trim().to_lowercase().replace('-', " "),
        )
        .await;
    phone.click("#recover").await;
    phone
        .wait_until(
            "the recovered workspace opens",
            "return !!document.querySelector('#tab-notes') && !document.querySelector('#recover-card')",
        )
        .await;
    phone.click("#tab-notes").await;
    phone
        .wait_for_notes(&["Passport renewal", "Boiler code"])
        .await;
    phone.open_note("Boiler code").await;
    phone
        .wait_for_body("reset with 4471 then hold the red valve")
        .await;
    assert_eq!(key_of(&phone).await, key, "every key epoch came back");
    let record = phone.device_record().await;
    assert_eq!(record["role"], "master", "{record}");

    // The phone owns the workspace now and writes to it.
    phone
        .add_note("After the recovery", "written on the phone")
        .await;
    phone.wait_for_sync_state("synced").await;
    phone.click("#tab-devices").await;
    phone.text_of("#new-recovery-key").await;

    // The lost laptop, should it come back, is locked out.
    laptop
        .add_note("From the lost laptop", "never synced")
        .await;
    laptop.wait_for_sync_state("revoked").await;
    phone.click("#tab-sync").await;
    phone.click("#sync-now").await;
    phone.wait_for_sync_state("synced").await;
    phone.click("#tab-notes").await;
    phone
        .wait_for_notes(&["Passport renewal", "Boiler code", "After the recovery"])
        .await;
    phone.close().await;
    laptop.close().await;
}

/// Rewrites this device's record of its workspace as an earlier version
/// of the app wrote it: without keys (the workspace is not encrypted).
async fn as_made_before_encryption(device: &Device, server: &Server) {
    device.open(&server.url).await;
    device.text_of("#tab-notes").await;
    let done = device
        .eval_async(
            "const done = arguments[arguments.length - 1];
             const open = indexedDB.open('hearth');
             open.onsuccess = () => {
               const tx = open.result.transaction(['app', 'devices'], 'readwrite');
               const current = tx.objectStore('app').get('current');
               current.onsuccess = () => {
                 const devices = tx.objectStore('devices');
                 const get = devices.get(current.result);
                 get.onsuccess = () => {
                   const record = JSON.parse(get.result);
                   delete record.keys;
                   devices.put(JSON.stringify(record), current.result);
                 };
               };
               tx.oncomplete = () => { open.result.close(); done(true); };
               tx.onerror = () => done(false);
             };
             open.onerror = () => done(false);",
        )
        .await;
    assert_eq!(done, true);
    device.open("about:blank").await;
    device.open(&server.url).await;
    device.text_of("#tab-notes").await;
    assert!(device.device_record().await["keys"].is_null());
}

#[tokio::test]
async fn a_workspace_made_before_encryption_is_encrypted_by_its_owner_and_the_server_keeps_no_note_text()
 {
    let server = Server::start();
    let laptop = Device::launch().await;
    as_made_before_encryption(&laptop, &server).await;
    become_owner(&laptop, &server).await;
    assert_eq!(
        laptop
            .eval("return !document.querySelector('#recovery-key')")
            .await,
        true,
        "no recovery key for a workspace that is not encrypted"
    );
    let texts = [
        "Passport renewal",
        "the spare key is under the third flowerpot",
        "Boiler code",
        "reset with 4471 then hold the red valve",
    ];
    laptop.click("#tab-notes").await;
    laptop.add_note(texts[0], texts[1]).await;
    laptop.wait_for_sync_state("synced").await;
    let phone = Device::launch_phone().await;
    phone.pair_from(&laptop, "Phone").await;
    phone.wait_for_notes(&[texts[0]]).await;
    phone.add_note(texts[2], texts[3]).await;
    phone.wait_for_sync_state("synced").await;
    laptop.wait_for_notes(&[texts[0], texts[2]]).await;

    // The owner encrypts it from Devices.
    laptop.click("#tab-devices").await;
    let said = laptop.text_of("#encrypt-card").await;
    assert!(said.contains("can read its notes"), "{said}");
    laptop.click("#encrypt-workspace").await;
    laptop.client.accept_alert().await.unwrap();
    laptop.text_of("#encrypt-done").await;
    let recovery = laptop.text_of("#recovery-key").await;
    assert_eq!(recovery.trim().split('-').count(), 11, "{recovery}");
    laptop.click("#recovery-done").await;
    let key = key_of(&laptop).await;

    // After it, the data directory and a backup hold none of the notes'
    // text, nor the key.
    let out = tempfile::tempdir().unwrap();
    let backup = server.backup(out.path());
    let mut needles: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    needles.push(key.1.clone());
    let roots = [server.data_dir.as_path(), backup.as_path()];
    holds_none(&roots, &needles);
    for root in roots {
        for (path, _) in e2e_support::files_under(root) {
            assert!(
                !path.components().any(|c| c.as_os_str() == "undo"),
                "{} is a kept copy of the plaintext log",
                path.display()
            );
        }
    }

    // The laptop goes on, encrypted; the phone, once it starts again, needs
    // the key; paired again by link, it reads everything.
    laptop.click("#tab-notes").await;
    laptop
        .add_note("After encrypting", "sealed from now on")
        .await;
    laptop.wait_for_sync_state("synced").await;
    phone.open("about:blank").await;
    phone.open(&server.url).await;
    phone.wait_for_sync_state("needs-key").await;
    phone.pair_from(&laptop, "Phone again").await;
    phone
        .wait_for_notes(&[texts[0], texts[2], "After encrypting"])
        .await;
    assert_eq!(key_of(&phone).await, key);
    phone.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn removing_a_device_changes_the_key_and_the_other_devices_go_on_syncing() {
    let server = Server::start();
    let laptop = Device::launch().await;
    become_owner(&laptop, &server).await;
    laptop
        .add_note("Before the removal", "all three can read this")
        .await;
    laptop.wait_for_sync_state("synced").await;
    let phone = Device::launch_phone().await;
    phone.pair_from(&laptop, "Phone").await;
    phone.wait_for_notes(&["Before the removal"]).await;
    let tablet = Device::launch().await;
    tablet.pair_from(&laptop, "Tablet").await;
    tablet.wait_for_notes(&["Before the removal"]).await;
    let old = key_of(&tablet).await;
    assert_eq!(old, key_of(&laptop).await);

    // The owner removes the tablet: the key changes.
    laptop.click("#tab-devices").await;
    laptop
        .wait_until(
            "the tablet is listed",
            "return !!document.querySelector(\"#device-list li[data-label='Tablet'] .revoke\")",
        )
        .await;
    laptop
        .click("#device-list li[data-label='Tablet'] .revoke")
        .await;
    let asked = laptop.client.get_alert_text().await.unwrap();
    assert!(asked.contains("key is changed"), "{asked}");
    laptop.client.accept_alert().await.unwrap();
    laptop
        .wait_until(
            "the key is changed",
            "const s = document.querySelector('#rotation-status'); return !!s && s.textContent.includes('was changed')",
        )
        .await;
    let new = key_of(&laptop).await;
    assert_eq!(new.0, 2, "the laptop writes with a second key epoch");
    assert_ne!(new.1, old.1);

    // A note written now reaches the phone, which took the new key.
    let secret = "the new gate code is 5521";
    laptop.click("#tab-notes").await;
    laptop.add_note("After the removal", secret).await;
    laptop.wait_for_sync_state("synced").await;
    phone
        .wait_for_notes(&["After the removal", "Before the removal"])
        .await;
    phone.open_note("After the removal").await;
    phone.wait_for_body(secret).await;
    assert_eq!(key_of(&phone).await, new, "the phone holds the new key");
    phone.click("#tab-notes").await;
    phone.add_note("From the phone", "after the change").await;
    phone.wait_for_sync_state("synced").await;
    laptop
        .wait_for_notes(&["After the removal", "Before the removal", "From the phone"])
        .await;

    // The tablet is refused, still holds only the old key, and the
    // server's disk holds neither the new note's text nor the new key.
    tablet.click("#tab-sync").await;
    tablet.click("#sync-now").await;
    tablet.wait_for_sync_state("revoked").await;
    assert_eq!(key_of(&tablet).await, old);
    holds_none(
        &[server.data_dir.as_path()],
        &[secret.as_bytes().to_vec(), new.1.clone()],
    );
    tablet.close().await;
    phone.close().await;
    laptop.close().await;
}

/// Each device shows its own key's fingerprint; the owner's device list
/// shows what the workspace recorded for each device, the same; and when
/// whoever controls the server swaps the phone's key in the server's
/// index, the owner's list says so in words.
#[tokio::test]
async fn fingerprints_match_across_devices_and_a_key_the_server_swaps_is_shown() {
    let server = Server::start();
    let laptop = Device::launch().await;
    become_owner(&laptop, &server).await;
    laptop.add_note("Before", "shared").await;
    laptop.wait_for_sync_state("synced").await;
    let phone = Device::launch_phone().await;
    phone.pair_from(&laptop, "Phone").await;
    phone.wait_for_notes(&["Before"]).await;

    phone.click("#tab-devices").await;
    phone
        .wait_until(
            "the phone shows its own fingerprint",
            "return !!document.querySelector('.own-fingerprint .fingerprint')",
        )
        .await;
    let own = phone.text_of(".own-fingerprint .fingerprint").await;
    assert_eq!(own.len(), 19, "{own}");
    // A script let in by a bug can neither write markup into the page nor
    // start a script from elsewhere (Trusted Types, with the page's one
    // policy), nor send anything to another origin (connect-src).
    phone.assert_no_console_errors("the Devices screen").await;
    let sinks = phone
        .eval_async(
            "const done = arguments[0]; const out = []; \
             try { document.body.insertAdjacentHTML('beforeend', '<img src=x>'); out.push('html allowed'); } catch (e) { out.push(e.name); } \
             try { new Worker('https://example.org/x.js'); out.push('worker allowed'); } catch (e) { out.push(e.name); } \
             fetch('http://127.0.0.2:9/steal').then(() => out.push('fetch allowed'), (e) => out.push(e.name)).then(() => done(out.join(',')));",
        )
        .await;
    assert_eq!(sinks, serde_json::json!("TypeError,TypeError,TypeError"));
    let reported = phone.console_errors().await;
    assert!(
        !reported.is_empty()
            && reported
                .iter()
                .all(|e| e.contains("Trusted") || e.contains("Content Security Policy")),
        "{reported:#?}"
    );

    laptop.click("#tab-devices").await;
    let listed = format!(
        "const f = document.querySelector(\"#device-list li[data-label='Phone'] .fingerprint\"); return !!f && f.textContent === '{own}'"
    );
    laptop
        .wait_until("the owner lists the phone's fingerprint", &listed)
        .await;
    assert_eq!(
        laptop
            .eval("return document.querySelectorAll('#device-list .key-warning').length")
            .await,
        serde_json::json!(0)
    );

    // The server's index now gives another key for the phone.
    let index = rusqlite::Connection::open(server.data_dir.join("index.sqlite")).unwrap();
    index
        .busy_timeout(std::time::Duration::from_secs(30))
        .unwrap();
    let swapped = index
        .execute(
            "UPDATE tokens SET public_key = ?1 WHERE label = 'Phone'",
            rusqlite::params![vec![9u8; 32]],
        )
        .unwrap();
    assert_eq!(swapped, 1);
    laptop.click("#tab-notes").await;
    laptop.click("#tab-devices").await;
    laptop
        .wait_until(
            "the owner is told the server offered a different key",
            "const w = document.querySelector(\"#device-list li[data-label='Phone'] .key-warning\"); return !!w && w.textContent.includes('different key')",
        )
        .await;
    phone.close().await;
    laptop.close().await;
}
