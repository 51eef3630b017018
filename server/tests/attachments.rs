//! Attached files between native devices and a real `hearth`: a photo
//! attached on one device is fetched on another; the server and its backup
//! hold no plaintext of it; the same file on two notes is stored once and
//! an edited file re-uploads little; a read-only device cannot upload; the
//! server killed (SIGKILL) in the middle of a 50 MB upload, restarted, and
//! the upload resumes with nothing sent twice; a file no note holds is
//! collected only after the history window, and deleted after the server's
//! grace period; limits say what is wrong and leave nothing referenced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ServerProcess, TestServer, files_under, incompressible as content};
use hearth_device::{Device, DeviceError};
use hearth_shared::api::Scope;
use hearth_shared::error::ErrorCode;
use tempfile::TempDir;

fn write_file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The chunk files a workspace has on the server: live, set aside.
fn chunk_files(data: &Path, ws: &str) -> (usize, usize) {
    let root = data.join("workspaces").join(ws).join("chunks");
    let (mut live, mut aside) = (0, 0);
    let Ok(read) = std::fs::read_dir(&root) else {
        return (0, 0);
    };
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let count = std::fs::read_dir(entry.path())
            .map(|r| r.flatten().count())
            .unwrap_or(0);
        match name.as_str() {
            "unreferenced" => aside += count,
            "tmp" => {}
            _ => live += count,
        }
    }
    (live, aside)
}

async fn owner(origin: &str, dir: &TempDir, encrypted: bool) -> Device {
    let mut device = if encrypted {
        Device::create_encrypted(dir.path(), "laptop")
            .await
            .unwrap()
    } else {
        Device::create(dir.path(), "laptop").await.unwrap()
    };
    device.register(origin).await.unwrap();
    device.sync_once().await.unwrap();
    device
}

#[tokio::test]
async fn a_photo_attached_on_the_laptop_opens_on_the_phone_and_the_server_holds_no_plaintext() {
    let server = TestServer::start().await;
    let origin = format!("http://{}", server.addr);
    let (dir_a, dir_b, files) = (
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
    );
    let mut laptop = owner(&origin, &dir_a, true).await;
    let note = laptop.add_note("Holiday", "the beach", &[]).await.unwrap();
    let photo = content(5 * 1024 * 1024, 1);
    let path = write_file(&files, "beach.jpg", &photo);
    let report = laptop.attach(&note.id, &path).await.unwrap();
    assert_eq!(report.file.size, photo.len() as u64);
    assert_eq!(report.file.mime, "image/jpeg");
    assert!(report.file.chunks.len() >= 2, "{:?}", report.file.chunks);
    assert_eq!(report.sent, report.file.chunks.len());
    assert_eq!(report.created, report.sent);

    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();
    let phone = Device::pair(dir_b.path(), &link, "phone").await.unwrap();
    let attached = phone.attached_files();
    assert_eq!(attached.len(), 1, "{attached:?}");
    assert_eq!(attached[0].0, note.id);
    assert_eq!(attached[0].1.name, "beach.jpg");
    let out = files.path().join("on-the-phone.jpg");
    assert_eq!(
        phone.fetch(&report.file.id, &out).await.unwrap(),
        photo.len() as u64
    );
    assert!(
        std::fs::read(&out).unwrap() == photo,
        "the fetched photo differs"
    );

    // No 32-byte run of the photo anywhere on the server or in its backup.
    let backups = TempDir::new().unwrap();
    let backup = hearth::backup::backup(server.dir.path(), backups.path()).unwrap();
    let samples: Vec<&[u8]> = (0..64)
        .map(|i| &photo[i * 80_000..i * 80_000 + 32])
        .collect();
    for root in [server.dir.path(), backup.as_path()] {
        for (file, bytes) in files_under(root) {
            for s in &samples {
                assert!(
                    !bytes.windows(32).any(|w| w == *s),
                    "{} holds plaintext of the photo",
                    file.display()
                );
            }
        }
    }
    // The backup holds every chunk: restored, the phone still fetches it.
    let restored = TempDir::new().unwrap();
    let into = restored.path().join("data");
    hearth::backup::restore(&backup, &into).unwrap();
    let (live, _) = chunk_files(&into, laptop.profile().workspace.as_str());
    assert_eq!(live, report.file.chunks.len());
}

#[tokio::test]
async fn the_same_file_on_two_notes_is_stored_once_and_an_edit_re_uploads_little() {
    let server = TestServer::start().await;
    let origin = format!("http://{}", server.addr);
    let (dir_a, files) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = owner(&origin, &dir_a, true).await;
    let ws = laptop.profile().workspace.to_string();
    let one = laptop.add_note("One", "", &[]).await.unwrap();
    let two = laptop.add_note("Two", "", &[]).await.unwrap();
    let mut data = content(12 * 1024 * 1024, 2);
    let path = write_file(&files, "report.pdf", &data);

    let first = laptop.attach(&one.id, &path).await.unwrap();
    let second = laptop.attach(&two.id, &path).await.unwrap();
    assert_eq!(first.file.id, second.file.id);
    assert_eq!(
        (second.sent, second.already_stored),
        (0, first.file.chunks.len())
    );
    assert_eq!(
        chunk_files(server.dir.path(), &ws).0,
        first.file.chunks.len()
    );
    assert_eq!(laptop.workspace().files().len(), 1);

    // A hundred bytes changed in the middle: one or two chunks change.
    let middle = data.len() / 2;
    for b in &mut data[middle..middle + 100] {
        *b ^= 0x5a;
    }
    let path = write_file(&files, "report-v2.pdf", &data);
    let edited = laptop.attach(&one.id, &path).await.unwrap();
    assert_ne!(edited.file.id, first.file.id);
    assert!(edited.sent <= 2, "{} chunks re-sent", edited.sent);
    assert!(
        edited.sent_bytes < data.len() as u64 / 3,
        "{} bytes re-sent of {}",
        edited.sent_bytes,
        data.len()
    );
    assert_eq!(
        edited.sent + edited.already_stored,
        edited.file.chunks.len()
    );
}

#[tokio::test]
async fn a_read_only_device_cannot_upload_and_limits_leave_nothing_referenced() {
    let server = TestServer::start_with(|c| {
        c.max_file_bytes = 3 * 1024 * 1024;
        c.workspace_quota_bytes = 2 * 1024 * 1024;
    })
    .await;
    let origin = format!("http://{}", server.addr);
    let (dir_a, dir_b, files) = (
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
    );
    let mut laptop = owner(&origin, &dir_a, false).await;
    let note = laptop.add_note("Shared", "", &[]).await.unwrap();
    laptop.sync_once().await.unwrap();
    let ws = laptop.profile().workspace.to_string();

    let link = laptop.invite(Scope::ReadOnly, None).await.unwrap().to_url();
    let mut viewer = Device::pair(dir_b.path(), &link, "viewer").await.unwrap();
    let small = write_file(&files, "small.txt", b"a small file");
    let refused = viewer.attach(&note.id, &small).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::ReadOnly), "{refused}");

    // Over the per-file limit: refused before anything is sent.
    let large = write_file(&files, "large.bin", &content(4 * 1024 * 1024, 3));
    let err = laptop.attach(&note.id, &large).await.unwrap_err();
    assert!(matches!(err, DeviceError::FileTooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("over this server's limit"),
        "{err}"
    );
    assert_eq!(chunk_files(server.dir.path(), &ws), (0, 0));
    // Over the workspace quota: the server refuses, no note refers to it.
    let medium = write_file(&files, "medium.bin", &content(2_900_000, 4));
    let err = laptop.attach(&note.id, &medium).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::QuotaExceeded), "{err}");
    // Not a file, a note that does not exist.
    assert!(laptop.attach(&note.id, files.path()).await.is_err());
    assert!(laptop.attach("no-such-note", &small).await.is_err());
    assert!(laptop.attached_files().is_empty());
    assert!(laptop.workspace().files().is_empty());
    // What fits still attaches.
    let ok = laptop.attach(&note.id, &small).await.unwrap();
    viewer.sync_once().await.unwrap();
    let out = files.path().join("fetched.txt");
    viewer.fetch(&ok.file.id, &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), b"a small file");
    assert!(matches!(
        viewer.fetch("0123456789abcdef0123456789abcdef", &out).await,
        Err(DeviceError::NoSuchFile(_))
    ));
}

#[tokio::test]
async fn the_server_killed_mid_upload_restarts_and_the_upload_resumes_sending_nothing_twice() {
    let data = TempDir::new().unwrap();
    let mut server = ServerProcess::start(data.path(), &[]);
    let addr = server.addr;
    let origin = format!("http://{addr}");
    let (dir_a, dir_b, files) = (
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
    );
    let mut laptop = owner(&origin, &dir_a, true).await;
    let ws = laptop.profile().workspace.to_string();
    let note = laptop.add_note("Video", "", &[]).await.unwrap();
    let video = content(50 * 1024 * 1024, 5);
    let path = write_file(&files, "clip.mp4", &video);

    // Kill -9 once a few chunks are stored.
    let cut = {
        let attach = laptop.attach(&note.id, &path);
        let watch = async {
            loop {
                if chunk_files(data.path(), &ws).0 >= 8 {
                    server.kill();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::pin!(attach);
        tokio::select! {
            result = &mut attach => panic!("the upload finished before the kill: {result:?}"),
            () = watch => {}
        }
        attach.await
    };
    assert!(cut.is_err(), "an upload to a killed server succeeded");
    assert!(
        laptop.attached_files().is_empty(),
        "referenced before its chunks were stored"
    );
    let stored_before = chunk_files(data.path(), &ws).0;
    assert!(stored_before >= 8);

    let _server = ServerProcess::start_at(data.path(), &addr.to_string(), &[]);
    let report = laptop.attach(&note.id, &path).await.unwrap();
    if !report.synced {
        // The device's sync connection was to the killed server.
        laptop.sync_once().await.unwrap();
    }
    let total = report.file.chunks.len();
    assert!(report.already_stored >= stored_before, "{report:?}");
    assert_eq!(report.sent + report.already_stored, total);
    assert_eq!(
        report.created, report.sent,
        "a chunk the server had was sent again"
    );
    assert_eq!(chunk_files(data.path(), &ws).0, total);
    let tmp = data
        .path()
        .join("workspaces")
        .join(&ws)
        .join("chunks")
        .join("tmp");
    assert!(
        std::fs::read_dir(&tmp).map(|r| r.count()).unwrap_or(0) == 0,
        "half-written chunks left"
    );

    let link = laptop
        .invite(Scope::ReadWrite, None)
        .await
        .unwrap()
        .to_url();
    let phone = Device::pair(dir_b.path(), &link, "phone").await.unwrap();
    let out = files.path().join("clip-on-phone.mp4");
    phone.fetch(&report.file.id, &out).await.unwrap();
    assert!(
        std::fs::read(&out).unwrap() == video,
        "the fetched video differs"
    );
}

#[tokio::test]
async fn a_file_no_note_holds_is_collected_after_the_window_and_deleted_after_the_grace_period() {
    let server = TestServer::start_with(|c| c.chunk_grace_secs = 1).await;
    let origin = format!("http://{}", server.addr);
    let (dir_a, files) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = owner(&origin, &dir_a, true).await;
    let ws = laptop.profile().workspace.to_string();
    let note = laptop.add_note("Receipts", "", &[]).await.unwrap();
    let keep = laptop.add_note("Kept", "", &[]).await.unwrap();
    let receipt = content(3 * 1024 * 1024, 6);
    let kept = content(300_000, 7);
    let receipt_path = write_file(&files, "receipt.png", &receipt);
    let kept_path = write_file(&files, "kept.png", &kept);
    let file = laptop.attach(&note.id, &receipt_path).await.unwrap().file;
    laptop.attach(&keep.id, &kept_path).await.unwrap();
    let chunks = file.chunks.len();
    let hour = 3_600_000;
    let t0 = hearth_device::device::now_ms();

    // In the bin: still held (the bin can restore it).
    laptop
        .edit(|w, now| w.delete_note(&note.id, now))
        .await
        .unwrap();
    let r = laptop.collect_files(hour, t0).await.unwrap();
    assert_eq!((r.referenced, r.waiting, r.collected), (2, 0, 0), "{r:?}");
    // Purged: unreferenced, but history can still bring it back for the
    // window, so nothing is collected yet.
    laptop.edit(|w, _| w.purge_note(&note.id)).await.unwrap();
    let r = laptop.collect_files(hour, t0).await.unwrap();
    assert_eq!((r.referenced, r.waiting, r.collected), (1, 1, 0), "{r:?}");
    let r = laptop.collect_files(hour, t0 + hour - 1).await.unwrap();
    assert_eq!(r.collected, 0, "{r:?}");
    assert_eq!(chunk_files(server.dir.path(), &ws).1, 0);

    // Past the window: its chunks are set aside, the kept file's stay.
    let r = laptop.collect_files(hour, t0 + hour + 1).await.unwrap();
    assert_eq!(
        (r.collected, r.chunks_marked, r.grace_secs),
        (1, chunks as u64, 1),
        "{r:?}"
    );
    assert_eq!(r.lost_chunks, 0);
    assert_eq!(chunk_files(server.dir.path(), &ws).1, chunks);
    assert!(laptop.workspace().file(&file.id).is_none());

    // Attached again within the grace period: asking for its chunks brings
    // them back, nothing is sent.
    let again = laptop.attach(&keep.id, &receipt_path).await.unwrap();
    assert_eq!((again.sent, again.already_stored), (0, chunks));
    assert_eq!(chunk_files(server.dir.path(), &ws).1, 0);

    // Let go again; after the grace period the server deletes them.
    laptop
        .edit(|w, now| w.detach_file(&keep.id, &file.id, now))
        .await
        .unwrap();
    let r = laptop.collect_files(hour, t0 + 2 * hour).await.unwrap();
    assert_eq!(r.waiting, 1);
    let r = laptop.collect_files(hour, t0 + 4 * hour).await.unwrap();
    assert_eq!(r.collected, 1, "{r:?}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = laptop.collect_files(hour, t0 + 5 * hour).await.unwrap();
    assert_eq!((r.referenced, r.lost_chunks), (1, 0), "{r:?}");
    let (live, aside) = chunk_files(server.dir.path(), &ws);
    assert_eq!(aside, 0, "set-aside chunks were not deleted");
    assert!(live >= 1, "the kept file's chunks went too");
    let kept_out = files.path().join("kept-out.png");
    let kept_id = laptop.attached_files()[0].1.id.clone();
    laptop.fetch(&kept_id, &kept_out).await.unwrap();
    assert!(std::fs::read(&kept_out).unwrap() == kept);
}

#[tokio::test]
async fn chunks_of_an_unfinished_upload_go_after_the_grace_period_and_a_links_chunks_stay() {
    use hearth_shared::api::{CreateShare, StoredChunks};
    use hearth_shared::id::ChunkName;
    use hearth_shared::routes::Route;
    use sha2::{Digest as _, Sha256};

    let server = TestServer::start_with(|c| c.chunk_grace_secs = 1).await;
    let origin = format!("http://{}", server.addr);
    let (dir, files) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let mut laptop = owner(&origin, &dir, true).await;
    let ws = laptop.profile().workspace.clone();
    let token = laptop.profile().server.as_ref().unwrap().token.clone();
    let note = laptop.add_note("Kept", "", &[]).await.unwrap();
    let kept = content(300_000, 8);
    laptop
        .attach(&note.id, &write_file(&files, "kept.png", &kept))
        .await
        .unwrap();
    // Two chunks stored and never named by a file: a tab closed half-way
    // through an upload. A third is a public link's.
    let api = server.api();
    let put = |body: Vec<u8>| {
        let name = ChunkName::from_digest(Sha256::digest(&body).into());
        let route = Route::PutChunk {
            ws: ws.clone(),
            name,
        };
        let (api, token) = (&api, token.clone());
        async move {
            let r = api.call(&route, Some(&token), body).await;
            assert_eq!(r.status, hyper::StatusCode::CREATED, "{}", r.text());
            name
        }
    };
    let left = [put(content(1000, 1)).await, put(content(1000, 2)).await];
    let linked = put(content(1000, 3)).await;
    let made = api
        .call(
            &Route::CreateShare(ws.clone()),
            Some(&token),
            serde_json::to_vec(&CreateShare {
                document: linked,
                chunks: vec![],
                expires_in: 3600,
            })
            .unwrap(),
        )
        .await;
    assert_eq!(made.status, hyper::StatusCode::CREATED, "{}", made.text());
    let listed: StoredChunks = api
        .call(&Route::ListChunks(ws.clone()), Some(&token), vec![])
        .await
        .json();
    assert!(left.iter().all(|n| listed.names.contains(n)));
    assert!(
        !listed.names.contains(&linked),
        "a link's chunks are not listed"
    );

    // Seen the first time: they wait out the grace period (an upload may
    // still be under way); after it, they are set aside.
    let t0 = hearth_device::device::now_ms();
    let r = laptop.collect_files(3_600_000, t0).await.unwrap();
    assert_eq!((r.abandoned, r.chunks_marked), (0, 0), "{r:?}");
    let r = laptop.collect_files(3_600_000, t0 + 999).await.unwrap();
    assert_eq!(r.abandoned, 0, "{r:?}");
    let r = laptop.collect_files(3_600_000, t0 + 1_000).await.unwrap();
    assert_eq!((r.abandoned, r.chunks_marked), (2, 2), "{r:?}");
    assert_eq!(chunk_files(server.dir.path(), &ws.to_string()).1, 2);
    // After the server's grace period the next run deletes them; the
    // note's file and the link's chunk stay.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = laptop.collect_files(3_600_000, t0 + 2_000).await.unwrap();
    assert_eq!(
        (r.referenced, r.lost_chunks, r.abandoned),
        (1, 0, 0),
        "{r:?}"
    );
    assert_eq!(chunk_files(server.dir.path(), &ws.to_string()).1, 0);
    let shown = api
        .call(
            &Route::GetShareChunk {
                share: made.json::<hearth_shared::api::ShareInfo>().share_id,
                name: linked,
            },
            None,
            vec![],
        )
        .await;
    assert_eq!(shown.status, hyper::StatusCode::OK);
    let out = files.path().join("kept-out.png");
    let kept_id = laptop.attached_files()[0].1.id.clone();
    laptop.fetch(&kept_id, &out).await.unwrap();
    assert!(std::fs::read(&out).unwrap() == kept);
}
