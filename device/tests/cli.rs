//! The `hearth-device` binary as another device: it creates a workspace,
//! registers it with a real `hearth`, prints a share link; a device paired
//! through that link sees its note, and the binary sees the other device's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::TestServer;
use hearth_device::Device;
use hearth_device::interchange::read_input;
use tempfile::TempDir;

/// Runs `hearth-device --dir DIR ARGS...`.
async fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth-device"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("HEARTH_SERVER")
        .env_remove("HEARTH_DEVICE_DIR")
        .output()
        .await
        .unwrap()
}

/// Runs `hearth-device --dir DIR ARGS...` and returns its stdout.
async fn cli(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "hearth-device {args:?} failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `hearth-device` expecting it to fail; returns what it said.
async fn cli_fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args).await;
    assert!(!out.status.success(), "hearth-device {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_command_line_device_syncs_with_a_library_device() {
    let server = TestServer::start().await;
    let origin = format!("http://{}", server.addr);
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());

    // Encrypted unless asked otherwise; this one is plain, so that a device
    // joining by a bare token (no pairing link, so no key) reads it below.
    let dir_d = TempDir::new().unwrap();
    cli(dir_d.path(), &["create", "--label", "default"]).await;
    let default = Device::open(dir_d.path()).await.unwrap();
    assert!(default.keys().is_some(), "a new workspace is encrypted");
    // Its status shows the key's fingerprint, for comparing with the
    // owner's list.
    let own =
        hearth_shared::identity::DeviceKeys::of(default.keys().unwrap().device.as_ref().unwrap())
            .fingerprint();
    drop(default);
    let status = cli(dir_d.path(), &["status"]).await;
    assert!(status.contains(&format!("key:       {own}")), "{status}");
    let workspace = cli(
        dir_a.path(),
        &["create", "--label", "terminal", "--plaintext"],
    )
    .await;
    assert_eq!(workspace.trim().len(), 32);
    cli(
        dir_a.path(),
        &["add-note", "--title", "From the terminal", "--tag", "cli"],
    )
    .await;
    let status = cli(dir_a.path(), &["status"]).await;
    assert!(status.contains("saved locally"), "{status}");
    cli(dir_a.path(), &["register", "--server", &origin]).await;
    let link = cli(dir_a.path(), &["invite"]).await;
    assert!(
        link.trim().starts_with(&format!("{origin}/#pair?")),
        "{link}"
    );

    let mut phone = Device::pair(dir_b.path(), link.trim(), "phone")
        .await
        .unwrap();
    let notes = phone.list_notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].title.as_str(), notes[0].tags.clone()),
        ("From the terminal", vec!["cli".to_owned()])
    );

    phone.add_note("From the phone", "", &[]).await.unwrap();
    phone.sync_once().await.unwrap();
    let synced = cli(dir_a.path(), &["sync"]).await;
    assert!(synced.starts_with("synced"), "{synced}");
    let listed = cli(dir_a.path(), &["list-notes", "--json"]).await;
    let titles: Vec<String> = listed
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["title"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(titles.len(), 2, "{listed}");
    assert!(titles.contains(&"From the phone".to_owned()));

    // A third device joins with an access token minted on the command line.
    let token = cli(dir_a.path(), &["mint-token", "--label", "tablet"]).await;
    let dir_c = TempDir::new().unwrap();
    let ws = workspace.trim();
    cli(
        dir_c.path(),
        &[
            "join",
            "--server",
            &origin,
            "--workspace",
            ws,
            "--token",
            token.trim(),
        ],
    )
    .await;
    let listed = cli(dir_c.path(), &["list-notes"]).await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/interchange/tests/fixtures")
}

#[tokio::test]
async fn a_vault_moves_in_and_back_out_on_the_command_line() {
    let server = TestServer::start().await;
    let origin = format!("http://{}", server.addr);
    let dir = TempDir::new().unwrap();
    let out = TempDir::new().unwrap();
    cli(dir.path(), &["create", "--label", "laptop"]).await;
    cli(dir.path(), &["register", "--server", &origin]).await;

    // A damaged file is refused, saying why, and imports nothing.
    let bogus = out.path().join("damaged.enex");
    std::fs::write(&bogus, "<en-export><note><title>cut short").unwrap();
    let said = cli_fails(dir.path(), &["import", bogus.to_str().unwrap()]).await;
    assert!(said.contains("damaged"), "{said}");
    assert_eq!(cli(dir.path(), &["list-notes"]).await, "");

    // The vault: its notes, and the garden note's two files, sent.
    let vault = fixtures().join("vault");
    let ids = cli(dir.path(), &["import", vault.to_str().unwrap()]).await;
    assert_eq!(ids.lines().count(), 3, "{ids}");
    let files = cli(dir.path(), &["files"]).await;
    assert_eq!(files.lines().count(), 2, "{files}");
    let synced = cli(dir.path(), &["sync"]).await;
    assert!(synced.starts_with("synced"), "{synced}");

    // Out as a zip and as a folder: the same notes as the vault, read back
    // as an import would read them.
    let vault_read = hearth_interchange::read(read_input(&vault).unwrap()).unwrap();
    let zip = out.path().join("notes.zip");
    cli(dir.path(), &["export", "--markdown", zip.to_str().unwrap()]).await;
    let again = hearth_interchange::read(vec![hearth_interchange::InputFile {
        path: "notes.zip".into(),
        bytes: std::fs::read(&zip).unwrap(),
    }])
    .unwrap();
    assert_eq!(again.comparable(), vault_read.comparable());
    let folder = out.path().join("notes");
    cli(
        dir.path(),
        &["export", "--markdown", folder.to_str().unwrap()],
    )
    .await;
    let from_folder = hearth_interchange::read(read_input(&folder).unwrap()).unwrap();
    assert_eq!(from_folder.comparable(), vault_read.comparable());
    // An export never writes over what is there.
    let said = cli_fails(dir.path(), &["export", "--markdown", zip.to_str().unwrap()]).await;
    assert!(said.contains("already exists"), "{said}");

    // The other apps' files, each told from its name.
    let other = TempDir::new().unwrap();
    cli(other.path(), &["create", "--label", "desk"]).await;
    for (file, notes) in [
        ("standard-notes-backup.txt", 2),
        ("joplin-export.jex", 2),
        ("evernote-export.enex", 2),
    ] {
        let path = fixtures().join(file);
        let ids = cli(other.path(), &["import", path.to_str().unwrap()]).await;
        assert_eq!(ids.lines().count(), notes, "{file}: {ids}");
    }
    let listed = cli(other.path(), &["list-notes"]).await;
    assert_eq!(listed.lines().count(), 6, "{listed}");
    assert!(
        listed.contains("Recipe: Shakshuka\tcooking,favourites"),
        "{listed}"
    );
}

#[tokio::test]
async fn a_note_shared_on_the_command_line_opens_with_its_link_alone_until_revoked() {
    use hearth_device::http_client::{Call, HttpClient};
    use hearth_shared::api::ShareInfo;
    use hearth_shared::routes::Route;
    use hearth_shared::share::ShareLink;

    let server = TestServer::start().await;
    let origin = format!("http://{}", server.addr);
    let dir = TempDir::new().unwrap();
    cli(dir.path(), &["create", "--label", "recipes"]).await;
    cli(dir.path(), &["register", "--server", &origin]).await;
    let note = cli(
        dir.path(),
        &[
            "add-note",
            "--title",
            "Leek soup",
            "--body",
            "Melt the **butter**.",
        ],
    )
    .await;
    let note = note.trim();
    let photo = dir.path().join("soup.jpg");
    let bytes: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&photo, &bytes).unwrap();
    cli(dir.path(), &["attach", note, photo.to_str().unwrap()]).await;
    assert!(
        cli_fails(dir.path(), &["share", note, "--days", "400"])
            .await
            .contains("366")
    );
    let url = cli(dir.path(), &["share", note, "--days", "2"]).await;
    let url = url.trim();
    assert!(url.starts_with(&format!("{origin}/share#")), "{url}");
    let listed = cli(dir.path(), &["shares"]).await;
    assert!(listed.contains(url) && listed.contains(note), "{listed}");

    // Opened as the link page opens it: the link alone, no token.
    let link = ShareLink::parse(url).unwrap();
    let http = HttpClient::new(&origin).unwrap();
    let info: ShareInfo = http
        .send(Call::route(&Route::GetShare(link.id.clone())))
        .await
        .unwrap()
        .json()
        .unwrap();
    let ends = info.expires_at - info.created;
    assert_eq!(ends, 2 * 24 * 3600);
    let get = |name| {
        Call::route(&Route::GetShareChunk {
            share: link.id.clone(),
            name,
        })
    };
    let stored = http.send(get(info.document)).await.unwrap().body;
    let shared = link.open_note(&info.document, &stored).unwrap();
    assert_eq!(
        (shared.title.as_str(), shared.body.as_str()),
        ("Leek soup", "Melt the **butter**.")
    );
    let file = &shared.files[0];
    assert_eq!(
        (file.name.as_str(), file.size),
        ("soup.jpg", bytes.len() as u64)
    );
    let mut got = Vec::new();
    for chunk in &file.chunks {
        let stored = http.send(get(chunk.name)).await.unwrap().body;
        got.extend(link.open_chunk(chunk, &stored).unwrap());
    }
    assert!(got == bytes, "the shared file differs");

    // Revoked: the link reads nothing, and the list is empty.
    let id = link.id.to_string();
    cli(dir.path(), &["unshare", &id]).await;
    let gone = http
        .send(Call::route(&Route::GetShare(link.id.clone())))
        .await;
    assert!(
        matches!(
            &gone,
            Err(hearth_shared::engine::TransportError::Server { status: 404, .. })
        ),
        "{gone:?}"
    );
    assert_eq!(cli(dir.path(), &["shares"]).await, "");
}
