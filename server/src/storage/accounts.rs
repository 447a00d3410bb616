//! Accounts and their SCRAM credentials: the [`AccountStore`] contract both engines
//! implement (`sqlite/accounts.rs`, `postgres/accounts.rs`).

use super::types::BoxFuture;

/// Accounts and their SCRAM credentials.
pub trait AccountStore: Send + Sync {
    /// Creates an account; `Ok(false)` when it exists already.
    fn create<'a>(
        &'a self,
        user: &'a str,
        creds: Credentials,
    ) -> BoxFuture<'a, anyhow::Result<bool>>;
    /// Replaces the credentials; `Ok(false)` when there is no such account.
    fn set_credentials<'a>(
        &'a self,
        user: &'a str,
        creds: Credentials,
    ) -> BoxFuture<'a, anyhow::Result<bool>>;
    /// Deletes the account with its offline messages, push registrations and FAST tokens,
    /// in one
    /// transaction; `Ok(false)` when there was none. (Its MucSub subscriptions go lazily:
    /// docs/protocol.md S13.)
    fn remove<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<bool>>;
    fn credentials<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<Credentials>>>;
    /// Every account, sorted by name.
    fn list(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>>;
}

/// What is kept of a password: the salt, the iteration count and the PBKDF2 salted
/// passwords for SCRAM-SHA-1 and SCRAM-SHA-256 (what the `sasl` crate's server side asks
/// for, from which StoredKey and ServerKey are derived). Never the password itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub salted_sha1: Vec<u8>,
    pub salted_sha256: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// PBKDF2 iterations for new credentials (RFC 7677 recommends at least 4096).
pub const ITERATIONS: u32 = 4096;

impl Credentials {
    /// Derives credentials from a password with a fresh random salt.
    pub fn derive(password: &str) -> anyhow::Result<Credentials> {
        let salt: [u8; 16] = rand::random();
        Self::derive_with(password, &salt, ITERATIONS)
    }

    pub fn derive_with(
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> anyhow::Result<Credentials> {
        let s1 = sasl::secret::Pbkdf2Sha1::derive(password, salt, iterations)
            .map_err(|e| anyhow::anyhow!("deriving SCRAM-SHA-1 secret: {e:?}"))?;
        let s256 = sasl::secret::Pbkdf2Sha256::derive(password, salt, iterations)
            .map_err(|e| anyhow::anyhow!("deriving SCRAM-SHA-256 secret: {e:?}"))?;
        Ok(Credentials {
            salt: salt.to_vec(),
            iterations,
            salted_sha1: s1.digest,
            salted_sha256: s256.digest,
        })
    }

    /// Checks a plaintext password (SASL PLAIN) in constant time.
    pub fn verify(&self, password: &str) -> bool {
        match sasl::secret::Pbkdf2Sha256::derive(password, &self.salt, self.iterations) {
            Ok(other) => {
                let a = &other.digest;
                let b = &self.salted_sha256;
                a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
            }
            Err(_) => false,
        }
    }
}
