//! [`SessionDirectory`] on PostgreSQL: `cluster_sessions`, one row per bound resource,
//! read only together with its incarnation's lease.

use super::pool::Pg;
use crate::storage::directory::SessionDirectory;
use crate::storage::types::BoxFuture;

/// The `cluster` tables' second version (`ownership.rs` lists it after the first).
pub(super) const MIGRATION: &str = "
    CREATE TABLE cluster_sessions(
        account TEXT NOT NULL,
        resource TEXT NOT NULL,
        incarnation BIGINT NOT NULL REFERENCES cluster_incarnations,
        PRIMARY KEY (account, resource)
    );
    CREATE INDEX cluster_sessions_by_incarnation ON cluster_sessions(incarnation);
";

/// [`SessionDirectory`] on PostgreSQL.
#[derive(Clone)]
pub struct PgDirectory {
    pg: Pg,
}

impl PgDirectory {
    pub(super) fn new(pg: Pg) -> Self {
        PgDirectory { pg }
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
            client
                .execute(
                    "INSERT INTO cluster_sessions(account, resource, incarnation)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (account, resource) DO UPDATE SET incarnation = $3",
                    &[&user, &resource, &incarnation],
                )
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
            client
                .execute(
                    "DELETE FROM cluster_sessions
                     WHERE account = $1 AND resource = $2 AND incarnation = $3",
                    &[&user, &resource, &incarnation],
                )
                .await?;
            Ok(())
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
            let rows = client
                .query(
                    "SELECT DISTINCT s.incarnation FROM cluster_sessions s
                     JOIN cluster_incarnations n USING (incarnation)
                     WHERE s.account = $1 AND ($2::TEXT IS NULL OR s.resource = $2)
                       AND s.incarnation <> $3 AND n.lease_until > now()",
                    &[&user, &resource, &me],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}
