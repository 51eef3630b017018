//! End-to-end: two tabs of one browser profile. The first tab edits and
//! syncs; the second shows the workspace read-only, says why, and follows
//! every change; when the first tab closes, the second takes over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};

#[tokio::test]
async fn one_tab_writes_and_the_others_follow() {
    let server = Server::start();
    let device = Device::launch().await;
    device.open(&server.url).await;
    device.add_note("From the first tab", "hello").await;
    device.wait_for_notes(&["From the first tab"]).await;
    let first = device.client.window().await.unwrap();

    let second = device.client.new_window(true).await.unwrap().handle;
    device
        .client
        .switch_to_window(second.clone())
        .await
        .unwrap();
    device.open(&server.url).await;
    let banner = device.text_of("#read-only-banner").await;
    assert!(banner.contains("open in another tab"), "{banner}");
    device.wait_for_notes(&["From the first tab"]).await;
    let can_add = device
        .eval("return !document.querySelector('#new-note').disabled")
        .await;
    assert_eq!(
        can_add.as_bool(),
        Some(false),
        "the following tab cannot edit"
    );

    // A change in the first tab shows in the second.
    device.client.switch_to_window(first.clone()).await.unwrap();
    device.add_note("Second note", "more").await;
    device
        .client
        .switch_to_window(second.clone())
        .await
        .unwrap();
    device
        .wait_for_notes(&["From the first tab", "Second note"])
        .await;

    // The first tab closes: the second becomes the one that edits.
    device.client.switch_to_window(first).await.unwrap();
    device.client.close_window().await.unwrap();
    device.client.switch_to_window(second).await.unwrap();
    device
        .wait_until("the second tab can edit", "return !!document.querySelector('#new-note') && !document.querySelector('#new-note').disabled && !document.querySelector('#read-only-banner')")
        .await;
    device.add_note("Written in the second tab", "now").await;
    device
        .wait_for_notes(&[
            "From the first tab",
            "Second note",
            "Written in the second tab",
        ])
        .await;
    device.close().await;
}
