//! End-to-end: two browser profiles are two devices of one person. The
//! first connects its workspace to a real `hearth` and becomes its owner;
//! the second joins with an access token; each sees the other's edits
//! within moments; both edit while the server is down, and after it comes
//! back (same data directory) they converge with nothing lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};

#[tokio::test]
async fn two_devices_sync_through_a_real_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut server = Server::start_in(&data_dir, &[]);

    // Laptop: a note written before any server is known, then connect.
    let laptop = Device::launch().await;
    laptop.open(&server.url).await;
    laptop
        .add_note("Written offline first", "before the server existed")
        .await;
    laptop.wait_for_sync_state("local").await;
    laptop.become_owner(&server).await;
    assert_eq!(laptop.text_of("#server-url").await, server.url);
    assert_eq!(laptop.device_record().await["role"], "master");

    // The phone pairs by a link from the owner (which brings it the
    // workspace's key) and the laptop's note arrives.
    let phone = Device::launch().await;
    phone.pair_from(&laptop, "phone").await;
    phone.wait_for_notes(&["Written offline first"]).await;
    phone.wait_for_sync_state("synced").await;

    // Live: an edit on one shows on the other without a reload.
    phone.add_note("From the phone", "milk").await;
    laptop.click("#tab-notes").await;
    laptop
        .wait_for_notes(&["Written offline first", "From the phone"])
        .await;
    laptop.add_note("From the laptop", "bread").await;
    phone
        .wait_for_notes(&["Written offline first", "From the phone", "From the laptop"])
        .await;
    laptop.wait_for_sync_state("synced").await;
    phone.wait_for_sync_state("synced").await;

    // The server goes away; both keep working and say so.
    let port = server.addr().rsplit(':').next().unwrap().to_owned();
    server.kill();
    laptop.add_note("Laptop while offline", "1").await;
    phone.add_note("Phone while offline", "2").await;
    laptop.wait_until(
        "the laptop shows it is offline with one note pending (a note, not its keystrokes)",
        "const s = document.querySelector('#sync-status'); return ['offline', 'saved', 'error'].includes(s.dataset.state) && s.textContent.includes('1 note pending')",
    )
    .await;

    // It comes back on the same address with the same data: they converge.
    let listen = format!("127.0.0.1:{port}");
    let _server = Server::start_in(&data_dir, &["--listen", &listen]);
    let all = [
        "Written offline first",
        "From the phone",
        "From the laptop",
        "Laptop while offline",
        "Phone while offline",
    ];
    for device in [&laptop, &phone] {
        device.click("#tab-sync").await;
        device.click("#sync-now").await;
        device.click("#tab-notes").await;
    }
    laptop.wait_for_notes(&all).await;
    phone.wait_for_notes(&all).await;
    laptop.wait_for_sync_state("synced").await;
    phone.wait_for_sync_state("synced").await;

    // A reload keeps everything.
    phone.client.refresh().await.unwrap();
    phone.wait_for_notes(&all).await;
    laptop.close().await;
    phone.close().await;
}

/// A person writes one note after another. Each edit wakes the sync
/// driver from its wait on the live events; that wait's stream must close,
/// or after six edits the browser has no connection left for the server
/// (HTTP/1.1 allows six per host) and the device turns "Offline" with its
/// notes unsent. The phone sees every note.
#[tokio::test]
async fn many_edits_in_a_row_all_reach_the_other_device() {
    let server = Server::start();
    let laptop = Device::launch().await;
    laptop.open(&server.url).await;
    laptop.become_owner(&server).await;
    let phone = Device::launch_phone().await;
    phone.pair_from(&laptop, "phone").await;

    let titles: Vec<String> = (1..=12).map(|i| format!("Note {i:02}")).collect();
    for title in &titles {
        laptop.add_note(title, "written on the laptop").await;
        laptop.wait_for_sync_state("synced").await;
    }
    let newest_first: Vec<&str> = titles.iter().rev().map(String::as_str).collect();
    phone.wait_for_notes(&newest_first).await;
    laptop.close().await;
    phone.close().await;
}

/// A TCP relay in front of the server whose answers, once `slow` is set,
/// arrive at `bytes_per_second` (a slow phone network); requests pass as
/// they are. It stops with the test.
struct SlowLink {
    url: String,
    slow: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SlowLink {
    async fn start(server: &Server, bytes_per_second: usize) -> SlowLink {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = server.addr().to_owned();
        let slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = slow.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let flag = flag.clone();
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let requests = tokio::io::copy(&mut client_read, &mut server_write);
                    let answers = async move {
                        // A tenth of a second's worth at a time.
                        let mut chunk = vec![0u8; (bytes_per_second / 10).max(1)];
                        loop {
                            let n = match server_read.read(&mut chunk).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if client_write.write_all(&chunk[..n]).await.is_err() {
                                break;
                            }
                            if flag.load(Ordering::Relaxed) {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                        }
                        let _ = client_write.shutdown().await;
                    };
                    let _ = tokio::join!(requests, answers);
                });
            }
        });
        SlowLink { url, slow }
    }

    fn slow_down(&self) {
        self.slow.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test]
async fn the_first_sync_of_a_large_workspace_shows_its_progress_on_a_slow_link() {
    const NOTES: usize = 1_500;
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    // A native device writes a workspace of about 1.5 MB: notes whose
    // bodies compress poorly, as pasted logs and keys do.
    let token = e2e_support::native_workspace(&server, &tmp.path().join("native"), NOTES, |i| {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ i as u64;
        (0..64)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("{seed:016x}")
            })
            .collect()
    })
    .await;

    // The phone reaches the server over a link of 400 KB/s.
    let link = SlowLink::start(&server, 400_000).await;
    let phone = Device::launch_phone().await;
    phone.open(&link.url).await;
    phone.click("#tab-sync").await;
    phone
        .wait_until(
            "the app is ready",
            "return !!document.querySelector('#token-input')",
        )
        .await;
    link.slow_down();
    phone.type_into("#token-input", &token).await;
    phone.click("#join").await;
    phone
        .wait_until(
            "the joined workspace opens",
            "return location.pathname === '/sync' \
             && (document.querySelector('#sync-status')?.dataset.state || 'local') !== 'local'",
        )
        .await;
    phone.click("#tab-notes").await;

    // What the person sees until every note is there.
    let mut pills = Vec::<String>::new();
    let mut empties = Vec::<String>::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let seen = phone
            .eval(
                "return [document.querySelector('#sync-status')?.innerText || '', \
                         document.querySelector('#notes-view .note-list .empty')?.innerText || '', \
                         document.querySelector('#note-count')?.innerText || '']",
            )
            .await;
        let text = |i: usize| seen[i].as_str().unwrap_or_default().to_owned();
        if pills.last() != Some(&text(0)) {
            pills.push(text(0));
        }
        if !text(1).is_empty() && empties.last() != Some(&text(1)) {
            empties.push(text(1));
        }
        if text(2) == "1,500 notes" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the notes did not all arrive: {pills:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    eprintln!("the pill said {pills:?}; the empty list said {empties:?}");
    let percents: Vec<u64> = pills
        .iter()
        .filter_map(|p| p.strip_prefix("Receiving · "))
        .filter_map(|p| p.split('%').next()?.parse().ok())
        .collect();
    assert!(
        percents.iter().any(|&p| p > 0 && p < 100),
        "the pill showed how far the workspace had come: {pills:?}"
    );
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back within the answer: {pills:?}"
    );
    assert!(
        empties
            .iter()
            .all(|e| e.starts_with("Your notes are on their way")),
        "the empty list never said there are no notes: {empties:?}"
    );
    phone.wait_for_sync_state("synced").await;
    phone.close().await;
}
