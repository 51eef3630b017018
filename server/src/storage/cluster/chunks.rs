//! [`ClusterChunks`]: attached files' chunks as objects, with their rows
//! (size, object, when set aside) in the database. A chunk's object is
//! written under a fresh name, so a sweep that deletes a set-aside chunk
//! never races a put of the same bytes into the same object.

use std::time::SystemTime;

use bytes::Bytes;

use crate::storage::payload::Payload;
use hearth_shared::id::{ChunkName, WorkspaceId};

use super::objects::ObjectError;
use super::{Cluster, from_db, to_db};
use crate::pg::Failure;
use crate::storage::chunks::{ChunkError, ChunkStore, Put, RoomCheck};

/// Chunks in the cluster.
pub struct ClusterChunks {
    cluster: Cluster,
    grace_secs: u64,
}

impl ClusterChunks {
    pub fn new(cluster: Cluster, grace_secs: u64) -> ClusterChunks {
        ClusterChunks {
            cluster,
            grace_secs,
        }
    }
}

/// Milliseconds since the epoch (set-aside times are kept to the
/// millisecond).
fn millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn failed(f: Failure) -> ChunkError {
    match f {
        Failure::Full(s) => ChunkError::Full(s),
        Failure::Unavailable(s) => ChunkError::Unavailable(s),
        other => ChunkError::Other(other.to_string()),
    }
}

impl From<tokio_postgres::Error> for ChunkError {
    fn from(e: tokio_postgres::Error) -> ChunkError {
        failed(Failure::of(&e))
    }
}

impl From<deadpool_postgres::PoolError> for ChunkError {
    fn from(e: deadpool_postgres::PoolError) -> ChunkError {
        failed(Failure::of_pool(&e))
    }
}

impl From<crate::storage::StoreError> for ChunkError {
    fn from(e: crate::storage::StoreError) -> ChunkError {
        if e.is_full() {
            ChunkError::Full(e.to_string())
        } else if e.is_unavailable() {
            ChunkError::Unavailable(e.to_string())
        } else {
            ChunkError::Other(e.to_string())
        }
    }
}

impl From<ObjectError> for ChunkError {
    fn from(e: ObjectError) -> ChunkError {
        match e {
            ObjectError::Unavailable { .. } => ChunkError::Unavailable(e.to_string()),
            ObjectError::NotFound(_) => ChunkError::Other(e.to_string()),
        }
    }
}

/// The SHA-256 of a chunk's bytes: taken on arrival, or computed off the
/// async threads.
async fn sha256_of(data: &Payload) -> Result<[u8; 32], ChunkError> {
    let data = data.clone();
    tokio::task::spawn_blocking(move || data.sha256())
        .await
        .map_err(|e| ChunkError::Other(format!("hashing a chunk: {e}")))?
        .map_err(|e| ChunkError::Other(format!("reading a spooled chunk: {e}")))
}

#[async_trait::async_trait]
impl ChunkStore for ClusterChunks {
    async fn put(
        &self,
        ws: &WorkspaceId,
        name: &ChunkName,
        data: Payload,
        room: RoomCheck,
    ) -> Result<(Put, u64), ChunkError> {
        let digest = sha256_of(&data).await?;
        if &digest != name.digest() {
            return Ok((Put::Mismatch, 0));
        }
        let (id, chunk) = (ws.to_string(), name.to_string());
        let kept_again = "UPDATE chunks SET set_aside_at = NULL
                          WHERE workspace_id = $1 AND name = $2 RETURNING len";
        let client = self.cluster.client().await.map_err(failed)?;
        if client
            .query_opt(kept_again, &[&id, &chunk])
            .await?
            .is_some()
        {
            return Ok((Put::Existed, 0));
        }
        drop(client);
        let len = data.len();
        let object = self
            .cluster
            .upload(&format!("w/{id}/c"), data, crate::clock::unix_now())
            .await?;
        let mut client = self.cluster.client().await.map_err(failed)?;
        let tx = client.transaction().await?;
        // One put at a time per workspace: the room check sees them all.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&id],
        )
        .await?;
        let outcome = if tx.query_opt(kept_again, &[&id, &chunk]).await?.is_some() {
            Put::Existed
        } else {
            let used: i64 = tx
                .query_one(
                    "SELECT COALESCE(SUM(len), 0)::BIGINT FROM chunks WHERE workspace_id = $1",
                    &[&id],
                )
                .await?
                .get(0);
            if room(from_db(used), len) {
                tx.execute(
                    "INSERT INTO chunks (workspace_id, name, len, object) VALUES ($1, $2, $3, $4)",
                    &[&id, &chunk, &to_db(len), &object],
                )
                .await?;
                tx.execute("DELETE FROM garbage WHERE object = $1", &[&object])
                    .await?;
                Put::Created
            } else {
                Put::Refused
            }
        };
        tx.commit().await?;
        if outcome == Put::Created {
            Ok((Put::Created, len))
        } else {
            self.cluster.delete_unseen(vec![object]).await;
            Ok((outcome, 0))
        }
    }

    async fn get(&self, ws: &WorkspaceId, name: &ChunkName) -> Result<Option<Bytes>, ChunkError> {
        let row = self
            .cluster
            .client()
            .await
            .map_err(failed)?
            .query_opt(
                "UPDATE chunks SET set_aside_at = NULL
                 WHERE workspace_id = $1 AND name = $2 RETURNING object",
                &[&ws.to_string(), &name.to_string()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let object: String = row.get(0);
        match self.cluster.objects.get(&object).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ObjectError::NotFound(_)) => Err(ChunkError::Other(format!(
                "chunk {name} of workspace {ws}: its object {object} is missing"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn missing(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
    ) -> Result<Vec<ChunkName>, ChunkError> {
        let asked: Vec<String> = names.iter().map(ToString::to_string).collect();
        let rows = self
            .cluster
            .client()
            .await
            .map_err(failed)?
            .query(
                "UPDATE chunks SET set_aside_at = NULL
                 WHERE workspace_id = $1 AND name = ANY($2) RETURNING name",
                &[&ws.to_string(), &asked],
            )
            .await?;
        let stored: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(names
            .into_iter()
            .filter(|n| !stored.contains(&n.to_string()))
            .collect())
    }

    async fn set_aside(
        &self,
        ws: &WorkspaceId,
        names: Vec<ChunkName>,
        now: SystemTime,
    ) -> Result<u64, ChunkError> {
        let asked: Vec<String> = names.iter().map(ToString::to_string).collect();
        let n = self
            .cluster
            .client()
            .await
            .map_err(failed)?
            .execute(
                "UPDATE chunks SET set_aside_at = $3
                 WHERE workspace_id = $1 AND name = ANY($2) AND set_aside_at IS NULL",
                &[&ws.to_string(), &asked, &millis(now)],
            )
            .await?;
        Ok(n)
    }

    async fn sweep(&self, ws: &WorkspaceId, now: SystemTime) -> Result<u64, ChunkError> {
        let cutoff = now
            .checked_sub(std::time::Duration::from_secs(self.grace_secs))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.drop_where(ws, "set_aside_at <= $2", Some(millis(cutoff)))
            .await
    }

    async fn delete(&self, ws: &WorkspaceId) -> Result<u64, ChunkError> {
        self.drop_where(ws, "$2::BIGINT IS NULL", None).await
    }

    async fn bytes_used(&self, ws: &WorkspaceId) -> Result<u64, ChunkError> {
        let used: i64 = self
            .cluster
            .client()
            .await
            .map_err(failed)?
            .query_one(
                "SELECT COALESCE(SUM(len), 0)::BIGINT FROM chunks WHERE workspace_id = $1",
                &[&ws.to_string()],
            )
            .await?
            .get(0);
        Ok(from_db(used))
    }

    async fn list(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Vec<(ChunkName, Option<SystemTime>)>, ChunkError> {
        let rows = self
            .cluster
            .client()
            .await
            .map_err(failed)?
            .query(
                "SELECT name, set_aside_at FROM chunks WHERE workspace_id = $1",
                &[&ws.to_string()],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let name: ChunkName = r.get::<_, &str>(0).parse().ok()?;
                let aside: Option<i64> = r.get(1);
                let when = aside.map(|ms| {
                    SystemTime::UNIX_EPOCH
                        + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
                });
                Some((name, when))
            })
            .collect())
    }

    async fn pending(&self, _everywhere: bool) -> Vec<WorkspaceId> {
        let rows = match self.cluster.client().await {
            Ok(c) => c
                .query(
                    "SELECT DISTINCT workspace_id FROM chunks WHERE set_aside_at IS NOT NULL",
                    &[],
                )
                .await
                .map_err(Failure::from),
            Err(f) => Err(f),
        };
        match rows {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| r.get::<_, String>(0).parse().ok())
                .collect(),
            Err(f) => {
                tracing::warn!(error = %f, "cannot list the workspaces with chunks to sweep");
                Vec::new()
            }
        }
    }

    fn grace_secs(&self) -> u64 {
        self.grace_secs
    }
}

impl ClusterChunks {
    /// Deletes the chunks of `ws` that `condition` (on `$2`) picks, listing
    /// their objects as garbage in the same transaction, then deletes the
    /// objects. The bytes freed.
    async fn drop_where(
        &self,
        ws: &WorkspaceId,
        condition: &str,
        arg: Option<i64>,
    ) -> Result<u64, ChunkError> {
        let mut client = self.cluster.client().await.map_err(failed)?;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                &format!(
                    "DELETE FROM chunks WHERE workspace_id = $1 AND ({condition})
                     RETURNING object, len"
                ),
                &[&ws.to_string(), &arg],
            )
            .await?;
        let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let freed: u64 = rows.iter().map(|r| from_db(r.get(1))).sum();
        if !names.is_empty() {
            tx.execute(
                "INSERT INTO garbage (object, since) SELECT unnest($1::TEXT[]), $2
                 ON CONFLICT (object) DO NOTHING",
                &[&names, &to_db(crate::clock::unix_now())],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(freed)
    }
}
