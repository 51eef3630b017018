//! The claims of the JWTs that the server signs (HS256).

use serde::{Deserialize, Serialize};

use crate::api::Scope;
use crate::id::{TokenId, WorkspaceId};

/// Which kind of token: the workspace owner's master token, or a device's
/// access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Master,
    Access,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Access => "access",
        }
    }
}

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
