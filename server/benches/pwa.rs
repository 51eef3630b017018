//! PWA start-up with a big workspace, in headless Chromium against a real
//! `hearth`: time to interactive with 10,000 notes (from IndexedDB, server
//! up), and first paint and time to interactive offline (served by the
//! service worker, server stopped). Prints figures; asserts nothing about
//! time. Run with `cargo bench -p hearth --bench pwa` (after `cargo xtask
//! dist`), or `cargo xtask bench`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;

use e2e_support::{Device, Server};
use hearth_device::Device as NativeDevice;
use hearth_migrations::NewNote;
use hearth_shared::api::Scope;

const NOTES: usize = 10_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn ready_ms(device: &Device) -> f64 {
    device
        .wait_until(
            "the app is interactive",
            "return performance.getEntriesByName('hearth-ready').length > 0",
        )
        .await;
    device
        .eval("return performance.getEntriesByName('hearth-ready')[0].startTime")
        .await
        .as_f64()
        .unwrap()
}

async fn paint_ms(device: &Device) -> f64 {
    device
        .wait_until(
            "first paint",
            "return performance.getEntriesByName('first-contentful-paint').length > 0",
        )
        .await;
    device
        .eval("return performance.getEntriesByName('first-contentful-paint')[0].startTime")
        .await
        .as_f64()
        .unwrap()
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(&tmp.path().join("data"), &["--log-format", "json"]);

    // A native device writes 10,000 notes and pushes them.
    let mut native = NativeDevice::create(tmp.path().join("native"), "bench")
        .await
        .unwrap();
    native.register(&server.url).await.unwrap();
    native
        .edit(|ws, now| {
            for i in 0..NOTES {
                let id = format!("{i:032x}");
                let title = format!("Note {i}");
                let body =
                    format!("Body of note {i}: a line or two of text, as people write them.");
                ws.add_note(
                    &id,
                    NewNote {
                        title: &title,
                        body: &body,
                        tags: &[],
                        pinned: false,
                    },
                    now,
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    native.sync_once().await.unwrap();
    let token = native
        .mint_token("browser", Scope::ReadWrite)
        .await
        .unwrap()
        .token;

    // The browser joins and takes the workspace in.
    let browser = Device::launch().await;
    browser.join_with_token(&server, &token).await;
    browser
        .wait_until(
            "all notes arrived",
            &format!("return (document.querySelector('#more-notes')?.textContent || '').endsWith('of {}')", NOTES - 200),
        )
        .await;
    browser.wait_for_sync_state("synced").await;

    // Cold starts from IndexedDB (the server is up; the page never waits for it).
    let mut online = Vec::new();
    for _ in 0..5 {
        browser.client.refresh().await.unwrap();
        online.push(ready_ms(&browser).await);
    }

    // Offline: the service worker serves the app, IndexedDB the data.
    server.kill();
    let (mut paints, mut offline) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        browser.client.refresh().await.unwrap();
        paints.push(paint_ms(&browser).await);
        offline.push(ready_ms(&browser).await);
    }
    let more = browser
        .eval("return document.querySelector('#more-notes').textContent")
        .await;
    assert!(
        more.as_str()
            .unwrap()
            .ends_with(&format!("of {}", NOTES - 200)),
        "all notes are there offline: {more}"
    );
    browser.close().await;

    println!("pwa cold start, {NOTES} notes, median of 5 (ms from navigation start):");
    println!(
        "  interactive, server up            {:>8.0}",
        median(online)
    );
    println!(
        "  first contentful paint, offline   {:>8.0}",
        median(paints)
    );
    println!(
        "  interactive, offline              {:>8.0}",
        median(offline)
    );
}
