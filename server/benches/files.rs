//! Attached files through a real `hearth` on loopback, beside the disk's
//! raw write speed in the same run:
//! - raw disk: 100 MB written in 4 MiB writes and fsynced, in the same
//!   directory as the server's data;
//! - upload: a native device attaches a 100 MB file (cut, sealed when
//!   encrypted, every chunk hashed and fsynced on the server before its
//!   answer), plaintext and encrypted workspaces;
//! - download: the device fetches it back (every chunk checked and opened,
//!   the file fsynced);
//! - again: the same file attached to another note (nothing sent);
//! - edits: the bytes re-sent after changing 100 bytes in the middle, and
//!   after inserting 10 bytes at a third of the file;
//! - the app's own upload path: a phone (headless Chromium) paired to the
//!   encrypted workspace picks the 100 MB file in a note; timed from the
//!   pick until the note shows it sent (the page queues the file in
//!   IndexedDB, the sync worker cuts, seals and sends it, the page writes
//!   the reference).
//!
//! Prints figures; asserts nothing about time. Run with
//! `cargo bench -p hearth --bench files`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use e2e_support::{Device as Browser, Server, incompressible as content};
use hearth_device::Device;
use hearth_shared::api::Scope;

const SIZE: usize = 100 * 1000 * 1000;
const ROUNDS: usize = 3;

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// 100 MB written and fsynced, in MB/s.
fn raw_disk(dir: &Path, data: &[u8]) -> f64 {
    let path = dir.join("raw-disk-probe");
    let started = Instant::now();
    let mut file = std::fs::File::create(&path).unwrap();
    for piece in data.chunks(4 * 1024 * 1024) {
        file.write_all(piece).unwrap();
    }
    file.sync_all().unwrap();
    let secs = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path).unwrap();
    mb_per_s(data.len(), secs)
}

struct Figures {
    upload: f64,
    download: f64,
    again_ms: f64,
    edit_sent: u64,
    insert_sent: u64,
}

async fn run(dir: &Path, server: &Server, data: &[u8], encrypted: bool, round: usize) -> Figures {
    let tag = format!("{}-{round}", if encrypted { "sealed" } else { "plain" });
    let root = dir.join(&tag);
    std::fs::create_dir_all(&root).unwrap();
    let mut a = if encrypted {
        Device::create_encrypted(root.join("a"), "a").await.unwrap()
    } else {
        Device::create(root.join("a"), "a").await.unwrap()
    };
    a.register(&server.url).await.unwrap();
    let one = a.add_note("one", "", &[]).await.unwrap();
    let two = a.add_note("two", "", &[]).await.unwrap();
    a.sync_once().await.unwrap();
    let path = root.join("file.bin");
    std::fs::write(&path, data).unwrap();

    let started = Instant::now();
    let report = a.attach(&one.id, &path).await.unwrap();
    let upload = mb_per_s(data.len(), started.elapsed().as_secs_f64());
    assert_eq!(report.sent, report.file.chunks.len());

    let started = Instant::now();
    let again = a.attach(&two.id, &path).await.unwrap();
    let again_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(again.sent, 0);

    let out = root.join("fetched.bin");
    let started = Instant::now();
    a.fetch(&report.file.id, &out).await.unwrap();
    let download = mb_per_s(data.len(), started.elapsed().as_secs_f64());
    assert!(std::fs::read(&out).unwrap() == data);
    std::fs::remove_file(&out).unwrap();

    let mut edited = data.to_vec();
    let middle = edited.len() / 2;
    for b in &mut edited[middle..middle + 100] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &edited).unwrap();
    let edit_sent = a.attach(&one.id, &path).await.unwrap().sent_bytes;
    let mut inserted = data.to_vec();
    let third = inserted.len() / 3;
    inserted.splice(third..third, *b"ten bytes!");
    std::fs::write(&path, &inserted).unwrap();
    let insert_sent = a.attach(&one.id, &path).await.unwrap().sent_bytes;
    std::fs::remove_file(&path).unwrap();
    Figures {
        upload,
        download,
        again_ms,
        edit_sent,
        insert_sent,
    }
}

/// The app's upload path for `data`, in MB/s: one run (it takes a while).
async fn app_upload(dir: &Path, server: &Server, data: &[u8]) -> f64 {
    let root = dir.join("app");
    std::fs::create_dir_all(&root).unwrap();
    let mut laptop = Device::create_encrypted(root.join("laptop"), "laptop")
        .await
        .unwrap();
    laptop.register(&server.url).await.unwrap();
    laptop.add_note("big", "a big file", &[]).await.unwrap();
    laptop.sync_once().await.unwrap();
    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();
    let phone = Browser::phone_joined_by_link(&link).await;
    phone.open_note("big").await;
    let path = root.join("big.bin");
    std::fs::write(&path, data).unwrap();

    let started = Instant::now();
    phone.pick_file(&path).await;
    let sent = "return [...document.querySelectorAll('#attachments .attachment:not(.queued)')]\
         .some(li => li.textContent.includes('big.bin'))";
    let deadline = started + std::time::Duration::from_secs(900);
    while phone.eval(sent).await != serde_json::Value::Bool(true) {
        assert!(
            Instant::now() < deadline,
            "the app did not send 100 MB in 15 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    // The laptop sees the phone's file, whole, once the edit that holds
    // its reference has gone out.
    phone.wait_for_sync_state("synced").await;
    laptop.sync_once().await.unwrap();
    let (_, file) = laptop
        .attached_files()
        .into_iter()
        .find(|(_, f)| f.name == "big.bin")
        .expect("the laptop sees the file the app sent");
    assert_eq!(file.size, data.len() as u64);
    phone.close().await;
    mb_per_s(data.len(), secs)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        &tmp.path().join("data"),
        &["--workspace-quota-bytes", "100000000000"],
    );
    let data = content(SIZE, 42);
    let mut raw = Vec::new();
    let mut plain = Vec::new();
    let mut sealed = Vec::new();
    for round in 0..ROUNDS {
        raw.push(raw_disk(tmp.path(), &data));
        plain.push(run(tmp.path(), &server, &data, false, round).await);
        sealed.push(run(tmp.path(), &server, &data, true, round).await);
    }
    let app = app_upload(tmp.path(), &server, &data).await;
    let raw = median(raw);
    println!("files: {} MB, medians of {ROUNDS} runs", SIZE / 1_000_000);
    println!("raw disk write + fsync       {raw:8.1} MB/s");
    println!(
        "encrypted upload from the app (one run) {app:8.1} MB/s  ({:.0}% of raw disk)",
        app / raw * 100.0
    );
    for (label, runs) in [("plaintext", &plain), ("encrypted", &sealed)] {
        let up = median(runs.iter().map(|f| f.upload).collect());
        let down = median(runs.iter().map(|f| f.download).collect());
        let again = median(runs.iter().map(|f| f.again_ms).collect());
        let edit = median(runs.iter().map(|f| f.edit_sent as f64).collect());
        let insert = median(runs.iter().map(|f| f.insert_sent as f64).collect());
        println!(
            "{label:9} upload             {up:8.1} MB/s  ({:.0}% of raw disk)",
            up / raw * 100.0
        );
        println!(
            "{label:9} download           {down:8.1} MB/s  ({:.0}% of raw disk)",
            down / raw * 100.0
        );
        println!("{label:9} same file again    {again:8.1} ms (nothing sent)");
        println!(
            "{label:9} 100 bytes changed  {:8.2} MB re-sent ({:.1}% of the file)",
            edit / 1e6,
            edit / SIZE as f64 * 100.0
        );
        println!(
            "{label:9} 10 bytes inserted  {:8.2} MB re-sent ({:.1}% of the file)",
            insert / 1e6,
            insert / SIZE as f64 * 100.0
        );
    }
}
