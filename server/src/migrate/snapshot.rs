//! A consistent point-in-time copy of a running cluster, as a data
//! directory: what a cluster's backup is. Every row is read in one
//! repeatable-read transaction, so the copy is the database as it was at
//! one instant, across workspaces and tables; the objects those rows name
//! are immutable, and none is deleted until it has been let go of for an
//! hour (the garbage list's grace), so a copy taken in less than that
//! finds every object it names. The data directory is then backed up
//! (manifest and checksums) as a single node's is, and restored the same
//! way; `hearth migrate --to cluster` brings a restored one back into a
//! cluster.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use hearth_shared::id::WorkspaceId;

use super::tables;
use crate::index::{INDEX_FILE, SqliteIndex};
use crate::storage::chunks::ChunkStore as _;
use crate::storage::cluster::{Cluster, from_db};
use crate::storage::{KeyRow, LogDump, LogStore as _};

/// Copies the cluster into the empty data directory `dir`; returns what
/// was copied.
pub async fn export(cluster: &Cluster, dir: &Path) -> Result<super::Moved> {
    crate::fsutil::create_dir_private(dir)?;
    if dir.join(INDEX_FILE).exists() {
        anyhow::bail!("{} is not empty", dir.display());
    }
    let mut client = cluster
        .pool
        .get()
        .await
        .context("cannot reach the database")?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let mut moved = super::Moved::default();

    // The signing secret and the index.
    let secret: Vec<u8> = tx
        .query_opt(
            "SELECT value FROM secrets WHERE name = 'token-signing'",
            &[],
        )
        .await?
        .map(|r| r.get(0))
        .context("the cluster has no signing secret (no node has started on it)")?;
    crate::secret::install(dir, secret)?;
    let path = dir.join(INDEX_FILE);
    SqliteIndex::open(&path)?;
    let mut all_tables = Vec::new();
    for table in tables::TABLES {
        let rows = tables::read_pg(&tx, table).await?;
        moved.index_rows += rows.len();
        all_tables.push((table, rows));
    }
    {
        let mut conn = rusqlite::Connection::open(&path)?;
        let sqlite = conn.transaction()?;
        for (table, rows) in &all_tables {
            tables::write_sqlite(&sqlite, table, rows)?;
        }
        sqlite.commit()?;
    }

    // Every log, as it was.
    let store = crate::storage::disk::DiskStore::new(dir);
    let mut keys: HashMap<String, Vec<KeyRow>> = HashMap::new();
    for r in tx
        .query("SELECT workspace_id, key, seq, hash FROM entry_keys", &[])
        .await?
    {
        keys.entry(r.get(0))
            .or_default()
            .push(crate::storage::cluster::log::key_row(&r, 1));
    }
    for log in tx
        .query("SELECT workspace_id, head, floor, snapshot FROM logs", &[])
        .await?
    {
        let id: String = log.get(0);
        let ws: WorkspaceId = id
            .parse()
            .map_err(|e| anyhow::anyhow!("workspace id {id:?}: {e}"))?;
        let snapshot = match log.get::<_, Option<String>>(3) {
            Some(name) => Some(cluster.objects.get(&name).await?),
            None => None,
        };
        let mut entries = Vec::new();
        for e in tx
            .query(
                "SELECT seq, payload, object FROM entries
                 WHERE workspace_id = $1 AND dropped_by IS NULL ORDER BY seq",
                &[&id],
            )
            .await?
        {
            let payload = match (
                e.get::<_, Option<Vec<u8>>>(1),
                e.get::<_, Option<String>>(2),
            ) {
                (Some(p), _) => Bytes::from(p),
                (None, Some(name)) => cluster.objects.get(&name).await?,
                (None, None) => anyhow::bail!("workspace {id}: an entry with no payload"),
            };
            entries.push((from_db(e.get(0)), payload));
        }
        moved.entries += entries.len();
        let mut ws_keys = keys.remove(&id).unwrap_or_default();
        ws_keys.sort();
        store
            .load(
                &ws,
                LogDump {
                    head: from_db(log.get(1)),
                    floor: from_db(log.get(2)),
                    snapshot,
                    entries,
                    keys: ws_keys,
                },
            )
            .await?;
        moved.workspaces += 1;
    }

    // Every chunk, with when it was set aside.
    let chunks = crate::storage::disk::chunks::DiskChunkStore(std::sync::Arc::new(
        crate::storage::disk::chunks::DiskChunks::new(
            &dir.join(crate::storage::disk::WORKSPACES_DIR),
            u64::MAX,
        ),
    ));
    for c in tx
        .query(
            "SELECT workspace_id, name, object, set_aside_at FROM chunks",
            &[],
        )
        .await?
    {
        let (id, name, object): (String, String, String) = (c.get(0), c.get(1), c.get(2));
        let ws: WorkspaceId = id
            .parse()
            .map_err(|e| anyhow::anyhow!("workspace id {id:?}: {e}"))?;
        let name: hearth_shared::id::ChunkName = name
            .parse()
            .map_err(|e| anyhow::anyhow!("chunk name {name:?}: {e}"))?;
        let data = cluster.objects.get(&object).await?;
        let (put, _) = chunks
            .put(&ws, &name, data.into(), Box::new(|_, _| true))
            .await?;
        if put == crate::storage::chunks::Put::Mismatch {
            anyhow::bail!("workspace {id}: chunk {name}'s object does not hash to its name");
        }
        if let Some(ms) = c.get::<_, Option<i64>>(3) {
            let at = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            chunks.set_aside(&ws, vec![name], at).await?;
        }
        moved.chunks += 1;
    }
    tx.commit().await?;
    Ok(moved)
}
