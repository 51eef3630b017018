//! The tests of off-site backups, against the tests' object store
//! (`HEARTH_TEST_OBJECTS`), each on a fresh prefix.

use super::*;
use crate::storage::cluster::objects::testing;
use crate::storage::disk::{DiskLog, WORKSPACES_DIR};
use hearth_shared::id::{ChunkName, WorkspaceId};

const WS: &str = "0123456789abcdef0123456789abcdef";

/// A data directory with a workspace (an entry and a chunk), and a
/// backup of it.
fn backed_up() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    crate::secret::load_or_create(data.path()).unwrap();
    crate::index::SqliteIndex::open(&data.path().join(crate::index::INDEX_FILE)).unwrap();
    let log = DiskLog::open(&data.path().join(WORKSPACES_DIR).join(WS)).unwrap();
    let entry = crate::storage::NewEntry {
        key: Some("k1".into()),
        hash: [1; 32],
        payload: Bytes::from_static(b"an entry").into(),
    };
    log.append(&[entry], u64::MAX).unwrap();
    drop(log);
    let chunks =
        crate::storage::disk::chunks::DiskChunks::new(&data.path().join(WORKSPACES_DIR), 60);
    let body = b"a chunk of a file";
    let name = ChunkName::from_digest(Sha256::digest(body).into());
    let ws = WorkspaceId::parse(WS).unwrap();
    chunks.put(&ws, &name, body, |_, _| true).unwrap();
    let made = backup::backup(data.path(), out.path()).unwrap();
    (data, out, made)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_backup_travels_to_the_store_and_back() {
    let (data, out, made) = backed_up();
    let objects = testing::fresh();
    let address = Address::parse("s3://b/p?endpoint=http://127.0.0.1:1&region=r").unwrap();
    let offsite = Offsite {
        objects: objects.clone(),
        address,
        at: "test".into(),
    };
    let name = made.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(
        offsite.send(&made, 2).await.unwrap(),
        format!("s3://b/p/{name}?region=r&endpoint=http://127.0.0.1:1")
    );
    assert_eq!(list(&objects).await.unwrap(), vec![name.clone()]);
    let local = backup::verify(&made).unwrap();
    let remote = verify(&objects.within(&name), "test").await.unwrap();
    assert_eq!(remote, local);
    assert_eq!(local.files.len(), 4, "index, secret, log, chunk");

    let target = tempfile::tempdir().unwrap();
    let into = target.path().join("restored");
    let restored = restore(&objects.within(&name), "test", &into)
        .await
        .unwrap();
    assert_eq!(restored, local);
    for file in &local.files {
        assert_eq!(
            std::fs::read(into.join(&file.path)).unwrap(),
            std::fs::read(made.join(&file.path)).unwrap(),
            "{}",
            file.path
        );
    }
    let log = format!("{WORKSPACES_DIR}/{WS}/{}", crate::storage::disk::LOG_FILE);
    for rel in [crate::secret::SECRET_FILE, log.as_str()] {
        assert_eq!(
            std::fs::read(into.join(rel)).unwrap(),
            std::fs::read(data.path().join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert_eq!(entries(target.path()), ["restored"], "no leftovers");
    let full = restore(&objects.within(&name), "test", &into).await;
    assert!(
        matches!(full, Err(OffsiteError::Backup(BackupError::NotEmpty(_)))),
        "{full:?}"
    );

    // The store's prefix (not a backup) and a name that is none.
    let err = restore(&objects, "the prefix", &target.path().join("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, OffsiteError::NoBackup { .. }));
    let said = err.to_string();
    assert!(
        said.contains("the prefix") && said.contains(&name),
        "{said}"
    );
    assert_eq!(entries(target.path()), ["restored"]);
    let none = verify(&objects.within("hearth-backup-000000000000-none"), "n").await;
    assert!(matches!(none, Err(OffsiteError::NoBackup { .. })));

    // A second backup: only the newest is kept with keep 1.
    let second = backup::backup(data.path(), out.path()).unwrap();
    offsite.send(&second, 1).await.unwrap();
    assert_eq!(list(&objects).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_corrupted_copy_fails_verification_naming_the_file() {
    let (_data, _out, made) = backed_up();
    let objects = testing::fresh();
    let name = upload(&objects, &made).await.unwrap();
    let copy = objects.within(&name);
    let log = format!("{WORKSPACES_DIR}/{WS}/{}", crate::storage::disk::LOG_FILE);
    copy.put(&log, Bytes::from_static(b"other bytes"))
        .await
        .unwrap();
    let err = verify(&copy, "test").await.unwrap_err();
    assert!(
        matches!(&err, OffsiteError::Mismatch { path, .. } if *path == log),
        "{err:?}"
    );
    assert!(err.to_string().contains(&log), "{err}");

    // A restore from it fails and leaves nothing behind.
    let target = tempfile::tempdir().unwrap();
    let failed = restore(&copy, "test", &target.path().join("restored")).await;
    assert!(matches!(failed, Err(OffsiteError::Mismatch { .. })));
    assert!(entries(target.path()).is_empty());

    // A missing file is named too.
    copy.put(&log, Bytes::from(std::fs::read(made.join(&log)).unwrap()))
        .await
        .unwrap();
    verify(&copy, "test").await.unwrap();
    let index = crate::index::INDEX_FILE;
    copy.delete(index).await.unwrap();
    let err = verify(&copy, "test").await.unwrap_err().to_string();
    assert!(err.contains(index) && err.contains("missing"), "{err}");
}

#[tokio::test]
async fn the_store_keeps_the_newest_complete_backups() {
    let objects = testing::fresh();
    let b = |n: u32| format!("{BACKUP_PREFIX}{n:012}-abcd");
    let mut puts = vec![
        format!("{}/{MANIFEST_FILE}", b(1)),
        format!("{}/index", b(1)),
        format!("{}/index", b(2)), // an upload that failed
        format!("{}/{MANIFEST_FILE}", b(3)),
        format!("{}/workspaces/x/log", b(3)),
        format!("{}/{MANIFEST_FILE}", b(4)),
        format!("{}/index", b(5)), // an upload under way
        "elsewhere/thing".to_owned(),
    ];
    for name in &puts {
        objects.put(name, Bytes::from_static(b"x")).await.unwrap();
    }
    assert_eq!(prune(&objects, 2).await.unwrap(), 2);
    assert_eq!(list(&objects).await.unwrap(), [b(3), b(4)]);
    let mut left = objects.list("").await.unwrap();
    left.sort();
    puts.drain(..3);
    puts.sort();
    assert_eq!(left, puts);
    assert_eq!(prune(&objects, 0).await.unwrap(), 1, "keeps at least one");
    assert_eq!(list(&objects).await.unwrap(), [b(4)]);
    assert_eq!(
        objects.list(&b(5)).await.unwrap(),
        [format!("{}/index", b(5))]
    );
}

#[test]
fn places_parse_from_the_command_line() {
    use crate::config::{Cli, Command};
    use clap::Parser as _;
    assert!(matches!("b".parse(), Ok(BackupPlace::Local(_))));
    assert!("s3://b?colour=red".parse::<BackupPlace>().is_err());
    let cli = Cli::try_parse_from(["hearth", "restore", "s3://b/p/n", "--data-dir", "d"]);
    let Some(Command::Restore(args)) = cli.unwrap().command else {
        panic!("not a restore")
    };
    assert!(matches!(&args.path, BackupPlace::Store(a) if a.prefix == "p/n"));
    assert_eq!(args.path.to_string(), "s3://b/p/n");
    let full = Address::parse("s3://b/p?endpoint=http://a:1,http://b:2&region=r").unwrap();
    let again = Address::parse(&address_of(&full, "n")).unwrap();
    assert_eq!((again.prefix.as_str(), again.endpoints.len()), ("p/n", 2));
    let cli = Cli::try_parse_from(["hearth", "backup", "--out", "o", "--to", "s3://b/p"]);
    assert!(matches!(cli.unwrap().command, Some(Command::Backup(a)) if a.to.is_some()));
    let cli = Cli::try_parse_from(["hearth", "verify-backup", "s3://b/p/n"]);
    assert!(matches!(
        cli.unwrap().command,
        Some(Command::VerifyBackup(_))
    ));
}
