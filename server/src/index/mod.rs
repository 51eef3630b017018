//! The token index: SQLite (WAL) with the workspaces, their tokens and their
//! invites. It holds token ids only, never a token; invite secrets only as
//! SHA-256 hashes.
//!
//! All access goes through [`Index::call`], which runs the closure on a
//! blocking thread, so SQLite never stalls the async workers.
//!
//! - [`schema`]: versioned migrations (`PRAGMA user_version`).
//! - [`queries`]: the statements, as plain functions on a connection.

pub mod queries;
pub mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

/// The index's file name in the data directory.
pub const INDEX_FILE: &str = "index.sqlite";

/// Why an index operation failed. Never shown to clients.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the index was made by a newer hearth (schema {found}, this one knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("a blocking task failed: {0}")]
    Task(String),
    #[error("the index lock is poisoned")]
    Poisoned,
}

/// A handle on the token index; cheap to clone.
#[derive(Clone)]
pub struct Index {
    /// One connection: SQLite serialises writers anyway, and the statements
    /// are small. The mutex is only ever taken on blocking threads.
    conn: Arc<Mutex<Connection>>,
}

impl Index {
    /// Opens (creating if need be) and migrates the index. Blocking.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(Index {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<R, F>(&self, f: F) -> Result<R, IndexError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, IndexError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| IndexError::Poisoned)?;
            f(&mut guard)
        })
        .await
        .map_err(|e| IndexError::Task(e.to_string()))?
    }

    /// Runs `f` with the connection on the current thread (for callers that
    /// are already blocking, like backups).
    pub fn call_blocking<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, IndexError>,
    ) -> Result<R, IndexError> {
        let mut guard = self.conn.lock().map_err(|_| IndexError::Poisoned)?;
        f(&mut guard)
    }
}

/// WAL for concurrent readers, FULL sync so that a token handed out is never
/// forgotten, foreign keys on, and deleted content overwritten (a wrapped
/// key that was handed out or expired leaves no copy in a free page).
fn configure(conn: &Connection) -> Result<(), IndexError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}
