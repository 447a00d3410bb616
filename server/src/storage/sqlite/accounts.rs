//! [`AccountStore`] on SQLite.

use super::db::Db;
use crate::storage::types::BoxFuture;
use crate::storage::{AccountStore, Credentials};
use rusqlite::OptionalExtension;

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE accounts(
        username TEXT PRIMARY KEY,
        salt BLOB NOT NULL,
        iterations INTEGER NOT NULL,
        salted_sha1 BLOB NOT NULL,
        salted_sha256 BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    )"];

/// [`AccountStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteAccounts {
    db: Db,
}

impl SqliteAccounts {
    /// The store over `db`, whose tables [`super::open`] migrated.
    pub(super) fn new(db: Db) -> Self {
        SqliteAccounts { db }
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
            tx.execute("DELETE FROM offline WHERE username = ?1", [&user])?;
            // Push registrations and FAST tokens go with it (foreign keys, ON DELETE CASCADE).
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
