//! The server key FAST tokens are derived from, and the derivation.
//!
//! The Hashed Token mechanism needs the token itself on the server: the client proves it
//! holds the token with `HMAC(token, …)`, and only the token opens that HMAC. So instead of
//! the token the database keeps a random nonce and the token's SHA-256, and the token is
//! `base64url(HMAC-SHA-256(key, "mucsub fast token v1" || nonce))` with a key that lives
//! outside the database (`[fast] key_file`, 0600). A copy of the database alone gives no
//! usable token; the stored hash tells a token derived with a different key apart (a
//! replaced key file revokes every token, safely).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::path::Path;

const LABEL: &[u8] = b"mucsub fast token v1";

/// The 32-byte server key.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// Reads the key file, creating it (32 random bytes, mode 0600) when it is missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Key> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let k: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    anyhow::anyhow!(
                        "{}: a FAST key is 32 bytes, found {}",
                        path.display(),
                        bytes.len()
                    )
                })?;
                Ok(Key(k))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let k: [u8; 32] = rand::random();
                if let Some(dir) = path.parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)?;
                    }
                }
                write_private(path, &k)
                    .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
                Ok(Key(k))
            }
            Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        }
    }

    /// A key from bytes (tests).
    pub fn from_bytes(k: [u8; 32]) -> Key {
        Key(k)
    }

    /// The token for `nonce`.
    pub fn token(&self, nonce: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(LABEL);
        mac.update(nonce);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/fast.key");
        let a = Key::load_or_create(&path).unwrap();
        let b = Key::load_or_create(&path).unwrap();
        assert_eq!(a.token(b"n"), b.token(b"n"));
        assert_ne!(a.token(b"n"), a.token(b"m"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(Key::load_or_create(&path)
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
    }

    #[test]
    fn tokens_depend_on_the_key() {
        let t1 = Key::from_bytes([1; 32]).token(b"nonce");
        let t2 = Key::from_bytes([2; 32]).token(b"nonce");
        assert_ne!(t1, t2);
        assert_eq!(t1.len(), 43, "32 bytes, base64url without padding");
        assert_eq!(token_hash(&t1).len(), 32);
    }
}
