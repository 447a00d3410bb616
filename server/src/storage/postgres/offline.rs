//! [`OfflineStore`] on PostgreSQL.

use super::pool::Pg;
use crate::storage::types::BoxFuture;
use crate::storage::{OfflineMessage, OfflineStore};

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE offline(
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        username TEXT NOT NULL,
        stanza TEXT NOT NULL,
        stamp_ms BIGINT NOT NULL
    );
    CREATE INDEX offline_by_user ON offline(username, id);"];

/// Takes the per-account transaction lock: everything that must not interleave for one
/// account across nodes (count-then-store here; storing offline while the account logs
/// in on another node) takes it first. Released at commit or rollback, so a connection
/// that dies never leaves it held.
pub(crate) async fn lock_account(
    tx: &deadpool_postgres::Transaction<'_>,
    user: &str,
) -> anyhow::Result<()> {
    let st = tx
        .prepare_cached("SELECT pg_advisory_xact_lock(hashtextextended('account:' || $1, 0))")
        .await?;
    tx.execute(&st, &[&user]).await?;
    Ok(())
}

/// [`OfflineStore`] on PostgreSQL.
#[derive(Clone)]
pub struct PgOffline {
    pg: Pg,
    max_per_account: u32,
}

impl PgOffline {
    pub(super) fn new(pg: Pg, max_per_account: u32) -> Self {
        PgOffline {
            pg,
            max_per_account,
        }
    }
}

impl OfflineStore for PgOffline {
    fn push<'a>(&'a self, user: &'a str, stanza: String) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            // Without the lock two nodes could both count max - 1 and both store.
            lock_account(&tx, user).await?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO offline(username, stanza, stamp_ms)
                     SELECT $1, $2, $3
                     WHERE (SELECT COUNT(*) FROM offline WHERE username = $1) < $4",
                )
                .await?;
            let n = tx
                .execute(
                    &st,
                    &[
                        &user,
                        &stanza,
                        &crate::time::now_millis(),
                        &i64::from(self.max_per_account),
                    ],
                )
                .await?;
            tx.commit().await?;
            self.pg.committed(started.elapsed());
            Ok(n == 1)
        })
    }

    fn peek<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<OfflineMessage>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "SELECT id, stanza, stamp_ms FROM offline WHERE username = $1 ORDER BY id",
                )
                .await?;
            let rows = client.query(&st, &[&user]).await?;
            Ok(rows
                .iter()
                .map(|r| OfflineMessage {
                    id: r.get(0),
                    stanza: r.get(1),
                    stamp_millis: r.get(2),
                })
                .collect())
        })
    }

    fn remove<'a>(&'a self, user: &'a str, ids: Vec<i64>) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached("DELETE FROM offline WHERE username = $1 AND id = ANY($2)")
                .await?;
            client.execute(&st, &[&user, &ids]).await?;
            Ok(())
        })
    }

    fn count<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<u64>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached("SELECT COUNT(*) FROM offline WHERE username = $1")
                .await?;
            let n: i64 = client.query_one(&st, &[&user]).await?.get(0);
            Ok(n as u64)
        })
    }

    fn total(&self) -> BoxFuture<'_, anyhow::Result<u64>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let n: i64 = client
                .query_one("SELECT COUNT(*) FROM offline", &[])
                .await?
                .get(0);
            Ok(n as u64)
        })
    }
}
