//! The claims of the JWTs that the server signs (HS256).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub use crate::access::Role;
use crate::access::Scope;
use crate::id::{TokenId, WorkspaceId};

/// JWT claims. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The workspace this token opens, and no other.
    pub ws: WorkspaceId,
    pub role: Role,
    pub scope: Scope,
    /// The token id, looked up in the server's token index on every request.
    pub jti: TokenId,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
}

/// Why a token's claims could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("this is not a Hearth token (it must have three parts separated by dots)")]
    Shape,
    #[error("this token is damaged (its middle part is not base64url)")]
    Encoding,
    #[error("this token is not from a Hearth server ({0})")]
    Claims(String),
}

impl Claims {
    /// Reads the claims of `token` without checking its signature: a device
    /// uses them to show what a pasted token opens (the server checks the
    /// signature on every request). Never panics, whatever the input.
    pub fn read_unverified(token: &str) -> Result<Self, ClaimsError> {
        let mut parts = token.trim().split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ClaimsError::Shape);
        };
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| ClaimsError::Encoding)?;
        serde_json::from_slice(&json).map_err(|e| ClaimsError::Claims(e.to_string()))
    }

    /// The token id `token` carries (its claims read unchecked, as above);
    /// `None` for anything that is not a Hearth token.
    pub fn token_id(token: &str) -> Option<TokenId> {
        Self::read_unverified(token).ok().map(|claims| claims.jti)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn token_with(payload: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            b64.encode(br#"{"alg":"HS256"}"#),
            b64.encode(payload)
        )
    }

    #[test]
    fn reads_the_claims_of_a_token() {
        let claims = Claims {
            ws: WorkspaceId::parse("0123456789abcdef0123456789abcdef").unwrap(),
            role: Role::Access,
            scope: Scope::ReadOnly,
            jti: TokenId::parse("fedcba9876543210fedcba9876543210").unwrap(),
            iat: 1,
            nbf: 1,
            exp: 2,
        };
        let token = token_with(&serde_json::to_string(&claims).unwrap());
        assert_eq!(Claims::read_unverified(&token), Ok(claims));
    }

    #[test]
    fn bad_tokens_are_errors_not_panics() {
        for token in ["", "abc", "a.b", "a.b.c.d", "a.!!!.c", "a.\u{e9}\u{e9}.c"] {
            assert!(Claims::read_unverified(token).is_err(), "{token:?}");
        }
        assert_eq!(
            Claims::read_unverified(&token_with("{}"))
                .map_err(|e| matches!(e, ClaimsError::Claims(_))),
            Err(true)
        );
        // A workspace id that is short or not ASCII is refused, not sliced.
        let short = token_with(
            r#"{"ws":"\u00e9\u00e9","role":"access","scope":"rw","jti":"x","iat":0,"nbf":0,"exp":0}"#,
        );
        assert!(Claims::read_unverified(&short).is_err());
    }
}
