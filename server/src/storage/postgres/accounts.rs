//! [`AccountStore`] on PostgreSQL.

use super::pool::Pg;
use crate::storage::types::BoxFuture;
use crate::storage::{AccountStore, Credentials};

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE accounts(
        username TEXT PRIMARY KEY,
        salt BYTEA NOT NULL,
        iterations BIGINT NOT NULL,
        salted_sha1 BYTEA NOT NULL,
        salted_sha256 BYTEA NOT NULL,
        created_ms BIGINT NOT NULL
    )"];

/// [`AccountStore`] on PostgreSQL.
#[derive(Clone)]
pub struct PgAccounts {
    pg: Pg,
}

impl PgAccounts {
    pub(super) fn new(pg: Pg) -> Self {
        PgAccounts { pg }
    }
}

impl AccountStore for PgAccounts {
    fn create<'a>(&'a self, user: &'a str, c: Credentials) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "INSERT INTO accounts(username, salt, iterations, salted_sha1,
                        salted_sha256, created_ms) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (username) DO NOTHING",
                )
                .await?;
            let n = client
                .execute(
                    &st,
                    &[
                        &user,
                        &c.salt,
                        &i64::from(c.iterations),
                        &c.salted_sha1,
                        &c.salted_sha256,
                        &crate::time::now_millis(),
                    ],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn set_credentials<'a>(
        &'a self,
        user: &'a str,
        c: Credentials,
    ) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "UPDATE accounts SET salt = $2, iterations = $3, salted_sha1 = $4,
                        salted_sha256 = $5 WHERE username = $1",
                )
                .await?;
            let n = client
                .execute(
                    &st,
                    &[
                        &user,
                        &c.salt,
                        &i64::from(c.iterations),
                        &c.salted_sha1,
                        &c.salted_sha256,
                    ],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn remove<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            tx.execute("DELETE FROM offline WHERE username = $1", &[&user])
                .await?;
            // Push registrations and FAST tokens go with it (foreign keys, ON DELETE CASCADE).
            let n = tx
                .execute("DELETE FROM accounts WHERE username = $1", &[&user])
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    fn credentials<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<Credentials>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "SELECT salt, iterations, salted_sha1, salted_sha256 FROM accounts
                     WHERE username = $1",
                )
                .await?;
            let Some(r) = client.query_opt(&st, &[&user]).await? else {
                return Ok(None);
            };
            Ok(Some(Credentials {
                salt: r.get(0),
                iterations: u32::try_from(r.get::<_, i64>(1))?,
                salted_sha1: r.get(2),
                salted_sha256: r.get(3),
            }))
        })
    }

    fn list(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let rows = client
                .query("SELECT username FROM accounts ORDER BY username", &[])
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}
