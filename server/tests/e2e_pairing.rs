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
    let qr = owner.client.find(Locator::Css("#pair-qr")).await.unwrap();
    let png = qr.screenshot().await.unwrap();
    (link, decode_qr(&png))
}

fn decode_qr(png_bytes: &[u8]) -> String {
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
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    grids[0].decode().unwrap().1
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
