//! [`App`]: the state every request handler shares, opened once at start,
//! and the background chores that run beside the server.

use std::sync::Arc;
use std::time::Duration;

use crate::assets::Assets;
use crate::auth::{Auth, Keys, LastSeen};
use crate::config::Config;
use crate::fsutil::create_dir_private;
use crate::http::BodyLimits;
use crate::index::{Cached, Index};
use crate::ratelimit::RateLimit;
use crate::storage::chunks::ChunkStore;
use crate::workspaces::Workspaces;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("another hearth is already serving {0}")]
    Locked(String),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot open the token index: {0}")]
    Index(#[from] crate::index::sqlite::SqlError),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Other(String),
}

/// Expired invites are deleted this long after they expire.
const INVITE_RETENTION_SECS: u64 = 7 * 24 * 60 * 60;

pub use crate::clock::unix_now;

/// Backups on the data directory's own disk die with it, and each one is a
/// full copy: say so at start.
fn warn_if_backups_share_the_disk(
    data_dir: &std::path::Path,
    backup_dir: Option<&std::path::Path>,
) {
    use std::os::unix::fs::MetadataExt as _;
    let Some(backup_dir) = backup_dir else {
        return;
    };
    // The backup directory may not exist yet: compare with its nearest
    // existing ancestor.
    let existing = backup_dir.ancestors().find(|p| p.exists());
    let (Ok(data), Some(Ok(backups))) =
        (std::fs::metadata(data_dir), existing.map(std::fs::metadata))
    else {
        return;
    };
    if data.dev() == backups.dev() {
        tracing::warn!(
            backup_dir = %backup_dir.display(),
            "scheduled backups go to the same disk as the data: a failed disk loses both, and each backup is a full copy; set --backup-dir to another disk"
        );
    }
}

/// A cluster's backup: a point-in-time copy exported as a data directory
/// inside `out` (hidden), backed up from there, then removed.
async fn backup_cluster(
    cluster: &crate::storage::cluster::Cluster,
    out: std::path::PathBuf,
    keep: usize,
) -> Result<std::path::PathBuf, crate::storage::disk::backup::BackupError> {
    use crate::storage::disk::backup::{BackupError, backup_keeping};
    let failed = |e: &dyn std::fmt::Display| BackupError::Manifest(format!("cluster copy: {e}"));
    let mut random = [0u8; 8];
    crate::fsutil::random_bytes(&mut random).map_err(|e| failed(&e))?;
    let export = out.join(format!(".cluster-export-{}", crate::secret::hex(&random)));
    let made = match crate::migrate::snapshot::export(cluster, &export).await {
        Ok(_) => {
            let (export, out) = (export.clone(), out.clone());
            tokio::task::spawn_blocking(move || backup_keeping(&export, &out, Some(keep)))
                .await
                .map_err(|e| failed(&e))
                .and_then(|r| r)
        }
        Err(e) => Err(failed(&e)),
    };
    let _ = std::fs::remove_dir_all(&export);
    made
}

/// Shared server state.
pub struct App {
    /// The configuration the server was started with.
    pub config: Config,
    /// The PWA's files (embedded or from `--dist`).
    pub assets: Assets,
    /// The build id of those files, reported by `/v1/health`.
    pub build_id: String,
    /// The token index, with its cache of token statuses in front.
    pub index: Arc<dyn Index>,
    /// Token checking: JWT keys made from the signing secret, the index,
    /// the cache of its answers, the last-seen throttle.
    pub auth: Auth,
    /// Per-IP limits on register, invite and redeem.
    pub rate_limit: RateLimit,
    /// Open workspaces (logs, writers, head announcements).
    pub workspaces: Workspaces,
    /// The chunks of attached files.
    pub chunks: Arc<dyn ChunkStore>,
    /// Where scheduled backups are copied (`--backup-to`), if anywhere.
    pub offsite: Option<crate::storage::offsite::Offsite>,
    /// The cluster this node belongs to, in cluster mode: the chores that
    /// must run once across it claim their turn there.
    pub cluster: Option<crate::storage::cluster::Cluster>,
    /// Open event streams per client address, token and workspace.
    pub streams: crate::streams::Streams,
    /// Present when serving HTTPS; made at start so a bad certificate stops
    /// the server before it announces itself.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The reverse proxies whose forwarding headers are believed.
    pub trusted_proxies: crate::proxy::TrustedProxies,
    /// What the server counts, for `--metrics-listen`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Open connections, per address and in all.
    pub connections: crate::conn_limit::ConnLimit,
    /// The data directory's lock, released by [`App::close`].
    lock: std::sync::Mutex<Option<crate::fsutil::DirLock>>,
    /// Flips to `true` when the server begins to shut down; event streams
    /// and background chores watch it and end.
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Opens the data directory and everything in it (in cluster mode,
    /// the database and object store too).
    pub async fn open(config: Config) -> Result<Arc<App>, StartError> {
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let data_dir = config.data_dir.clone();
        let dist = config.dist.clone();
        let tls_files = config.tls_cert.clone().zip(config.tls_key.clone());
        // With off-site copies, a failed disk does not lose every backup.
        let backup_dir = (config.backup_interval_secs > 0
            && config.database.is_none()
            && config.backup_to.is_none())
        .then(|| config.backup_dir());
        let (assets, build_id, tls, lock) = tokio::task::spawn_blocking(move || {
            let tls = match tls_files {
                Some((cert, key)) => Some(crate::tls::acceptor(&cert, &key)?),
                None => None,
            };
            let io = |source| StartError::DataDir {
                path: data_dir.display().to_string(),
                source,
            };
            create_dir_private(&data_dir).map_err(io)?;
            // Two servers on one data directory would corrupt each other's logs.
            let lock = crate::fsutil::lock_dir(&data_dir)
                .map_err(|source| StartError::DataDir { path: data_dir.display().to_string(), source })?
                .ok_or_else(|| StartError::Locked(data_dir.display().to_string()))?;
            // Owner-only, whatever the umask and whoever made the directory.
            for path in [data_dir.clone(), data_dir.join(crate::fsutil::LOCK_FILE)] {
                if path.exists() {
                    crate::fsutil::make_private(&path).map_err(io)?;
                }
            }
            warn_if_backups_share_the_disk(&data_dir, backup_dir.as_deref());
            let assets = Assets::new(dist.as_deref());
            let build_id = assets.build_id();
            if !assets.has_app() {
                tracing::warn!(app = %assets.describe(), "no app to serve (no index.html); `cargo xtask run` builds it");
            }
            Ok::<_, StartError>((assets, build_id, tls, lock))
        })
        .await
        .map_err(|e| StartError::Other(e.to_string()))??;
        let backends = match (&config.database, &config.objects) {
            (Some(database), Some(objects)) => {
                crate::backends::cluster(&config, database.url(), objects, shutdown.subscribe())
                    .await?
            }
            _ => {
                let disk_config = config.clone();
                tokio::task::spawn_blocking(move || crate::backends::disk(&disk_config))
                    .await
                    .map_err(|e| StartError::Other(e.to_string()))??
            }
        };
        config
            .validate(backends.store.max_entry_len())
            .map_err(StartError::Config)?;
        // The operator's quotas of single workspaces (`hearth admin quota`).
        let workspaces = backends
            .index
            .list_workspaces()
            .await
            .map_err(|e| StartError::Other(format!("cannot read the token index: {e}")))?;
        backends.room.quotas().replace(
            workspaces
                .into_iter()
                .filter_map(|w| Some((w.id, w.quota?))),
        );
        let trusted_proxies = crate::proxy::TrustedProxies::parse(&config.trusted_proxy)
            .map_err(StartError::Config)?;
        let offsite = match &config.backup_to {
            Some(to) => Some(
                crate::storage::offsite::Offsite::new(to, config.objects_key_file.as_deref())
                    .map_err(StartError::Config)?,
            ),
            None => None,
        };
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let connections = crate::conn_limit::ConnLimit::new(crate::conn_limit::Limits {
            max: config.max_connections.max(1),
            per_ip: config.max_connections_per_ip.max(1),
            reserve: config.connection_reserve,
        });
        let heads = backends.heads;
        let index: Arc<dyn Index> = if backends.cluster.is_some() {
            // Every node asks the database for every token, so that a token
            // revoked through one node is refused by all at once, not when
            // the news arrives (one indexed read per request).
            backends.index
        } else {
            let index = Cached::new(backends.index).announcing({
                let heads = heads.clone();
                Arc::new(move |invalidation| heads.invalidate(invalidation))
            });
            heads.on_invalidation({
                let cache = index.cache();
                Arc::new(move |invalidation| cache.apply(invalidation))
            });
            Arc::new(index)
        };
        Ok(Arc::new(App {
            auth: Auth {
                keys: Keys::new(&backends.secret),
                index: index.clone(),
                last_seen: LastSeen::default(),
            },
            rate_limit: RateLimit::new(config.rate_limit_per_minute, config.rate_limit_burst),
            workspaces: Workspaces::new(
                backends.store,
                heads,
                backends.room,
                config.max_open_workspaces,
            )
            .with_metrics(metrics.clone()),
            chunks: backends.chunks,
            offsite,
            cluster: backends.cluster,
            streams: crate::streams::Streams::default(),
            config,
            assets,
            build_id,
            index,
            tls,
            trusted_proxies,
            metrics,
            connections,
            lock: std::sync::Mutex::new(Some(lock)),
            shutdown,
        }))
    }

    /// The text of a metrics scrape. Blocking (a free-space check).
    pub fn metrics_text(&self) -> String {
        let room = self.workspaces.room();
        self.metrics.render(&crate::metrics::Now {
            stored_bytes: room.total(),
            free_bytes: room.free_bytes(),
            workspaces_open: self.workspaces.open_count(),
            connections_open: self.connections.open(),
            event_streams_open: self.streams.open_count(),
            unix_now: unix_now(),
        })
    }

    /// The limits on request bodies.
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max_bytes: self.config.max_body_bytes,
            timeout: self.config.body_timeout(),
        }
    }

    /// Where uploads larger than a few hundred KiB wait, unnamed, while they
    /// arrive (`<data dir>/spool`, on the same disk as the logs).
    pub fn spool_dir(&self) -> std::path::PathBuf {
        self.config.data_dir.join("spool")
    }

    /// Starts the background chores; they end at shutdown.
    pub fn spawn_background(self: &Arc<Self>) {
        let app = self.clone();
        let mut stop = self.shutdown_signal();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            let mut first = true;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let now = unix_now();
                        app.rate_limit.forget_idle();
                        app.workspaces.close_idle(now);
                        app.workspaces.heads().forget_unwatched();
                        // In a cluster, one node a minute does what follows.
                        if !app.my_turn("minutely chores", now, 55).await {
                            continue;
                        }
                        app.sweep_chunks(std::mem::take(&mut first)).await;
                        let before = now.saturating_sub(INVITE_RETENTION_SECS);
                        let purged = app.index.purge_invites(now, before).await;
                        if let Err(err) = purged {
                            tracing::warn!(error = %err, "cannot purge old invites");
                        }
                        crate::handlers::shares::purge_expired(&app, now).await;
                        if let Some(cluster) = &app.cluster
                            && let Err(err) = cluster.sweep_garbage(now, 1000).await
                        {
                            tracing::warn!(error = %err, "cannot delete unneeded objects");
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        });
        if self.config.backup_interval_secs > 0 {
            let app = self.clone();
            let mut stop = self.shutdown_signal();
            let period = Duration::from_secs(self.config.backup_interval_secs);
            tokio::spawn(async move {
                let mut tick =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                // A slow upload delays the next backup; no burst catches up.
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        // In a cluster, one node takes each backup.
                        _ = tick.tick() => if app.my_turn("backup", unix_now(), period.as_secs().saturating_sub(5)).await { match app.backup_now().await {
                            Ok(path) => {
                                app.metrics.backup(true, unix_now());
                                tracing::info!(path = %path.display(), "backup taken");
                                app.send_offsite(&path).await;
                            }
                            Err(err) => {
                                app.metrics.backup(false, unix_now());
                                tracing::error!(error = %err, "scheduled backup failed")
                            }
                        }},
                        _ = stop.changed() => return,
                    }
                }
            });
        }
    }

    /// Whether this node runs chore `name` now: always on a single node;
    /// in a cluster, if no node ran it in the last `every_secs`.
    async fn my_turn(&self, name: &str, now: u64, every_secs: u64) -> bool {
        let Some(cluster) = &self.cluster else {
            return true;
        };
        match cluster.claim_job(name, now, every_secs).await {
            Ok(mine) => mine,
            Err(err) => {
                tracing::warn!(error = %err, chore = name, "cannot claim a chore; skipping it this time");
                false
            }
        }
    }

    /// Deletes the chunks set aside for longer than the grace period, in
    /// the workspaces known to have some (`all`: every workspace with
    /// set-aside chunks on disk, the first time after start-up).
    pub async fn sweep_chunks(self: &Arc<Self>, all: bool) {
        let now = std::time::SystemTime::now();
        for ws in self.chunks.pending(all).await {
            match self.chunks.sweep(&ws, now).await {
                Ok(0) => {}
                Ok(freed) => {
                    self.workspaces.room().removed(freed);
                    tracing::info!(workspace = %ws, freed, "unreferenced chunks deleted");
                }
                Err(err) => {
                    tracing::warn!(workspace = %ws, error = %err, "cannot delete unreferenced chunks")
                }
            }
        }
    }

    /// Takes a backup now into the configured backup directory and prunes
    /// old ones. Blocking work runs off the async threads.
    pub async fn backup_now(
        &self,
    ) -> Result<std::path::PathBuf, crate::storage::disk::backup::BackupError> {
        let out = self.config.backup_dir();
        let keep = self.config.backup_keep;
        if let Some(cluster) = &self.cluster {
            return backup_cluster(cluster, out, keep).await;
        }
        let data_dir = self.config.data_dir.clone();
        tokio::task::spawn_blocking(move || {
            crate::storage::disk::backup::backup_keeping(&data_dir, &out, Some(keep))
        })
        .await
        .map_err(|e| {
            crate::storage::disk::backup::BackupError::Manifest(format!("backup task failed: {e}"))
        })?
    }

    /// Copies a backup just taken to `--backup-to` (if set), checks the
    /// copy and prunes the store there. A failure is logged and counted,
    /// and the server goes on.
    async fn send_offsite(&self, backup: &std::path::Path) {
        let Some(offsite) = &self.offsite else {
            return;
        };
        match offsite.send(backup, self.config.backup_keep).await {
            Ok(at) => {
                self.metrics.offsite_backup(true, unix_now());
                tracing::info!(%at, "backup copied off-site and verified");
            }
            Err(err) => {
                self.metrics.offsite_backup(false, unix_now());
                tracing::error!(to = offsite.at(), error = %err, "off-site backup failed");
            }
        }
    }

    /// Makes a fresh one-time setup code (see [`crate::setup_code`]).
    pub async fn issue_setup_code(&self) -> Result<String, crate::index::IndexError> {
        let now = unix_now();
        crate::setup_code::issue(self.index.as_ref(), now).await
    }

    /// Tells long-lived responses (event streams) and chores to end.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver that sees `true` once shutdown has begun.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Finishes pending writes and closes the stores.
    pub async fn close(&self) {
        // The data directory's lock is released only once no writer touches
        // the files (another process may take it at once).
        let closed =
            tokio::time::timeout(Duration::from_secs(10), self.workspaces.close_all()).await;
        if closed.is_err() {
            tracing::warn!("some workspace writers did not finish in time");
        }
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }
}
