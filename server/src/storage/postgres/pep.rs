//! [`PepStore`] on PostgreSQL (component "pep").

use super::pool::Pg;
use crate::storage::pep::{PepItem, PepStore};
use crate::storage::types::BoxFuture;

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE pep_items(
        username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        node TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        -- Publication order: a republished item becomes the newest.
        seq BIGINT NOT NULL,
        PRIMARY KEY (username, node, id)
    );
    CREATE INDEX pep_items_by_seq ON pep_items(username, node, seq);"];

/// [`PepStore`] on PostgreSQL.
#[derive(Clone)]
pub struct PgPep {
    pg: Pg,
}

impl PgPep {
    pub(super) fn new(pg: Pg) -> Self {
        PgPep { pg }
    }
}

fn item(r: &tokio_postgres::Row) -> PepItem {
    PepItem {
        node: r.get(0),
        id: r.get(1),
        payload: r.get(2),
    }
}

impl PepStore for PgPep {
    fn publish<'a>(
        &'a self,
        user: &'a str,
        item: PepItem,
        max_items: usize,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            // Two publishes to one node take their places one after the other.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('pep:' || $1 || '/' || $2))",
                &[&user, &item.node],
            )
            .await?;
            tx.execute(
                "INSERT INTO pep_items(username, node, id, payload, seq)
                 VALUES ($1, $2, $3, $4,
                    (SELECT COALESCE(MAX(seq), 0) + 1 FROM pep_items
                     WHERE username = $1 AND node = $2))
                 ON CONFLICT (username, node, id) DO UPDATE SET
                    payload = excluded.payload, seq = excluded.seq",
                &[&user, &item.node, &item.id, &item.payload],
            )
            .await?;
            tx.execute(
                "DELETE FROM pep_items WHERE username = $1 AND node = $2 AND seq NOT IN
                    (SELECT seq FROM pep_items WHERE username = $1 AND node = $2
                     ORDER BY seq DESC LIMIT $3)",
                &[&user, &item.node, &(max_items as i64)],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn items<'a>(
        &'a self,
        user: &'a str,
        node: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<PepItem>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let rows = client
                .query(
                    "SELECT node, id, payload FROM pep_items WHERE username = $1 AND node = $2
                     ORDER BY seq",
                    &[&user, &node],
                )
                .await?;
            Ok(rows.iter().map(item).collect())
        })
    }

    fn retract<'a>(
        &'a self,
        user: &'a str,
        node: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<bool>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let n = client
                .execute(
                    "DELETE FROM pep_items WHERE username = $1 AND node = $2 AND id = $3",
                    &[&user, &node, &id],
                )
                .await?;
            Ok(n > 0)
        })
    }

    fn last_items<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<PepItem>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let rows = client
                .query(
                    "SELECT DISTINCT ON (node) node, id, payload FROM pep_items
                     WHERE username = $1 ORDER BY node, seq DESC",
                    &[&user],
                )
                .await?;
            Ok(rows.iter().map(item).collect())
        })
    }
}
