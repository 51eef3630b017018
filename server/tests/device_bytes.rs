//! How many bytes a one-character edit moves, in workspaces of 100 KB,
//! 1 MB and 10 MB, through a real `hearth` on loopback. It prints the
//! figures (run with `--nocapture`); it asserts only that an edit moves
//! bytes in proportion to the edit, never how long anything takes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use hearth_device::Device;
use hearth_shared::api::Scope;
use tempfile::TempDir;

/// Text that compresses like prose: words drawn by a seeded xorshift.
fn prose(seed: &mut u64, bytes: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "sync",
        "engine",
        "keeps",
        "every",
        "note",
        "on",
        "each",
        "device",
        "and",
        "a",
        "home",
        "server",
        "stores",
        "opaque",
        "blobs",
        "while",
        "offline",
        "edits",
        "merge",
        "later",
        "without",
        "conflict",
        "because",
        "operations",
        "commute",
        "quietly",
    ];
    let mut s = String::with_capacity(bytes + 16);
    while s.len() < bytes {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        s.push_str(WORDS[(*seed % WORDS.len() as u64) as usize]);
        s.push(if (*seed).is_multiple_of(11) {
            '\n'
        } else {
            ' '
        });
    }
    s
}

/// One figure: the workspace size and what a one-character edit moved.
#[derive(Debug)]
struct Figure {
    workspace_bytes: usize,
    first_push_bytes: u64,
    edit_push_bytes: u64,
    edit_pull_bytes: u64,
}

async fn measure(server: &TestServer, size: usize) -> Figure {
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = Device::create(dir_a.path(), "laptop").await.unwrap();
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let note_size = 10_000;
    let mut ids = Vec::new();
    for i in 0..size.div_ceil(note_size) {
        let note = laptop
            .add_note(&format!("Note {i}"), &prose(&mut seed, note_size), &[])
            .await
            .unwrap();
        ids.push(note.id);
    }
    laptop
        .register(&format!("http://{}", server.addr))
        .await
        .unwrap();
    let first = laptop.sync_once().await.unwrap();
    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();
    let mut phone = Device::pair(dir_b.path(), &link, "phone").await.unwrap();

    let id = &ids[ids.len() / 2];
    laptop
        .edit(|ws, now| ws.splice_body(id, note_size / 2, 0, "x", now))
        .await
        .unwrap();
    let pushed = laptop.sync_once().await.unwrap();
    let pulled = phone.sync_once().await.unwrap();
    assert_eq!(
        phone.workspace().get_note(id),
        laptop.workspace().get_note(id)
    );
    Figure {
        workspace_bytes: size,
        first_push_bytes: first.pushed_bytes,
        edit_push_bytes: pushed.pushed_bytes,
        edit_pull_bytes: pulled.pulled_bytes,
    }
}

#[tokio::test]
async fn bytes_moved_by_a_one_character_edit() {
    let server = TestServer::start().await;
    let mut figures = Vec::new();
    for size in [100_000, 1_000_000, 10_000_000] {
        figures.push(measure(&server, size).await);
    }
    println!("workspace    first push   1-char edit: pushed   pulled by the other device");
    for f in &figures {
        println!(
            "{:>9} B  {:>10} B  {:>18} B  {:>8} B",
            f.workspace_bytes, f.first_push_bytes, f.edit_push_bytes, f.edit_pull_bytes
        );
    }
    // In proportion to the edit, not to the workspace: the 10 MB workspace
    // moves about as many bytes as the 100 KB one.
    for f in &figures {
        assert!(f.edit_push_bytes < 1_000, "{f:?}");
        assert!(f.edit_pull_bytes < 1_000, "{f:?}");
    }
}
