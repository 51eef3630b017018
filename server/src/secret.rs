//! The JWT signing secret: 32 random bytes in `<data dir>/secret.key`,
//! created on first start, atomically and readable by its owner only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use crate::fsutil::{fsync_dir, random_bytes};

/// The name of the secret's file in the data directory.
pub const SECRET_FILE: &str = "secret.key";
/// Bytes of a newly made secret.
pub const SECRET_LEN: usize = 32;

/// The signing secret. Its `Debug` never shows the bytes.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Loads the secret from `data_dir`, making it first if there is none.
///
/// A new secret is written to a temporary file (mode 0600), synced, and then
/// hard-linked to its name, which fails if another process got there first;
/// so the file is never seen half-written and never replaced.
pub fn load_or_create(data_dir: &Path) -> io::Result<Secret> {
    let path = data_dir.join(SECRET_FILE);
    match read(&path) {
        Ok(secret) => return Ok(secret),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }

    let mut bytes = vec![0u8; SECRET_LEN];
    random_bytes(&mut bytes)?;
    install(data_dir, bytes)
}

/// Keeps `bytes` as the data directory's signing secret, unless it has one
/// (then that one is returned): `hearth migrate` moves the secret with the
/// workspaces, so every token stays valid.
pub fn install(data_dir: &Path, bytes: Vec<u8>) -> io::Result<Secret> {
    let path = data_dir.join(SECRET_FILE);
    let tmp = data_dir.join(format!("{SECRET_FILE}.tmp-{}", hex(&bytes[..4])));
    {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            fsync_dir(data_dir)?;
            Ok(Secret(bytes))
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => read(&path),
        Err(err) => Err(err),
    }
}

fn read(path: &Path) -> io::Result<Secret> {
    let mut file = File::open(path)?;
    #[cfg(unix)]
    {
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the signing secret was readable by others; making it owner-only");
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    if bytes.len() < SECRET_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is shorter than {SECRET_LEN} bytes", path.display()),
        ));
    }
    Ok(Secret(bytes))
}

/// Lowercase hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_made_once_and_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert_eq!(first.bytes().len(), SECRET_LEN);
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.bytes(), again.bytes());
        #[cfg(unix)]
        {
            let mode = fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{first:?}"), "Secret(..)");
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1);
    }

    #[test]
    fn a_short_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SECRET_FILE), b"short").unwrap();
        assert!(load_or_create(dir.path()).is_err());
    }
}
