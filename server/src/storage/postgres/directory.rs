//! [`SessionDirectory`] on PostgreSQL: `cluster_sessions`, one row per bound resource,
//! read only together with its incarnation's lease.
//!
//! Every statement here runs per login, per presence change or per room fanout, so each
//! is prepared once per connection (`prepare_cached`): an unprepared query costs the
//! database a parse and a plan each time, and the client a second round trip.

use super::offline::lock_account;
use super::pool::Pg;
use crate::storage::directory::{Offline, SessionDirectory};
use crate::storage::types::BoxFuture;

/// The `cluster` tables' second version (`ownership.rs` lists it after the first).
pub(super) const MIGRATION: &str = "
    CREATE TABLE cluster_sessions(
        account TEXT NOT NULL,
        resource TEXT NOT NULL,
        incarnation BIGINT NOT NULL REFERENCES cluster_incarnations,
        -- Available with a priority a bare-JID stanza reaches (`directory.rs`).
        reachable BOOLEAN NOT NULL DEFAULT false,
        PRIMARY KEY (account, resource)
    );
    CREATE INDEX cluster_sessions_by_incarnation ON cluster_sessions(incarnation);
";

/// [`SessionDirectory`] on PostgreSQL.
#[derive(Clone)]
pub struct PgDirectory {
    pg: Pg,
    offline_max_per_account: u32,
}

impl PgDirectory {
    pub(super) fn new(pg: Pg, offline_max_per_account: u32) -> Self {
        PgDirectory {
            pg,
            offline_max_per_account,
        }
    }
}

impl SessionDirectory for PgDirectory {
    fn bind<'a>(
        &'a self,
        user: &'a str,
        resource: &'a str,
        incarnation: i64,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "INSERT INTO cluster_sessions(account, resource, incarnation)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (account, resource)
                     DO UPDATE SET incarnation = $3, reachable = false",
                )
                .await?;
            client
                .execute(&st, &[&user, &resource, &incarnation])
                .await?;
            Ok(())
        })
    }

    fn unbind<'a>(
        &'a self,
        user: &'a str,
        resource: &'a str,
        incarnation: i64,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "DELETE FROM cluster_sessions
                     WHERE account = $1 AND resource = $2 AND incarnation = $3",
                )
                .await?;
            client
                .execute(&st, &[&user, &resource, &incarnation])
                .await?;
            Ok(())
        })
    }

    fn set_reachable<'a>(
        &'a self,
        user: &'a str,
        resource: &'a str,
        incarnation: i64,
        reachable: bool,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            lock_account(&tx, user).await?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO cluster_sessions(account, resource, incarnation, reachable)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (account, resource)
                     DO UPDATE SET incarnation = $3, reachable = $4",
                )
                .await?;
            tx.execute(&st, &[&user, &resource, &incarnation, &reachable])
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn store_offline<'a>(
        &'a self,
        user: &'a str,
        me: i64,
        stanza: String,
    ) -> BoxFuture<'a, anyhow::Result<Offline>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            lock_account(&tx, user).await?;
            let st = tx
                .prepare_cached(
                    "SELECT 1 FROM cluster_sessions s
                     JOIN cluster_incarnations n USING (incarnation)
                     WHERE s.account = $1 AND s.reachable AND s.incarnation <> $2
                       AND n.lease_until > now()
                     LIMIT 1",
                )
                .await?;
            let reachable = tx.query_opt(&st, &[&user, &me]).await?;
            if reachable.is_some() {
                return Ok(Offline::Reachable);
            }
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
                        &i64::from(self.offline_max_per_account),
                    ],
                )
                .await?;
            tx.commit().await?;
            self.pg.committed(started.elapsed());
            Ok(if n == 1 {
                Offline::Stored
            } else {
                Offline::Full
            })
        })
    }

    fn dead<'a>(
        &'a self,
        keep: std::time::Duration,
    ) -> BoxFuture<'a, anyhow::Result<Vec<(String, String)>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let forget = client
                .prepare_cached(
                    "DELETE FROM cluster_sessions s USING cluster_incarnations n
                     WHERE s.incarnation = n.incarnation
                       AND n.lease_until < now() - make_interval(secs => $1)",
                )
                .await?;
            client.execute(&forget, &[&keep.as_secs_f64()]).await?;
            let st = client
                .prepare_cached(
                    "SELECT s.account, s.resource FROM cluster_sessions s
                     JOIN cluster_incarnations n USING (incarnation)
                     WHERE n.lease_until < now()",
                )
                .await?;
            let rows = client.query(&st, &[]).await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn nodes_of<'a>(
        &'a self,
        user: &'a str,
        resource: Option<&'a str>,
        me: i64,
    ) -> BoxFuture<'a, anyhow::Result<Vec<i64>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "SELECT DISTINCT s.incarnation FROM cluster_sessions s
                     JOIN cluster_incarnations n USING (incarnation)
                     WHERE s.account = $1 AND ($2::TEXT IS NULL OR s.resource = $2)
                       AND s.incarnation <> $3 AND n.lease_until > now()",
                )
                .await?;
            let rows = client.query(&st, &[&user, &resource, &me]).await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn nodes_of_many<'a>(
        &'a self,
        users: &'a [String],
        me: i64,
    ) -> BoxFuture<'a, anyhow::Result<Vec<(String, i64)>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "SELECT DISTINCT s.account, s.incarnation FROM cluster_sessions s
                     JOIN cluster_incarnations n USING (incarnation)
                     WHERE s.account = ANY($1) AND s.incarnation <> $2
                       AND n.lease_until > now()",
                )
                .await?;
            let rows = client.query(&st, &[&users, &me]).await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}
