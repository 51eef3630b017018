//! Identifiers: workspace ids, token ids and chunk names.
//!
//! A workspace id is 32 lowercase hex characters (128 random bits). It is made
//! by the client, so that a workspace can exist before any server knows it,
//! and validated by the server before any file path is built from it. Token
//! ids (`jti`) and invite ids use the same format.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of characters of a [`WorkspaceId`] or [`TokenId`].
pub const ID_LEN: usize = 32;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an id is {ID_LEN} characters long, this one has {0}")]
    WrongLength(usize),
    #[error("an id has only the characters 0-9 and a-f (lowercase)")]
    BadCharacter,
}

fn validate(s: &str) -> Result<(), IdError> {
    if s.len() != ID_LEN {
        return Err(IdError::WrongLength(s.chars().count()));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

fn hex(bytes: [u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(ID_LEN);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Makes an id from 16 random bytes that the caller drew.
            pub fn from_random(bytes: [u8; 16]) -> Self {
                Self(hex(bytes))
            }

            /// Parses and validates an id.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                validate(s)?;
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                validate(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

hex_id!(
    /// The id of a workspace: 32 lowercase hex characters.
    WorkspaceId
);
hex_id!(
    /// The id of a token (`jti`) or an invite: 32 lowercase hex characters.
    TokenId
);
hex_id!(
    /// The id of a public read-only link to one note: 32 lowercase hex
    /// characters, random, chosen by the server.
    ShareId
);

/// Characters of a [`ChunkName`].
pub const CHUNK_NAME_LEN: usize = 64;

/// The name of a stored chunk of a file: the SHA-256 of its stored bytes
/// (its ciphertext, in an encrypted workspace), as 64 lowercase hex
/// characters. The server checks every chunk against its name, so a name
/// says what the bytes are, and a chunk is stored once however often it is
/// put.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChunkName([u8; 32]);

impl ChunkName {
    /// The name of bytes whose SHA-256 is `digest`.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        ChunkName(digest)
    }

    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 lowercase hex characters.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() != CHUNK_NAME_LEN {
            return Err(IdError::WrongLength(s.chars().count()));
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(IdError::BadCharacter),
            };
            let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
                return Err(IdError::BadCharacter);
            };
            *byte = digit(hi)? << 4 | digit(lo)?;
        }
        Ok(ChunkName(out))
    }
}

impl fmt::Display for ChunkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = [&self.0[..16], &self.0[16..]].map(|half| {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(half);
            hex(bytes)
        });
        write!(f, "{a}{b}")
    }
}

impl fmt::Debug for ChunkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkName({self})")
    }
}

impl FromStr for ChunkName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ChunkName {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<ChunkName> for String {
    fn from(name: ChunkName) -> String {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names_are_64_lowercase_hex_characters() {
        let name = ChunkName::from_digest([0xa5; 32]);
        assert_eq!(name.to_string(), "a5".repeat(32));
        assert_eq!(ChunkName::parse(&name.to_string()), Ok(name));
        assert!(ChunkName::parse(&"A5".repeat(32)).is_err());
        assert!(ChunkName::parse(&"a5".repeat(31)).is_err());
        assert!(ChunkName::parse(&format!("{}/x", "a".repeat(62))).is_err());
        assert!(ChunkName::parse(&"é".repeat(32)).is_err());
    }

    #[test]
    fn workspace_id_format_is_strict() {
        let cases: &[(&str, bool)] = &[
            ("0123456789abcdef0123456789abcdef", true),
            ("00000000000000000000000000000000", true),
            ("0123456789ABCDEF0123456789abcdef", false), // uppercase
            ("0123456789abcdef0123456789abcde", false),  // 31
            ("0123456789abcdef0123456789abcdef0", false), // 33
            ("../../../../etc/passwd/aaaaaaaaaa", false),
            ("0123456789abcdef0123456789abcde/", false),
            ("0123456789abcdef0123456789abcdeg", false),
            ("", false),
            ("0123456789abcdef0123456789abcdé", false), // multi-byte
        ];
        for (input, ok) in cases {
            assert_eq!(WorkspaceId::parse(input).is_ok(), *ok, "{input:?}");
        }
    }

    #[test]
    fn random_ids_round_trip() {
        let id = WorkspaceId::from_random([0xab; 16]);
        assert_eq!(id.as_str(), "abababababababababababababababab");
        let json = serde_json::to_string(&id).unwrap();
        let back: WorkspaceId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<WorkspaceId>("\"nope\"").is_err());
    }
}
