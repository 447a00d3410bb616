//! [`PushStore`] on SQLite (component "push": registrations and the VAPID key).

use super::db::Db;
use crate::storage::push::{PushStore, Registration, MAX_PER_ACCOUNT};
use crate::storage::types::BoxFuture;

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE push_registrations(
        username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        service TEXT NOT NULL,
        node TEXT NOT NULL,
        options TEXT NOT NULL,
        include_body INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY(username, service, node)
    );
    CREATE TABLE push_vapid(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        private_key BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    );"];

/// [`PushStore`] on SQLite.
#[derive(Clone)]
pub struct SqlitePush {
    db: Db,
}

impl SqlitePush {
    /// The store over `db`, whose tables [`super::open`] migrated.
    pub(super) fn new(db: Db) -> Self {
        SqlitePush { db }
    }
}

/// The registrations `rest` (a `WHERE` and `ORDER BY` clause) selects.
fn select(
    c: &rusqlite::Connection,
    rest: &str,
    params: impl rusqlite::Params,
) -> anyhow::Result<Vec<Registration>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT username, service, node, options, include_body FROM push_registrations {rest}"
    ))?;
    let rows = st.query_map(params, |r| {
        Ok((
            Registration {
                user: r.get(0)?,
                service: r.get(1)?,
                node: r.get(2)?,
                options: Vec::new(),
                include_body: r.get(4)?,
            },
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut reg, options) = row?;
        reg.options = serde_json::from_str(&options)?;
        out.push(reg);
    }
    Ok(out)
}

impl PushStore for SqlitePush {
    fn enable(&self, reg: Registration) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(self.db.call(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO push_registrations
                    (username, service, node, options, include_body, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(username, service, node) DO UPDATE SET
                    options = excluded.options, include_body = excluded.include_body,
                    created_ms = excluded.created_ms",
                rusqlite::params![
                    reg.user,
                    reg.service,
                    reg.node,
                    serde_json::to_string(&reg.options)?,
                    reg.include_body,
                    crate::time::now_millis(),
                ],
            )?;
            tx.execute(
                "DELETE FROM push_registrations WHERE username = ?1 AND rowid NOT IN
                    (SELECT rowid FROM push_registrations WHERE username = ?1
                     ORDER BY created_ms DESC, rowid DESC LIMIT ?2)",
                rusqlite::params![reg.user, MAX_PER_ACCOUNT as i64],
            )?;
            tx.commit()?;
            Ok(())
        }))
    }

    fn disable<'a>(
        &'a self,
        user: &'a str,
        service: &'a str,
        node: Option<&'a str>,
    ) -> BoxFuture<'a, anyhow::Result<usize>> {
        let (user, service, node) = (user.to_owned(), service.to_owned(), node.map(String::from));
        Box::pin(self.db.call(move |c| {
            let n = match node {
                Some(node) => c.execute(
                    "DELETE FROM push_registrations
                     WHERE username = ?1 AND service = ?2 AND node = ?3",
                    rusqlite::params![user, service, node],
                )?,
                None => c.execute(
                    "DELETE FROM push_registrations WHERE username = ?1 AND service = ?2",
                    rusqlite::params![user, service],
                )?,
            };
            Ok(n)
        }))
    }

    fn all(&self) -> BoxFuture<'_, anyhow::Result<Vec<Registration>>> {
        Box::pin(self.db.call(|c| {
            select(
                c,
                "ORDER BY username, created_ms, rowid",
                rusqlite::params![],
            )
        }))
    }

    fn registrations<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<Registration>>> {
        let user = user.to_owned();
        Box::pin(
            self.db
                .call(move |c| select(c, "WHERE username = ?1 ORDER BY created_ms, rowid", [user])),
        )
    }

    fn vapid_key(&self, candidate: Vec<u8>) -> BoxFuture<'_, anyhow::Result<Vec<u8>>> {
        Box::pin(self.db.call(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO push_vapid(id, private_key, created_ms) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO NOTHING",
                rusqlite::params![candidate, crate::time::now_millis()],
            )?;
            let key: Vec<u8> =
                tx.query_row("SELECT private_key FROM push_vapid WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
            tx.commit()?;
            Ok(key)
        }))
    }
}
