//! End-to-end: on a server in its default mode, registering a workspace
//! takes a one-time setup code. The owner's Sync screen asks for it; a
//! wrong code is refused in words and registers nothing; a code from
//! `hearth setup-code` connects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};

#[tokio::test]
async fn the_owner_connects_with_a_setup_code() {
    let server = Server::start_requiring_setup_code();
    assert!(
        !server.printed_setup_code().is_empty(),
        "hearth prints a setup code when it starts"
    );

    // The Sync screen learns from the server that it asks for a code and
    // shows a labelled field with a hint.
    let laptop = Device::launch().await;
    laptop.open(&server.url).await;
    laptop.add_note("Before connecting", "kept").await;
    laptop.click("#tab-sync").await;
    laptop
        .wait_until(
            "the connect form knows the server asks for a setup code",
            "return document.querySelector('#connect-card')?.dataset.registration === 'code'",
        )
        .await;
    let name = laptop
        .eval("return document.querySelector('#setup-code-input').closest('label').textContent.trim()")
        .await;
    assert_eq!(name.as_str(), Some("Setup code"));
    let hint = laptop.text_of("#setup-code-hint").await;
    assert!(hint.contains("hearth setup-code"), "{hint}");

    // A wrong code: refused in words, and the workspace stays local.
    laptop
        .type_into("#setup-code-input", "WRNG-CODE-0000")
        .await;
    laptop.click("#connect").await;
    let said = laptop.text_of("#connect-error").await;
    assert!(said.contains("wrong or was already used"), "{said}");
    assert!(said.contains("hearth setup-code"), "{said}");
    let record = laptop.device_record().await;
    assert!(
        record["token"].is_null() && record["server"].is_null(),
        "{record}"
    );
    laptop.wait_for_sync_state("local").await;

    // The operator makes a code on the server's machine; with it the
    // laptop becomes the owner (the same workspace id registers, so the
    // wrong try left nothing behind) and syncs.
    let code = server.new_setup_code();
    laptop.clear("#setup-code-input").await;
    laptop.type_into("#setup-code-input", &code).await;
    laptop.click("#connect").await;
    laptop.wait_for_sync_state("synced").await;
    assert_eq!(laptop.text_of("#server-url").await, server.url);
    assert_eq!(laptop.device_record().await["role"], "master");
    laptop.close().await;
}
