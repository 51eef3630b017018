//! End-to-end: files attached to a note on one device (a native one, whose
//! `attach` cuts, encrypts and uploads them) show in the app on a phone
//! paired by link: the photo inline, opened from the encrypted chunks in
//! the browser; the other file with its name, size and type, downloaded on
//! tap to the very bytes; and a photo attached in the app on the phone
//! shows as the thumbnail the phone made, full size on tap, and reaches the
//! laptop whole, with its thumbnail; a file dropped on the note is
//! attached the same way, and so is an image pasted into its body. A photo
//! attached offline is sent by the service worker once every tab is closed
//! and the server is back, and one queued in another workspace is sent
//! while the first is on screen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device as Browser, Server, files_under, incompressible, png_bytes};
use hearth_shared::api::Scope;

#[tokio::test]
async fn a_photo_and_a_file_attached_on_the_laptop_show_and_download_on_the_phone() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let mut laptop = hearth_device::Device::create_encrypted(tmp.path().join("laptop"), "laptop")
        .await
        .unwrap();
    laptop.register(&server.url).await.unwrap();
    let note = laptop
        .add_note("Holiday", "photos from the beach", &[])
        .await
        .unwrap();
    laptop.sync_once().await.unwrap();
    let photo = tmp.path().join("beach.png");
    std::fs::write(&photo, png_bytes(800, 600)).unwrap();
    let doc = incompressible(300_000, 9);
    let doc_path = tmp.path().join("itinerary.pdf");
    std::fs::write(&doc_path, &doc).unwrap();
    laptop.attach(&note.id, &photo).await.unwrap();
    laptop.attach(&note.id, &doc_path).await.unwrap();
    let phone = join_phone(&laptop).await;
    phone.open_note("Holiday").await;
    // The laptop made the app's thumbnail: the phone shows it, not the
    // whole photo, until it is tapped.
    phone
        .wait_until(
            "the laptop's photo shows as its thumbnail",
            "const i = document.querySelector('#attachments img.attachment-thumb[alt=\"beach.png\"]'); \
             return !!i && i.complete && i.naturalWidth === 320 && i.naturalHeight === 240",
        )
        .await;
    assert_eq!(
        phone
            .eval("return document.querySelectorAll('#attachments img.attachment-image').length")
            .await,
        0,
        "the whole photo is not fetched to show it"
    );
    let listed = phone.text_of("#attachments").await;
    for expected in ["beach.png", "itinerary.pdf", "300.0 KB", "application/pdf"] {
        assert!(listed.contains(expected), "{expected:?} not in {listed:?}");
    }

    // The other file arrives on tap, then saves to the very bytes.
    let saved = download(&phone, "itinerary.pdf").await;
    assert!(
        std::fs::read(&saved).unwrap() == doc,
        "the saved file differs"
    );
    // The phone attaches a photo of its own: the note shows the thumbnail
    // the phone made (320 pixels wide), the full photo on tap, and the
    // laptop gets both, the photo whole.
    let receipt = png_bytes(640, 480);
    let receipt_path = tmp.path().join("receipt.png");
    std::fs::write(&receipt_path, &receipt).unwrap();
    phone.pick_file(&receipt_path).await;
    phone
        .wait_until(
            "the phone's photo shows as a thumbnail",
            "const i = document.querySelector('#attachments img.attachment-thumb[alt=\"receipt.png\"]'); \
             return !!i && i.complete && i.naturalWidth === 320 && i.naturalHeight === 240",
        )
        .await;
    phone
        .eval(
            "[...document.querySelectorAll('#attachments .attachment-thumb-button')]\
             .find(b => b.querySelector('img')?.alt === 'receipt.png').click(); return true",
        )
        .await;
    phone
        .wait_until(
            "the photo opens full size",
            "return [...document.querySelectorAll('#attachments img.attachment-image')]\
             .some(i => i.alt === 'receipt.png' && i.complete && i.naturalWidth === 640)",
        )
        .await;
    phone.wait_for_sync_state("synced").await;
    laptop.sync_once().await.unwrap();
    let (_, from_phone) = laptop
        .attached_files()
        .into_iter()
        .find(|(_, f)| f.name == "receipt.png")
        .expect("the laptop sees the phone's photo");
    assert_eq!(from_phone.mime, "image/png");
    let thumb = from_phone.thumbnail.as_ref().expect("a thumbnail synced");
    assert_eq!(
        (thumb.mime.as_str(), thumb.width, thumb.height),
        ("image/jpeg", 320, 240)
    );
    assert!(!thumb.chunks.is_empty());
    let out = tmp.path().join("receipt-on-laptop.png");
    laptop.fetch(&from_phone.id, &out).await.unwrap();
    assert!(
        std::fs::read(&out).unwrap() == receipt,
        "the laptop's copy differs"
    );

    // A file dropped on the note is attached too.
    phone
        .eval(
            "const dt = new DataTransfer(); \
             dt.items.add(new File(['dropped on the phone'], 'dropped.txt', { type: 'text/plain' })); \
             document.querySelector('#attach-drop').dispatchEvent(\
               new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); \
             return true",
        )
        .await;
    phone
        .wait_until(
            "the dropped file is sent and attached",
            "return [...document.querySelectorAll('#attachments .attachment:not(.queued) .attachment-name')]\
             .some(n => n.textContent === 'dropped.txt')",
        )
        .await;
    phone.wait_for_sync_state("synced").await;
    laptop.sync_once().await.unwrap();
    let (_, dropped) = laptop
        .attached_files()
        .into_iter()
        .find(|(_, f)| f.name == "dropped.txt")
        .expect("the laptop sees the dropped file");
    let out = tmp.path().join("dropped.txt");
    laptop.fetch(&dropped.id, &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), b"dropped on the phone");

    // An image pasted into the note's body is attached, not pasted as text.
    use base64::Engine as _;
    let pasted = base64::engine::general_purpose::STANDARD.encode(png_bytes(100, 80));
    phone
        .eval(&format!(
            "const bytes = Uint8Array.from(atob('{pasted}'), c => c.charCodeAt(0)); \
             const dt = new DataTransfer(); \
             dt.items.add(new File([bytes], 'pasted.png', {{ type: 'image/png' }})); \
             document.querySelector('#note-body').dispatchEvent(\
               new ClipboardEvent('paste', {{ clipboardData: dt, bubbles: true, cancelable: true }})); \
             return true"
        ))
        .await;
    phone
        .wait_until(
            "the pasted image shows as a thumbnail",
            "const i = document.querySelector('#attachments img.attachment-thumb[alt=\"pasted.png\"]'); \
             return !!i && i.complete && i.naturalWidth === 100",
        )
        .await;
    phone.wait_for_body("photos from the beach").await;

    let violations = phone.accessibility_violations().await;
    assert!(violations.is_empty(), "{violations:?}");

    // The files this phone holds: their size, a smaller limit that stays,
    // and a clear; the photos come back from the server when shown again.
    phone.click("#tab-data").await;
    phone
        .wait_until(
            "the five files the note holds are counted",
            "return (document.querySelector('#files-held')?.textContent || '').startsWith('The notes hold 5 attached files')",
        )
        .await;
    phone
        .wait_until(
            "the files on this phone are counted",
            "return /take [0-9.]+ [KM]B on this device, of which 0 B/.test(document.querySelector('#cache-use')?.textContent || '')",
        )
        .await;
    phone
        .eval(
            "const s = document.querySelector('#cache-cap'); s.value = '64000000';              s.dispatchEvent(new Event('change', { bubbles: true })); return true",
        )
        .await;
    phone.click("#clear-cache").await;
    phone
        .wait_until(
            "the cache is cleared",
            "return (document.querySelector('#cache-message')?.textContent || '').startsWith('Cleared. What stays, 0 B')",
        )
        .await;
    phone.client.refresh().await.unwrap();
    phone
        .wait_until(
            "the limit is kept",
            "return document.querySelector('#cache-cap')?.value === '64000000'",
        )
        .await;
    phone
        .wait_until(
            "nothing is left",
            "return (document.querySelector('#cache-use')?.textContent || '').includes('take 0 B')",
        )
        .await;
    phone.open_note("Holiday").await;
    phone
        .wait_until(
            "the thumbnails come back from the server",
            "const i = document.querySelector('#attachments img.attachment-thumb[alt=\"pasted.png\"]'); \
             return !!i && i.complete && i.naturalWidth === 100",
        )
        .await;
    phone.close().await;
}

/// Pairs a phone to `laptop`'s workspace by a read-write link and waits
/// until the workspace opens there.
async fn join_phone(laptop: &hearth_device::Device) -> Browser {
    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();
    Browser::phone_joined_by_link(&link).await
}

/// Chunks the server under `data_dir` holds, in every workspace.
fn stored_chunks(data_dir: &std::path::Path) -> usize {
    files_under(&data_dir.join("workspaces"))
        .into_iter()
        .filter(|(path, _)| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let parent = path.parent().and_then(|p| p.parent());
            name.len() == 64
                && parent.and_then(|p| p.file_name()).and_then(|n| n.to_str()) == Some("chunks")
        })
        .count()
}

/// Waits until the server under `data_dir` holds at least `count` chunks
/// (`what` happened); returns how many it holds.
async fn wait_for_chunks(data_dir: &std::path::Path, count: usize, what: &str) -> usize {
    let deadline = tokio::time::Instant::now() + e2e_support::PATIENCE * 3;
    loop {
        let stored = stored_chunks(data_dir);
        if stored >= count {
            return stored;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not so: {what} ({stored} chunks stored, waiting for {count})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Taps "Download" on attached file `name`, waits until it has arrived,
/// saves it, and returns where the browser saved it.
async fn download(phone: &Browser, name: &str) -> std::path::PathBuf {
    phone
        .eval(&format!(
            "[...document.querySelectorAll('#attachments .attachment')]\
             .find(li => li.textContent.includes({name:?}))\
             .querySelector('.attachment-get').click(); return true"
        ))
        .await;
    let save = format!(
        "[...document.querySelectorAll('#attachments .attachment-save')]\
         .find(a => a.getAttribute('download') === {name:?})"
    );
    phone
        .wait_until(&format!("{name} arrived"), &format!("return !!{save}"))
        .await;
    phone.eval(&format!("{save}.click(); return true")).await;
    phone.downloaded(name).await
}

#[tokio::test]
async fn a_photo_attached_offline_is_sent_with_every_tab_closed_and_kept_files_open_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = Server::start_in(&data_dir, &[]);
    let listen = server.addr().to_owned();
    let mut laptop = hearth_device::Device::create_encrypted(tmp.path().join("laptop"), "laptop")
        .await
        .unwrap();
    laptop.register(&server.url).await.unwrap();
    let note = laptop
        .add_note("Receipts", "for the tax return", &[])
        .await
        .unwrap();
    let invoice = incompressible(400_000, 21);
    let invoice_path = tmp.path().join("invoice.pdf");
    std::fs::write(&invoice_path, &invoice).unwrap();
    laptop.attach(&note.id, &invoice_path).await.unwrap();
    laptop.sync_once().await.unwrap();
    let phone = join_phone(&laptop).await;
    phone.wait_until_controlled().await;
    phone.open_note("Receipts").await;
    phone.wait_for_sync_state("synced").await;

    // The note's files are kept on the phone, then the server goes away.
    phone.click("#keep-offline").await;
    phone
        .wait_until(
            "the note's files are on the phone",
            "return document.querySelector('#kept-status')?.textContent === 'Kept on this device'",
        )
        .await;
    server.kill();

    // A photo attached now waits in the queue, and says so, in the note
    // and in the sync pill, across a reload.
    let receipt = png_bytes(640, 480);
    let receipt_path = tmp.path().join("receipt.png");
    std::fs::write(&receipt_path, &receipt).unwrap();
    phone.pick_file(&receipt_path).await;
    let waiting = "return [...document.querySelectorAll('#attachments .attachment.queued')]\
         .some(li => li.textContent.includes('receipt.png') && li.textContent.includes('waiting to be sent'))";
    phone
        .wait_until("the photo waits to be sent", waiting)
        .await;
    phone
        .wait_until(
            "the sync pill counts it",
            "return document.querySelector('#sync-status').textContent.includes('1 file waiting to be sent')",
        )
        .await;
    phone.client.refresh().await.unwrap();
    phone.open_note("Receipts").await;
    phone
        .wait_until("the photo still waits after a reload", waiting)
        .await;

    // The invoice kept offline opens with no server, to the very bytes.
    let saved = download(&phone, "invoice.pdf").await;
    assert!(
        std::fs::read(&saved).unwrap() == invoice,
        "the invoice opened offline differs"
    );

    // Every tab of the app closes, then the server is back at the same
    // address: only the service worker is left to send the photo (its
    // Background Sync loads the app's module to seal and send it).
    let before = stored_chunks(&data_dir);
    phone.open("about:blank").await;
    let server = Server::start_in(&data_dir, &["--listen", &listen]);
    // The photo and its thumbnail.
    let sent = wait_for_chunks(&data_dir, before + 2, "the service worker sent the photo").await;

    // The app, opened again, writes the sent photo into its note: its
    // thumbnail shows, nothing is sent again, and the laptop gets it whole.
    phone.open(&server.url).await;
    phone.open_note("Receipts").await;
    phone
        .wait_until(
            "the sent photo shows as a thumbnail",
            "const i = document.querySelector('#attachments img.attachment-thumb[alt=\"receipt.png\"]'); \
             return !!i && i.complete && i.naturalWidth === 320 && i.naturalHeight === 240 \
               && !document.querySelector('#attachments .attachment.queued')",
        )
        .await;
    phone.wait_for_sync_state("synced").await;
    let pill = phone.text_of("#sync-status").await;
    assert!(!pill.contains("waiting to be sent"), "{pill:?}");
    assert_eq!(stored_chunks(&data_dir), sent, "the app sent a chunk again");
    laptop.sync_once().await.unwrap();
    let (_, from_phone) = laptop
        .attached_files()
        .into_iter()
        .find(|(_, f)| f.name == "receipt.png")
        .expect("the laptop sees the photo attached offline");
    let out = tmp.path().join("receipt-on-laptop.png");
    laptop.fetch(&from_phone.id, &out).await.unwrap();
    assert!(
        std::fs::read(&out).unwrap() == receipt,
        "the laptop's copy differs"
    );
    let violations = phone.accessibility_violations().await;
    assert!(violations.is_empty(), "{violations:?}");
    phone.close().await;
}

#[tokio::test]
async fn a_file_over_the_servers_limit_says_so_and_is_never_referenced() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(&tmp.path().join("data"), &["--max-file-bytes", "100000"]);
    let mut laptop = hearth_device::Device::create_encrypted(tmp.path().join("laptop"), "laptop")
        .await
        .unwrap();
    laptop.register(&server.url).await.unwrap();
    laptop.add_note("Scans", "", &[]).await.unwrap();
    laptop.sync_once().await.unwrap();
    let phone = join_phone(&laptop).await;
    phone.open_note("Scans").await;
    let big = tmp.path().join("scan.tiff");
    std::fs::write(&big, incompressible(200_000, 5)).unwrap();
    phone.pick_file(&big).await;
    let refused = "return document.querySelector('#attachments .attachment.queued [role=alert]')\
         ?.textContent.includes('over this server\\'s limit of 100.0 KB per file')";
    phone.wait_until("the refusal is shown", refused).await;
    // Removing it leaves nothing.
    phone.click("#attachments .upload-remove").await;
    phone
        .wait_until(
            "it is gone",
            "return !document.querySelector('#attachments .attachment')",
        )
        .await;
    phone.wait_for_sync_state("synced").await;
    laptop.sync_once().await.unwrap();
    assert!(laptop.attached_files().is_empty(), "nothing is referenced");
    let queue = phone
        .eval_async(
            "const done = arguments[arguments.length - 1]; \
             const open = indexedDB.open('hearth'); \
             open.onsuccess = () => { const all = open.result.transaction('uploads').objectStore('uploads').getAll(); \
               all.onsuccess = () => done(all.result.length); };",
        )
        .await;
    assert_eq!(queue.as_u64(), Some(0), "the queue is empty");
    phone.close().await;
}

#[tokio::test]
async fn the_owners_app_collects_the_pieces_of_an_upload_that_never_finished() {
    use sha2::{Digest as _, Sha256};
    // A grace period of none: what is marked goes at the next collection.
    let server = Server::start_fresh(&["--chunk-grace-secs", "0"]);
    let phone = Browser::launch_phone().await;
    let (ws, token) = phone.become_owner(&server).await;
    phone.add_note("Scan", "the receipt").await;
    phone.open_note("Scan").await;
    let tmp = tempfile::tempdir().unwrap();
    let photo = tmp.path().join("scan.png");
    std::fs::write(&photo, png_bytes(200, 100)).unwrap();
    phone.pick_file(&photo).await;
    phone
        .wait_until(
            "the photo is attached",
            "return !!document.querySelector('#attachments img.attachment-thumb[alt=\"scan.png\"]') && \
             !document.querySelector('#attachments .attachment.queued')",
        )
        .await;
    // Pieces of an upload that never finished: stored, named by no file.
    let stray = incompressible(5_000, 4);
    let name = hearth_shared::id::ChunkName::from_digest(Sha256::digest(&stray).into()).to_string();
    let put = e2e_support::request_typed(
        server.addr(),
        "PUT",
        &format!("/v1/workspaces/{ws}/chunks/{name}"),
        Some(&token),
        Some(&stray),
        "application/octet-stream",
    )
    .await;
    assert_eq!(put.status, 201);
    let on_disk = || {
        files_under(&server.data_dir)
            .iter()
            .any(|(path, _)| path.to_string_lossy().contains(&name))
    };
    assert!(on_disk());

    phone.click("#tab-data").await;
    phone.click("#collect-files").await;
    phone
        .wait_until(
            "the collection says what it found",
            "return (document.querySelector('#cache-message')?.textContent || '')\
             .startsWith('Collected 0 files no note holds and 1 piece left over from unfinished uploads')",
        )
        .await;
    phone.click("#collect-files").await;
    phone
        .wait_until(
            "a second collection finds nothing more",
            "return (document.querySelector('#cache-message')?.textContent || '')\
             .startsWith('Collected 0 files no note holds and 0 pieces')",
        )
        .await;
    assert!(!on_disk(), "the stray piece is deleted from the server");
    // The note's photo stays: it opens full size from the server.
    phone.click("#clear-cache").await;
    phone.click("#tab-notes").await;
    phone.open_note("Scan").await;
    phone
        .wait_until(
            "the photo still shows",
            "const i = document.querySelector('#attachments img[alt=\"scan.png\"]'); \
             return !!i && i.complete && i.naturalWidth > 0",
        )
        .await;
    phone.assert_no_console_errors("collecting files").await;
    phone.close().await;
}

#[tokio::test]
async fn a_file_queued_in_another_workspace_is_sent_while_the_first_is_open() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = Server::start_in(&data_dir, &[]);
    let listen = server.addr().to_owned();
    let laptop = Browser::launch().await;
    laptop.open(&server.url).await;
    laptop.become_owner(&server).await;
    laptop.add_note("Journal", "first workspace").await;
    laptop.wait_for_sync_state("synced").await;

    // A second workspace (a shopping list), on the server too.
    laptop.click("#tab-data").await;
    laptop.click("#new-workspace").await;
    laptop.wait_for_notes(&[]).await;
    laptop.become_owner(&server).await;
    laptop
        .add_note("Shopping", "with a photo of the shelf")
        .await;
    laptop.wait_for_sync_state("synced").await;
    laptop.wait_until_controlled().await;

    // Offline, a photo is attached to the list's note, then the first
    // workspace is opened.
    server.kill();
    laptop.open_note("Shopping").await;
    let shelf = png_bytes(500, 400);
    let shelf_path = tmp.path().join("shelf.png");
    std::fs::write(&shelf_path, &shelf).unwrap();
    laptop.pick_file(&shelf_path).await;
    laptop
        .wait_until(
            "the photo waits to be sent",
            "return [...document.querySelectorAll('#attachments .attachment.queued')]\
             .some(li => li.textContent.includes('waiting to be sent'))",
        )
        .await;
    laptop.click("#tab-data").await;
    laptop.click("#workspace-list .open-workspace").await;
    laptop.wait_for_notes(&["Journal"]).await;

    // The server is back: the list's queue is sent in the background while
    // the journal is on screen.
    let before = stored_chunks(&data_dir);
    let server = Server::start_in(&data_dir, &["--listen", &listen]);
    let sent = wait_for_chunks(
        &data_dir,
        before + 2,
        "the other workspace's photo was sent",
    )
    .await;
    // What failed while the server was away (refused connections) is the
    // browser's to say; from here on nothing may fail.
    let _ = laptop.console_errors().await;

    // Opened again, the list's note holds the photo, not sent twice.
    laptop.click("#tab-data").await;
    laptop.click("#workspace-list .open-workspace").await;
    laptop.open_note("Shopping").await;
    laptop
        .wait_until(
            "the sent photo shows as a thumbnail",
            "const i = document.querySelector('#attachments img.attachment-thumb[alt=\"shelf.png\"]'); \
             return !!i && i.complete && i.naturalWidth === 320 \
               && !document.querySelector('#attachments .attachment.queued')",
        )
        .await;
    laptop.wait_for_sync_state("synced").await;
    assert_eq!(stored_chunks(&data_dir), sent, "the photo was sent again");
    laptop
        .assert_no_console_errors("sending another workspace's files")
        .await;
    drop(server);
    laptop.close().await;
}
