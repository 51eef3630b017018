//! End-to-end: the app lock. The owner turns it on under Data with a
//! passcode; IndexedDB then holds neither the workspace's token nor any of
//! its keys in the clear; locked, the app shows nothing of the notes, a
//! wrong passcode is refused, the right one brings everything back and the
//! device syncs with the token it had sealed; a second tab asks for the
//! passcode too, and locking one tab locks both; a forgotten passcode is
//! opened with the recovery key, which turns the lock off. A phone paired
//! to the workspace, which keeps no recovery key, can only remove its lock
//! with its copy of the workspace, and pairs again. The device's own unlock
//! (WebAuthn with PRF, a virtual authenticator here) opens the lock beside
//! the passcode, which can change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device as Browser, Server};

const PASSCODE: &str = "2468 1357";

/// Every value of the `app` and `devices` stores, as one text.
async fn stored_settings(device: &Browser) -> String {
    device
        .eval_async(
            "const done = arguments[arguments.length - 1];
             const open = indexedDB.open('hearth');
             open.onsuccess = () => {
               const tx = open.result.transaction(['app', 'devices']);
               const out = [];
               let left = 2;
               for (const name of ['app', 'devices']) {
                 const all = tx.objectStore(name).getAll();
                 all.onsuccess = () => {
                   for (const v of all.result) out.push(typeof v === 'string' ? v : JSON.stringify(v));
                   if (--left === 0) { open.result.close(); done(out.join('\\n')); }
                 };
               }
             };
             open.onerror = () => done('');",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

/// The token and every key the device record holds, as stored in the clear.
fn secrets_of(record: &serde_json::Value) -> Vec<String> {
    let mut secrets = vec![record["token"].as_str().unwrap().to_owned()];
    let keys = &record["keys"];
    for epoch in keys["epochs"].as_array().unwrap() {
        secrets.push(epoch["key"].as_str().unwrap().to_owned());
    }
    secrets.push(keys["device"].as_str().unwrap().to_owned());
    if let Some(recovery) = keys["recovery"]["key"].as_str() {
        secrets.push(recovery.to_owned());
    }
    secrets
}

async fn turn_lock_on(device: &Browser) {
    device.click("#tab-data").await;
    device.type_into("#lock-passcode", PASSCODE).await;
    device.type_into("#lock-confirm", PASSCODE).await;
    device.click("#lock-turn-on").await;
    device
        .wait_until(
            "the lock is on",
            "return document.querySelector('#lock-message')?.textContent.includes('on')",
        )
        .await;
}

async fn lock_now(device: &Browser) {
    device.click("#lock-now").await;
    device
        .wait_until(
            "the lock screen shows",
            "return !!document.querySelector('#lock-screen')",
        )
        .await;
}

async fn unlock(device: &Browser, passcode: &str) {
    device.clear("#unlock-passcode").await;
    device.type_into("#unlock-passcode", passcode).await;
    device.click("#unlock").await;
}

#[tokio::test]
async fn a_locked_app_shows_nothing_and_keeps_no_usable_key_until_its_passcode_or_recovery_key() {
    let server = Server::start();
    let laptop = Browser::launch().await;
    laptop.become_owner(&server).await;
    let recovery = laptop.text_of("#recovery-key").await.trim().to_owned();
    laptop.click("#recovery-done").await;
    laptop
        .add_note("Safe combination", "left 12, right 40")
        .await;
    laptop.wait_for_sync_state("synced").await;
    let record = laptop.device_record().await;
    let secrets = secrets_of(&record);
    assert!(secrets.len() >= 4, "{record}");

    turn_lock_on(&laptop).await;
    let at_rest = stored_settings(&laptop).await;
    for secret in &secrets {
        assert!(
            !at_rest.contains(secret.as_str()),
            "{secret} is stored in the clear: {at_rest}"
        );
    }
    assert!(at_rest.contains("\"sealed\":\""), "{at_rest}");

    // Locked: nothing of the notes, and still no key at rest.
    lock_now(&laptop).await;
    let shown = laptop.eval("return document.body.innerText").await;
    let shown = shown.as_str().unwrap();
    assert!(!shown.contains("Safe combination"), "{shown}");
    assert!(!shown.contains("left 12"), "{shown}");
    assert_eq!(
        laptop
            .eval("return document.querySelectorAll('#note-items li').length")
            .await,
        0
    );
    let at_rest = stored_settings(&laptop).await;
    for secret in &secrets {
        assert!(
            !at_rest.contains(secret.as_str()),
            "{secret} is stored in the clear while locked"
        );
    }

    // A wrong passcode opens nothing; the right one opens everything, and
    // the device syncs with the token it kept sealed.
    unlock(&laptop, "1357 2468").await;
    let said = laptop.text_of("#unlock-error").await;
    assert!(said.contains("does not open"), "{said}");
    assert!(
        laptop
            .eval("return !!document.querySelector('#lock-screen')")
            .await
            .as_bool()
            .unwrap()
    );
    unlock(&laptop, PASSCODE).await;
    laptop.click("#tab-notes").await;
    laptop.wait_for_notes(&["Safe combination"]).await;
    laptop
        .add_note("Written after unlocking", "still syncing")
        .await;
    laptop.wait_for_sync_state("synced").await;
    let mut at_rest = stored_settings(&laptop).await;
    for secret in &secrets {
        assert!(
            !at_rest.contains(secret.as_str()),
            "{secret} is stored in the clear while on"
        );
    }

    // Another tab asks for the passcode too, and locking one locks both.
    let first = laptop.client.window().await.unwrap();
    let second = laptop.client.new_window(true).await.unwrap().handle;
    laptop
        .client
        .switch_to_window(second.clone())
        .await
        .unwrap();
    laptop.open(&server.url).await;
    laptop
        .wait_until(
            "the second tab shows the lock screen",
            "return !!document.querySelector('#lock-screen')",
        )
        .await;
    unlock(&laptop, PASSCODE).await;
    laptop
        .wait_for_notes(&["Safe combination", "Written after unlocking"])
        .await;
    // The tab that follows locks; the one that syncs locks with it.
    lock_now(&laptop).await;
    laptop.client.close_window().await.unwrap();
    laptop.client.switch_to_window(first).await.unwrap();
    laptop
        .wait_until(
            "the first tab is locked too",
            "return !!document.querySelector('#lock-screen') && !document.querySelector('#note-items')",
        )
        .await;

    // A forgotten passcode: the recovery key opens the lock, and turns it off.
    laptop.click("#lock-forgot").await;
    laptop
        .type_into("#forgot-recovery-key", "AAAAA-BBBBB")
        .await;
    laptop.click("#forgot-unlock").await;
    let said = laptop.text_of("#unlock-error").await;
    assert!(said.contains("not a recovery key"), "{said}");
    laptop.clear("#forgot-recovery-key").await;
    laptop
        .type_into("#forgot-recovery-key", &recovery.to_lowercase())
        .await;
    laptop.click("#forgot-unlock").await;
    laptop.click("#tab-notes").await;
    laptop
        .wait_for_notes(&["Safe combination", "Written after unlocking"])
        .await;
    laptop.click("#tab-data").await;
    let state = laptop.text_of("#lock-state").await;
    assert!(state.starts_with("Off"), "{state}");
    at_rest = stored_settings(&laptop).await;
    assert!(
        at_rest.contains(secrets[0].as_str()),
        "the token is back in the clear"
    );
    laptop.wait_for_sync_state("synced").await;
    laptop.assert_no_console_errors("the app lock").await;
    laptop.close().await;
}

#[tokio::test]
async fn a_paired_phone_that_forgets_its_passcode_starts_over_and_pairs_again() {
    let server = Server::start();
    let laptop = Browser::launch().await;
    laptop.become_owner(&server).await;
    laptop.click("#recovery-done").await;
    laptop.add_note("Shopping", "leeks").await;
    laptop.wait_for_sync_state("synced").await;
    let link = laptop.make_pairing_link("rw").await;
    let phone = Browser::phone_joined_by_link(&link).await;
    phone.wait_for_notes(&["Shopping"]).await;
    let joined = phone.device_record().await;

    turn_lock_on(&phone).await;
    let violations = phone.accessibility_violations().await;
    assert!(violations.is_empty(), "the lock card: {violations:#?}");
    lock_now(&phone).await;
    let violations = phone.accessibility_violations().await;
    assert!(violations.is_empty(), "the lock screen: {violations:#?}");
    phone.click("#lock-forgot").await;
    // The owner's recovery key is not kept on the phone: nothing opens the
    // lock, and removing it takes this device's copy with it.
    phone.click("#forgot-remove").await;
    phone.text_of("#forgot-remove-warning").await;
    phone.click("#forgot-remove-confirm").await;
    phone
        .wait_until(
            "the app opens at Sync, to recover or pair",
            "return location.pathname === '/sync' && !!document.querySelector('#tab-notes')",
        )
        .await;
    phone.click("#tab-notes").await;
    phone.wait_for_notes(&[]).await;
    let record = phone.device_record().await;
    assert_ne!(record["workspace_id"], joined["workspace_id"], "{record}");
    let at_rest = stored_settings(&phone).await;
    assert!(
        !at_rest.contains(joined["workspace_id"].as_str().unwrap()),
        "{at_rest}"
    );
    assert!(!at_rest.contains("\"sealed\":\""), "{at_rest}");

    // Paired again, the phone has the notes back.
    let again = laptop.make_pairing_link("rw").await;
    phone.join_by_link(&again, "phone").await;
    phone.click("#tab-notes").await;
    phone.wait_for_notes(&["Shopping"]).await;
    phone
        .assert_no_console_errors("removing the app lock")
        .await;
    phone.close().await;
    laptop.close().await;
}

#[tokio::test]
async fn the_devices_own_unlock_opens_the_lock_beside_a_passcode_that_can_change() {
    let server = Server::start();
    let laptop = Browser::launch().await;
    // WebAuthn takes a host name, not an address.
    let url = server.url.replace("127.0.0.1", "localhost");
    laptop.open(&url).await;
    // The laptop's fingerprint reader: Chromium's virtual authenticator,
    // with PRF, as a platform authenticator that verifies its user.
    laptop
        .devtools("WebAuthn.enable", serde_json::json!({}))
        .await;
    laptop
        .devtools(
            "WebAuthn.addVirtualAuthenticator",
            serde_json::json!({ "options": {
                "protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal",
                "hasResidentKey": true, "hasUserVerification": true,
                "isUserVerified": true, "hasPrf": true,
            }}),
        )
        .await;
    laptop.add_note("Door code", "4711").await;
    turn_lock_on(&laptop).await;
    laptop.click("#lock-add-device").await;
    laptop
        .wait_until(
            "the device's unlock is set up",
            "return !!document.querySelector('#lock-remove-device')",
        )
        .await;
    let at_rest = stored_settings(&laptop).await;
    assert!(at_rest.contains("\"device\":{\"credential\""), "{at_rest}");

    lock_now(&laptop).await;
    laptop.click("#unlock-device").await;
    laptop.click("#tab-notes").await;
    laptop.wait_for_notes(&["Door code"]).await;

    // The passcode still opens it; and with the device's unlock stopped,
    // the lock screen no longer offers it.
    lock_now(&laptop).await;
    unlock(&laptop, PASSCODE).await;
    laptop.click("#tab-data").await;
    laptop.click("#lock-remove-device").await;
    laptop
        .wait_until(
            "the device's unlock is stopped",
            "return !!document.querySelector('#lock-add-device')",
        )
        .await;
    lock_now(&laptop).await;
    assert!(
        laptop
            .eval("return !document.querySelector('#unlock-device')")
            .await
            .as_bool()
            .unwrap()
    );

    // A new passcode: the old one no longer opens the lock.
    unlock(&laptop, PASSCODE).await;
    laptop.click("#tab-data").await;
    laptop.click("#lock-change-details summary").await;
    laptop.type_into("#lock-current", "0000").await;
    laptop.type_into("#lock-new", "one long passphrase").await;
    laptop
        .type_into("#lock-new-confirm", "one long passphrase")
        .await;
    laptop.click("#lock-change").await;
    let said = laptop.text_of("#lock-message").await;
    assert!(said.contains("not the current passcode"), "{said}");
    laptop.clear("#lock-current").await;
    laptop.type_into("#lock-current", PASSCODE).await;
    laptop.click("#lock-change").await;
    laptop
        .wait_until(
            "the passcode is changed",
            "return document.querySelector('#lock-message')?.textContent.includes('changed')",
        )
        .await;
    lock_now(&laptop).await;
    unlock(&laptop, PASSCODE).await;
    let said = laptop.text_of("#unlock-error").await;
    assert!(said.contains("does not open"), "{said}");
    unlock(&laptop, "one long passphrase").await;
    laptop.click("#tab-notes").await;
    laptop.wait_for_notes(&["Door code"]).await;
    laptop.assert_no_console_errors("the device's unlock").await;
    laptop.close().await;
}
