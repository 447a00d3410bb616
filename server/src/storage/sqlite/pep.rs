//! [`PepStore`] on SQLite (component "pep").

use rusqlite::params;

use super::db::Db;
use crate::storage::pep::{PepItem, PepStore};
use crate::storage::types::BoxFuture;

pub(super) const MIGRATIONS: &[&str] = &["CREATE TABLE pep_items(
        username TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        node TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        -- Publication order: a republished item becomes the newest.
        seq INTEGER NOT NULL,
        PRIMARY KEY(username, node, id)
    );
    CREATE INDEX pep_items_by_seq ON pep_items(username, node, seq);"];

/// [`PepStore`] on SQLite.
#[derive(Clone)]
pub struct SqlitePep {
    db: Db,
}

impl SqlitePep {
    /// The store over `db`, whose tables [`super::open`] migrated.
    pub(super) fn new(db: Db) -> Self {
        SqlitePep { db }
    }
}

fn item(r: &rusqlite::Row) -> rusqlite::Result<PepItem> {
    Ok(PepItem {
        node: r.get(0)?,
        id: r.get(1)?,
        payload: r.get(2)?,
    })
}

impl PepStore for SqlitePep {
    fn publish<'a>(
        &'a self,
        user: &'a str,
        item: PepItem,
        max_items: usize,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        let user = user.to_owned();
        Box::pin(self.db.call(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO pep_items(username, node, id, payload, seq)
                 VALUES (?1, ?2, ?3, ?4,
                    (SELECT COALESCE(MAX(seq), 0) + 1 FROM pep_items
                     WHERE username = ?1 AND node = ?2))
                 ON CONFLICT(username, node, id) DO UPDATE SET
                    payload = excluded.payload, seq = excluded.seq",
                params![user, item.node, item.id, item.payload],
            )?;
            tx.execute(
                "DELETE FROM pep_items WHERE username = ?1 AND node = ?2 AND seq NOT IN
                    (SELECT seq FROM pep_items WHERE username = ?1 AND node = ?2
                     ORDER BY seq DESC LIMIT ?3)",
                params![user, item.node, max_items as i64],
            )?;
            tx.commit()?;
            Ok(())
        }))
    }

    fn items<'a>(
        &'a self,
        user: &'a str,
        node: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<PepItem>>> {
        let (user, node) = (user.to_owned(), node.to_owned());
        Box::pin(self.db.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT node, id, payload FROM pep_items WHERE username = ?1 AND node = ?2
                 ORDER BY seq",
            )?;
            let rows = st.query_map(params![user, node], item)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        }))
    }

    fn retract<'a>(
        &'a self,
        user: &'a str,
        node: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<bool>> {
        let (user, node, id) = (user.to_owned(), node.to_owned(), id.to_owned());
        Box::pin(self.db.call(move |c| {
            Ok(c.execute(
                "DELETE FROM pep_items WHERE username = ?1 AND node = ?2 AND id = ?3",
                params![user, node, id],
            )? > 0)
        }))
    }

    fn last_items<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<PepItem>>> {
        let user = user.to_owned();
        Box::pin(self.db.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT node, id, payload FROM pep_items p WHERE username = ?1 AND seq =
                    (SELECT MAX(seq) FROM pep_items q
                     WHERE q.username = p.username AND q.node = p.node)
                 ORDER BY node",
            )?;
            let rows = st.query_map([user], item)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        }))
    }
}
