//! End-to-end: a note's history. An earlier version, found by time travel
//! in the document, is restored as a new change, and the restore reaches
//! the other device like any edit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};

#[tokio::test]
async fn restoring_an_old_version_syncs_to_the_other_device() {
    let server = Server::start();
    let laptop = Device::launch().await;
    laptop.become_owner(&server).await;
    laptop.add_note("Plan", "first draft").await;
    laptop.wait_for_sync_state("synced").await;

    let phone = Device::launch().await;
    phone.pair_from(&laptop, "phone").await;
    phone.open_note("Plan").await;
    phone.wait_for_body("first draft").await;
    // The phone rewrites the body.
    phone.clear("#note-body").await;
    phone.type_into("#note-body", "second draft").await;
    phone.wait_for_sync_state("synced").await;

    laptop.open_note("Plan").await;
    laptop.wait_for_body("second draft").await;
    laptop.click("#note-history").await;
    laptop
        .wait_until(
            "the first draft is among the earlier versions",
            "return [...document.querySelectorAll('#history .version')].some(v => v.textContent.includes('first draft'))",
        )
        .await;
    laptop
        .eval("[...document.querySelectorAll('#history .version')].find(v => v.querySelector('.version-body').textContent === 'first draft').querySelector('.restore').click(); return true")
        .await;
    laptop.wait_for_body("first draft").await;

    // A new change, so it syncs forward to the phone.
    phone.wait_for_body("first draft").await;
    laptop.close().await;
    phone.close().await;
}
