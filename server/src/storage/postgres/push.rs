//! [`PushStore`] on PostgreSQL (component "push": registrations and the VAPID key).

use super::pool::Pg;
use crate::storage::push::{PushStore, Registration, MAX_PER_ACCOUNT};
use crate::storage::types::BoxFuture;

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE push_registrations(
        username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        service TEXT NOT NULL,
        node TEXT NOT NULL,
        options TEXT NOT NULL,
        include_body BOOLEAN NOT NULL,
        created_ms BIGINT NOT NULL,
        -- Breaks ties between registrations made in the same millisecond (SQLite's rowid).
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (username, service, node)
    );
    CREATE TABLE push_vapid(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        private_key BYTEA NOT NULL,
        created_ms BIGINT NOT NULL
    );"];

/// [`PushStore`] on PostgreSQL.
#[derive(Clone)]
pub struct PgPush {
    pg: Pg,
}

impl PgPush {
    pub(super) fn new(pg: Pg) -> Self {
        PgPush { pg }
    }

    async fn select(&self, rest: &str, user: Option<&str>) -> anyhow::Result<Vec<Registration>> {
        let client = self.pg.client().await?;
        let sql = format!(
            "SELECT username, service, node, options, include_body FROM push_registrations {rest}"
        );
        let rows = match user {
            Some(u) => client.query(&sql, &[&u]).await?,
            None => client.query(&sql, &[]).await?,
        };
        rows.iter()
            .map(|r| {
                Ok(Registration {
                    user: r.get(0),
                    service: r.get(1),
                    node: r.get(2),
                    options: serde_json::from_str(r.get(3))?,
                    include_body: r.get(4),
                })
            })
            .collect()
    }
}

impl PushStore for PgPush {
    fn enable(&self, reg: Registration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let options = serde_json::to_string(&reg.options)?;
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO push_registrations
                    (username, service, node, options, include_body, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (username, service, node) DO UPDATE SET
                    options = excluded.options, include_body = excluded.include_body,
                    created_ms = excluded.created_ms",
                &[
                    &reg.user,
                    &reg.service,
                    &reg.node,
                    &options,
                    &reg.include_body,
                    &crate::time::now_millis(),
                ],
            )
            .await?;
            tx.execute(
                "DELETE FROM push_registrations WHERE username = $1 AND seq NOT IN
                    (SELECT seq FROM push_registrations WHERE username = $1
                     ORDER BY created_ms DESC, seq DESC LIMIT $2)",
                &[&reg.user, &(MAX_PER_ACCOUNT as i64)],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn disable<'a>(
        &'a self,
        user: &'a str,
        service: &'a str,
        node: Option<&'a str>,
    ) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let n =
                match node {
                    Some(node) => {
                        client
                            .execute(
                                "DELETE FROM push_registrations
                             WHERE username = $1 AND service = $2 AND node = $3",
                                &[&user, &service, &node],
                            )
                            .await?
                    }
                    None => client
                        .execute(
                            "DELETE FROM push_registrations WHERE username = $1 AND service = $2",
                            &[&user, &service],
                        )
                        .await?,
                };
            Ok(n as usize)
        })
    }

    fn all(&self) -> BoxFuture<'_, anyhow::Result<Vec<Registration>>> {
        Box::pin(self.select("ORDER BY username, created_ms, seq", None))
    }

    fn registrations<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<Registration>>> {
        Box::pin(self.select("WHERE username = $1 ORDER BY created_ms, seq", Some(user)))
    }

    fn vapid_key(&self, candidate: Vec<u8>) -> BoxFuture<'_, anyhow::Result<Vec<u8>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            // Nodes starting together: the first insert wins, every node reads that one.
            client
                .execute(
                    "INSERT INTO push_vapid(id, private_key, created_ms) VALUES (1, $1, $2)
                     ON CONFLICT (id) DO NOTHING",
                    &[&candidate, &crate::time::now_millis()],
                )
                .await?;
            let row = client
                .query_one("SELECT private_key FROM push_vapid WHERE id = 1", &[])
                .await?;
            Ok(row.get(0))
        })
    }
}
