//! Compaction in the cluster: swapping in a snapshot (the entries it
//! covers are marked, not deleted, for the undo window), undoing the
//! latest one, and forgetting what the undo window keeps.

use crate::storage::payload::Payload;

use super::log::MAX_ENTRY_LEN;
use super::log::{ClusterLog, HEADER, list_as_garbage, now, position};
use super::{from_db, to_db};
use crate::storage::{Position, Snapshotted, StoreError, Undone};

impl ClusterLog {
    pub(super) async fn compact(
        &self,
        upto: u64,
        data: Payload,
        quota: u64,
    ) -> Result<Snapshotted, StoreError> {
        if data.len() > MAX_ENTRY_LEN {
            return Ok(Snapshotted::TooLarge);
        }
        if data.len() > quota {
            return Ok(Snapshotted::OverQuota);
        }
        let snapshot_len = data.len();
        let name = self
            .cluster
            .upload(&format!("{}/s", self.dir), data, now())
            .await?;
        let mut client = self.cluster.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT head, floor, bytes, snapshot, snapshot_len, compactions
                 FROM logs WHERE workspace_id = $1 FOR UPDATE",
                &[&self.ws],
            )
            .await?
            .ok_or_else(|| self.gone())?;
        let pos = position(&row);
        if upto > pos.head || upto < pos.floor {
            drop(tx);
            self.saw(pos);
            self.cluster.delete_unseen(vec![name]).await;
            return Ok(Snapshotted::Conflict {
                head: pos.head,
                floor: pos.floor,
            });
        }
        let id: i64 = row.get::<_, i64>("compactions") + 1;
        let prev: Option<String> = row.get("snapshot");
        let prev_len: i64 = row.get("snapshot_len");
        let dropped: i64 = tx
            .query_one(
                "WITH d AS (UPDATE entries SET dropped_by = $3
                            WHERE workspace_id = $1 AND seq <= $2 AND dropped_by IS NULL
                            RETURNING len)
                 SELECT COALESCE(SUM(len + $4), 0)::BIGINT FROM d",
                &[&self.ws, &to_db(upto), &id, &HEADER],
            )
            .await?
            .get(0);
        let now = now();
        tx.execute(
            "INSERT INTO compactions
               (workspace_id, id, made_at, prev_floor, prev_snapshot, prev_snapshot_len, new_snapshot)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&self.ws, &id, &to_db(now), &to_db(pos.floor), &prev, &prev_len, &name],
        )
        .await?;
        let bytes = (to_db(pos.bytes) - dropped - prev_len + to_db(snapshot_len)).max(0);
        tx.execute(
            "UPDATE logs SET floor = $2, snapshot = $3, snapshot_len = $4, bytes = $5,
                             compactions = $6
             WHERE workspace_id = $1",
            &[
                &self.ws,
                &to_db(upto),
                &name,
                &to_db(snapshot_len),
                &bytes,
                &id,
            ],
        )
        .await?;
        tx.execute("DELETE FROM garbage WHERE object = $1", &[&name])
            .await?;
        self.expire(&tx, now).await?;
        tx.commit().await?;
        self.saw(Position {
            head: pos.head,
            floor: upto,
            bytes: from_db(bytes),
        });
        Ok(Snapshotted::Done(upto))
    }

    pub(super) async fn undo(&self) -> Result<Option<Undone>, StoreError> {
        let mut client = self.cluster.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT head, floor, bytes, snapshot_len FROM logs WHERE workspace_id = $1 FOR UPDATE",
                &[&self.ws],
            )
            .await?
            .ok_or_else(|| self.gone())?;
        let pos = position(&row);
        let cutoff = to_db(now().saturating_sub(self.undo_secs));
        let Some(c) = tx
            .query_opt(
                "SELECT id, prev_floor, prev_snapshot, prev_snapshot_len, new_snapshot
                 FROM compactions WHERE workspace_id = $1 AND made_at >= $2
                 ORDER BY id DESC LIMIT 1",
                &[&self.ws, &cutoff],
            )
            .await?
        else {
            return Ok(None);
        };
        let id: i64 = c.get("id");
        let restored: i64 = tx
            .query_one(
                "WITH r AS (UPDATE entries SET dropped_by = NULL
                            WHERE workspace_id = $1 AND dropped_by = $2 RETURNING len)
                 SELECT COALESCE(SUM(len + $3), 0)::BIGINT FROM r",
                &[&self.ws, &id, &HEADER],
            )
            .await?
            .get(0);
        let prev_floor: i64 = c.get("prev_floor");
        let prev: Option<String> = c.get("prev_snapshot");
        let prev_len: i64 = c.get("prev_snapshot_len");
        let undone: String = c.get("new_snapshot");
        let bytes =
            (to_db(pos.bytes) + restored - row.get::<_, i64>("snapshot_len") + prev_len).max(0);
        tx.execute(
            "UPDATE logs SET floor = $2, snapshot = $3, snapshot_len = $4, bytes = $5
             WHERE workspace_id = $1",
            &[&self.ws, &prev_floor, &prev, &prev_len, &bytes],
        )
        .await?;
        tx.execute(
            "DELETE FROM compactions WHERE workspace_id = $1 AND id = $2",
            &[&self.ws, &id],
        )
        .await?;
        list_as_garbage(&tx, std::slice::from_ref(&undone)).await?;
        tx.commit().await?;
        let floor = from_db(prev_floor);
        self.saw(Position {
            head: pos.head,
            floor,
            bytes: from_db(bytes),
        });
        Ok(Some(Undone {
            floor,
            head: pos.head,
        }))
    }

    pub(super) async fn forget_all(&self) -> Result<usize, StoreError> {
        let mut client = self.cluster.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "SELECT 1 FROM logs WHERE workspace_id = $1 FOR UPDATE",
            &[&self.ws],
        )
        .await?;
        let n = forget(&tx, &self.ws, None).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Forgets the compactions older than the undo window, in `tx`.
    async fn expire(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        now: u64,
    ) -> Result<(), StoreError> {
        let cutoff = to_db(now.saturating_sub(self.undo_secs));
        forget(tx, &self.ws, Some(cutoff)).await?;
        Ok(())
    }
}

/// Deletes the compactions of `ws` made before `before` (all if `None`),
/// the entries they dropped and the snapshots they replaced, listing the
/// objects as garbage (the sweep deletes them after its grace). Returns
/// how many compactions went.
async fn forget(
    tx: &deadpool_postgres::Transaction<'_>,
    ws: &str,
    before: Option<i64>,
) -> Result<usize, StoreError> {
    let before = before.unwrap_or(i64::MAX);
    let gone = tx
        .query(
            "DELETE FROM compactions WHERE workspace_id = $1 AND made_at < $2
             RETURNING id, prev_snapshot",
            &[&ws, &before],
        )
        .await?;
    if gone.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = gone.iter().map(|r| r.get(0)).collect();
    let mut names: Vec<String> = gone.iter().filter_map(|r| r.get(1)).collect();
    names.extend(
        tx.query(
            "DELETE FROM entries WHERE workspace_id = $1 AND dropped_by = ANY($2)
             RETURNING object",
            &[&ws, &ids],
        )
        .await?
        .iter()
        .filter_map(|r| r.get::<_, Option<String>>(0)),
    );
    list_as_garbage(tx, &names).await?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use hearth_shared::frame::{FrameKind, decode_frames};
    use hearth_shared::id::WorkspaceId;

    use crate::storage::cluster::ClusterStore;
    use crate::storage::{Appended, LogStore as _, NewEntry, Snapshotted, WorkspaceLog};

    fn entry(key: &str, payload: Vec<u8>) -> NewEntry {
        use sha2::Digest as _;
        NewEntry {
            key: Some(key.into()),
            hash: sha2::Sha256::digest(&payload).into(),
            payload: Bytes::from(payload).into(),
        }
    }

    async fn frames(log: &Arc<dyn WorkspaceLog>) -> Vec<(FrameKind, u64, usize)> {
        let pulled = log
            .pull(0, u64::MAX)
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        decode_frames(&pulled.body)
            .unwrap()
            .into_iter()
            .map(|f| (f.kind, f.seq, f.payload.len()))
            .collect()
    }

    #[tokio::test]
    async fn a_compaction_is_undone_then_forgotten_and_leaves_no_object_behind() {
        let cluster = super::super::testing::fresh().await;
        let store = ClusterStore::new(cluster.clone(), 3600);
        let log = store
            .open(&WorkspaceId::from_random([4; 16]))
            .await
            .unwrap();
        let large = vec![7u8; super::super::log::INLINE_MAX + 1];
        let appended = log
            .append(
                vec![
                    entry("a", b"one".to_vec()),
                    entry("b", large.clone()),
                    entry("c", b"three".to_vec()),
                ],
                u64::MAX,
            )
            .await
            .unwrap();
        assert_eq!(
            appended,
            [Appended::New(1), Appended::New(2), Appended::New(3)]
        );
        let all = vec![
            (FrameKind::Entry, 1, 3),
            (FrameKind::Entry, 2, large.len()),
            (FrameKind::Entry, 3, 5),
        ];
        assert_eq!(frames(&log).await, all);

        let done = log
            .put_snapshot(2, Bytes::from_static(b"state").into(), u64::MAX)
            .await
            .unwrap();
        assert_eq!(done, Snapshotted::Done(2));
        assert_eq!(
            frames(&log).await,
            [(FrameKind::Snapshot, 2, 5), (FrameKind::Entry, 3, 5)]
        );
        assert_eq!(log.position().floor, 2);

        let undone = log.undo_compaction().await.unwrap().unwrap();
        assert_eq!((undone.floor, undone.head), (0, 3));
        assert_eq!(frames(&log).await, all, "every entry is back");
        assert!(log.undo_compaction().await.unwrap().is_none());

        log.put_snapshot(3, Bytes::from_static(b"state 3").into(), u64::MAX)
            .await
            .unwrap();
        assert_eq!(log.forget_compactions().await.unwrap(), 1);
        assert!(log.undo_compaction().await.unwrap().is_none());
        assert_eq!(frames(&log).await, [(FrameKind::Snapshot, 3, 7)]);
        // The large entry's object and the undone snapshot are let go of: listed as garbage, there for a backup that began before,
        // and deleted by the sweep after its grace.
        let client = cluster.client().await.unwrap();
        let listed: Vec<String> = client
            .query("SELECT object FROM garbage", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        for name in &listed {
            assert!(
                cluster.objects.get(name).await.is_ok(),
                "kept for the grace"
            );
        }
        let later = super::now() + super::super::GARBAGE_GRACE_SECS + 1;
        assert_eq!(cluster.sweep_garbage(later, 100).await.unwrap(), 2);
        for name in &listed {
            assert!(cluster.objects.get(name).await.is_err(), "deleted after it");
        }
        let left: i64 = client
            .query_one("SELECT COUNT(*) FROM garbage", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
        let named: i64 = client
            .query_one("SELECT COUNT(*) FROM entries", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(named, 0, "no entry row is kept once nothing can undo");
    }
}
