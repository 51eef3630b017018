//! End-to-end: a public read-only link. The owner's phone makes a link to
//! one note with a photo; a third, fresh browser (a desktop, no app, no
//! account) opens it and reads the note, its Markdown rendered inert and
//! its photo shown, and when the link ends; the server's data directory
//! holds no text of the note; updated after an edit, the same link shows
//! the edit; revoked on the phone's Data screen, which
//! lists it with its note, the link opens nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device as Browser, Server, files_under, png_bytes};

const BODY: &str = "Melt the **butter**, add the leeks.\n\n- [x] buy leeks\n- [ ] make stock\n\n<img src=x onerror=alert(1)> and [a trap](javascript:alert(1))";

#[tokio::test]
async fn a_note_shared_by_link_opens_in_a_fresh_browser_and_the_server_never_reads_it() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let phone = Browser::launch_phone().await;
    phone.become_owner(&server).await;
    phone.add_note("Leek soup", BODY).await;
    phone.open_note("Leek soup").await;
    let photo = tmp.path().join("soup.png");
    std::fs::write(&photo, png_bytes(400, 300)).unwrap();
    phone.pick_file(&photo).await;
    phone
        .wait_until(
            "the photo is sent and attached",
            "const i = document.querySelector('#attachments img.attachment-thumb[alt=\"soup.png\"]'); \
             return !!i && i.complete && !document.querySelector('#attachments .attachment.queued')",
        )
        .await;

    // The phone makes a link that lasts a day.
    phone.click("#note-share").await;
    phone
        .eval("const s = document.querySelector('#share-life'); s.value = '86400'; s.dispatchEvent(new Event('change', { bubbles: true })); return true")
        .await;
    phone.click("#share-create").await;
    phone
        .wait_until(
            "the link is made",
            "return !!document.querySelector('#share-links .share-url')",
        )
        .await;
    let url = phone
        .eval("return document.querySelector('#share-links .share-url').value")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&format!("{}/share#", server.url)), "{url}");
    let ends = phone.text_of("#share-links .share-ends").await;
    assert!(ends.starts_with("Until "), "{ends}");
    // Shown as a QR code, for someone nearby to scan.
    phone.click("#share-links .share-show-qr").await;
    phone
        .wait_until(
            "the link shows as a QR code",
            "return !!document.querySelector('#share-links .share-qr svg')",
        )
        .await;

    // The server holds no word of the note: not its title, its body, nor
    // the photo's name; and not the link's key.
    let key = url.rsplit_once('.').unwrap().1.to_owned();
    phone.wait_for_sync_state("synced").await;
    for (path, bytes) in files_under(&server.data_dir) {
        for secret in ["Leek soup", "butter", "buy leeks", "soup.png", key.as_str()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} is readable in {}",
                path.display()
            );
        }
    }

    // A fresh desktop browser opens the link: no app, no account.
    let visitor = Browser::launch().await;
    visitor.open(&url).await;
    visitor
        .wait_until(
            "the shared note opens",
            "return document.querySelector('#share')?.dataset.state === 'shown'",
        )
        .await;
    assert_eq!(visitor.text_of("#share-title").await, "Leek soup");
    assert_eq!(visitor.text_of("#share-body strong").await, "butter");
    let expiry = visitor.text_of("#share-expiry").await;
    assert!(expiry.contains("works until"), "{expiry}");
    assert_eq!(
        visitor
            .eval(
                "return [...document.querySelectorAll('#share-body input[type=checkbox]')]\
                 .map(c => c.checked + ':' + c.disabled).join(',')"
            )
            .await,
        "true:true,false:true"
    );
    // Nothing of the note runs or loads: the HTML is text, the trap link
    // is not a link.
    assert_eq!(
        visitor
            .eval(
                "return document.querySelectorAll('#share-body img, #share-body script, #share-body a[href^=javascript]').length"
            )
            .await,
        0
    );
    assert!(
        visitor
            .text_of("#share-body")
            .await
            .contains("<img src=x onerror=alert(1)>")
    );
    visitor
        .wait_until(
            "the photo shows",
            "const i = document.querySelector('#share-files img[alt=\"soup.png\"]'); \
             return !!i && i.complete && i.naturalWidth === 400 && i.naturalHeight === 300",
        )
        .await;
    assert_eq!(
        visitor
            .eval_async(
                "const done = arguments[arguments.length - 1]; \
                 Promise.all([navigator.serviceWorker.getRegistrations(), indexedDB.databases()])\
                 .then(([r, d]) => done(r.length + ':' + localStorage.length + ':' + d.length))"
            )
            .await,
        "0:0:0",
        "the link page installs nothing"
    );
    let loaded = visitor
        .eval(
            "return performance.getEntriesByType('resource').map(r => new URL(r.name).pathname)\
             .filter(p => !p.startsWith('/v1/')).join(' ')",
        )
        .await;
    let loaded = loaded.as_str().unwrap();
    assert!(loaded.contains("/share-"), "{loaded}");
    assert!(
        !loaded.contains("/app-") && !loaded.contains("/extras-"),
        "the link page loads nothing of the app: {loaded}"
    );
    visitor.assert_no_console_errors("the shared note").await;

    // Edited on the phone and the link updated: the same link shows the
    // note as it is now.
    phone.type_into("#note-body", " Salt to taste.").await;
    phone.click("#share-links .share-update").await;
    phone
        .wait_until(
            "the link is updated",
            "return (document.querySelector('#share-status')?.textContent || '').startsWith('Link updated')",
        )
        .await;
    visitor.open("about:blank").await;
    visitor.open(&url).await;
    visitor
        .wait_until(
            "the link shows the edit",
            "return (document.querySelector('#share-body')?.textContent || '').includes('Salt to taste.')",
        )
        .await;

    // The phone's Data screen lists every link with its note; revoked
    // there, the link opens nothing, at once.
    phone.click("#tab-data").await;
    assert_eq!(phone.text_of("#shares-all .share-note").await, "Leek soup");
    phone.click("#shares-all .share-revoke").await;
    phone
        .wait_until(
            "the link is revoked",
            "return !!document.querySelector('#shares-none')",
        )
        .await;
    // (A link differs from the page shown only in its fragment: leave
    // first, so that it loads again.)
    visitor.open("about:blank").await;
    visitor.open(&url).await;
    visitor
        .wait_until(
            "the revoked link says so",
            "return document.querySelector('#share')?.dataset.state === 'shown'",
        )
        .await;
    let said = visitor.text_of("#share-error").await;
    assert!(said.contains("revoked or has expired"), "{said}");
    assert_eq!(
        visitor
            .eval("return document.querySelectorAll('#share-title').length")
            .await,
        0
    );
    phone
        .assert_no_console_errors("making and revoking a link")
        .await;
    visitor.close().await;
    phone.close().await;
}
