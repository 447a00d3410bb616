use super::db::{BoxFuture, Db};

/// One stored offline message.
#[derive(Debug, Clone)]
pub struct OfflineMessage {
    pub id: i64,
    /// The serialised stanza, as it will be delivered (without `<delay/>`).
    pub stanza: String,
    /// When it was stored, milliseconds since the Unix epoch.
    pub stamp_millis: i64,
}

/// XEP-0160 offline storage, bounded per account.
pub trait OfflineStore: Send + Sync {
    /// Stores a stanza for `user`; `Ok(false)` when the account's queue is full.
    fn push<'a>(&'a self, user: &'a str, stanza: String) -> BoxFuture<'a, anyhow::Result<bool>>;
    /// All queued messages of `user`, oldest first (not removed).
    fn peek<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<OfflineMessage>>>;
    /// Removes the given messages (after they were handed to a session).
    fn remove<'a>(&'a self, user: &'a str, ids: Vec<i64>) -> BoxFuture<'a, anyhow::Result<()>>;
    fn count<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<u64>>;
    /// Messages queued for all accounts together (`mucsub_offline_messages`).
    fn total(&self) -> BoxFuture<'_, anyhow::Result<u64>>;
}

const MIGRATIONS: &[&str] = &["CREATE TABLE offline(
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
    pub async fn new(db: Db, max_per_account: u32) -> anyhow::Result<Self> {
        db.migrate("offline", MIGRATIONS).await?;
        Ok(SqliteOffline {
            db,
            max_per_account,
        })
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

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn readers_see_committed_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.sqlite3")).unwrap();
        let store = SqliteOffline::new(db.clone(), 10).await.unwrap();
        assert!(store.push("bob", "<a/>".into()).await.unwrap());
        let n: i64 = db
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM offline", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 1);
        // Readers cannot write.
        assert!(db
            .read(|c| Ok(c.execute("DELETE FROM offline", [])?))
            .await
            .is_err());
    }

    use super::*;

    #[tokio::test]
    async fn bounded_fifo() {
        let db = Db::open_in_memory().unwrap();
        let store = SqliteOffline::new(db, 2).await.unwrap();
        assert!(store.push("bob", "<a/>".into()).await.unwrap());
        assert!(store.push("bob", "<b/>".into()).await.unwrap());
        assert!(!store.push("bob", "<c/>".into()).await.unwrap());
        assert!(store.push("carol", "<d/>".into()).await.unwrap());
        let msgs = store.peek("bob").await.unwrap();
        assert_eq!(
            msgs.iter().map(|m| m.stanza.as_str()).collect::<Vec<_>>(),
            vec!["<a/>", "<b/>"]
        );
        store
            .remove("bob", msgs.iter().map(|m| m.id).collect())
            .await
            .unwrap();
        assert_eq!(store.count("bob").await.unwrap(), 0);
        assert_eq!(store.count("carol").await.unwrap(), 1);
        assert_eq!(store.total().await.unwrap(), 1);
    }
}
