//! [`MucStore`] on SQLite: the MUC tables (component `muc` in `schema_versions`, and
//! `limits` for the quota index) and the writes of a room batch.

use rusqlite::{params, Connection, OptionalExtension};

use super::archive;
use super::db::Db;
use super::edits;
use crate::muc::affiliation::Affiliation;
use crate::muc::mam::query::ArchiveQuery;
use crate::storage::archive::{Page, UnknownId};
use crate::storage::muc::{
    config_text, is_temporary, join_nodes, parse_config, split_nodes, AccountSubscription,
    ArchiveKey, ArchivedMsg, Committed, Duplicate, LoadedRoom, MucStore, StoreOp, StoredRoom,
    StoredSubscription,
};
use crate::storage::ownership::Fence;
use crate::storage::types::BoxFuture;
use mucsub_protocol::mam::Metadata;

/// `MIGRATIONS[i]` brings the `muc` tables from version `i` to `i + 1`. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE muc_rooms(
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        public INTEGER NOT NULL,
        title TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        subject_nick TEXT NOT NULL DEFAULT '',
        created_us INTEGER NOT NULL
    );
    CREATE TABLE muc_affiliations(
        room TEXT NOT NULL,
        jid TEXT NOT NULL,
        affiliation TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY(room, jid)
    );
    CREATE TABLE muc_subscriptions(
        room TEXT NOT NULL,
        jid TEXT NOT NULL,
        nick TEXT NOT NULL,
        nodes TEXT NOT NULL,
        PRIMARY KEY(room, jid)
    );
    -- The service-level <subscriptions/> list reads by account, never loading rooms.
    CREATE INDEX muc_subscriptions_by_jid ON muc_subscriptions(jid);
    CREATE TABLE muc_archive(
        id INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        stamp_us INTEGER NOT NULL,
        nick TEXT NOT NULL,
        sender TEXT NOT NULL,
        stanza TEXT NOT NULL
    );
    CREATE INDEX muc_archive_by_room ON muc_archive(room, id);
",
    "
    -- RSM <count/> of a whole room's archive without scanning it (a MAM page on a
    -- 1,000,000-message room spent almost all its time in COUNT(*)). Triggers keep it
    -- in the same transaction as every insert and delete, whoever writes the archive.
    CREATE TABLE muc_archive_counts(
        room TEXT PRIMARY KEY,
        n INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO muc_archive_counts(room, n) SELECT room, COUNT(*) FROM muc_archive GROUP BY room;
    CREATE TRIGGER muc_archive_count_insert AFTER INSERT ON muc_archive BEGIN
        INSERT INTO muc_archive_counts(room, n) VALUES (new.room, 1)
            ON CONFLICT(room) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER muc_archive_count_delete AFTER DELETE ON muc_archive BEGIN
        UPDATE muc_archive_counts SET n = n - 1 WHERE room = old.room;
    END;
",
    "
    -- A resent message (same sender and XEP-0359 origin-id) is not archived twice.
    -- Partial: messages without an origin-id to deduplicate cost no index entry.
    ALTER TABLE muc_archive ADD COLUMN origin_id TEXT;
    CREATE UNIQUE INDEX muc_archive_origin ON muc_archive(room, sender, origin_id)
        WHERE origin_id IS NOT NULL;
",
    "
    -- The id the sender gave a message, which a XEP-0308 correction names.
    ALTER TABLE muc_archive ADD COLUMN client_id TEXT;
    CREATE INDEX muc_archive_client ON muc_archive(room, client_id)
        WHERE client_id IS NOT NULL;
    -- Service secrets (the key occupant-ids are derived with, XEP-0421), created once.
    CREATE TABLE muc_secrets(
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
",
];

/// The `limits` component: an index so counting an account's rooms does not scan every
/// affiliation. Runs after the MUC tables exist.
pub(super) const LIMITS_MIGRATIONS: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS limits_affiliations_by_jid ON muc_affiliations(jid, affiliation);",
];

/// [`MucStore`] on SQLite.
#[derive(Clone)]
pub struct SqliteMuc {
    db: Db,
}

impl SqliteMuc {
    /// The store over `db`, whose tables [`super::open`] migrated.
    pub(super) fn new(db: Db) -> Self {
        SqliteMuc { db }
    }
}

/// Applies `ops` in one transaction of its own.
pub(super) fn apply(conn: &mut Connection, ops: &[StoreOp]) -> rusqlite::Result<Committed> {
    let tx = conn.transaction()?;
    let done = apply_in(&tx, ops)?;
    tx.commit()?;
    Ok(done)
}

/// Applies `ops` inside the caller's transaction (a [`Db::write`] group).
fn apply_in(tx: &Connection, ops: &[StoreOp]) -> rusqlite::Result<Committed> {
    let mut done = Committed::default();
    for op in ops {
        match op {
            StoreOp::SaveRoom { name, config } => {
                tx.prepare_cached(
                    "INSERT INTO muc_rooms(name, config, public, title, created_us)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(name) DO UPDATE SET config = excluded.config,
                        public = excluded.public, title = excluded.title",
                )?
                .execute(params![
                    name,
                    config_text(config),
                    config.public,
                    config.name,
                    crate::muc::ids::now_micros()
                ])?;
            }
            StoreOp::SetSubject {
                room,
                subject,
                nick,
            } => {
                tx.prepare_cached(
                    "UPDATE muc_rooms SET subject = ?2, subject_nick = ?3 WHERE name = ?1",
                )?
                .execute(params![room, subject, nick])?;
            }
            StoreOp::SetAffiliation {
                room,
                jid,
                affiliation: Affiliation::None,
            } => {
                tx.prepare_cached("DELETE FROM muc_affiliations WHERE room = ?1 AND jid = ?2")?
                    .execute(params![room, jid])?;
            }
            StoreOp::SetAffiliation {
                room,
                jid,
                affiliation,
            } => {
                tx.prepare_cached(
                    "INSERT INTO muc_affiliations(room, jid, affiliation) VALUES (?1, ?2, ?3)
                     ON CONFLICT(room, jid) DO UPDATE SET affiliation = excluded.affiliation",
                )?
                .execute(params![room, jid, affiliation.as_str()])?;
            }
            StoreOp::SetSubscription { room, sub } => {
                tx.prepare_cached(
                    "INSERT INTO muc_subscriptions(room, jid, nick, nodes) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(room, jid) DO UPDATE SET nick = excluded.nick,
                        nodes = excluded.nodes",
                )?
                .execute(params![
                    room,
                    sub.jid,
                    sub.nick,
                    join_nodes(&sub.nodes)
                ])?;
            }
            StoreOp::RemoveSubscription { room, jid } => {
                tx.prepare_cached("DELETE FROM muc_subscriptions WHERE room = ?1 AND jid = ?2")?
                    .execute(params![room, jid])?;
            }
            StoreOp::Archive(m) => {
                if let Some(stored) = archive_one(tx, m)? {
                    done.duplicates.push(Duplicate {
                        attempted: m.id,
                        stored,
                    });
                }
            }
            StoreOp::Tombstone { room, id, stanza } => {
                tx.prepare_cached(
                    "UPDATE muc_archive SET stanza = ?3 WHERE room = ?1 AND id = ?2",
                )?
                .execute(params![room, id, stanza])?;
            }
            StoreOp::DestroyRoom { room } => {
                for sql in [
                    "DELETE FROM muc_rooms WHERE name = ?1",
                    "DELETE FROM muc_affiliations WHERE room = ?1",
                    "DELETE FROM muc_subscriptions WHERE room = ?1",
                    "DELETE FROM muc_archive WHERE room = ?1",
                    "DELETE FROM muc_archive_counts WHERE room = ?1",
                ] {
                    tx.prepare_cached(sql)?.execute([room])?;
                }
            }
        }
    }
    Ok(done)
}

/// Archives `m`; `Some(stored)` when the room already holds the sender's message with
/// that origin-id (and `m` was not written).
fn archive_one(tx: &Connection, m: &ArchivedMsg) -> rusqlite::Result<Option<ArchivedMsg>> {
    let n = tx
        .prepare_cached(
            "INSERT INTO muc_archive(id, room, stamp_us, nick, sender, origin_id, stanza,
                client_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(room, sender, origin_id) WHERE origin_id IS NOT NULL DO NOTHING",
        )?
        .execute(params![
            m.id,
            m.room,
            m.stamp_us,
            m.nick,
            m.sender,
            m.origin_id,
            m.stanza,
            m.client_id
        ])?;
    if n == 1 {
        return Ok(None);
    }
    tx.prepare_cached(
        "SELECT id, stamp_us, nick, stanza, client_id FROM muc_archive
         WHERE room = ?1 AND sender = ?2 AND origin_id = ?3",
    )?
    .query_row(params![m.room, m.sender, m.origin_id], |r| {
        Ok(ArchivedMsg {
            id: r.get(0)?,
            room: m.room.clone(),
            stamp_us: r.get(1)?,
            nick: r.get(2)?,
            sender: m.sender.clone(),
            origin_id: m.origin_id.clone(),
            client_id: r.get(4)?,
            stanza: r.get(3)?,
        })
    })
    .optional()
}

fn load_room(conn: &Connection, name: &str) -> rusqlite::Result<Option<StoredRoom>> {
    let row = conn
        .prepare_cached("SELECT config, subject, subject_nick FROM muc_rooms WHERE name = ?1")?
        .query_row([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    let Some((config, subject, subject_nick)) = row else {
        return Ok(None);
    };
    let mut st =
        conn.prepare_cached("SELECT jid, affiliation FROM muc_affiliations WHERE room = ?1")?;
    let affiliations = st
        .query_map([name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .filter_map(|r| match r {
            Ok((jid, a)) => Affiliation::parse(&a).map(|a| Ok((jid, a))),
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare_cached(
        "SELECT jid, nick, nodes FROM muc_subscriptions WHERE room = ?1 ORDER BY rowid",
    )?;
    let subscriptions = st
        .query_map([name], |r| {
            Ok(StoredSubscription {
                jid: r.get(0)?,
                nick: r.get(1)?,
                nodes: split_nodes(&r.get::<_, String>(2)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(StoredRoom {
        name: name.to_owned(),
        config: parse_config(name, &config),
        subject,
        subject_nick,
        affiliations,
        subscriptions,
    }))
}

fn subscriptions_of(conn: &Connection, jid: &str) -> rusqlite::Result<Vec<AccountSubscription>> {
    let mut st = conn.prepare_cached(
        "SELECT s.room, s.nick, s.nodes,
            (SELECT a.id FROM muc_archive a WHERE a.room = s.room ORDER BY a.id DESC LIMIT 1),
            (SELECT a.stamp_us FROM muc_archive a WHERE a.room = s.room ORDER BY a.id DESC LIMIT 1)
         FROM muc_subscriptions s WHERE s.jid = ?1 ORDER BY s.room",
    )?;
    let rows = st.query_map([jid], |r| {
        let id: Option<i64> = r.get(3)?;
        let stamp: Option<i64> = r.get(4)?;
        Ok(AccountSubscription {
            room: r.get(0)?,
            nick: r.get(1)?,
            nodes: split_nodes(&r.get::<_, String>(2)?),
            last: id.zip(stamp),
        })
    })?;
    rows.collect()
}

fn count(conn: &Connection, sql: &str, jid: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?
        .query_row([jid], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
}

const ROOMS_OWNED: &str =
    "SELECT COUNT(*) FROM muc_affiliations WHERE jid = ?1 AND affiliation = 'owner'";

fn drop_stale_temporary_rooms(conn: &mut Connection) -> rusqlite::Result<Vec<String>> {
    let mut rooms = Vec::new();
    {
        let mut st = conn.prepare(
            "SELECT r.name, r.config FROM muc_rooms r WHERE NOT EXISTS
                (SELECT 1 FROM muc_subscriptions s WHERE s.room = r.name) ORDER BY r.name",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (name, config) = row?;
            if is_temporary(&config) {
                rooms.push(name);
            }
        }
    }
    let ops: Vec<StoreOp> = rooms
        .iter()
        .map(|r| StoreOp::DestroyRoom { room: r.clone() })
        .collect();
    apply(conn, &ops)?;
    Ok(rooms)
}

fn purge_deleted_accounts(conn: &Connection, domain: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM muc_subscriptions
         WHERE substr(jid, instr(jid, '@') + 1) = ?1
           AND substr(jid, 1, instr(jid, '@') - 1) NOT IN (SELECT username FROM accounts)",
        [domain],
    )
}

/// SQLite is one node's own file: every room it loads is its own, so there is no fence to
/// check; being handed one is a mistake of the caller.
fn no_fence(fence: Option<&Fence>) -> anyhow::Result<()> {
    match fence {
        None => Ok(()),
        Some(f) => anyhow::bail!("room {}: ownership fences need PostgreSQL", f.room),
    }
}

impl MucStore for SqliteMuc {
    fn commit_as<'a>(
        &'a self,
        fence: Option<&'a Fence>,
        ops: Vec<StoreOp>,
    ) -> BoxFuture<'a, anyhow::Result<Committed>> {
        Box::pin(async move {
            no_fence(fence)?;
            if ops.is_empty() {
                return Ok(Committed::default());
            }
            // Grouped with other rooms' batches waiting at the same time: one fsync for
            // all, each batch still all or nothing (its own savepoint).
            self.db.write(move |c| Ok(apply_in(c, &ops)?)).await
        })
    }

    fn commit_within_room_quota<'a>(
        &'a self,
        fence: Option<&'a Fence>,
        creator: &'a str,
        max_owned: usize,
        ops: Vec<StoreOp>,
    ) -> BoxFuture<'a, anyhow::Result<Result<(), usize>>> {
        if let Err(e) = no_fence(fence) {
            return Box::pin(async move { Err(e) });
        }
        let creator = creator.to_owned();
        Box::pin(self.db.call(move |c| {
            let tx = c.transaction()?;
            let owned = count(&tx, ROOMS_OWNED, &creator)?;
            if owned >= max_owned {
                return Ok(Err(owned));
            }
            apply_in(&tx, &ops)?;
            tx.commit()?;
            Ok(Ok(()))
        }))
    }

    fn load_room<'a>(
        &'a self,
        name: &'a str,
        history: usize,
    ) -> BoxFuture<'a, anyhow::Result<Option<LoadedRoom>>> {
        let name = name.to_owned();
        Box::pin(self.db.call(move |c| {
            let Some(room) = load_room(c, &name)? else {
                return Ok(None);
            };
            let recent = archive::recent(c, &name, history)?;
            Ok(Some((room, recent)))
        }))
    }

    fn subscriptions_of<'a>(
        &'a self,
        jid: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<AccountSubscription>>> {
        let jid = jid.to_owned();
        // A reader connection: the list does not wait behind writes.
        Box::pin(self.db.read(move |c| Ok(subscriptions_of(c, &jid)?)))
    }

    fn subscription_count<'a>(&'a self, jid: &'a str) -> BoxFuture<'a, anyhow::Result<usize>> {
        let jid = jid.to_owned();
        Box::pin(self.db.call(move |c| {
            Ok(count(
                c,
                "SELECT COUNT(*) FROM muc_subscriptions WHERE jid = ?1",
                &jid,
            )?)
        }))
    }

    fn rooms_owned_by<'a>(&'a self, jid: &'a str) -> BoxFuture<'a, anyhow::Result<usize>> {
        let jid = jid.to_owned();
        Box::pin(self.db.call(move |c| Ok(count(c, ROOMS_OWNED, &jid)?)))
    }

    fn public_rooms(&self) -> BoxFuture<'_, anyhow::Result<Vec<(String, String)>>> {
        Box::pin(self.db.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, title FROM muc_rooms WHERE public = 1 ORDER BY name",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        }))
    }

    fn room_names(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(self.db.read(|c| {
            let mut st = c.prepare_cached("SELECT name FROM muc_rooms ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        }))
    }

    fn max_archive_id(&self) -> BoxFuture<'_, anyhow::Result<i64>> {
        Box::pin(self.db.call(|c| {
            Ok(
                c.query_row("SELECT COALESCE(MAX(id), 0) FROM muc_archive", [], |r| {
                    r.get(0)
                })?,
            )
        }))
    }

    fn drop_stale_temporary_rooms(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(self.db.call(|c| Ok(drop_stale_temporary_rooms(c)?)))
    }

    fn purge_deleted_accounts<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<usize>> {
        let domain = domain.to_owned();
        Box::pin(
            self.db
                .call(move |c| Ok(purge_deleted_accounts(c, &domain)?)),
        )
    }

    fn archive_page<'a>(
        &'a self,
        room: &'a str,
        query: &'a ArchiveQuery,
    ) -> BoxFuture<'a, anyhow::Result<Result<Page, UnknownId>>> {
        let (room, q) = (room.to_owned(), query.clone());
        // A reader connection: pages do not queue behind the writer's commits.
        Box::pin(self.db.read(move |c| archive::page(c, &room, &q)))
    }

    fn archive_bounds<'a>(&'a self, room: &'a str) -> BoxFuture<'a, anyhow::Result<Metadata>> {
        let room = room.to_owned();
        Box::pin(self.db.read(move |c| Ok(archive::bounds(c, &room)?)))
    }

    fn archived<'a>(
        &'a self,
        room: &'a str,
        key: &'a ArchiveKey,
    ) -> BoxFuture<'a, anyhow::Result<Option<ArchivedMsg>>> {
        let (room, key) = (room.to_owned(), key.clone());
        // The writer's connection: the target may have been committed a moment ago.
        Box::pin(self.db.call(move |c| Ok(edits::archived(c, &room, &key)?)))
    }

    fn secret<'a>(
        &'a self,
        name: &'a str,
        fresh: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
        let name = name.to_owned();
        Box::pin(self.db.call(move |c| Ok(edits::secret(c, &name, &fresh)?)))
    }
}
