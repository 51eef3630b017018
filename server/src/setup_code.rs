//! One-time setup codes: who may register a workspace on a server run with
//! `--registration code` (the default). A code is 16 characters of
//! Crockford base32 (80 random bits) in groups of four, e.g.
//! `7K3Q-9MXD-2VHT-8CRA`; the index keeps only its SHA-256. Each registers
//! one workspace and is valid for [`SETUP_CODE_SECS`].

use sha2::{Digest as _, Sha256};

use crate::fsutil::random_bytes;
use crate::index::{Index, IndexError};

/// How long a setup code is valid (one day).
pub const SETUP_CODE_SECS: u64 = 24 * 60 * 60;

/// Crockford's base32 alphabet: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh code, for a person to read and type.
fn fresh() -> std::io::Result<String> {
    let mut bytes = [0u8; 10];
    random_bytes(&mut bytes)?;
    // 80 bits, 5 at a time.
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let shift = 75 - 5 * i;
        let index = ((bits >> shift) & 31) as usize;
        out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'0')));
    }
    Ok(out)
}

/// The canonical form of a typed code: upper case, without separators,
/// with the letters Crockford maps (O → 0, I and L → 1).
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

/// The hash the index keeps of a code.
pub fn hash(typed: &str) -> [u8; 32] {
    Sha256::digest(normalize(typed).as_bytes()).into()
}

/// Makes a new code valid from `now`, stores its hash, and returns it.
/// Codes that expired are deleted on the way.
pub async fn issue(index: &dyn Index, now: u64) -> Result<String, IndexError> {
    let code = fresh().map_err(|e| IndexError::Other(format!("drawing a setup code: {e}")))?;
    index
        .add_setup_code(
            hash(&code).to_vec(),
            now,
            now.saturating_add(SETUP_CODE_SECS),
        )
        .await?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_typing_variants_match() {
        let code = fresh().unwrap();
        assert_eq!(code.len(), 19);
        assert_eq!(code.matches('-').count(), 3);
        assert!(
            code.chars()
                .all(|c| c == '-' || ALPHABET.contains(&(c as u8)))
        );
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(hash(&typed), hash(&code));
        assert_eq!(normalize("o1l-i"), "0111");
        assert_ne!(fresh().unwrap(), code);
    }
}
