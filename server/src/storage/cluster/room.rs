//! [`ClusterRoom`]: quotas and the cluster-wide byte limit
//! (`--max-total-bytes`). A workspace's quota is checked against what the
//! database says it holds (its log row and chunk rows, under its lock);
//! the cluster-wide total is this node's running count, set from the
//! database at start and every minute ([`ClusterRoom::refresh`]), so
//! several nodes may together pass the limit by what they write within a
//! minute. There is no free-space reading: an object store says none.

use std::sync::atomic::{AtomicU64, Ordering};

use hearth_shared::id::WorkspaceId;

use super::{Cluster, from_db};
use crate::storage::StoreError;
use crate::storage::room::{Quotas, Refused, Room};

/// Room in the cluster.
pub struct ClusterRoom {
    quotas: Quotas,
    max_total: u64,
    total: AtomicU64,
}

impl ClusterRoom {
    pub fn new(quota: u64, max_total: u64, stored: u64) -> ClusterRoom {
        ClusterRoom {
            quotas: Quotas::new(quota),
            max_total,
            total: AtomicU64::new(stored),
        }
    }

    /// Reads the bytes stored over the whole cluster.
    pub async fn stored(cluster: &Cluster) -> Result<u64, StoreError> {
        let row = cluster
            .client()
            .await?
            .query_one(
                "SELECT (SELECT COALESCE(SUM(bytes), 0) FROM logs)::BIGINT
                      + (SELECT COALESCE(SUM(len), 0) FROM chunks)::BIGINT",
                &[],
            )
            .await?;
        Ok(from_db(row.get(0)))
    }

    /// Takes the cluster's total, and the operator's quotas set through
    /// any node, from the database.
    pub async fn refresh(&self, cluster: &Cluster) -> Result<(), StoreError> {
        self.total
            .store(Self::stored(cluster).await?, Ordering::Relaxed);
        let rows = cluster
            .client()
            .await?
            .query(
                "SELECT id, quota_bytes FROM workspaces WHERE quota_bytes IS NOT NULL",
                &[],
            )
            .await?;
        self.quotas.replace(rows.iter().filter_map(|row| {
            let id: &str = row.try_get(0).ok()?;
            let quota: i64 = row.try_get(1).ok()?;
            Some((WorkspaceId::parse(id).ok()?, from_db(quota)))
        }));
        Ok(())
    }
}

impl Room for ClusterRoom {
    fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    fn admit(&self, bytes: u64) -> Result<(), Refused> {
        if bytes > 0 && self.total().saturating_add(bytes) > self.max_total {
            return Err(Refused::Full(
                "the cluster holds as much as its operator allows (--max-total-bytes)",
            ));
        }
        Ok(())
    }

    fn try_admit(&self, bytes: u64) -> Option<Result<(), Refused>> {
        Some(self.admit(bytes))
    }

    fn added(&self, bytes: u64) {
        self.total.fetch_add(bytes, Ordering::Relaxed);
    }

    fn removed(&self, bytes: u64) {
        let _ = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_sub(bytes))
            });
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_room_keeps_the_contract() {
        crate::storage::room::contract::keeps_count(&ClusterRoom::new(1000, 5000, 0), 1000, 5000);
    }
}
