//! Cluster mode's storage: PostgreSQL keeps what must be ordered and
//! transactional (sequence numbers, idempotency keys, the floor, small
//! entries, quotas, which object holds what), an S3-compatible store keeps
//! the bytes (snapshots, large entries, chunks). Any number of `hearth`
//! nodes share both; none holds state the others need.
//!
//! - [`objects`]: the object store (one or more gateways).
//! - [`log`]: [`ClusterStore`] and its workspace logs; `compaction`:
//!   snapshots swapped in, undone and forgotten.
//! - [`chunks`]: attached files' chunks.
//! - [`announcer`]: heads and token invalidations over LISTEN/NOTIFY.
//! - [`room`]: quotas and the cluster-wide byte limit.
//!
//! Objects are written before the transaction that names them, under a
//! fresh name recorded first in the `garbage` table; the transaction
//! takes the name out of it. An object whose transaction never committed,
//! or that a transaction let go of, stays listed there and is deleted by
//! [`Cluster::sweep_garbage`] an hour later: a crash at any instant leaves
//! no object behind for good, none that a row still names is ever
//! deleted, and a point-in-time copy (a backup) taken within the hour
//! finds every object its rows name.

pub mod announcer;
pub mod chunks;
mod compaction;
pub mod log;
pub mod objects;
pub mod room;

use crate::pg::{Client, Failure, Pool};
use crate::storage::StoreError;
use objects::Objects;

pub use log::ClusterStore;

/// The database and the object store, shared by the cluster's backends.
#[derive(Clone)]
pub struct Cluster {
    pub pool: Pool,
    pub objects: Objects,
}

/// A u64 as PostgreSQL's BIGINT (saturating; no count here comes near).
pub fn to_db(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A BIGINT as a u64 (a negative one, which the schema never holds, is 0).
pub fn from_db(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A database failure, as the log store says it.
pub fn store_error(f: Failure) -> StoreError {
    let at = String::from("the database");
    match f {
        Failure::Unavailable(detail) => StoreError::Unavailable { at, detail },
        Failure::Full(_) => StoreError::Full { at },
        Failure::Conflict(detail) | Failure::Other(detail) => StoreError::Failed { at, detail },
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> StoreError {
        store_error(f)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        store_error(Failure::of(&e))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        store_error(Failure::of_pool(&e))
    }
}

/// Seconds an object listed as garbage is kept before the sweep deletes
/// it: longer than any request that may still be writing it.
pub const GARBAGE_GRACE_SECS: u64 = 60 * 60;

impl Cluster {
    /// A pooled connection.
    pub async fn client(&self) -> Result<Client, Failure> {
        crate::pg::client(&self.pool).await
    }

    /// Writes `data` as a new object under `dir`, listed as garbage until
    /// a transaction names it ([`Cluster::adopt`]). Returns its name.
    pub async fn upload(
        &self,
        dir: &str,
        data: crate::storage::payload::Payload,
        now: u64,
    ) -> Result<String, StoreError> {
        let name = objects::fresh_name(dir).map_err(|detail| StoreError::Failed {
            at: dir.to_owned(),
            detail,
        })?;
        self.client()
            .await?
            .execute(
                "INSERT INTO garbage (object, since) VALUES ($1, $2)",
                &[&name, &to_db(now)],
            )
            .await?;
        self.objects.put_payload(&name, &data).await?;
        Ok(name)
    }

    /// Deletes objects that no committed row ever named (a write whose
    /// transaction found a duplicate, a conflict or no room), and their
    /// garbage rows. Objects a committed transaction let go of are not
    /// deleted here: they stay listed for the sweep's grace, so that a
    /// backup's snapshot taken before still finds them. A failure leaves
    /// them listed for the sweep.
    pub async fn delete_unseen(&self, names: Vec<String>) {
        let mut gone = Vec::new();
        for name in names {
            match self.objects.delete(&name).await {
                Ok(()) => gone.push(name),
                Err(e) => {
                    tracing::warn!(object = %name, error = %e, "an object could not be deleted yet; the garbage sweep will")
                }
            }
        }
        if gone.is_empty() {
            return;
        }
        let done = match self.client().await {
            Ok(c) => c
                .execute("DELETE FROM garbage WHERE object = ANY($1)", &[&gone])
                .await
                .map_err(Failure::from),
            Err(f) => Err(f),
        };
        if let Err(f) = done {
            tracing::warn!(error = %f, "deleted objects are still listed as garbage; the sweep will drop them");
        }
    }

    /// Deletes the objects listed as garbage for longer than the grace
    /// period, at most `limit` of them. Returns how many went.
    pub async fn sweep_garbage(&self, now: u64, limit: i64) -> Result<usize, StoreError> {
        let cutoff = to_db(now.saturating_sub(GARBAGE_GRACE_SECS));
        let rows = self
            .client()
            .await?
            .query(
                "SELECT object FROM garbage WHERE since < $1 ORDER BY since LIMIT $2",
                &[&cutoff, &limit],
            )
            .await?;
        let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let n = names.len();
        self.delete_unseen(names).await;
        Ok(n)
    }

    /// Claims chore `name` for this node if nobody ran it in the last
    /// `every_secs`: the chores that must run once across the cluster
    /// (chunk sweep, invite purge, backups) ask this first.
    pub async fn claim_job(&self, name: &str, now: u64, every_secs: u64) -> Result<bool, Failure> {
        let client = self.client().await?;
        let due = to_db(now.saturating_sub(every_secs));
        let claimed = client
            .execute(
                "INSERT INTO jobs (name, last_run) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET last_run = EXCLUDED.last_run
                 WHERE jobs.last_run <= $3",
                &[&name, &to_db(now), &due],
            )
            .await?;
        Ok(claimed == 1)
    }

    /// The token signing secret all nodes share: made by the first node
    /// that asks, read by the others.
    pub async fn shared_secret(&self, fresh: Vec<u8>, now: u64) -> Result<Vec<u8>, Failure> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO secrets (name, value, created_at) VALUES ('token-signing', $1, $2)
                 ON CONFLICT (name) DO NOTHING",
                &[&fresh, &to_db(now)],
            )
            .await?;
        let row = client
            .query_one(
                "SELECT value FROM secrets WHERE name = 'token-signing'",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }
}

#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    //! A cluster on a fresh database and a fresh place in the tests'
    //! object store.

    use super::*;

    pub async fn fresh() -> Cluster {
        Cluster {
            pool: crate::pg::testing::fresh_pool().await,
            objects: objects::testing::fresh(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_chore_runs_once_per_period_across_nodes() {
        let a = testing::fresh().await;
        let b = a.clone();
        assert!(a.claim_job("sweep", 1000, 60).await.unwrap());
        assert!(!b.claim_job("sweep", 1010, 60).await.unwrap());
        assert!(b.claim_job("sweep", 1060, 60).await.unwrap());
        assert!(!a.claim_job("sweep", 1061, 60).await.unwrap());
    }

    #[tokio::test]
    async fn every_node_signs_with_one_secret() {
        let a = testing::fresh().await;
        let first = a.shared_secret(vec![1; 32], 1).await.unwrap();
        let second = a.shared_secret(vec![2; 32], 2).await.unwrap();
        assert_eq!(first, vec![1; 32]);
        assert_eq!(second, first);
    }

    #[tokio::test]
    async fn objects_of_unfinished_writes_are_swept_after_the_grace_period() {
        let c = testing::fresh().await;
        let name = c
            .upload("e", b"orphan".as_slice().into(), 100)
            .await
            .unwrap();
        assert_eq!(c.sweep_garbage(100, 10).await.unwrap(), 0, "still in grace");
        assert_eq!(
            c.sweep_garbage(100 + GARBAGE_GRACE_SECS + 1, 10)
                .await
                .unwrap(),
            1
        );
        assert!(c.objects.get(&name).await.is_err());
    }
}
