//! Versioned schema migrations. Migration `i` (0-based) takes the schema
//! from `user_version` `i` to `i + 1`; each runs once, in a transaction.
//! Never edit a released migration: append a new one.

use rusqlite::Connection;

use super::SqlError as IndexError;

/// The migrations, in order.
const MIGRATIONS: &[&str] = &[
    // 1: workspaces, tokens, invites.
    "CREATE TABLE workspaces (
        id          TEXT PRIMARY KEY NOT NULL,
        label       TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE tokens (
        id            TEXT PRIMARY KEY NOT NULL,
        workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
        role          TEXT NOT NULL CHECK (role IN ('master', 'access')),
        scope         TEXT NOT NULL CHECK (scope IN ('rw', 'ro')),
        label         TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER,
        last_seen_at  INTEGER,
        revoked_at    INTEGER
    ) STRICT;
    CREATE INDEX tokens_by_workspace ON tokens(workspace_id);
    CREATE TABLE invites (
        secret_hash   BLOB PRIMARY KEY NOT NULL,
        workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
        scope         TEXT NOT NULL CHECK (scope IN ('rw', 'ro')),
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        used_at       INTEGER,
        token_id      TEXT
    ) STRICT;
    CREATE INDEX invites_by_workspace ON invites(workspace_id);",
    // 2: one-time setup codes that allow registering a workspace.
    "CREATE TABLE setup_codes (
        code_hash     BLOB PRIMARY KEY NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL
    ) STRICT;",
    // 3: an invite may carry the workspace key, wrapped for the pairing
    // link's secret; cleared when the invite is redeemed or expires.
    "ALTER TABLE invites ADD COLUMN wrapped_key BLOB;",
    // 4: the key epochs of an end-to-end encrypted workspace, each with
    // the key check record its owner's device made (it opens nothing).
    "CREATE TABLE key_epochs (
        workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
        epoch         INTEGER NOT NULL CHECK (epoch > 0),
        key_check     BLOB NOT NULL,
        created_at    INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, epoch)
    ) STRICT;",
    // 5: what the server keeps of a workspace's recovery key: the SHA-256
    // of its recovery credential (by which a recovering device finds the
    // workspace) and every key epoch wrapped for it (a JSON array of
    // base64url strings, which open nothing without the recovery key).
    "CREATE TABLE recovery (
        workspace_id     TEXT PRIMARY KEY REFERENCES workspaces(id),
        credential_hash  BLOB NOT NULL UNIQUE,
        wrapped_keys     TEXT NOT NULL,
        updated_at       INTEGER NOT NULL
    ) STRICT;",
    // 6: device key pairs: each token's X25519 public key, and the key
    // epochs the owner's device wrapped for it at a rotation (opaque: only
    // that device's secret key opens them). A revoked token's go.
    "ALTER TABLE tokens ADD COLUMN public_key BLOB;
    CREATE TABLE device_wraps (
        token_id    TEXT NOT NULL REFERENCES tokens(id),
        epoch       INTEGER NOT NULL CHECK (epoch > 0),
        wrapped     BLOB NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (token_id, epoch)
    ) STRICT;",
    // 7: the operator's quota of one workspace (`hearth admin quota`),
    // in bytes; NULL: the server's `--workspace-quota-bytes`.
    "ALTER TABLE workspaces ADD COLUMN quota_bytes INTEGER CHECK (quota_bytes >= 0);",
    // 8: public read-only links to one note: the chunks of the workspace
    // each may read (the sealed note, then its files, space-separated
    // names) and when it ends. The key is in the link alone.
    "CREATE TABLE shares (
        id            TEXT PRIMARY KEY NOT NULL,
        workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
        document      TEXT NOT NULL,
        chunks        TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX shares_by_workspace ON shares(workspace_id);
    CREATE INDEX shares_by_expiry ON shares(expires_at);",
];

/// The schema version this build writes.
pub fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the schema up to date; refuses an index from a newer build.
pub fn migrate(conn: &mut Connection) -> Result<(), IndexError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = current_version();
    if found > known {
        return Err(IndexError::TooNew { found, known });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "token index migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_refuse_newer_schemas() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, current_version());
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(IndexError::TooNew { found: 99, .. })
        ));
    }
}
