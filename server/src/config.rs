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
pub enum Command {
    /// Run the server (the default).
    Serve(Config),
    /// Take a backup of a data directory now.
    Backup(BackupArgs),
    /// Check a backup's manifest and checksums.
    VerifyBackup(VerifyArgs),
    /// Restore a backup into an empty data directory.
    Restore(RestoreArgs),
}

/// Everything `hearth serve` needs to know. Passed around whole.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Directory of the token index, the signing secret and the blobs.
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./hearth-data")]
    pub data_dir: PathBuf,

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

    /// Storage quota of one workspace (log and snapshot), in bytes.
    #[arg(long, env = "HEARTH_WORKSPACE_QUOTA_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub workspace_quota_bytes: u64,

    /// Seconds a client has to send a whole request body (and its headers).
    #[arg(long, env = "HEARTH_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,

    /// Most connections served at once; more wait to be accepted.
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

    /// How many scheduled backups to keep.
    #[arg(long, env = "HEARTH_BACKUP_KEEP", default_value_t = 7)]
    pub backup_keep: usize,

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
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A backup directory (the one holding `manifest.json`).
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup directory (the one holding `manifest.json`).
    pub path: PathBuf,
    /// An empty or missing directory to restore into.
    #[arg(long, env = "HEARTH_DATA_DIR")]
    pub data_dir: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flags_means_serve_with_defaults() {
        let cli = Cli::try_parse_from(["hearth"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(cli.serve.data_dir, PathBuf::from("./hearth-data"));
        let cli = Cli::try_parse_from(["hearth", "serve", "--listen", "127.0.0.1:0"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Serve(c)) if c.listen.port() == 0));
    }

    #[test]
    fn library_defaults_match_the_flags() {
        let cli = Cli::try_parse_from(["hearth", "--data-dir", "x"]).unwrap();
        assert_eq!(
            format!("{:?}", cli.serve),
            format!("{:?}", Config::with_data_dir("x"))
        );
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from(["hearth", "restore", "b", "--data-dir", "d"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Restore(_))));
        let cli =
            Cli::try_parse_from(["hearth", "backup", "--data-dir", "d", "--out", "o"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Backup(_))));
        assert!(Cli::try_parse_from(["hearth", "--tls-cert", "c"]).is_err());
    }
}
