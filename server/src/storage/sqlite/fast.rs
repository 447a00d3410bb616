//! [`FastStore`] on SQLite (component "fast": XEP-0484 tokens per account and device).

use super::db::Db;
use crate::storage::fast::{FastStore, FastToken, Slot, Use};
use crate::storage::types::BoxFuture;
use rusqlite::OptionalExtension;

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE fast_tokens(
        username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        device TEXT NOT NULL,
        slot TEXT NOT NULL,
        mechanism TEXT NOT NULL,
        nonce BLOB NOT NULL,
        token_hash BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        last_count INTEGER,
        last_used_ms INTEGER,
        software TEXT,
        device_name TEXT,
        PRIMARY KEY(username, device, slot)
    )"];

const COLUMNS: &str = "username, device, slot, mechanism, nonce, token_hash, created_ms,
    expires_ms, last_count, last_used_ms, software, device_name";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FastToken> {
    Ok(FastToken {
        user: r.get(0)?,
        device: r.get(1)?,
        slot: Slot::parse(&r.get::<_, String>(2)?),
        mechanism: r.get(3)?,
        nonce: r.get(4)?,
        token_hash: r.get(5)?,
        created_ms: r.get(6)?,
        expires_ms: r.get(7)?,
        last_count: r.get(8)?,
        last_used_ms: r.get(9)?,
        software: r.get(10)?,
        device_name: r.get(11)?,
    })
}

/// [`FastStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteFast {
    db: Db,
}

impl SqliteFast {
    /// The store over `db`, whose tables [`super::open`] migrated.
    pub(super) fn new(db: Db) -> Self {
        SqliteFast { db }
    }
}

impl FastStore for SqliteFast {
    fn tokens<'a>(
        &'a self,
        user: &'a str,
        device: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>> {
        let (user, device) = (user.to_owned(), device.to_owned());
        Box::pin(self.db.read(move |conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM fast_tokens WHERE username = ?1 AND device = ?2"
            ))?;
            let rows = st.query_map([&user, &device], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        }))
    }

    fn put_new(&self, t: FastToken) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                &format!("INSERT OR REPLACE INTO fast_tokens({COLUMNS}) VALUES (?1, ?2, 'new', ?3, ?4, ?5, ?6, ?7, NULL, NULL, ?8, ?9)"),
                rusqlite::params![
                    t.user,
                    t.device,
                    t.mechanism,
                    t.nonce,
                    t.token_hash,
                    t.created_ms,
                    t.expires_ms,
                    t.software,
                    t.device_name
                ],
            )?;
            Ok(())
        }))
    }

    fn record_use<'a>(
        &'a self,
        user: &'a str,
        device: &'a str,
        slot: Slot,
        count: Option<u32>,
        now_ms: i64,
    ) -> BoxFuture<'a, anyhow::Result<Use>> {
        let (user, device) = (user.to_owned(), device.to_owned());
        Box::pin(self.db.call(move |conn| {
            let tx = conn.transaction()?;
            let last: Option<Option<u32>> = tx
                .query_row(
                    "SELECT last_count FROM fast_tokens
                     WHERE username = ?1 AND device = ?2 AND slot = ?3",
                    rusqlite::params![user, device, slot.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(last) = last else {
                return Ok(Use::Gone);
            };
            if let (Some(c), Some(l)) = (count, last) {
                if c <= l {
                    return Ok(Use::Replayed);
                }
            }
            tx.execute(
                "UPDATE fast_tokens SET last_count = COALESCE(?4, last_count), last_used_ms = ?5
                 WHERE username = ?1 AND device = ?2 AND slot = ?3",
                rusqlite::params![user, device, slot.as_str(), count, now_ms],
            )?;
            if slot == Slot::New {
                tx.execute(
                    "DELETE FROM fast_tokens WHERE username = ?1 AND device = ?2 AND slot = 'current'",
                    rusqlite::params![user, device],
                )?;
                tx.execute(
                    "UPDATE fast_tokens SET slot = 'current'
                     WHERE username = ?1 AND device = ?2 AND slot = 'new'",
                    rusqlite::params![user, device],
                )?;
            }
            tx.commit()?;
            Ok(Use::Accepted)
        }))
    }

    fn revoke<'a>(
        &'a self,
        user: &'a str,
        device: Option<&'a str>,
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        let (user, device) = (user.to_owned(), device.map(str::to_owned));
        Box::pin(self.db.call(move |conn| {
            let n = match device {
                Some(d) => conn.execute(
                    "DELETE FROM fast_tokens WHERE username = ?1 AND device = ?2",
                    [&user, &d],
                )?,
                None => conn.execute("DELETE FROM fast_tokens WHERE username = ?1", [&user])?,
            };
            Ok(n as u64)
        }))
    }

    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>> {
        let user = user.to_owned();
        Box::pin(self.db.read(move |conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM fast_tokens WHERE username = ?1 ORDER BY device, slot"
            ))?;
            let rows = st.query_map([&user], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        }))
    }
}
