use super::db::{BoxFuture, Db};
use rusqlite::OptionalExtension;

/// Which of a device's two token places (XEP-0484 §6.1): a freshly issued token waits in
/// `New` until the client first uses it, then replaces the `Current` one. Until then both
/// work, so a client that missed the `<success/>` carrying the new token still gets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Current,
    New,
}

impl Slot {
    fn as_str(self) -> &'static str {
        match self {
            Slot::Current => "current",
            Slot::New => "new",
        }
    }

    fn parse(s: &str) -> Slot {
        if s == "new" {
            Slot::New
        } else {
            Slot::Current
        }
    }
}

/// One stored FAST token. The token itself is not stored: it is derived from `nonce` with
/// the server's key (`fast/key.rs`), and `token_hash` (its SHA-256) tells a token derived
/// with another key apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastToken {
    pub user: String,
    /// The client installation: the SASL2 `<user-agent id>`.
    pub device: String,
    pub slot: Slot,
    /// The mechanism the token is bound to (`HT-SHA-256-NONE`).
    pub mechanism: String,
    pub nonce: Vec<u8>,
    pub token_hash: Vec<u8>,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// The highest `<fast count/>` accepted with this token (replay protection).
    pub last_count: Option<u32>,
    pub last_used_ms: Option<i64>,
    /// `<user-agent>`'s `<software/>` and `<device/>`, for listings.
    pub software: Option<String>,
    pub device_name: Option<String>,
}

/// What a use of a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Accepted,
    /// The count was not above every count seen with this token: a replay.
    Replayed,
    /// The token is gone (revoked, or replaced) since it was read.
    Gone,
}

/// XEP-0484 tokens, per account and device.
pub trait FastStore: Send + Sync {
    /// The device's tokens (at most one per slot).
    fn tokens<'a>(
        &'a self,
        user: &'a str,
        device: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>>;
    /// Puts `token` in the device's `New` slot, replacing a token issued before and never
    /// used (XEP-0484 §4.4: unused earlier tokens are invalidated).
    fn put_new(&self, token: FastToken) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Records a use of the token in `slot`, atomically: with `count`, refused unless it is
    /// above the last count; a `New` token then replaces the `Current` one (tokens with an
    /// earlier expiry are invalidated by the use of a later one).
    fn record_use<'a>(
        &'a self,
        user: &'a str,
        device: &'a str,
        slot: Slot,
        count: Option<u32>,
        now_ms: i64,
    ) -> BoxFuture<'a, anyhow::Result<Use>>;
    /// Deletes one device's tokens (`Some`) or every token of the account; how many.
    fn revoke<'a>(
        &'a self,
        user: &'a str,
        device: Option<&'a str>,
    ) -> BoxFuture<'a, anyhow::Result<u64>>;
    /// Every token of the account, by device.
    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>>;
}

const MIGRATIONS: &[&str] = &["CREATE TABLE fast_tokens(
        username TEXT NOT NULL,
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
    pub async fn new(db: Db) -> anyhow::Result<Self> {
        db.migrate("fast_tokens", MIGRATIONS).await?;
        Ok(SqliteFast { db })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn token(device: &str, nonce: u8) -> FastToken {
        FastToken {
            user: "alice".into(),
            device: device.into(),
            slot: Slot::New,
            mechanism: "HT-SHA-256-NONE".into(),
            nonce: vec![nonce; 32],
            token_hash: vec![nonce; 32],
            created_ms: 1,
            expires_ms: 1000,
            last_count: None,
            last_used_ms: None,
            software: Some("app".into()),
            device_name: None,
        }
    }

    #[tokio::test]
    async fn new_replaces_unused_and_use_promotes_it() {
        let store = SqliteFast::new(Db::open_in_memory().unwrap())
            .await
            .unwrap();
        store.put_new(token("d1", 1)).await.unwrap();
        store.put_new(token("d1", 2)).await.unwrap();
        let t = store.tokens("alice", "d1").await.unwrap();
        assert_eq!(t.len(), 1, "an unused new token is replaced");
        assert_eq!(t[0].nonce, vec![2; 32]);
        assert_eq!(
            store
                .record_use("alice", "d1", Slot::New, None, 5)
                .await
                .unwrap(),
            Use::Accepted
        );
        let t = store.tokens("alice", "d1").await.unwrap();
        assert_eq!((t.len(), t[0].slot), (1, Slot::Current));
        // A rotation: the current token keeps working until the new one is used.
        store.put_new(token("d1", 3)).await.unwrap();
        assert_eq!(store.tokens("alice", "d1").await.unwrap().len(), 2);
        assert_eq!(
            store
                .record_use("alice", "d1", Slot::Current, None, 6)
                .await
                .unwrap(),
            Use::Accepted
        );
        assert_eq!(store.tokens("alice", "d1").await.unwrap().len(), 2);
        store
            .record_use("alice", "d1", Slot::New, None, 7)
            .await
            .unwrap();
        let t = store.tokens("alice", "d1").await.unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].nonce, vec![3; 32]);
    }

    #[tokio::test]
    async fn counts_must_grow() {
        let store = SqliteFast::new(Db::open_in_memory().unwrap())
            .await
            .unwrap();
        store.put_new(token("d1", 1)).await.unwrap();
        let use_ = |c| store.record_use("alice", "d1", Slot::New, Some(c), 1);
        assert_eq!(use_(0).await.unwrap(), Use::Accepted);
        let use_ = |c| store.record_use("alice", "d1", Slot::Current, Some(c), 1);
        assert_eq!(use_(0).await.unwrap(), Use::Replayed);
        assert_eq!(use_(2).await.unwrap(), Use::Accepted);
        assert_eq!(use_(1).await.unwrap(), Use::Replayed);
        assert_eq!(
            store
                .record_use("alice", "d1", Slot::Current, None, 1)
                .await
                .unwrap(),
            Use::Accepted,
            "no count: not a 0-RTT attempt"
        );
        assert_eq!(use_(3).await.unwrap(), Use::Accepted);
        assert_eq!(
            store
                .record_use("alice", "d2", Slot::Current, None, 1)
                .await
                .unwrap(),
            Use::Gone
        );
    }

    #[tokio::test]
    async fn revoke_one_device_or_all() {
        let store = SqliteFast::new(Db::open_in_memory().unwrap())
            .await
            .unwrap();
        store.put_new(token("d1", 1)).await.unwrap();
        store.put_new(token("d2", 2)).await.unwrap();
        assert_eq!(store.list("alice").await.unwrap().len(), 2);
        assert_eq!(store.revoke("alice", Some("d1")).await.unwrap(), 1);
        assert_eq!(store.list("alice").await.unwrap()[0].device, "d2");
        assert_eq!(store.revoke("alice", None).await.unwrap(), 1);
        assert!(store.list("alice").await.unwrap().is_empty());
    }
}
