//! [`OfflineStore`] on SQLite.

use super::db::Db;
use crate::storage::types::BoxFuture;
use crate::storage::{OfflineMessage, OfflineStore};

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE offline(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL,
        stanza TEXT NOT NULL,
        stamp_ms INTEGER NOT NULL
    );
    CREATE INDEX offline_by_user ON offline(username, id);"];

/// [`OfflineStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteOffline {
    db: Db,
    max_per_account: u32,
}

impl SqliteOffline {
    /// The store over `db`, whose tables [`super::open`] migrated.
    pub(super) fn new(db: Db, max_per_account: u32) -> Self {
        SqliteOffline {
            db,
            max_per_account,
        }
    }
}

impl OfflineStore for SqliteOffline {
    fn push<'a>(&'a self, user: &'a str, stanza: String) -> BoxFuture<'a, anyhow::Result<bool>> {
        let user = user.to_owned();
        let max = self.max_per_account;
        // Grouped: a room storing one event for many offline subscribers, or many rooms at
        // once, shares commits instead of paying an fsync per stored stanza.
        Box::pin(self.db.write(move |tx| {
            let n: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM offline WHERE username = ?1")?
                .query_row([&user], |r| r.get(0))?;
            if n >= max as i64 {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO offline(username, stanza, stamp_ms) VALUES (?1, ?2, ?3)",
            )?
            .execute(rusqlite::params![user, stanza, crate::time::now_millis()])?;
            Ok(true)
        }))
    }

    fn peek<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<OfflineMessage>>> {
        let user = user.to_owned();
        Box::pin(self.db.call(move |conn| {
            let mut st = conn.prepare(
                "SELECT id, stanza, stamp_ms FROM offline WHERE username = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([&user], |r| {
                Ok(OfflineMessage {
                    id: r.get(0)?,
                    stanza: r.get(1)?,
                    stamp_millis: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        }))
    }

    fn remove<'a>(&'a self, user: &'a str, ids: Vec<i64>) -> BoxFuture<'a, anyhow::Result<()>> {
        let user = user.to_owned();
        Box::pin(self.db.write(move |tx| {
            let mut st =
                tx.prepare_cached("DELETE FROM offline WHERE username = ?1 AND id = ?2")?;
            for id in ids {
                st.execute(rusqlite::params![user, id])?;
            }
            Ok(())
        }))
    }

    fn count<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<u64>> {
        let user = user.to_owned();
        Box::pin(self.db.call(move |conn| {
            let n: i64 = conn.query_row(
                "SELECT COUNT(*) FROM offline WHERE username = ?1",
                [&user],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        }))
    }

    fn total(&self) -> BoxFuture<'_, anyhow::Result<u64>> {
        // A reader connection: a scrape never waits behind writes.
        Box::pin(self.db.read(|conn| {
            let n: i64 = conn.query_row("SELECT COUNT(*) FROM offline", [], |r| r.get(0))?;
            Ok(n as u64)
        }))
    }
}
