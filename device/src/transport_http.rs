//! [`HttpTransport`]: the engine's [`Transport`] over the `/v1` HTTP API,
//! and the live events stream (`GET …/events`, server-sent events).
//!
//! A device made offline has no server yet: its transport answers every
//! call with [`TransportError::Offline`] until [`HttpTransport::connect`]
//! gives it a server and a token.

use std::sync::RwLock;

use hearth_shared::api::{
    DeviceKey, FLOOR_HEADER, HEAD_HEADER, IDEMPOTENCY_HEADER, KeyEpochs, PushResponse,
    PutDeviceKey, PutDeviceWraps, PutKeyCheck, PutRecovery, SnapshotResponse, TokenList,
};
use hearth_shared::engine::{Pulled, Transport, TransportError};
use hearth_shared::id::{TokenId, WorkspaceId};
use hearth_shared::routes::Route;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, HeaderName};

use super::http_client::{Call, HttpClient};
use hearth_shared::sse::SseParser;

/// Where and as whom the transport talks.
#[derive(Debug, Clone)]
struct Remote {
    http: HttpClient,
    workspace: WorkspaceId,
    token: String,
}

/// An open events stream.
struct Events {
    body: Incoming,
    parser: SseParser,
}

/// The HTTP transport of one workspace.
pub struct HttpTransport {
    remote: RwLock<Option<Remote>>,
    /// The events stream, kept open between calls of `next_head`.
    events: tokio::sync::Mutex<Option<Events>>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origin = self.remote().ok().map(|r| r.http.origin().to_owned());
        f.debug_struct("HttpTransport")
            .field("origin", &origin)
            .finish()
    }
}

impl HttpTransport {
    /// A transport with no server yet.
    pub fn unconnected() -> Self {
        Self {
            remote: RwLock::new(None),
            events: tokio::sync::Mutex::new(None),
        }
    }

    /// A transport to `http` for `workspace`, authenticated by `token`.
    pub fn new(http: HttpClient, workspace: WorkspaceId, token: String) -> Self {
        let t = Self::unconnected();
        t.connect(http, workspace, token);
        t
    }

    /// Points the transport at a server (after registering or pairing).
    pub fn connect(&self, http: HttpClient, workspace: WorkspaceId, token: String) {
        let mut remote = self.remote.write().unwrap_or_else(|e| e.into_inner());
        *remote = Some(Remote {
            http,
            workspace,
            token,
        });
    }

    fn remote(&self) -> Result<Remote, TransportError> {
        self.remote
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| TransportError::Offline("this device has no server yet".into()))
    }

    async fn open_events(&self, remote: &Remote) -> Result<Events, TransportError> {
        let call = Call::route(&Route::Events(remote.workspace.clone()))
            .token(&remote.token)
            .header(ACCEPT, "text/event-stream");
        let res = remote.http.open(call).await?;
        Ok(Events {
            body: res.into_body(),
            parser: SseParser::new(),
        })
    }
}

fn idempotency_header() -> Result<HeaderName, TransportError> {
    HeaderName::from_bytes(IDEMPOTENCY_HEADER.as_bytes())
        .map_err(|e| TransportError::Protocol(e.to_string()))
}

impl Transport for HttpTransport {
    async fn push(&self, idempotency_key: &str, entry: &[u8]) -> Result<u64, TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::Push(r.workspace.clone()))
            .token(&r.token)
            .header(idempotency_header()?, idempotency_key)
            .bytes(entry);
        let answer: PushResponse = r.http.send(call).await?.json()?;
        Ok(answer.seq)
    }

    async fn pull(&self, after: u64) -> Result<Pulled, TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::Pull {
            ws: r.workspace.clone(),
            after,
        })
        .token(&r.token);
        let answer = r.http.send(call).await?;
        let (head, floor) = hearth_shared::answer::position(
            answer.header(HEAD_HEADER),
            answer.header(FLOOR_HEADER),
        )
        .map_err(TransportError::Protocol)?;
        Ok(Pulled {
            body: answer.body.to_vec(),
            head,
            floor,
        })
    }

    async fn put_snapshot(&self, upto: u64, snapshot: &[u8]) -> Result<u64, TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::PutSnapshot {
            ws: r.workspace.clone(),
            upto,
        })
        .token(&r.token)
        .bytes(snapshot);
        let answer: SnapshotResponse = r.http.send(call).await?.json()?;
        Ok(answer.floor)
    }

    async fn key_epochs(&self) -> Result<Vec<(u32, Vec<u8>)>, TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::ListKeys(r.workspace.clone())).token(&r.token);
        let answer: KeyEpochs = r.http.send(call).await?.json()?;
        answer.decoded().map_err(TransportError::Protocol)
    }

    async fn put_key_check(&self, epoch: u32, check: &[u8]) -> Result<(), TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::PutKeyCheck {
            ws: r.workspace.clone(),
            epoch,
        })
        .token(&r.token)
        .json(&PutKeyCheck::new(check))?;
        r.http.send(call).await?;
        Ok(())
    }

    async fn forget_compactions(&self) -> Result<(), TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::ForgetCompactions(r.workspace.clone())).token(&r.token);
        r.http.send(call).await?;
        Ok(())
    }

    fn token_id(&self) -> Option<hearth_shared::id::TokenId> {
        hearth_shared::claims::Claims::token_id(&self.remote().ok()?.token)
    }

    async fn put_device_key(&self, public_key: &[u8; 32]) -> Result<(), TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::PutDeviceKey(r.workspace.clone()))
            .token(&r.token)
            .json(&PutDeviceKey::new(public_key))?;
        r.http.send(call).await?;
        Ok(())
    }

    async fn device_wraps(&self) -> Result<Vec<Vec<u8>>, TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::GetDeviceKey(r.workspace.clone())).token(&r.token);
        let answer: DeviceKey = r.http.send(call).await?.json()?;
        answer.decoded().map_err(TransportError::Protocol)
    }

    async fn device_public_keys(&self) -> Result<Vec<(TokenId, [u8; 32])>, TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::ListTokens(r.workspace.clone())).token(&r.token);
        let answer: TokenList = r.http.send(call).await?.json()?;
        Ok(answer.device_keys())
    }

    async fn put_device_wraps(
        &self,
        epoch: u32,
        copies: &[(TokenId, Vec<u8>)],
    ) -> Result<(), TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::PutDeviceWraps {
            ws: r.workspace.clone(),
            epoch,
        })
        .token(&r.token)
        .json(&PutDeviceWraps::new(copies))?;
        r.http.send(call).await?;
        Ok(())
    }

    async fn put_recovery(
        &self,
        credential_hash: &[u8; 32],
        wrapped: &[Vec<u8>],
    ) -> Result<(), TransportError> {
        let r = self.remote()?;
        let call = Call::route(&Route::PutRecovery(r.workspace.clone()))
            .token(&r.token)
            .json(&PutRecovery::new(credential_hash, wrapped))?;
        r.http.send(call).await?;
        Ok(())
    }

    async fn next_head(&self, known: u64) -> Result<u64, TransportError> {
        let r = self.remote()?;
        let mut guard = self.events.lock().await;
        loop {
            if guard.is_none() {
                *guard = Some(self.open_events(&r).await?);
            }
            let Some(events) = guard.as_mut() else {
                continue;
            };
            let frame = match events.body.frame().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    *guard = None;
                    return Err(TransportError::Offline(format!("event stream broke: {e}")));
                }
                None => {
                    *guard = None;
                    return Err(TransportError::Offline(
                        "the server closed the event stream".into(),
                    ));
                }
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let mut newest = None;
            for head in events.parser.push(&data).iter().filter_map(|e| e.head()) {
                if head > known {
                    newest = Some(newest.map_or(head, |n: u64| n.max(head)));
                }
            }
            if let Some(head) = newest {
                return Ok(head);
            }
        }
    }
}
