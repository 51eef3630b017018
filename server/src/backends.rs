//! The backends, assembled here and nowhere else: the single node's (a
//! data directory: SQLite, log files, chunk files) or a cluster node's
//! (PostgreSQL and an S3-compatible object store, shared with every other
//! node), chosen by `--database` and `--objects`. Everything above sees
//! only the storage traits.

use std::sync::Arc;

use crate::app::StartError;
use crate::config::Config;
use crate::heads::{Heads, LocalHeads};
use crate::index::{INDEX_FILE, Index, SqliteIndex};
use crate::storage::LogStore;
use crate::storage::chunks::ChunkStore;
use crate::storage::cluster::Cluster;
use crate::storage::cluster::objects::{Address, Credentials, Objects};
use crate::storage::cluster::room::ClusterRoom;
use crate::storage::disk::DiskStore;
use crate::storage::disk::chunks::{DiskChunkStore, DiskChunks};
use crate::storage::disk::room::DiskRoom;
use crate::storage::room::Room;

/// What the server stores with.
pub struct Backends {
    pub store: Arc<dyn LogStore>,
    /// The token index, without its cache.
    pub index: Arc<dyn Index>,
    pub room: Arc<dyn Room>,
    pub heads: Arc<dyn Heads>,
    pub chunks: Arc<dyn ChunkStore>,
    /// The token signing secret.
    pub secret: Vec<u8>,
    /// The cluster, in cluster mode: for the chores that run once across
    /// it.
    pub cluster: Option<Cluster>,
}

/// The single node's backends on the data directory (made and locked by
/// the caller). Blocking.
pub fn disk(config: &Config) -> Result<Backends, StartError> {
    let data_dir = &config.data_dir;
    let io = |source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    let secret = crate::secret::load_or_create(data_dir).map_err(io)?;
    let index = SqliteIndex::open(&data_dir.join(INDEX_FILE))?;
    for path in [
        data_dir.join(INDEX_FILE),
        data_dir.join(format!("{INDEX_FILE}-wal")),
        data_dir.join(format!("{INDEX_FILE}-shm")),
    ] {
        if path.exists() {
            crate::fsutil::make_private(&path).map_err(io)?;
        }
    }
    let workspaces_dir = data_dir.join(crate::storage::disk::WORKSPACES_DIR);
    let stored = crate::storage::disk::stored_bytes(data_dir)
        .and_then(|logs| {
            let chunks = crate::storage::disk::chunks::stored_chunk_bytes(&workspaces_dir)?;
            Ok(logs.saturating_add(chunks))
        })
        .map_err(io)?;
    Ok(Backends {
        store: Arc::new(DiskStore::new(data_dir).with_undo_window(config.compaction_undo_secs)),
        index: Arc::new(index),
        room: Arc::new(DiskRoom::new(
            data_dir.clone(),
            config.workspace_quota_bytes,
            config.min_free_bytes,
            config.max_total_bytes.unwrap_or(u64::MAX),
            stored,
        )),
        heads: Arc::new(LocalHeads::default()),
        chunks: Arc::new(DiskChunkStore(Arc::new(DiskChunks::new(
            &workspaces_dir,
            config.chunk_grace_secs,
        )))),
        secret: secret.bytes().to_vec(),
        cluster: None,
    })
}

/// A cluster node's backends: migrates the database (once across nodes
/// starting together), then shares the signing secret kept in it.
pub async fn cluster(
    config: &Config,
    database: &str,
    objects: &str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Backends, StartError> {
    let address = Address::parse(objects).map_err(StartError::Config)?;
    let key = match &config.objects_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                StartError::Config(format!(
                    "cannot read the object store key file {}: {e}",
                    path.display()
                ))
            })?;
            Credentials::from_file(&text)
        }
        None => Credentials::from_env(),
    }
    .map_err(StartError::Config)?;
    let objects = Objects::new(&address, &key).map_err(StartError::Config)?;
    let pool =
        crate::pg::pool(database, config.database_connections).map_err(StartError::Config)?;
    let unreachable =
        |e: &dyn std::fmt::Display| StartError::Config(format!("cannot reach the database: {e}"));
    let mut client = pool.get().await.map_err(|e| unreachable(&e))?;
    crate::pg::schema::migrate(&mut client, crate::clock::unix_now())
        .await
        .map_err(|e| StartError::Config(e.to_string()))?;
    drop(client);
    let cluster = Cluster {
        pool: pool.clone(),
        objects,
    };
    let mut fresh = vec![0u8; crate::secret::SECRET_LEN];
    crate::fsutil::random_bytes(&mut fresh)
        .map_err(|e| StartError::Other(format!("no randomness for the signing secret: {e}")))?;
    let secret = cluster
        .shared_secret(fresh, crate::clock::unix_now())
        .await
        .map_err(|e| unreachable(&e))?;
    let stored = ClusterRoom::stored(&cluster)
        .await
        .map_err(|e| unreachable(&e))?;
    let room = Arc::new(ClusterRoom::new(
        config.workspace_quota_bytes,
        config.max_total_bytes.unwrap_or(u64::MAX),
        stored,
    ));
    // What the other nodes stored, counted in once a minute.
    tokio::spawn({
        let (room, cluster, mut stop) = (room.clone(), cluster.clone(), stop.clone());
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = room.refresh(&cluster).await {
                            tracing::warn!(error = %e, "cannot read the cluster's stored bytes");
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        }
    });
    Ok(Backends {
        store: Arc::new(crate::storage::cluster::ClusterStore::new(
            cluster.clone(),
            config.compaction_undo_secs,
        )),
        index: Arc::new(crate::index::PgIndex::new(pool.clone())),
        room,
        heads: Arc::new(crate::storage::cluster::announcer::PgHeads::start(
            database.to_owned(),
            pool,
            stop,
        )),
        chunks: Arc::new(crate::storage::cluster::chunks::ClusterChunks::new(
            cluster.clone(),
            config.chunk_grace_secs,
        )),
        secret,
        cluster: Some(cluster),
    })
}
