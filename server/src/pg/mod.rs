//! PostgreSQL, for cluster mode: the connection pool, the versioned
//! schema ([`schema`]), and the sorting of its errors into the kinds the
//! storage seam speaks of ([`Failure`]). The index backend
//! (`index::postgres`) and the cluster's log, chunk and announcer backends
//! (`storage::cluster`) share one pool.

pub mod schema;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

use std::str::FromStr as _;
use std::time::Duration;

pub use deadpool_postgres::{Object as Client, Pool};
use tokio_postgres::error::SqlState;

/// How long a request waits for a pooled connection, or for a new one to
/// be made, before it is told the database is unavailable (503).
const WAIT: Duration = Duration::from_secs(5);

/// A pool of at most `size` connections to the database at `url` (a
/// `postgres://` URL or key-value string; the password belongs in
/// `PGPASSWORD`-style settings of the URL's own, never on the command
/// line). Connects lazily: a database that is down at start is reached
/// when it is back.
pub fn pool(url: &str, size: usize) -> Result<Pool, String> {
    let config = tokio_postgres::Config::from_str(url)
        .map_err(|e| format!("the database address is not valid: {e}"))?;
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .recycle_timeout(Some(WAIT))
        .build()
        .map_err(|e| format!("the database pool: {e}"))
}

/// What a database failure means to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The database cannot be reached, is starting or shutting down, or
    /// has no connection to spare: retry later (503).
    Unavailable(String),
    /// The database is out of disk or memory.
    Full(String),
    /// The transaction lost a race (serialization failure, deadlock, a
    /// unique key taken meanwhile): retrying it may succeed.
    Conflict(String),
    /// Anything else: a defect, or a schema that is not ours.
    Other(String),
}

impl Failure {
    /// Sorts a driver error.
    pub fn of(e: &tokio_postgres::Error) -> Failure {
        let text = e.to_string();
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            let detail = format!("{text}: {}", db.message());
            return if [
                SqlState::DISK_FULL,
                SqlState::OUT_OF_MEMORY,
                SqlState::PROGRAM_LIMIT_EXCEEDED,
            ]
            .contains(code)
            {
                Failure::Full(detail)
            } else if [
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::UNIQUE_VIOLATION,
                SqlState::LOCK_NOT_AVAILABLE,
            ]
            .contains(code)
            {
                Failure::Conflict(detail)
            } else if [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::QUERY_CANCELED,
                SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
            ]
            .contains(code)
                || code.code().starts_with("08")
            {
                Failure::Unavailable(detail)
            } else {
                Failure::Other(detail)
            };
        }
        // No answer from the server: the connection broke or never was.
        let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io || text.contains("timed out") {
            Failure::Unavailable(text)
        } else {
            // A statement this build got wrong (a type, a parameter).
            Failure::Other(text)
        }
    }

    /// Sorts a pool error: every one means no connection now.
    pub fn of_pool(e: &deadpool_postgres::PoolError) -> Failure {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Failure::of(e),
            other => Failure::Unavailable(format!("no database connection: {other}")),
        }
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::of(&e)
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Failure {
        Failure::of_pool(&e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unavailable(s) => write!(f, "the database is unavailable: {s}"),
            Failure::Full(s) => write!(f, "the database is full: {s}"),
            Failure::Conflict(s) => write!(f, "a concurrent change won: {s}"),
            Failure::Other(s) => write!(f, "the database failed: {s}"),
        }
    }
}

impl From<Failure> for crate::index::IndexError {
    fn from(f: Failure) -> crate::index::IndexError {
        use crate::index::IndexError;
        match f {
            Failure::Unavailable(s) => IndexError::Unavailable(s),
            Failure::Full(s) => IndexError::Full(s),
            Failure::Conflict(s) => IndexError::Conflict(s),
            Failure::Other(s) => IndexError::Other(s),
        }
    }
}

/// A database address. Its `Debug` hides any password in it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn url(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<DatabaseUrl, String> {
        s.parse::<tokio_postgres::Config>().map_err(|e| {
            format!("not a PostgreSQL address ({e}); write postgres://user@host:port/database")
        })?;
        Ok(DatabaseUrl(s.to_owned()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.parse::<tokio_postgres::Config>() {
            Ok(c) => write!(
                f,
                "DatabaseUrl(hosts {:?}, database {:?}, password {})",
                c.get_hosts(),
                c.get_dbname(),
                if c.get_password().is_some() {
                    "hidden"
                } else {
                    "none"
                }
            ),
            Err(_) => f.write_str("DatabaseUrl(..)"),
        }
    }
}

/// A pooled connection, or why there is none.
pub async fn client(pool: &Pool) -> Result<Client, Failure> {
    Ok(pool.get().await?)
}
