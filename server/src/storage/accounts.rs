use super::db::{BoxFuture, Db};
use rusqlite::OptionalExtension;

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
    /// Deletes the account and its offline messages; `Ok(false)` when there was none.
    fn remove<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<bool>>;
    fn credentials<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<Credentials>>>;
    fn list(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>>;
}

const MIGRATIONS: &[&str] = &["CREATE TABLE accounts(
        username TEXT PRIMARY KEY,
        salt BLOB NOT NULL,
        iterations INTEGER NOT NULL,
        salted_sha1 BLOB NOT NULL,
        salted_sha256 BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    )"];

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

/// [`AccountStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteAccounts {
    db: Db,
}

impl SqliteAccounts {
    /// Runs the `accounts` migrations and returns the store.
    pub async fn new(db: Db) -> anyhow::Result<Self> {
        db.migrate("accounts", MIGRATIONS).await?;
        Ok(SqliteAccounts { db })
    }
}

impl AccountStore for SqliteAccounts {
    fn create<'a>(&'a self, user: &'a str, c: Credentials) -> BoxFuture<'a, anyhow::Result<bool>> {
        let user = user.to_owned();
        Box::pin(self.db.call(move |conn| {
            let n = conn.execute(
                "INSERT OR IGNORE INTO accounts(username, salt, iterations, salted_sha1,
                 salted_sha256, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    user,
                    c.salt,
                    c.iterations,
                    c.salted_sha1,
                    c.salted_sha256,
                    crate::time::now_millis()
                ],
            )?;
            Ok(n == 1)
        }))
    }

    fn set_credentials<'a>(
        &'a self,
        user: &'a str,
        c: Credentials,
    ) -> BoxFuture<'a, anyhow::Result<bool>> {
        let user = user.to_owned();
        Box::pin(self.db.call(move |conn| {
            let n = conn.execute(
                "UPDATE accounts SET salt = ?2, iterations = ?3, salted_sha1 = ?4,
                 salted_sha256 = ?5 WHERE username = ?1",
                rusqlite::params![user, c.salt, c.iterations, c.salted_sha1, c.salted_sha256],
            )?;
            Ok(n == 1)
        }))
    }

    fn remove<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<bool>> {
        let user = user.to_owned();
        Box::pin(self.db.call(move |conn| {
            let tx = conn.transaction()?;
            // The offline table may not exist when the offline store was never opened.
            let has_offline: bool = tx
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'offline'",
                    [],
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            if has_offline {
                tx.execute("DELETE FROM offline WHERE username = ?1", [&user])?;
            }
            let n = tx.execute("DELETE FROM accounts WHERE username = ?1", [&user])?;
            tx.commit()?;
            Ok(n == 1)
        }))
    }

    fn credentials<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<Credentials>>> {
        let user = user.to_owned();
        Box::pin(self.db.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT salt, iterations, salted_sha1, salted_sha256 FROM accounts
                     WHERE username = ?1",
                    [&user],
                    |r| {
                        Ok(Credentials {
                            salt: r.get(0)?,
                            iterations: r.get(1)?,
                            salted_sha1: r.get(2)?,
                            salted_sha256: r.get(3)?,
                        })
                    },
                )
                .optional()?)
        }))
    }

    fn list(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(self.db.read(|conn| {
            let mut st = conn.prepare("SELECT username FROM accounts ORDER BY username")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_verify_passwd_remove() {
        let db = Db::open_in_memory().unwrap();
        let store = SqliteAccounts::new(db.clone()).await.unwrap();
        assert!(store
            .create("alice", Credentials::derive("pw").unwrap())
            .await
            .unwrap());
        assert!(!store
            .create("alice", Credentials::derive("x").unwrap())
            .await
            .unwrap());
        let c = store.credentials("alice").await.unwrap().unwrap();
        assert!(c.verify("pw"));
        assert!(!c.verify("pw2"));
        assert!(store
            .set_credentials("alice", Credentials::derive("new").unwrap())
            .await
            .unwrap());
        assert!(store
            .credentials("alice")
            .await
            .unwrap()
            .unwrap()
            .verify("new"));
        assert_eq!(store.list().await.unwrap(), vec!["alice".to_string()]);
        assert!(store.remove("alice").await.unwrap());
        assert!(!store.remove("alice").await.unwrap());
        assert!(store.credentials("alice").await.unwrap().is_none());
        // Migrations are idempotent: reopening does not fail or re-run them.
        SqliteAccounts::new(db).await.unwrap();
    }
}
