//! Tokens: signing (HS256) and checking.
//!
//! [`verify`] is the pure part: signature with HS256 only, `nbf` and `exp`
//! against a `now` the caller passes, and the `ws` claim against the path.
//! [`authorize`] adds the token index: the token id must be known, belong to
//! that workspace, and not be revoked. Roles and scopes come from the index.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hearth_shared::api::Scope;
use hearth_shared::claims::{Claims, Role};
use hearth_shared::error::ErrorCode;
use hearth_shared::id::{TokenId, WorkspaceId};
use hyper::header::{AUTHORIZATION, HeaderMap};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::error::ApiError;
use crate::index::Index;

/// Seconds of clock difference tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 5;
/// `exp` of tokens that do not expire by time (100 years).
pub const NO_EXPIRY_SECS: u64 = 100 * 365 * 24 * 60 * 60;
/// How often at most a token's last-seen time is written.
pub const LAST_SEEN_EVERY_SECS: u64 = 60;

/// The keys made from the signing secret. `Debug` shows nothing.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        // HS256 only; exp and nbf are checked by `verify` against the
        // caller's clock, so that tests can move time.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs claims into a JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ApiError::internal("signing a token", e))
    }
}

/// Claims for a new token issued at `now`, valid for `lifetime` seconds (or
/// without time limit).
pub fn new_claims(
    ws: &WorkspaceId,
    role: Role,
    scope: Scope,
    jti: &TokenId,
    now: u64,
    lifetime: Option<u64>,
) -> Claims {
    Claims {
        ws: ws.clone(),
        role,
        scope,
        jti: jti.clone(),
        iat: now,
        nbf: now,
        exp: now.saturating_add(lifetime.unwrap_or(NO_EXPIRY_SECS)),
    }
}

/// Checks a JWT's signature, algorithm, times and workspace. Pure.
pub fn verify(keys: &Keys, token: &str, ws: &WorkspaceId, now: u64) -> Result<Claims, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InvalidToken, "the token is not valid");
    let data = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &keys.validation)
        .map_err(|_| invalid())?;
    let claims = data.claims;
    if claims.nbf > now.saturating_add(LEEWAY_SECS) {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the token is not valid yet",
        ));
    }
    if claims.exp.saturating_add(LEEWAY_SECS) <= now {
        return Err(ApiError::new(
            ErrorCode::TokenExpired,
            "the token has expired",
        ));
    }
    if &claims.ws != ws {
        return Err(ApiError::new(
            ErrorCode::WrongWorkspace,
            "the token belongs to another workspace",
        ));
    }
    Ok(claims)
}

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingToken,
            "send the token as Authorization: Bearer <token>",
        )
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::new(ErrorCode::InvalidToken, "the token is not valid"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::MissingToken,
            "send the token as Authorization: Bearer <token>",
        ));
    }
    Ok(token.trim())
}

/// Who made a request, as far as the index says.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: TokenId,
    pub role: Role,
    pub scope: Scope,
}

impl Caller {
    pub fn require_master(&self) -> Result<(), ApiError> {
        if self.role == Role::Master {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::MasterRequired,
                "only the workspace's master token may do this",
            ))
        }
    }

    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.scope.can_write() {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::ReadOnly,
                "this token is read-only",
            ))
        }
    }
}

/// What checks tokens: the signing keys, the token index, the cache of its
/// answers and the last-seen throttle. The server's state holds one.
pub struct Auth {
    pub keys: Keys,
    /// The token index, with its cache of token statuses in front.
    pub index: Arc<dyn Index>,
    pub last_seen: LastSeen,
}

/// Authorizes a request on workspace `ws` at time `now`.
pub async fn authorize(
    app: &Auth,
    headers: &HeaderMap,
    ws: &WorkspaceId,
    now: u64,
) -> Result<Caller, ApiError> {
    authorize_token(app, bearer(headers)?, ws, now).await
}

/// Authorizes a bearer token on workspace `ws` at time `now` (also used to
/// re-check the token of a long-lived event stream).
pub async fn authorize_token(
    app: &Auth,
    token: &str,
    ws: &WorkspaceId,
    now: u64,
) -> Result<Caller, ApiError> {
    let claims = verify(&app.keys, token, ws, now)?;
    let status = app
        .index
        .token_status(claims.jti.clone())
        .await
        .map_err(|e| ApiError::index("checking a token", e))?;
    let revoked = || ApiError::new(ErrorCode::TokenRevoked, "the token was revoked");
    let status = status.ok_or_else(revoked)?;
    if status.workspace != ws.as_str() {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the token is not valid",
        ));
    }
    if status.revoked {
        return Err(revoked());
    }
    if status.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::new(
            ErrorCode::TokenExpired,
            "the token has expired; the workspace's owner can pair this device again",
        ));
    }
    app.last_seen.touch(&app.index, &claims.jti, now);
    Ok(Caller {
        token_id: claims.jti,
        role: status.role,
        scope: status.scope,
    })
}

/// Throttles last-seen writes: at most one per token per
/// [`LAST_SEEN_EVERY_SECS`], written in the background.
#[derive(Default)]
pub struct LastSeen {
    /// When each token's last-seen time was last written.
    written: Mutex<HashMap<TokenId, u64>>,
}

impl LastSeen {
    fn touch(&self, index: &Arc<dyn Index>, id: &TokenId, now: u64) {
        {
            let Ok(mut written) = self.written.lock() else {
                return;
            };
            match written.get(id) {
                Some(&at) if now < at.saturating_add(LAST_SEEN_EVERY_SECS) => return,
                _ => {}
            }
            written.insert(id.clone(), now);
        }
        let index = index.clone();
        let id = id.clone();
        tokio::spawn(async move {
            if let Err(err) = index.touch_token(id, now).await {
                tracing::warn!(error = %err, "cannot record a token's last use");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(b: u8) -> WorkspaceId {
        WorkspaceId::from_random([b; 16])
    }

    #[test]
    fn verification_cases() {
        let keys = Keys::new(&[7u8; 32]);
        let other_keys = Keys::new(&[8u8; 32]);
        let jti = TokenId::from_random([3; 16]);
        let now = 1_000_000;
        let good = keys
            .sign(&new_claims(
                &ws(1),
                Role::Access,
                Scope::ReadWrite,
                &jti,
                now,
                Some(60),
            ))
            .unwrap();
        let forged = other_keys
            .sign(&new_claims(
                &ws(1),
                Role::Master,
                Scope::ReadWrite,
                &jti,
                now,
                None,
            ))
            .unwrap();
        let mut future = new_claims(&ws(1), Role::Access, Scope::ReadWrite, &jti, now, Some(60));
        future.nbf = now + 3600;
        let future = keys.sign(&future).unwrap();
        // alg: none, with the same claims.
        let payload = good.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        // HS512 with the right secret: the algorithm is pinned.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &new_claims(&ws(1), Role::Access, Scope::ReadWrite, &jti, now, Some(60)),
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();

        let cases: Vec<(&str, &str, WorkspaceId, u64, Option<ErrorCode>)> = vec![
            ("good", &good, ws(1), now, None),
            (
                "good, in leeway",
                &good,
                ws(1),
                now + 60 + LEEWAY_SECS - 1,
                None,
            ),
            (
                "expired",
                &good,
                ws(1),
                now + 60 + LEEWAY_SECS,
                Some(ErrorCode::TokenExpired),
            ),
            (
                "other workspace",
                &good,
                ws(2),
                now,
                Some(ErrorCode::WrongWorkspace),
            ),
            ("forged", &forged, ws(1), now, Some(ErrorCode::InvalidToken)),
            (
                "not yet valid",
                &future,
                ws(1),
                now,
                Some(ErrorCode::InvalidToken),
            ),
            ("alg none", &none, ws(1), now, Some(ErrorCode::InvalidToken)),
            ("hs512", &hs512, ws(1), now, Some(ErrorCode::InvalidToken)),
            (
                "garbage",
                "a.b.c",
                ws(1),
                now,
                Some(ErrorCode::InvalidToken),
            ),
            ("empty", "", ws(1), now, Some(ErrorCode::InvalidToken)),
        ];
        for (name, token, ws, at, want) in cases {
            let got = verify(&keys, token, &ws, at).err().map(|e| e.code);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn bearer_header_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h).unwrap_err().code, ErrorCode::MissingToken);
        h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), "abc");
        h.insert(AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), "abc");
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap_err().code, ErrorCode::MissingToken);
    }
}
