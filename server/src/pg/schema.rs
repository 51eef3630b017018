//! The cluster's PostgreSQL schema, versioned. Each migration runs once,
//! in one transaction, under an advisory lock, so that nodes starting
//! together migrate once; a database migrated by a newer build is
//! refused. Never edit a released migration: append one.

use super::{Client, Failure};

/// One step of the schema.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The migrations, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "the token index",
        sql: include_str!("migrations/0001_index.sql"),
    },
    Migration {
        version: 2,
        name: "workspace logs, chunks, the signing secret and cluster jobs",
        sql: include_str!("migrations/0002_logs.sql"),
    },
    Migration {
        version: 3,
        name: "per-workspace quotas",
        sql: include_str!("migrations/0003_quota.sql"),
    },
    Migration {
        version: 4,
        name: "public read-only links",
        sql: include_str!("migrations/0004_shares.sql"),
    },
];

/// The advisory lock key the migrations hold (any fixed number: "hearth").
const LOCK_KEY: i64 = 0x6865_6172_7468;

/// Why the schema cannot be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database was migrated by a newer hearth (schema {found}, this build knows {known}); run that build, or restore a backup"
    )]
    TooNew { found: i32, known: i32 },
    #[error("{0}")]
    Database(Failure),
}

impl From<Failure> for MigrateError {
    fn from(f: Failure) -> MigrateError {
        MigrateError::Database(f)
    }
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> MigrateError {
        MigrateError::Database(Failure::of(&e))
    }
}

/// The schema version this build writes.
pub fn current_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the schema up to date; returns the versions it applied.
pub async fn migrate(client: &mut Client, now: u64) -> Result<Vec<i32>, MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS hearth_schema (
            version     INTEGER PRIMARY KEY,
            name        TEXT NOT NULL,
            applied_at  BIGINT NOT NULL
        )",
    )
    .await?;
    let found: i32 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM hearth_schema", &[])
        .await?
        .get(0);
    let known = current_version();
    if found > known {
        return Err(MigrateError::TooNew { found, known });
    }
    let mut applied = Vec::new();
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO hearth_schema (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &now],
        )
        .await?;
        tracing::info!(version = m.version, name = m.name, "database migrated");
        applied.push(m.version);
    }
    tx.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_run_once_and_refuse_newer_schemas() {
        let pool = super::super::testing::fresh_pool().await;
        let mut client = pool.get().await.unwrap();
        // `fresh_pool` migrated already.
        assert_eq!(migrate(&mut client, 1).await.unwrap(), Vec::<i32>::new());
        client
            .execute(
                "INSERT INTO hearth_schema VALUES (99, 'from the future', 0)",
                &[],
            )
            .await
            .unwrap();
        assert!(matches!(
            migrate(&mut client, 1).await,
            Err(MigrateError::TooNew { found: 99, .. })
        ));
    }
}
