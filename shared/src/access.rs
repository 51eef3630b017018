//! What a token is and what it may do: its [`Role`] (the owner's master
//! token or a device's access token) and its [`Scope`] (read-write or
//! read-only). The API's bodies (`api`) and the JWT claims (`claims`) both
//! carry them; each re-exports the one it was first defined in, so
//! `api::Scope` and `claims::Role` still name them.

use serde::{Deserialize, Serialize};

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

/// What a token may do with its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Read and write.
    #[serde(rename = "rw")]
    ReadWrite,
    /// Read only: pull and listen, never push or compact.
    #[serde(rename = "ro")]
    ReadOnly,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ReadWrite => "rw",
            Scope::ReadOnly => "ro",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rw" => Some(Scope::ReadWrite),
            "ro" => Some(Scope::ReadOnly),
            _ => None,
        }
    }

    pub fn can_write(self) -> bool {
        self == Scope::ReadWrite
    }
}
