//! The token index's tables, row by row, on SQLite and PostgreSQL: the
//! same tables and columns on both (see `index/sqlite/schema.rs` and
//! `pg/migrations/0001_index.sql`), copied as neutral values and checked
//! by a digest of their sorted rows.

use rusqlite::types::ValueRef;
use sha2::{Digest as _, Sha256};

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Int,
    Text,
    Blob,
}

/// A table: its name and columns, in an order that keeps foreign keys
/// satisfied when copied first to last.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Col)],
}

use Col::{Blob, Int, Text};

pub const TABLES: &[Table] = &[
    Table {
        name: "workspaces",
        columns: &[
            ("id", Text),
            ("label", Text),
            ("created_at", Int),
            ("quota_bytes", Int),
        ],
    },
    Table {
        name: "tokens",
        columns: &[
            ("id", Text),
            ("workspace_id", Text),
            ("role", Text),
            ("scope", Text),
            ("label", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("last_seen_at", Int),
            ("revoked_at", Int),
            ("public_key", Blob),
        ],
    },
    Table {
        name: "invites",
        columns: &[
            ("secret_hash", Blob),
            ("workspace_id", Text),
            ("scope", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
            ("token_id", Text),
            ("wrapped_key", Blob),
        ],
    },
    Table {
        name: "setup_codes",
        columns: &[
            ("code_hash", Blob),
            ("created_at", Int),
            ("expires_at", Int),
        ],
    },
    Table {
        name: "key_epochs",
        columns: &[
            ("workspace_id", Text),
            ("epoch", Int),
            ("key_check", Blob),
            ("created_at", Int),
        ],
    },
    Table {
        name: "recovery",
        columns: &[
            ("workspace_id", Text),
            ("credential_hash", Blob),
            ("wrapped_keys", Text),
            ("updated_at", Int),
        ],
    },
    Table {
        name: "device_wraps",
        columns: &[
            ("token_id", Text),
            ("epoch", Int),
            ("wrapped", Blob),
            ("created_at", Int),
        ],
    },
    Table {
        name: "shares",
        columns: &[
            ("id", Text),
            ("workspace_id", Text),
            ("document", Text),
            ("chunks", Text),
            ("created_at", Int),
            ("expires_at", Int),
        ],
    },
];

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

pub type Row = Vec<Value>;

impl Table {
    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A SHA-256 over a table's rows, in sorted order.
pub fn digest(rows: &[Row]) -> [u8; 32] {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for row in sorted {
        for v in row {
            match v {
                Value::Null => h.update([0]),
                Value::Int(i) => {
                    h.update([1]);
                    h.update(i.to_le_bytes());
                }
                Value::Text(t) => {
                    h.update([2]);
                    h.update((t.len() as u64).to_le_bytes());
                    h.update(t.as_bytes());
                }
                Value::Blob(b) => {
                    h.update([3]);
                    h.update((b.len() as u64).to_le_bytes());
                    h.update(b);
                }
            }
        }
    }
    h.finalize().into()
}

/// Every row of `table` in a SQLite index.
pub fn read_sqlite(conn: &rusqlite::Connection, table: &Table) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM {}",
        table.column_list(),
        table.name
    ))?;
    let n = table.columns.len();
    let rows = stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    ValueRef::Real(f) => Value::Text(f.to_string()),
                })
            })
            .collect::<rusqlite::Result<Row>>()
    })?;
    rows.collect()
}

/// Inserts `rows` into `table` of a SQLite index.
pub fn write_sqlite(
    tx: &rusqlite::Transaction<'_>,
    table: &Table,
    rows: &[Row],
) -> rusqlite::Result<()> {
    let marks = (1..=table.columns.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = tx.prepare(&format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        table.name,
        table.column_list()
    ))?;
    for row in rows {
        let values: Vec<rusqlite::types::Value> = row
            .iter()
            .map(|v| match v {
                Value::Null => rusqlite::types::Value::Null,
                Value::Int(i) => rusqlite::types::Value::Integer(*i),
                Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
                Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
            })
            .collect();
        stmt.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

/// Every row of `table` in a PostgreSQL index.
pub async fn read_pg(
    client: &impl deadpool_postgres::GenericClient,
    table: &Table,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("SELECT {} FROM {}", table.column_list(), table.name),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, col))| match col {
                    Int => r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int),
                    Text => r
                        .get::<_, Option<String>>(i)
                        .map_or(Value::Null, Value::Text),
                    Blob => r
                        .get::<_, Option<Vec<u8>>>(i)
                        .map_or(Value::Null, Value::Blob),
                })
                .collect()
        })
        .collect())
}

/// Inserts `rows` into `table` of a PostgreSQL index.
pub async fn write_pg(
    client: &impl deadpool_postgres::GenericClient,
    table: &Table,
    rows: &[Row],
) -> Result<(), tokio_postgres::Error> {
    let marks = (1..=table.columns.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let stmt = client
        .prepare(&format!(
            "INSERT INTO {} ({}) VALUES ({marks})",
            table.name,
            table.column_list()
        ))
        .await?;
    for row in rows {
        let params: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = row
            .iter()
            .zip(table.columns)
            .map(
                |(v, (_, col))| -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> {
                    match (v, col) {
                        (Value::Int(i), _) => Box::new(Some(*i)),
                        (Value::Text(t), _) => Box::new(Some(t.clone())),
                        (Value::Blob(b), _) => Box::new(Some(b.clone())),
                        (Value::Null, Int) => Box::new(None::<i64>),
                        (Value::Null, Text) => Box::new(None::<String>),
                        (Value::Null, Blob) => Box::new(None::<Vec<u8>>),
                    }
                },
            )
            .collect();
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        client.execute(&stmt, &refs).await?;
    }
    Ok(())
}
