//! Command line and configuration: one [`Config`] for `hearth serve`, and the
//! operational subcommands (`backup`, `verify-backup`, `restore`).
//!
//! Every flag can also be set by a `HEARTH_*` environment variable, and every
//! setting has a default, so `hearth serve` alone runs a working server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Hearth's home server: a durable mailbox of workspace blobs, and the PWA.
#[derive(Debug, Parser)]
#[command(
    name = "hearth",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings of `serve`, for `hearth` run without a subcommand.
    #[command(flatten)]
    pub serve: Config,

    /// How logs (on stderr) are formatted.
    #[arg(long, global = true, env = "HEARTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, at start
pub enum Command {
    /// Run the server (the default).
    Serve(Config),
    /// Take a backup of a data directory now.
    Backup(BackupArgs),
    /// Check a backup's manifest and checksums.
    VerifyBackup(VerifyArgs),
    /// Restore a backup into an empty data directory.
    Restore(RestoreArgs),
    /// Move a single node's data directory into a cluster (PostgreSQL and
    /// an object store), or a cluster into a data directory, checking every
    /// part; devices keep their tokens. Stop the servers on both sides.
    Migrate(MigrateArgs),
    /// Print a fresh one-time setup code (it registers one workspace).
    SetupCode(DataDirArgs),
    /// Check a data directory: every log and snapshot, quarantined damage,
    /// the token index. Exits non-zero if anything needs attention.
    Doctor(DataDirArgs),
    /// The operator's commands on a running server, through the admin
    /// socket in its data directory: list workspaces, revoke a token,
    /// delete a workspace.
    Admin(AdminArgs),
    /// Undo the latest compaction of a workspace (the server must be
    /// stopped; a running server does it through its owner-only route).
    RestoreCompaction(RestoreCompactionArgs),
}

/// Who may register workspaces (`--registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegistrationArg {
    /// With a one-time setup code (printed at start; `hearth setup-code`).
    Code,
    /// Anyone who can reach the server (rate limits and quotas apply).
    Open,
    /// Nobody.
    Closed,
}

impl RegistrationArg {
    pub fn mode(self) -> hearth_shared::api::Registration {
        use hearth_shared::api::Registration;
        match self {
            RegistrationArg::Code => Registration::Code,
            RegistrationArg::Open => Registration::Open,
            RegistrationArg::Closed => Registration::Closed,
        }
    }
}

pub use crate::pg::DatabaseUrl;

/// Everything `hearth serve` needs to know. Passed around whole.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Directory of the token index, the signing secret and the blobs.
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./hearth-data")]
    pub data_dir: PathBuf,

    /// Cluster mode: the PostgreSQL database all nodes share
    /// (`postgres://user@host:port/db`). Give it by `HEARTH_DATABASE` when
    /// it holds a password, so that the password stays off the command
    /// line. Needs `--objects`.
    #[arg(
        long,
        env = "HEARTH_DATABASE",
        requires = "objects",
        hide_env_values = true
    )]
    pub database: Option<DatabaseUrl>,

    /// Cluster mode: the S3-compatible object store all nodes share,
    /// `s3://bucket/prefix?endpoint=URL[,URL…]&region=NAME`; its key is in
    /// `HEARTH_OBJECTS_KEY_ID` and `HEARTH_OBJECTS_SECRET`, or in
    /// `--objects-key-file`. Needs `--database`.
    #[arg(long, env = "HEARTH_OBJECTS", requires = "database")]
    pub objects: Option<String>,

    /// A file holding the object store's key id and secret, one per line.
    #[arg(long, env = "HEARTH_OBJECTS_KEY_FILE")]
    pub objects_key_file: Option<PathBuf>,

    /// Cluster mode: connections this node keeps to the database.
    #[arg(long, env = "HEARTH_DATABASE_CONNECTIONS", default_value_t = 16)]
    pub database_connections: usize,

    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "HEARTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve the PWA from this directory instead of the files built into the binary.
    #[arg(long, env = "HEARTH_DIST")]
    pub dist: Option<PathBuf>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "HEARTH_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Soft limit on the bytes of one pull answer (at least one frame is
    /// always sent); clients pull again until they reach the head.
    #[arg(long, env = "HEARTH_MAX_PULL_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_pull_bytes: u64,

    /// Storage quota of one workspace (log, snapshot and attached files' chunks), in bytes.
    #[arg(long, env = "HEARTH_WORKSPACE_QUOTA_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub workspace_quota_bytes: u64,

    /// Seconds a client has to send a whole request body (and its headers).
    #[arg(long, env = "HEARTH_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,

    /// Most connections served at once; one more gets a 503 and is closed.
    #[arg(long, env = "HEARTH_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Requests per minute and client IP on register, invite and redeem.
    #[arg(long, env = "HEARTH_RATE_LIMIT_PER_MINUTE", default_value_t = 30)]
    pub rate_limit_per_minute: u32,

    /// Burst allowed above that rate, per client IP.
    #[arg(long, env = "HEARTH_RATE_LIMIT_BURST", default_value_t = 10)]
    pub rate_limit_burst: u32,

    /// Seconds between keep-alive comments on event streams.
    #[arg(long, env = "HEARTH_SSE_KEEPALIVE_SECS", default_value_t = 15)]
    pub sse_keepalive_secs: u64,

    /// Where scheduled backups go (default: `<data-dir>/backups`).
    #[arg(long, env = "HEARTH_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Seconds between scheduled backups; 0 turns them off.
    #[arg(long, env = "HEARTH_BACKUP_INTERVAL_SECS", default_value_t = 24 * 60 * 60)]
    pub backup_interval_secs: u64,

    /// How many scheduled backups to keep (here and at `--backup-to`).
    #[arg(long, env = "HEARTH_BACKUP_KEEP", default_value_t = 7)]
    pub backup_keep: usize,

    /// Also copy each scheduled backup to an S3-compatible store, and check
    /// the copy: `s3://bucket/prefix?endpoint=URL[,URL…]&region=NAME`, with
    /// the key as for `--objects`.
    #[arg(long, env = "HEARTH_BACKUP_TO")]
    pub backup_to: Option<String>,

    /// Who may register a workspace: `code` (a one-time setup code, printed
    /// at start and by `hearth setup-code`), `open` or `closed`.
    #[arg(long, env = "HEARTH_REGISTRATION", value_enum, default_value_t = RegistrationArg::Code)]
    pub registration: RegistrationArg,

    /// Most bytes stored over all workspaces; beyond it, new workspaces and
    /// writes are refused (507). Unset: no limit but the disk.
    #[arg(long, env = "HEARTH_MAX_TOTAL_BYTES")]
    pub max_total_bytes: Option<u64>,

    /// Writes are refused (507 `storage_full`) while the data volume has
    /// fewer free bytes than this, before the file system fails.
    #[arg(long, env = "HEARTH_MIN_FREE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub min_free_bytes: u64,

    /// Most connections from one client address.
    #[arg(long, env = "HEARTH_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Connections kept for clients other than the busiest addresses: past
    /// `--max-connections` minus this, an address with more than a few
    /// connections is refused new ones.
    #[arg(long, env = "HEARTH_CONNECTION_RESERVE", default_value_t = 128)]
    pub connection_reserve: usize,

    /// Most requests in flight at once on one HTTP/2 connection (its
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`); event streams count.
    #[arg(long, env = "HEARTH_MAX_STREAMS_PER_CONNECTION", default_value_t = 128)]
    pub max_streams_per_connection: u32,

    /// Reverse proxies whose `Forwarded`, `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed: addresses or CIDR blocks,
    /// comma-separated (`127.0.0.1,10.0.0.0/8`). The client is then the
    /// right-most address of the chain that is not one of them; rate
    /// limits, stream caps and the log count it. A proxy's connections count
    /// toward `--max-connections` only, not the per-address cap.
    #[arg(long, env = "HEARTH_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<String>,

    /// Serve metrics (OpenMetrics text, `GET /metrics`) on this address;
    /// off when not given. Keep it private: it is not authenticated.
    #[arg(long, env = "HEARTH_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Most open event streams from one client address.
    #[arg(long, env = "HEARTH_MAX_STREAMS_PER_IP", default_value_t = 64)]
    pub max_streams_per_ip: usize,

    /// Most open event streams of one token.
    #[arg(long, env = "HEARTH_MAX_STREAMS_PER_TOKEN", default_value_t = 8)]
    pub max_streams_per_token: usize,

    /// Most open event streams on one workspace.
    #[arg(long, env = "HEARTH_MAX_STREAMS_PER_WORKSPACE", default_value_t = 64)]
    pub max_streams_per_workspace: usize,

    /// Seconds a client has to send a request's headers (shorter than
    /// `--body-timeout-secs`); also how long a kept-alive connection may sit
    /// with no request before it is closed.
    #[arg(long, env = "HEARTH_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a client may take to read an answer before the connection is
    /// dropped (slow readers of large pulls).
    #[arg(long, env = "HEARTH_WRITE_TIMEOUT_SECS", default_value_t = 30)]
    pub write_timeout_secs: u64,

    /// Most workspaces open in memory at once; the least recently used
    /// unused ones close first.
    #[arg(long, env = "HEARTH_MAX_OPEN_WORKSPACES", default_value_t = 4096)]
    pub max_open_workspaces: usize,

    /// Seconds a compaction can be undone (the replaced snapshot and log are
    /// kept that long).
    #[arg(long, env = "HEARTH_COMPACTION_UNDO_SECS", default_value_t = 7 * 24 * 60 * 60)]
    pub compaction_undo_secs: u64,

    /// The largest file devices may attach, in bytes (told to devices by
    /// `/v1/health`; the server sees only chunks of at most 4 MiB).
    #[arg(long, env = "HEARTH_MAX_FILE_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_file_bytes: u64,

    /// Seconds a chunk that the owner's device called unreferenced is kept
    /// before it is deleted (a device that uses it again in that time keeps
    /// it).
    #[arg(long, env = "HEARTH_CHUNK_GRACE_SECS", default_value_t = 7 * 24 * 60 * 60)]
    pub chunk_grace_secs: u64,

    /// Web origins (besides the server's own) whose pages may call the API,
    /// comma-separated, e.g. `https://notes.example.org`; `*` allows any.
    #[arg(long, env = "HEARTH_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Servers on other origins the app served here may sync with (its
    /// pages may connect to its own origin and these only), comma-separated.
    #[arg(long, env = "HEARTH_SYNC_ORIGINS", value_delimiter = ',')]
    pub sync_origins: Vec<String>,

    /// PEM certificate chain; with `--tls-key`, serve HTTPS.
    #[arg(long, env = "HEARTH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "HEARTH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Config {
    /// A configuration with every default, for the given data directory
    /// (what `hearth serve --data-dir DIR` gives with no `HEARTH_*` set).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            ..defaults()
        }
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs.max(1))
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs.max(1))
    }

    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs.max(1))
    }

    /// Checks the settings against what the store (whose largest entry is
    /// `max_entry` bytes) and the wire format can hold; the error names the
    /// flag and says why.
    pub fn validate(&self, max_entry: u64) -> Result<(), String> {
        if self.max_body_bytes > max_entry {
            return Err(format!(
                "--max-body-bytes {} is larger than the largest entry or snapshot a workspace log \
                 can hold ({max_entry} bytes); lower it",
                self.max_body_bytes
            ));
        }
        crate::proxy::TrustedProxies::parse(&self.trusted_proxy)?;
        if self.max_streams_per_connection == 0 {
            return Err("--max-streams-per-connection must be at least 1".into());
        }
        if self.max_body_bytes == 0 {
            return Err("--max-body-bytes must be at least 1".into());
        }
        if self.max_pull_bytes == 0 {
            return Err("--max-pull-bytes must be at least 1".into());
        }
        if self.header_timeout_secs >= self.body_timeout_secs {
            return Err(format!(
                "--header-timeout-secs ({}) must be shorter than --body-timeout-secs ({})",
                self.header_timeout_secs, self.body_timeout_secs
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err("--max-connections and --max-connections-per-ip must be at least 1".into());
        }
        if self.connection_reserve >= self.max_connections {
            return Err(format!(
                "--connection-reserve ({}) must be smaller than --max-connections ({})",
                self.connection_reserve, self.max_connections
            ));
        }
        for origin in self.cors_origins.iter().chain(&self.sync_origins) {
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let ok = (origin == "*" && !self.sync_origins.contains(origin))
                || host.is_some_and(|h| !h.is_empty() && !h.contains(['/', ' ', '?', '#']));
            if !ok {
                return Err(format!(
                    "--cors-origins or --sync-origins: {origin:?} is not an origin (scheme://host[:port]; * allows any caller)"
                ));
            }
        }
        Ok(())
    }

    pub fn sse_keepalive(&self) -> Duration {
        Duration::from_secs(self.sse_keepalive_secs.max(1))
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.backup_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("backups"))
    }
}

/// The defaults of the flags above, written out for library callers.
fn defaults() -> Config {
    Config {
        data_dir: PathBuf::from("./hearth-data"),
        database: None,
        objects: None,
        objects_key_file: None,
        database_connections: 16,
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        dist: None,
        max_body_bytes: 16 * 1024 * 1024,
        max_pull_bytes: 32 * 1024 * 1024,
        workspace_quota_bytes: 1024 * 1024 * 1024,
        body_timeout_secs: 30,
        max_connections: 1024,
        rate_limit_per_minute: 30,
        rate_limit_burst: 10,
        sse_keepalive_secs: 15,
        backup_dir: None,
        backup_interval_secs: 24 * 60 * 60,
        backup_keep: 7,
        backup_to: None,
        registration: RegistrationArg::Code,
        max_total_bytes: None,
        min_free_bytes: 256 * 1024 * 1024,
        max_connections_per_ip: 256,
        connection_reserve: 128,
        max_streams_per_connection: 128,
        trusted_proxy: Vec::new(),
        metrics_listen: None,
        max_streams_per_ip: 64,
        max_streams_per_token: 8,
        max_streams_per_workspace: 64,
        header_timeout_secs: 10,
        write_timeout_secs: 30,
        max_open_workspaces: 4096,
        compaction_undo_secs: 7 * 24 * 60 * 60,
        max_file_bytes: 100 * 1024 * 1024,
        chunk_grace_secs: 7 * 24 * 60 * 60,
        cors_origins: Vec::new(),
        sync_origins: Vec::new(),
        tls_cert: None,
        tls_key: None,
    }
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory to back up (the server may be running).
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./hearth-data")]
    pub data_dir: PathBuf,
    /// Directory in which a new backup directory is created.
    #[arg(long, env = "HEARTH_BACKUP_DIR")]
    pub out: PathBuf,
    /// A cluster to back up instead (a point-in-time copy of its database
    /// and objects, as a data directory's backup); needs `--objects`.
    #[arg(
        long,
        env = "HEARTH_DATABASE",
        requires = "objects",
        hide_env_values = true
    )]
    pub database: Option<DatabaseUrl>,
    /// The cluster's object store (with `--database`).
    #[arg(long, env = "HEARTH_OBJECTS", requires = "database")]
    pub objects: Option<String>,
    /// Also copy the backup to an S3-compatible store, and check the copy
    /// (`s3://bucket/prefix?endpoint=…&region=…`).
    #[arg(long, value_parser = crate::storage::cluster::objects::Address::parse)]
    pub to: Option<crate::storage::cluster::objects::Address>,
    #[command(flatten)]
    pub key: ObjectsKeyArg,
}

/// The object store's key, for the commands that take an `s3://` address.
#[derive(Debug, Args)]
pub struct ObjectsKeyArg {
    /// A file holding the object store's key id and secret, one per line
    /// (else `HEARTH_OBJECTS_KEY_ID` and `HEARTH_OBJECTS_SECRET`).
    #[arg(long, env = "HEARTH_OBJECTS_KEY_FILE")]
    pub objects_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The data directory of the running server.
    #[arg(
        long,
        env = "HEARTH_DATA_DIR",
        default_value = "./hearth-data",
        global = true
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Every workspace: id, label, devices, last use, bytes stored.
    Workspaces {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device's token: it is refused from its next request on.
    Revoke {
        /// The workspace id.
        workspace: String,
        /// The token id (as `hearth admin workspaces` and the owner's device list show it).
        token: String,
    },
    /// Change one workspace's storage quota (log, snapshot and files
    /// together), or give it back the server's default.
    Quota {
        /// The workspace id.
        workspace: String,
        /// The quota: `5GiB`, `500MB`, `1000000` (bytes), or `default`
        /// (the server's `--workspace-quota-bytes`).
        size: String,
    },
    /// Delete a workspace with everything it holds (tokens, entries,
    /// snapshots, files); it is not in the next backup. Asks for `--yes`.
    DeleteWorkspace {
        /// The workspace id.
        workspace: String,
        /// Yes, delete it: nothing brings it back but an earlier backup.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct DataDirArgs {
    /// The data directory.
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./hearth-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreCompactionArgs {
    /// The workspace id (32 lowercase hex characters).
    pub workspace: String,
    /// The data directory (no server may be running on it).
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./hearth-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A backup directory (the one holding `manifest.json`), or a backup in
    /// an object store: `s3://bucket/prefix/NAME?endpoint=…&region=…`.
    pub path: crate::storage::offsite::BackupPlace,
    #[command(flatten)]
    pub key: ObjectsKeyArg,
}

/// Which way `hearth migrate` moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MigrateTo {
    /// From the data directory into the cluster.
    Cluster,
    /// From the cluster into the data directory (empty or missing).
    DataDir,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The single node's data directory.
    #[arg(long, env = "HEARTH_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The cluster's database (give it by `HEARTH_DATABASE` when it holds
    /// a password).
    #[arg(long, env = "HEARTH_DATABASE", hide_env_values = true)]
    pub database: DatabaseUrl,
    /// The cluster's object store, `s3://bucket/prefix?endpoint=…&region=…`;
    /// its key in `HEARTH_OBJECTS_KEY_ID` and `HEARTH_OBJECTS_SECRET`, or
    /// in `--objects-key-file`.
    #[arg(long, env = "HEARTH_OBJECTS")]
    pub objects: String,
    /// A file holding the object store's key id and secret, one per line.
    #[arg(long, env = "HEARTH_OBJECTS_KEY_FILE")]
    pub objects_key_file: Option<PathBuf>,
    /// Where to: `cluster` (from the data directory) or `data-dir` (from
    /// the cluster).
    #[arg(long, value_enum)]
    pub to: MigrateTo,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup directory (the one holding `manifest.json`), or a backup in
    /// an object store: `s3://bucket/prefix/NAME?endpoint=…&region=…`.
    pub path: crate::storage::offsite::BackupPlace,
    #[command(flatten)]
    pub key: ObjectsKeyArg,
    /// An empty or missing directory to restore into.
    #[arg(long, env = "HEARTH_DATA_DIR")]
    pub data_dir: PathBuf,
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
