//! The route table of the `/v1` HTTP API: every route once, with its method,
//! its path and parameters, who may call it and what body it takes. The
//! server's router resolves requests with [`resolve`] (so 404 and 405 come
//! from the same table as the handlers), and every client builds its
//! requests with [`Route::method`] and [`Route::path`]; no other code spells
//! a `/v1` path.
//!
//! | route | method and path | who | body |
//! |---|---|---|---|
//! | [`Route::Health`] | `GET /v1/health` | anyone | |
//! | [`Route::Register`] | `POST /v1/workspaces` | a setup code (or anyone, on an open server) | JSON |
//! | [`Route::MintToken`] | `POST /v1/workspaces/{ws}/tokens` | master | JSON |
//! | [`Route::ListTokens`] | `GET /v1/workspaces/{ws}/tokens` | master | |
//! | [`Route::RevokeToken`] | `DELETE /v1/workspaces/{ws}/tokens/{id}` | master | |
//! | [`Route::SetExpiry`] | `PUT /v1/workspaces/{ws}/tokens/{id}/expiry` | master | JSON |
//! | [`Route::ReplaceMaster`] | `POST /v1/workspaces/{ws}/master` | master | |
//! | [`Route::CreateInvite`] | `POST /v1/workspaces/{ws}/invites` | master | JSON |
//! | [`Route::RedeemInvite`] | `POST /v1/invites/redeem` | an invite | JSON |
//! | [`Route::Push`] | `POST /v1/workspaces/{ws}/entries` | read-write | octets |
//! | [`Route::Pull`] | `GET /v1/workspaces/{ws}/entries?after={seq}` | any token | |
//! | [`Route::PutSnapshot`] | `PUT /v1/workspaces/{ws}/snapshot?upto={seq}` | read-write | octets |
//! | [`Route::UndoCompaction`] | `POST /v1/workspaces/{ws}/snapshot/undo` | master | |
//! | [`Route::ForgetCompactions`] | `DELETE /v1/workspaces/{ws}/snapshot/undo` | master | |
//! | [`Route::Events`] | `GET /v1/workspaces/{ws}/events` | any token | |
//! | [`Route::ListKeys`] | `GET /v1/workspaces/{ws}/keys` | any token | |
//! | [`Route::PutKeyCheck`] | `PUT /v1/workspaces/{ws}/keys/{epoch}` | master | JSON |
//! | [`Route::PutDeviceWraps`] | `PUT /v1/workspaces/{ws}/keys/{epoch}/devices` | master | JSON |
//! | [`Route::PutDeviceKey`] | `PUT /v1/workspaces/{ws}/device-key` | any token | JSON |
//! | [`Route::GetDeviceKey`] | `GET /v1/workspaces/{ws}/device-key` | any token | |
//! | [`Route::PutRecovery`] | `PUT /v1/workspaces/{ws}/recovery` | master | JSON |
//! | [`Route::RedeemRecovery`] | `POST /v1/recovery/redeem` | a recovery credential | JSON |
//! | [`Route::PutChunk`] | `PUT /v1/workspaces/{ws}/chunks/{name}` | read-write | octets |
//! | [`Route::GetChunk`] | `GET /v1/workspaces/{ws}/chunks/{name}` | any token | |
//! | [`Route::MissingChunks`] | `POST /v1/workspaces/{ws}/chunks/missing` | read-write | JSON |
//! | [`Route::UnreferencedChunks`] | `POST /v1/workspaces/{ws}/chunks/unreferenced` | master | JSON |
//! | [`Route::ListChunks`] | `GET /v1/workspaces/{ws}/chunks` | master | |
//! | [`Route::CreateShare`] | `POST /v1/workspaces/{ws}/shares` | read-write | JSON |
//! | [`Route::ListShares`] | `GET /v1/workspaces/{ws}/shares` | read-write | |
//! | [`Route::RevokeShare`] | `DELETE /v1/workspaces/{ws}/shares/{share}` | read-write | |
//! | [`Route::UpdateShare`] | `PUT /v1/workspaces/{ws}/shares/{share}` | read-write | JSON |
//! | [`Route::GetShare`] | `GET /v1/shares/{share}` | anyone with the link | |
//! | [`Route::GetShareChunk`] | `GET /v1/shares/{share}/chunks/{name}` | anyone with the link | |

use crate::id::{ChunkName, ShareId, TokenId, WorkspaceId};

/// The path prefix of the API.
pub const PREFIX: &str = "/v1";

/// The page a public read-only link opens (outside the API and the app:
/// `{server}/share#{share id}.{key}`).
pub const SHARE_PAGE: &str = "/share";

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Anyone,
    /// Whoever holds a setup code (anyone, on a server with open registration).
    SetupCode,
    /// The holder of an invite.
    Invite,
    /// The holder of a workspace's recovery key (its recovery credential).
    RecoveryKey,
    /// The workspace's master token.
    Master,
    /// A read-write token of the workspace.
    ReadWrite,
    /// Any token of the workspace.
    AnyToken,
}

/// What a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    /// `application/json`.
    Json,
    /// `application/octet-stream`.
    Octets,
}

/// One request of the API, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Register,
    MintToken(WorkspaceId),
    ListTokens(WorkspaceId),
    RevokeToken(WorkspaceId, TokenId),
    SetExpiry(WorkspaceId, TokenId),
    ReplaceMaster(WorkspaceId),
    CreateInvite(WorkspaceId),
    RedeemInvite,
    Push(WorkspaceId),
    Pull { ws: WorkspaceId, after: u64 },
    PutSnapshot { ws: WorkspaceId, upto: u64 },
    UndoCompaction(WorkspaceId),
    ForgetCompactions(WorkspaceId),
    Events(WorkspaceId),
    ListKeys(WorkspaceId),
    PutKeyCheck { ws: WorkspaceId, epoch: u32 },
    PutDeviceWraps { ws: WorkspaceId, epoch: u32 },
    PutDeviceKey(WorkspaceId),
    GetDeviceKey(WorkspaceId),
    PutRecovery(WorkspaceId),
    RedeemRecovery,
    PutChunk { ws: WorkspaceId, name: ChunkName },
    GetChunk { ws: WorkspaceId, name: ChunkName },
    MissingChunks(WorkspaceId),
    UnreferencedChunks(WorkspaceId),
    ListChunks(WorkspaceId),
    CreateShare(WorkspaceId),
    ListShares(WorkspaceId),
    RevokeShare(WorkspaceId, ShareId),
    UpdateShare(WorkspaceId, ShareId),
    GetShare(ShareId),
    GetShareChunk { share: ShareId, name: ChunkName },
}

impl Route {
    pub fn method(&self) -> Method {
        use Route::*;
        match self {
            Health
            | ListTokens(_)
            | Pull { .. }
            | Events(_)
            | ListKeys(_)
            | GetDeviceKey(_)
            | GetChunk { .. }
            | ListChunks(_)
            | ListShares(_)
            | GetShare(_)
            | GetShareChunk { .. } => Method::Get,
            Register
            | MintToken(_)
            | ReplaceMaster(_)
            | CreateInvite(_)
            | RedeemInvite
            | Push(_)
            | UndoCompaction(_)
            | RedeemRecovery
            | MissingChunks(_)
            | UnreferencedChunks(_)
            | CreateShare(_) => Method::Post,
            SetExpiry(..)
            | PutSnapshot { .. }
            | PutKeyCheck { .. }
            | PutDeviceWraps { .. }
            | PutDeviceKey(_)
            | PutRecovery(_)
            | PutChunk { .. }
            | UpdateShare(..) => Method::Put,
            RevokeToken(..) | ForgetCompactions(_) | RevokeShare(..) => Method::Delete,
        }
    }

    /// Who may call it.
    pub fn caller(&self) -> Caller {
        use Route::*;
        match self {
            Health | GetShare(_) | GetShareChunk { .. } => Caller::Anyone,
            Register => Caller::SetupCode,
            RedeemInvite => Caller::Invite,
            RedeemRecovery => Caller::RecoveryKey,
            MintToken(_)
            | ListTokens(_)
            | RevokeToken(..)
            | SetExpiry(..)
            | ReplaceMaster(_)
            | CreateInvite(_)
            | UndoCompaction(_)
            | ForgetCompactions(_)
            | PutKeyCheck { .. }
            | PutDeviceWraps { .. }
            | PutRecovery(_)
            | UnreferencedChunks(_)
            | ListChunks(_) => Caller::Master,
            Push(_)
            | PutSnapshot { .. }
            | PutChunk { .. }
            | MissingChunks(_)
            | CreateShare(_)
            | ListShares(_)
            | RevokeShare(..)
            | UpdateShare(..) => Caller::ReadWrite,
            Pull { .. }
            | Events(_)
            | ListKeys(_)
            | PutDeviceKey(_)
            | GetDeviceKey(_)
            | GetChunk { .. } => Caller::AnyToken,
        }
    }

    /// The body it takes.
    pub fn body(&self) -> Body {
        use Route::*;
        match self {
            Register
            | MintToken(_)
            | SetExpiry(..)
            | CreateInvite(_)
            | RedeemInvite
            | PutKeyCheck { .. }
            | PutDeviceWraps { .. }
            | PutDeviceKey(_)
            | PutRecovery(_)
            | RedeemRecovery
            | MissingChunks(_)
            | UnreferencedChunks(_)
            | CreateShare(_)
            | UpdateShare(..) => Body::Json,
            Push(_) | PutSnapshot { .. } | PutChunk { .. } => Body::Octets,
            _ => Body::None,
        }
    }

    /// The path and query, e.g. `/v1/workspaces/{ws}/entries?after=7`.
    pub fn path(&self) -> String {
        use Route::*;
        let ws = |ws: &WorkspaceId, rest: &str| format!("{PREFIX}/workspaces/{ws}/{rest}");
        match self {
            Health => format!("{PREFIX}/health"),
            Register => format!("{PREFIX}/workspaces"),
            MintToken(w) | ListTokens(w) => ws(w, "tokens"),
            RevokeToken(w, id) => ws(w, &format!("tokens/{id}")),
            SetExpiry(w, id) => ws(w, &format!("tokens/{id}/expiry")),
            ReplaceMaster(w) => ws(w, "master"),
            CreateInvite(w) => ws(w, "invites"),
            RedeemInvite => format!("{PREFIX}/invites/redeem"),
            Push(w) => ws(w, "entries"),
            Pull { ws: w, after } => ws(w, &format!("entries?after={after}")),
            PutSnapshot { ws: w, upto } => ws(w, &format!("snapshot?upto={upto}")),
            UndoCompaction(w) | ForgetCompactions(w) => ws(w, "snapshot/undo"),
            Events(w) => ws(w, "events"),
            ListKeys(w) => ws(w, "keys"),
            PutKeyCheck { ws: w, epoch } => ws(w, &format!("keys/{epoch}")),
            PutDeviceWraps { ws: w, epoch } => ws(w, &format!("keys/{epoch}/devices")),
            PutDeviceKey(w) | GetDeviceKey(w) => ws(w, "device-key"),
            PutRecovery(w) => ws(w, "recovery"),
            RedeemRecovery => format!("{PREFIX}/recovery/redeem"),
            PutChunk { ws: w, name } | GetChunk { ws: w, name } => ws(w, &format!("chunks/{name}")),
            MissingChunks(w) => ws(w, "chunks/missing"),
            UnreferencedChunks(w) => ws(w, "chunks/unreferenced"),
            ListChunks(w) => ws(w, "chunks"),
            CreateShare(w) | ListShares(w) => ws(w, "shares"),
            RevokeShare(w, id) | UpdateShare(w, id) => ws(w, &format!("shares/{id}")),
            GetShare(id) => format!("{PREFIX}/shares/{id}"),
            GetShareChunk { share, name } => format!("{PREFIX}/shares/{share}/chunks/{name}"),
        }
    }

    /// `server` (an origin, with or without a trailing `/`) and the path.
    pub fn url(&self, server: &str) -> String {
        format!("{}{}", server.trim_end_matches('/'), self.path())
    }
}

/// Why a request matches no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// Not under `/v1`.
    NotApi,
    /// No route has this path.
    NotFound,
    /// A route has this path, but not with this method.
    MethodNotAllowed,
    /// A path parameter is not a workspace id.
    BadWorkspaceId(String),
    /// A path parameter is not a token id.
    BadTokenId(String),
    /// A query parameter is missing or not a number.
    BadQuery(String),
    /// A path parameter is not a chunk name.
    BadChunkName(String),
    /// A path parameter is not a share id.
    BadShareId(String),
}

/// Whether `path` is under the API's prefix.
pub fn is_api(path: &str) -> bool {
    path == PREFIX
        || path
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The route of a request (`method` as sent, e.g. `GET`; `HEAD` counts as
/// `GET` for the health check), or why there is none.
pub fn resolve(method: &str, path: &str, query: Option<&str>) -> Result<Route, Unresolved> {
    let rest = path.strip_prefix(PREFIX).ok_or(Unresolved::NotApi)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return Err(Unresolved::NotApi);
    }
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let method = match method {
        "GET" => Method::Get,
        "HEAD" if segments == ["health"] => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => {
            return Err(if matches_any_route(&segments) {
                Unresolved::MethodNotAllowed
            } else {
                Unresolved::NotFound
            });
        }
    };
    let ws = |s: &str| WorkspaceId::parse(s).map_err(|e| Unresolved::BadWorkspaceId(e.to_string()));
    let token = |s: &str| TokenId::parse(s).map_err(|e| Unresolved::BadTokenId(e.to_string()));
    let chunk = |s: &str| ChunkName::parse(s).map_err(|e| Unresolved::BadChunkName(e.to_string()));
    let share = |s: &str| ShareId::parse(s).map_err(|e| Unresolved::BadShareId(e.to_string()));
    use Method::*;
    let route = match (method, segments.as_slice()) {
        (Get, ["health"]) => Route::Health,
        (Post, ["workspaces"]) => Route::Register,
        (Post, ["workspaces", w, "tokens"]) => Route::MintToken(ws(w)?),
        (Get, ["workspaces", w, "tokens"]) => Route::ListTokens(ws(w)?),
        (Delete, ["workspaces", w, "tokens", id]) => Route::RevokeToken(ws(w)?, token(id)?),
        (Put, ["workspaces", w, "tokens", id, "expiry"]) => Route::SetExpiry(ws(w)?, token(id)?),
        (Post, ["workspaces", w, "master"]) => Route::ReplaceMaster(ws(w)?),
        (Post, ["workspaces", w, "invites"]) => Route::CreateInvite(ws(w)?),
        (Post, ["invites", "redeem"]) => Route::RedeemInvite,
        (Post, ["workspaces", w, "entries"]) => Route::Push(ws(w)?),
        (Get, ["workspaces", w, "entries"]) => {
            let after = match query_param(query, "after") {
                None | Some("") => 0,
                Some(raw) => raw.parse().map_err(|_| {
                    Unresolved::BadQuery("`after` must be a sequence number".into())
                })?,
            };
            Route::Pull { ws: ws(w)?, after }
        }
        (Put, ["workspaces", w, "snapshot"]) => {
            let raw = query_param(query, "upto").ok_or_else(|| {
                Unresolved::BadQuery("the query parameter `upto` is missing".into())
            })?;
            let upto = raw.parse().map_err(|_| {
                Unresolved::BadQuery("the query parameter `upto` is not a number".into())
            })?;
            Route::PutSnapshot { ws: ws(w)?, upto }
        }
        (Post, ["workspaces", w, "snapshot", "undo"]) => Route::UndoCompaction(ws(w)?),
        (Delete, ["workspaces", w, "snapshot", "undo"]) => Route::ForgetCompactions(ws(w)?),
        (Get, ["workspaces", w, "events"]) => Route::Events(ws(w)?),
        (Get, ["workspaces", w, "keys"]) => Route::ListKeys(ws(w)?),
        (Put, ["workspaces", w, "keys", epoch]) => Route::PutKeyCheck {
            ws: ws(w)?,
            epoch: key_epoch(epoch)?,
        },
        (Put, ["workspaces", w, "keys", epoch, "devices"]) => Route::PutDeviceWraps {
            ws: ws(w)?,
            epoch: key_epoch(epoch)?,
        },
        (Put, ["workspaces", w, "device-key"]) => Route::PutDeviceKey(ws(w)?),
        (Get, ["workspaces", w, "device-key"]) => Route::GetDeviceKey(ws(w)?),
        (Put, ["workspaces", w, "recovery"]) => Route::PutRecovery(ws(w)?),
        (Post, ["recovery", "redeem"]) => Route::RedeemRecovery,
        (Post, ["workspaces", w, "chunks", "missing"]) => Route::MissingChunks(ws(w)?),
        (Post, ["workspaces", w, "chunks", "unreferenced"]) => Route::UnreferencedChunks(ws(w)?),
        (Put, ["workspaces", w, "chunks", name]) => Route::PutChunk {
            ws: ws(w)?,
            name: chunk(name)?,
        },
        (Get, ["workspaces", w, "chunks", name]) => Route::GetChunk {
            ws: ws(w)?,
            name: chunk(name)?,
        },
        (Get, ["workspaces", w, "chunks"]) => Route::ListChunks(ws(w)?),
        (Post, ["workspaces", w, "shares"]) => Route::CreateShare(ws(w)?),
        (Get, ["workspaces", w, "shares"]) => Route::ListShares(ws(w)?),
        (Delete, ["workspaces", w, "shares", id]) => Route::RevokeShare(ws(w)?, share(id)?),
        (Put, ["workspaces", w, "shares", id]) => Route::UpdateShare(ws(w)?, share(id)?),
        (Get, ["shares", id]) => Route::GetShare(share(id)?),
        (Get, ["shares", id, "chunks", name]) => Route::GetShareChunk {
            share: share(id)?,
            name: chunk(name)?,
        },
        (_, s) if matches_any_route(s) => return Err(Unresolved::MethodNotAllowed),
        _ => return Err(Unresolved::NotFound),
    };
    Ok(route)
}

/// A key epoch in a path: 1 to `u32::MAX`.
fn key_epoch(text: &str) -> Result<u32, Unresolved> {
    text.parse().ok().filter(|e: &u32| *e > 0).ok_or_else(|| {
        Unresolved::BadQuery("a key epoch in the path must be a number from 1 to 4294967295".into())
    })
}

/// Whether some route has this path (with any method).
fn matches_any_route(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["health"]
            | ["workspaces"]
            | ["workspaces", _, "tokens"]
            | ["workspaces", _, "tokens", _]
            | ["workspaces", _, "tokens", _, "expiry"]
            | ["workspaces", _, "master"]
            | ["workspaces", _, "invites"]
            | ["invites", "redeem"]
            | ["workspaces", _, "entries" | "snapshot" | "events"]
            | ["workspaces", _, "snapshot", "undo"]
            | ["workspaces", _, "keys"]
            | ["workspaces", _, "keys", _]
            | ["workspaces", _, "keys", _, "devices"]
            | ["workspaces", _, "device-key"]
            | ["workspaces", _, "recovery"]
            | ["recovery", "redeem"]
            | ["workspaces", _, "chunks", _]
            | ["workspaces", _, "chunks"]
            | ["workspaces", _, "shares"]
            | ["workspaces", _, "shares", _]
            | ["shares", _]
            | ["shares", _, "chunks", _]
    )
}

/// The value of query parameter `name` (no percent-decoding: the parameters
/// of this API are numbers).
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
