//! `hearth migrate`: moves everything a single node keeps (its data
//! directory) into a cluster (PostgreSQL and an object store), or back.
//! The signing secret moves too, and sequence numbers, floors and
//! idempotency keys stay as they were, so devices go on syncing with the
//! tokens they have, without being paired again.
//!
//! Every part is checked after it is copied, as backups are: each index
//! table and each workspace log by a SHA-256 of its content read back from
//! the target, each chunk by its name (the SHA-256 of its bytes). What
//! compactions kept for undo does not move. The servers on both sides
//! must be stopped; a data directory is locked meanwhile, and a target
//! that holds any workspace is refused.

pub mod snapshot;
pub mod tables;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use sha2::Digest as _;

use crate::index::{INDEX_FILE, SqliteIndex};
use crate::storage::chunks::ChunkStore;
use crate::storage::cluster::Cluster;
use crate::storage::cluster::objects::{Address, Credentials, Objects};
use crate::storage::{LogDump, LogStore};

/// One side of a move.
pub enum Side {
    /// A single node's data directory.
    DataDir(PathBuf),
    /// A cluster's database and object store.
    Cluster {
        database: String,
        objects: String,
        key: Credentials,
    },
}

/// What was moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Moved {
    pub workspaces: usize,
    pub entries: usize,
    pub chunks: usize,
    pub index_rows: usize,
}

/// A side, opened.
struct Opened {
    store: Arc<dyn LogStore>,
    chunks: Arc<dyn ChunkStore>,
    index: Index,
    /// Held while the move runs.
    _lock: Option<crate::fsutil::DirLock>,
}

/// Where the index's rows are.
enum Index {
    Sqlite(PathBuf),
    Postgres(crate::pg::Pool),
}

async fn open(side: &Side, target: bool) -> Result<Opened> {
    match side {
        Side::DataDir(dir) => {
            if target {
                crate::fsutil::create_dir_private(dir)
                    .with_context(|| format!("cannot make {}", dir.display()))?;
                if dir.join(INDEX_FILE).exists() {
                    bail!(
                        "{} holds a token index already: move into an empty data directory",
                        dir.display()
                    );
                }
            } else if !dir.join(INDEX_FILE).exists() {
                bail!(
                    "{} is not a hearth data directory (no {INDEX_FILE})",
                    dir.display()
                );
            }
            let lock = crate::fsutil::lock_dir(dir)
                .with_context(|| format!("cannot lock {}", dir.display()))?
                .with_context(|| format!("a hearth is serving {}; stop it first", dir.display()))?;
            let path = dir.join(INDEX_FILE);
            // Makes the schema (or checks it is this build's).
            SqliteIndex::open(&path).with_context(|| format!("opening {}", path.display()))?;
            let workspaces = dir.join(crate::storage::disk::WORKSPACES_DIR);
            Ok(Opened {
                store: Arc::new(crate::storage::disk::DiskStore::new(dir)),
                chunks: Arc::new(crate::storage::disk::chunks::DiskChunkStore(Arc::new(
                    crate::storage::disk::chunks::DiskChunks::new(&workspaces, u64::MAX),
                ))),
                index: Index::Sqlite(path),
                _lock: Some(lock),
            })
        }
        Side::Cluster {
            database,
            objects,
            key,
        } => {
            let address = Address::parse(objects).map_err(anyhow::Error::msg)?;
            let objects = Objects::new(&address, key).map_err(anyhow::Error::msg)?;
            let pool = crate::pg::pool(database, 4).map_err(anyhow::Error::msg)?;
            let mut client = pool.get().await.context("cannot reach the database")?;
            crate::pg::schema::migrate(&mut client, crate::clock::unix_now()).await?;
            if target {
                let n: i64 = client
                    .query_one("SELECT COUNT(*) FROM workspaces", &[])
                    .await?
                    .get(0);
                if n > 0 {
                    bail!("the cluster holds {n} workspaces already: move into an empty one");
                }
            }
            drop(client);
            let cluster = Cluster {
                pool: pool.clone(),
                objects,
            };
            Ok(Opened {
                store: Arc::new(crate::storage::cluster::ClusterStore::new(
                    cluster.clone(),
                    0,
                )),
                chunks: Arc::new(crate::storage::cluster::chunks::ClusterChunks::new(
                    cluster, 0,
                )),
                index: Index::Postgres(pool),
                _lock: None,
            })
        }
    }
}

/// The signing secret of a side.
async fn read_secret(side: &Side, index: &Index) -> Result<Vec<u8>> {
    match (side, index) {
        (Side::DataDir(dir), _) => {
            let path = dir.join(crate::secret::SECRET_FILE);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        }
        (_, Index::Postgres(pool)) => {
            let row = pool
                .get()
                .await?
                .query_opt(
                    "SELECT value FROM secrets WHERE name = 'token-signing'",
                    &[],
                )
                .await?;
            row.map(|r| r.get(0))
                .context("the cluster has no signing secret yet (no node has started on it)")
        }
        _ => bail!("a cluster's index is in its database"),
    }
}

async fn write_secret(side: &Side, index: &Index, secret: Vec<u8>) -> Result<()> {
    match (side, index) {
        (Side::DataDir(dir), _) => {
            let kept = crate::secret::install(dir, secret.clone())?;
            if kept.bytes() != secret.as_slice() {
                bail!("{} has a signing secret of its own", dir.display());
            }
            Ok(())
        }
        (_, Index::Postgres(pool)) => {
            let cluster_secret = pool
                .get()
                .await?
                .execute(
                    "INSERT INTO secrets (name, value, created_at) VALUES ('token-signing', $1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    &[
                        &secret,
                        &crate::storage::cluster::to_db(crate::clock::unix_now()),
                    ],
                )
                .await;
            cluster_secret?;
            Ok(())
        }
        _ => bail!("a cluster's index is in its database"),
    }
}

/// Copies every index table, checking each by digest; returns the rows.
async fn copy_index(from: &Index, to: &Index) -> Result<usize> {
    let mut copied = 0;
    for table in tables::TABLES {
        let rows = match from {
            Index::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path)?;
                tables::read_sqlite(&conn, table)?
            }
            Index::Postgres(pool) => tables::read_pg(&pool.get().await?, table).await?,
        };
        let back = match to {
            Index::Sqlite(path) => {
                let mut conn = rusqlite::Connection::open(path)?;
                let tx = conn.transaction()?;
                tables::write_sqlite(&tx, table, &rows)?;
                tx.commit()?;
                tables::read_sqlite(&conn, table)?
            }
            Index::Postgres(pool) => {
                let mut client = pool.get().await?;
                let tx = client.transaction().await?;
                tables::write_pg(&tx, table, &rows).await?;
                tx.commit().await?;
                tables::read_pg(&client, table).await?
            }
        };
        if tables::digest(&back) != tables::digest(&rows) {
            bail!("the {} table read back differs from its source", table.name);
        }
        copied += rows.len();
    }
    Ok(copied)
}

/// Moves everything from `from` to `to`, checking each part; `progress`
/// hears about each workspace.
pub async fn run(from: &Side, to: &Side, progress: &dyn Fn(&str)) -> Result<Moved> {
    let source = open(from, false).await?;
    let target = open(to, true).await?;
    let secret = read_secret(from, &source.index).await?;
    write_secret(to, &target.index, secret).await?;
    let mut moved = Moved {
        index_rows: copy_index(&source.index, &target.index).await?,
        ..Moved::default()
    };
    let workspaces = match &source.index {
        Index::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path)?;
            tables::read_sqlite(&conn, &tables::TABLES[0])?
        }
        Index::Postgres(pool) => tables::read_pg(&pool.get().await?, &tables::TABLES[0]).await?,
    };
    for row in workspaces {
        let Some(tables::Value::Text(id)) = row.first() else {
            bail!("a workspace row without an id");
        };
        let ws: hearth_shared::id::WorkspaceId = id
            .parse()
            .map_err(|e| anyhow::anyhow!("workspace id {id:?}: {e}"))?;
        let log = source.store.open(&ws).await?;
        let dump = LogDump::of(log.as_ref()).await?;
        let (digest, entries) = (dump.digest(), dump.entries.len());
        target.store.load(&ws, dump).await?;
        let copied = LogDump::of(target.store.open(&ws).await?.as_ref()).await?;
        if copied.digest() != digest {
            bail!("workspace {ws}: its log read back differs from its source");
        }
        moved.entries += entries;
        let mut set_aside = Vec::new();
        for (name, aside) in source.chunks.list(&ws).await? {
            let data = source
                .chunks
                .get(&ws, &name)
                .await?
                .with_context(|| format!("workspace {ws}: chunk {name} vanished"))?;
            target
                .chunks
                .put(&ws, &name, data.into(), Box::new(|_, _| true))
                .await?;
            let back = target
                .chunks
                .get(&ws, &name)
                .await?
                .with_context(|| format!("workspace {ws}: chunk {name} was not kept"))?;
            let digest: [u8; 32] = sha2::Sha256::digest(&back).into();
            if &digest != name.digest() {
                bail!("workspace {ws}: chunk {name} read back differs from its name");
            }
            if let Some(at) = aside {
                set_aside.push((name, at));
            }
            moved.chunks += 1;
        }
        // Reading a set-aside chunk keeps it again: set it aside on both
        // sides, at its time, so the source is left as it was.
        for (name, at) in set_aside {
            target.chunks.set_aside(&ws, vec![name], at).await?;
            source.chunks.set_aside(&ws, vec![name], at).await?;
        }
        moved.workspaces += 1;
        progress(&format!("workspace {ws}: {entries} entries, checked"));
    }
    Ok(moved)
}
