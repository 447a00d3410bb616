//! [`FastStore`] on PostgreSQL (component "fast": XEP-0484 tokens per account and device).

use super::pool::Pg;
use crate::storage::fast::{FastStore, FastToken, Slot, Use};
use crate::storage::types::BoxFuture;

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE fast_tokens(
        username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        device TEXT NOT NULL,
        slot TEXT NOT NULL,
        mechanism TEXT NOT NULL,
        nonce BYTEA NOT NULL,
        token_hash BYTEA NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        last_count BIGINT,
        last_used_ms BIGINT,
        software TEXT,
        device_name TEXT,
        PRIMARY KEY (username, device, slot)
    )"];

const COLUMNS: &str = "username, device, slot, mechanism, nonce, token_hash, created_ms,
    expires_ms, last_count, last_used_ms, software, device_name";

fn row(r: &tokio_postgres::Row) -> anyhow::Result<FastToken> {
    Ok(FastToken {
        user: r.get(0),
        device: r.get(1),
        slot: Slot::parse(r.get(2)),
        mechanism: r.get(3),
        nonce: r.get(4),
        token_hash: r.get(5),
        created_ms: r.get(6),
        expires_ms: r.get(7),
        last_count: r.get::<_, Option<i64>>(8).map(u32::try_from).transpose()?,
        last_used_ms: r.get(9),
        software: r.get(10),
        device_name: r.get(11),
    })
}

/// [`FastStore`] on PostgreSQL.
#[derive(Clone)]
pub struct PgFast {
    pg: Pg,
}

impl PgFast {
    pub(super) fn new(pg: Pg) -> Self {
        PgFast { pg }
    }
}

impl FastStore for PgFast {
    fn tokens<'a>(
        &'a self,
        user: &'a str,
        device: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM fast_tokens WHERE username = $1 AND device = $2"
                ))
                .await?;
            client
                .query(&st, &[&user, &device])
                .await?
                .iter()
                .map(row)
                .collect()
        })
    }

    fn put_new(&self, t: FastToken) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(&format!(
                    "INSERT INTO fast_tokens({COLUMNS})
                     VALUES ($1, $2, 'new', $3, $4, $5, $6, $7, NULL, NULL, $8, $9)
                     ON CONFLICT (username, device, slot) DO UPDATE SET
                        mechanism = excluded.mechanism, nonce = excluded.nonce,
                        token_hash = excluded.token_hash, created_ms = excluded.created_ms,
                        expires_ms = excluded.expires_ms, last_count = NULL,
                        last_used_ms = NULL, software = excluded.software,
                        device_name = excluded.device_name"
                ))
                .await?;
            client
                .execute(
                    &st,
                    &[
                        &t.user,
                        &t.device,
                        &t.mechanism,
                        &t.nonce,
                        &t.token_hash,
                        &t.created_ms,
                        &t.expires_ms,
                        &t.software,
                        &t.device_name,
                    ],
                )
                .await?;
            self.pg.committed(started.elapsed());
            Ok(())
        })
    }

    fn record_use<'a>(
        &'a self,
        user: &'a str,
        device: &'a str,
        slot: Slot,
        count: Option<u32>,
        now_ms: i64,
    ) -> BoxFuture<'a, anyhow::Result<Use>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            // FOR UPDATE: two nodes checking the same count at once must not both accept
            // it (the 0-RTT replay protection); the second waits and then sees the first.
            let last = tx
                .query_opt(
                    "SELECT last_count FROM fast_tokens
                     WHERE username = $1 AND device = $2 AND slot = $3 FOR UPDATE",
                    &[&user, &device, &slot.as_str()],
                )
                .await?;
            let Some(last) = last else {
                return Ok(Use::Gone);
            };
            let last: Option<i64> = last.get(0);
            let count = count.map(i64::from);
            if let (Some(c), Some(l)) = (count, last) {
                if c <= l {
                    return Ok(Use::Replayed);
                }
            }
            tx.execute(
                "UPDATE fast_tokens SET last_count = COALESCE($4, last_count), last_used_ms = $5
                 WHERE username = $1 AND device = $2 AND slot = $3",
                &[&user, &device, &slot.as_str(), &count, &now_ms],
            )
            .await?;
            if slot == Slot::New {
                tx.execute(
                    "DELETE FROM fast_tokens
                     WHERE username = $1 AND device = $2 AND slot = 'current'",
                    &[&user, &device],
                )
                .await?;
                tx.execute(
                    "UPDATE fast_tokens SET slot = 'current'
                     WHERE username = $1 AND device = $2 AND slot = 'new'",
                    &[&user, &device],
                )
                .await?;
            }
            tx.commit().await?;
            self.pg.committed(started.elapsed());
            Ok(Use::Accepted)
        })
    }

    fn revoke<'a>(
        &'a self,
        user: &'a str,
        device: Option<&'a str>,
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let n = match device {
                Some(d) => {
                    client
                        .execute(
                            "DELETE FROM fast_tokens WHERE username = $1 AND device = $2",
                            &[&user, &d],
                        )
                        .await?
                }
                None => {
                    client
                        .execute("DELETE FROM fast_tokens WHERE username = $1", &[&user])
                        .await?
                }
            };
            Ok(n)
        })
    }

    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>> {
        // Byte order, as SQLite sorts: the database's collation may order ids otherwise.
        Box::pin(async move {
            let client = self.pg.client().await?;
            client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM fast_tokens WHERE username = $1
                         ORDER BY device COLLATE \"C\", slot"
                    ),
                    &[&user],
                )
                .await?
                .iter()
                .map(row)
                .collect()
        })
    }
}
