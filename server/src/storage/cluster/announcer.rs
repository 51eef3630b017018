//! [`PgHeads`]: the cluster's announcer. Heads and token invalidations
//! travel between nodes as PostgreSQL notifications (`LISTEN`/`NOTIFY`):
//! a push through node A reaches the event streams held on node B one
//! database round trip later, and a token revoked through A is forgotten
//! by B's cache as soon as B hears it.
//!
//! Each node keeps one connection that listens. When it breaks, the node
//! reconnects; notifications sent meanwhile are lost, so on every
//! (re)connect it reads the heads of the workspaces it is watching from
//! the logs and tells whatever caches token statuses to forget them all
//! (cluster nodes keep no such cache today; the invalidations are there for
//! one that does).

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_shared::id::{TokenId, WorkspaceId};
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;

use crate::heads::{ApplyInvalidation, Heads};
use crate::index::cached::Invalidation;
use crate::pg::Pool;

const HEADS: &str = "hearth_heads";
const TOKENS: &str = "hearth_tokens";

/// The cluster's announcer, one per node.
pub struct PgHeads {
    inner: Arc<Inner>,
    outbox: mpsc::UnboundedSender<(&'static str, String)>,
}

#[derive(Default)]
struct Inner {
    channels: Mutex<HashMap<WorkspaceId, watch::Sender<Option<u64>>>>,
    appliers: Mutex<Vec<ApplyInvalidation>>,
}

impl Inner {
    fn channels(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, watch::Sender<Option<u64>>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `head` for `ws` if it is newer than the one known: heads
    /// arrive from several nodes, not always in order.
    fn heard(&self, ws: &WorkspaceId, head: u64) {
        let mut channels = self.channels();
        match channels.get(ws) {
            Some(tx) => {
                tx.send_if_modified(|known| {
                    let newer = known.is_none_or(|k| head > k);
                    if newer {
                        *known = Some(head);
                    }
                    newer
                });
            }
            None => {
                channels.insert(ws.clone(), watch::channel(Some(head)).0);
            }
        }
    }

    fn apply(&self, invalidation: &Invalidation) {
        let appliers = self
            .appliers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for apply in appliers {
            apply(invalidation);
        }
    }

    fn watched(&self) -> Vec<String> {
        self.channels()
            .iter()
            .filter(|(_, tx)| tx.receiver_count() > 0)
            .map(|(ws, _)| ws.to_string())
            .collect()
    }
}

impl PgHeads {
    /// Starts the node's announcer: its listening connection to the
    /// database at `url` (reconnecting by itself) and the sender of its
    /// notifications through `pool`. Both end when `stop` turns true.
    pub fn start(url: String, pool: Pool, stop: watch::Receiver<bool>) -> PgHeads {
        let inner = Arc::new(Inner::default());
        let (outbox, rx) = mpsc::unbounded_channel();
        tokio::spawn(send(pool.clone(), rx));
        tokio::spawn(listen(url, pool, inner.clone(), stop));
        PgHeads { inner, outbox }
    }
}

impl Heads for PgHeads {
    fn publish(&self, ws: &WorkspaceId, head: u64) {
        self.inner.heard(ws, head);
        let _ = self.outbox.send((HEADS, format!("{ws}:{head}")));
    }

    fn subscribe(&self, ws: &WorkspaceId) -> watch::Receiver<Option<u64>> {
        self.inner
            .channels()
            .entry(ws.clone())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    fn invalidate(&self, invalidation: Invalidation) {
        let text = match invalidation {
            Invalidation::Token(id) => format!("t:{id}"),
            Invalidation::Workspace(ws) => format!("w:{ws}"),
            Invalidation::All => "all".into(),
        };
        let _ = self.outbox.send((TOKENS, text));
    }

    fn on_invalidation(&self, apply: ApplyInvalidation) {
        self.inner
            .appliers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(apply);
    }

    fn forget_unwatched(&self) -> usize {
        let mut channels = self.inner.channels();
        channels.retain(|_, tx| tx.receiver_count() > 0);
        channels.len()
    }
}

/// Sends queued notifications, several per statement when they pile up.
async fn send(pool: Pool, mut rx: mpsc::UnboundedReceiver<(&'static str, String)>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let channels: Vec<&str> = batch.iter().map(|(c, _)| *c).collect();
        let payloads: Vec<&str> = batch.iter().map(|(_, p)| p.as_str()).collect();
        let sent = match pool.get().await {
            Ok(client) => client
                .execute(
                    "SELECT pg_notify(c, p) FROM unnest($1::TEXT[], $2::TEXT[]) AS n(c, p)",
                    &[&channels, &payloads],
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            // Listeners catch up from the logs when their link comes back;
            // a lost head costs a live update, never data.
            tracing::warn!(error = %e, dropped = batch.len(), "notifications to the other nodes were not sent");
        }
        batch.clear();
    }
}

/// Listens for the other nodes' notifications, reconnecting when the
/// connection breaks, until `stop`.
async fn listen(url: String, pool: Pool, inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        if *stop.borrow() {
            return;
        }
        let session = listen_once(&url, &pool, &inner, &mut backoff);
        tokio::select! {
            outcome = session => {
                if let Err(e) = outcome {
                    tracing::warn!(error = %e, "the link to the other nodes (database notifications) broke; reconnecting");
                }
            }
            _ = stop.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// One listening connection, for as long as it lasts.
async fn listen_once(
    url: &str,
    pool: &Pool,
    inner: &Arc<Inner>,
    backoff: &mut Duration,
) -> Result<(), String> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = futures::StreamExt::next(&mut messages).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
                }
                Ok(_) => {}
                Err(e) => return e.to_string(),
            }
        }
        String::from("the database closed the connection")
    });
    client
        .batch_execute(&format!("LISTEN {HEADS}; LISTEN {TOKENS}"))
        .await
        .map_err(|e| e.to_string())?;
    *backoff = Duration::from_millis(50);
    // What was announced while nobody here listened.
    inner.apply(&Invalidation::All);
    catch_up(pool, inner).await;
    while let Some((channel, payload)) = rx.recv().await {
        if channel == HEADS {
            if let Some((ws, head)) = payload.split_once(':')
                && let (Ok(ws), Ok(head)) = (WorkspaceId::from_str(ws), head.parse())
            {
                inner.heard(&ws, head);
            }
        } else if channel == TOKENS {
            let invalidation = match payload.split_once(':') {
                Some(("t", id)) => TokenId::from_str(id).ok().map(Invalidation::Token),
                Some(("w", ws)) => WorkspaceId::from_str(ws).ok().map(Invalidation::Workspace),
                _ if payload == "all" => Some(Invalidation::All),
                _ => None,
            };
            if let Some(invalidation) = invalidation {
                inner.apply(&invalidation);
            }
        }
    }
    drop(client);
    Err(driver.await.unwrap_or_else(|e| e.to_string()))
}

/// Reads the heads of the watched workspaces from the logs.
async fn catch_up(pool: &Pool, inner: &Inner) {
    let watched = inner.watched();
    if watched.is_empty() {
        return;
    }
    let rows = match pool.get().await {
        Ok(c) => c
            .query(
                "SELECT workspace_id, head FROM logs WHERE workspace_id = ANY($1)",
                &[&watched],
            )
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match rows {
        Ok(rows) => {
            for r in rows {
                if let Ok(ws) = WorkspaceId::from_str(r.get::<_, &str>(0)) {
                    inner.heard(&ws, super::from_db(r.get(1)));
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the heads missed while the link was down")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cluster_announcer_keeps_the_contract() {
        let pool = crate::pg::testing::fresh_pool().await;
        let url = crate::pg::testing::server_url();
        let (_stop_tx, stop) = watch::channel(false);
        let heads = PgHeads::start(url, pool, stop);
        crate::heads::contract::announces(&heads).await;
    }

    #[tokio::test]
    async fn a_head_and_a_revocation_reach_the_other_node() {
        let db = crate::pg::testing::fresh_database().await;
        let pool = crate::pg::pool(&db, 4).unwrap();
        let (_stop_tx, stop) = watch::channel(false);
        let a = PgHeads::start(db.clone(), pool.clone(), stop.clone());
        let b = PgHeads::start(db, pool, stop);
        let forgotten = Arc::new(Mutex::new(Vec::new()));
        b.on_invalidation({
            let forgotten = forgotten.clone();
            Arc::new(move |i| forgotten.lock().unwrap().push(i.clone()))
        });
        let ws = WorkspaceId::from_random([9; 16]);
        let mut on_b = b.subscribe(&ws);
        // B's listener may not be listening yet: publish until B hears.
        let token = TokenId::from_random([7; 16]);
        let heard = tokio::time::timeout(Duration::from_secs(30), async {
            let mut head = 0;
            loop {
                head += 1;
                a.publish(&ws, head);
                a.invalidate(Invalidation::Token(token.clone()));
                tokio::select! {
                    changed = on_b.changed() => { changed.unwrap(); break; }
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            let seen = on_b.borrow_and_update().unwrap();
            // The revocation sent with it has arrived or follows.
            loop {
                if forgotten
                    .lock()
                    .unwrap()
                    .contains(&Invalidation::Token(token.clone()))
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen
        })
        .await
        .expect("node B heard nothing from node A in 30 s");
        assert!(heard >= 1);
        // Older heads from the wire never move a listener back.
        b.inner.heard(&ws, heard + 5);
        b.inner.heard(&ws, heard + 1);
        assert_eq!(*on_b.borrow(), Some(heard + 5));
    }
}
