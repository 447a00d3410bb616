//! [`MucStore`] on PostgreSQL: the MUC tables and the writes of a room batch, pipelined
//! in one transaction (one round trip for the batch's statements, one commit).
//!
//! The archive is keyed by `(room, id)`: ids are strictly increasing within a room, and a
//! room may move between nodes, so uniqueness is the room's, not the whole database's.

use std::collections::HashMap;

use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::archive;
use super::offline::lock_account;
use super::pool::Pg;
use crate::muc::affiliation::Affiliation;
use crate::muc::mam::query::ArchiveQuery;
use crate::storage::archive::{Page, UnknownId};
use crate::storage::muc::{
    config_text, is_temporary, join_nodes, parse_config, split_nodes, AccountSubscription,
    ArchivedMsg, Committed, Duplicate, LoadedRoom, MucStore, StoreOp, StoredRoom,
    StoredSubscription,
};
use crate::storage::types::BoxFuture;
use mucsub_protocol::mam::Metadata;

/// `MIGRATIONS[i]` brings the `muc` tables from version `i` to `i + 1`. Append only.
pub(super) const MIGRATIONS: &[&str] = &["
    CREATE TABLE muc_rooms(
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        public BOOLEAN NOT NULL,
        title TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        subject_nick TEXT NOT NULL DEFAULT '',
        created_us BIGINT NOT NULL
    );
    CREATE TABLE muc_affiliations(
        room TEXT NOT NULL,
        jid TEXT NOT NULL,
        affiliation TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (room, jid)
    );
    -- Counting the rooms an account owns (the room quota) reads by account.
    CREATE INDEX muc_affiliations_by_jid ON muc_affiliations(jid, affiliation);
    CREATE TABLE muc_subscriptions(
        room TEXT NOT NULL,
        jid TEXT NOT NULL,
        nick TEXT NOT NULL,
        nodes TEXT NOT NULL,
        -- Keeps the order subscriptions were first made (a change keeps its place).
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (room, jid)
    );
    -- The service-level <subscriptions/> list reads by account, never loading rooms.
    CREATE INDEX muc_subscriptions_by_jid ON muc_subscriptions(jid);
    CREATE TABLE muc_archive(
        room TEXT NOT NULL,
        id BIGINT NOT NULL,
        stamp_us BIGINT NOT NULL,
        nick TEXT NOT NULL,
        sender TEXT NOT NULL,
        origin_id TEXT,
        stanza TEXT NOT NULL,
        PRIMARY KEY (room, id)
    );
    -- A resent message (same sender and XEP-0359 origin-id) is not archived twice.
    CREATE UNIQUE INDEX muc_archive_origin ON muc_archive(room, sender, origin_id)
        WHERE origin_id IS NOT NULL;
    -- Per room: the number of archived messages (RSM <count/> without scanning) and the
    -- newest id (the id floor), maintained by every commit that archives.
    CREATE TABLE muc_archive_counts(
        room TEXT PRIMARY KEY,
        n BIGINT NOT NULL,
        last_id BIGINT NOT NULL
    );
"];

/// [`MucStore`] on PostgreSQL.
#[derive(Clone)]
pub struct PgMuc {
    pg: Pg,
}

impl PgMuc {
    pub(super) fn new(pg: Pg) -> Self {
        PgMuc { pg }
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

fn p<T: ToSql + Sync + Send + 'static>(v: T) -> Param {
    Box::new(v)
}

/// The statement(s) of one op, with owned parameters.
fn statements(op: &StoreOp) -> Vec<(&'static str, Vec<Param>)> {
    match op {
        StoreOp::SaveRoom { name, config } => vec![(
            "INSERT INTO muc_rooms(name, config, public, title, created_us)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET config = excluded.config,
                public = excluded.public, title = excluded.title",
            vec![
                p(name.clone()),
                p(config_text(config)),
                p(config.public),
                p(config.name.clone()),
                p(crate::muc::ids::now_micros()),
            ],
        )],
        StoreOp::SetSubject {
            room,
            subject,
            nick,
        } => vec![(
            "UPDATE muc_rooms SET subject = $2, subject_nick = $3 WHERE name = $1",
            vec![p(room.clone()), p(subject.clone()), p(nick.clone())],
        )],
        StoreOp::SetAffiliation {
            room,
            jid,
            affiliation: Affiliation::None,
        } => vec![(
            "DELETE FROM muc_affiliations WHERE room = $1 AND jid = $2",
            vec![p(room.clone()), p(jid.clone())],
        )],
        StoreOp::SetAffiliation {
            room,
            jid,
            affiliation,
        } => vec![(
            "INSERT INTO muc_affiliations(room, jid, affiliation) VALUES ($1, $2, $3)
             ON CONFLICT (room, jid) DO UPDATE SET affiliation = excluded.affiliation",
            vec![
                p(room.clone()),
                p(jid.clone()),
                p(affiliation.as_str().to_owned()),
            ],
        )],
        StoreOp::SetSubscription { room, sub } => vec![(
            "INSERT INTO muc_subscriptions(room, jid, nick, nodes) VALUES ($1, $2, $3, $4)
             ON CONFLICT (room, jid) DO UPDATE SET nick = excluded.nick,
                nodes = excluded.nodes",
            vec![
                p(room.clone()),
                p(sub.jid.clone()),
                p(sub.nick.clone()),
                p(join_nodes(&sub.nodes)),
            ],
        )],
        StoreOp::RemoveSubscription { room, jid } => vec![(
            "DELETE FROM muc_subscriptions WHERE room = $1 AND jid = $2",
            vec![p(room.clone()), p(jid.clone())],
        )],
        StoreOp::Archive(m) => {
            let mut st = vec![(
                "INSERT INTO muc_archive(room, id, stamp_us, nick, sender, origin_id, stanza)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (room, sender, origin_id) WHERE origin_id IS NOT NULL DO NOTHING",
                vec![
                    p(m.room.clone()),
                    p(m.id),
                    p(m.stamp_us),
                    p(m.nick.clone()),
                    p(m.sender.clone()),
                    p(m.origin_id.clone()),
                    p(m.stanza.clone()),
                ],
            )];
            if let Some(origin) = &m.origin_id {
                // Right after the insert (so before a later destruction in the batch): the
                // row that refused it, if any. Another id means the insert did nothing (the
                // same id again would have failed on the primary key).
                st.push((
                    "SELECT id, stamp_us, nick, stanza FROM muc_archive
                     WHERE room = $1 AND sender = $2 AND origin_id = $3 AND id <> $4",
                    vec![
                        p(m.room.clone()),
                        p(m.sender.clone()),
                        p(origin.clone()),
                        p(m.id),
                    ],
                ));
            }
            st
        }
        StoreOp::DestroyRoom { room } => [
            "DELETE FROM muc_rooms WHERE name = $1",
            "DELETE FROM muc_affiliations WHERE room = $1",
            "DELETE FROM muc_subscriptions WHERE room = $1",
            "DELETE FROM muc_archive WHERE room = $1",
            "DELETE FROM muc_archive_counts WHERE room = $1",
        ]
        .into_iter()
        .map(|sql| (sql, vec![p(room.clone())]))
        .collect(),
    }
}

/// Runs `plan` pipelined on `tx` (sent in order without waiting for each answer);
/// returns each statement's rows (none for a write without `RETURNING`).
async fn pipeline(
    tx: &deadpool_postgres::Transaction<'_>,
    plan: &[(&'static str, Vec<Param>)],
) -> anyhow::Result<Vec<Vec<Row>>> {
    let mut prepared = Vec::with_capacity(plan.len());
    for (sql, _) in plan {
        prepared.push(tx.prepare_cached(sql).await?);
    }
    let runs = plan.iter().zip(&prepared).map(|((_, params), st)| {
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect();
        async move { tx.query(st, &refs).await }
    });
    Ok(try_join_all(runs).await?)
}

/// Applies `ops` inside `tx`. Every statement goes out pipelined, the archive counters
/// last (counted as if every message were new): one round trip. Only when a message was
/// refused as a duplicate does a second one correct its room's counter.
///
/// `last_id` may so include a refused message's id: it is a floor that ids only ever
/// go above, and a refused id is above every id stored before it.
pub(super) async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    ops: &[StoreOp],
) -> anyhow::Result<Committed> {
    let mut plan = Vec::with_capacity(ops.len() + 1);
    // Where each op's statements start in the plan.
    let mut starts = Vec::with_capacity(ops.len());
    // Per room, in op order: messages archived since its last destruction in this batch
    // and the newest id (a destroyed room starts again from nothing).
    let mut archived: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut destroyed_at: HashMap<&str, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        starts.push(plan.len());
        plan.extend(statements(op));
        match op {
            StoreOp::Archive(m) => {
                let e = archived.entry(m.room.as_str()).or_insert((0, m.id));
                e.0 += 1;
                e.1 = e.1.max(m.id);
            }
            StoreOp::DestroyRoom { room } => {
                archived.remove(room.as_str());
                destroyed_at.insert(room.as_str(), i);
            }
            _ => {}
        }
    }
    for (room, (n, last)) in &archived {
        plan.push((
            "INSERT INTO muc_archive_counts(room, n, last_id) VALUES ($1, $2, $3)
             ON CONFLICT (room) DO UPDATE SET n = muc_archive_counts.n + excluded.n,
                last_id = GREATEST(muc_archive_counts.last_id, excluded.last_id)",
            vec![p(room.to_string()), p(*n), p(*last)],
        ));
    }
    let rows = pipeline(tx, &plan).await?;
    let mut done = Committed::default();
    let mut uncount: HashMap<&str, i64> = HashMap::new();
    for (i, (op, &at)) in ops.iter().zip(&starts).enumerate() {
        let StoreOp::Archive(m) = op else { continue };
        // An archive op with an origin-id is followed by the lookup of what refused it.
        let Some(stored) = m.origin_id.as_ref().and_then(|_| rows[at + 1].first()) else {
            continue;
        };
        // Counted above only when no later destruction in the batch reset its room.
        if destroyed_at.get(m.room.as_str()).is_none_or(|&d| d < i) {
            *uncount.entry(m.room.as_str()).or_default() += 1;
        }
        done.duplicates.push(Duplicate {
            attempted: m.id,
            stored: ArchivedMsg {
                id: stored.get(0),
                room: m.room.clone(),
                stamp_us: stored.get(1),
                nick: stored.get(2),
                sender: m.sender.clone(),
                origin_id: m.origin_id.clone(),
                stanza: stored.get(3),
            },
        });
    }
    let corrections: Vec<_> = uncount
        .into_iter()
        .map(|(room, k)| {
            (
                "UPDATE muc_archive_counts SET n = n - $2 WHERE room = $1",
                vec![p(room.to_owned()), p(k)],
            )
        })
        .collect();
    if !corrections.is_empty() {
        pipeline(tx, &corrections).await?;
    }
    Ok(done)
}

const ROOMS_OWNED: &str =
    "SELECT COUNT(*) FROM muc_affiliations WHERE jid = $1 AND affiliation = 'owner'";

impl PgMuc {
    async fn count(&self, sql: &str, jid: &str) -> anyhow::Result<usize> {
        let client = self.pg.client().await?;
        let st = client.prepare_cached(sql).await?;
        let n: i64 = client.query_one(&st, &[&jid]).await?.get(0);
        Ok(n as usize)
    }

    async fn load(&self, name: &str, history: usize) -> anyhow::Result<Option<LoadedRoom>> {
        let client = self.pg.client().await?;
        let room_st = client
            .prepare_cached("SELECT config, subject, subject_nick FROM muc_rooms WHERE name = $1")
            .await?;
        let affs_st = client
            .prepare_cached("SELECT jid, affiliation FROM muc_affiliations WHERE room = $1")
            .await?;
        let subs_st = client
            .prepare_cached(
                "SELECT jid, nick, nodes FROM muc_subscriptions WHERE room = $1 ORDER BY seq",
            )
            .await?;
        let args: [&(dyn ToSql + Sync); 1] = [&name];
        // Pipelined: the room, its affiliations, subscriptions and history in one round trip.
        let (room, affs, subs, recent) = tokio::try_join!(
            async { Ok::<_, anyhow::Error>(client.query_opt(&room_st, &args).await?) },
            async { Ok(client.query(&affs_st, &args).await?) },
            async { Ok(client.query(&subs_st, &args).await?) },
            archive::recent(&client, name, history),
        )?;
        let Some(room) = room else {
            return Ok(None);
        };
        let affiliations = affs
            .iter()
            .filter_map(|r| {
                let a: String = r.get(1);
                Affiliation::parse(&a).map(|a| (r.get::<_, String>(0), a))
            })
            .collect();
        let subscriptions = subs
            .iter()
            .map(|r| StoredSubscription {
                jid: r.get(0),
                nick: r.get(1),
                nodes: split_nodes(r.get(2)),
            })
            .collect();
        let stored = StoredRoom {
            name: name.to_owned(),
            config: parse_config(name, room.get(0)),
            subject: room.get(1),
            subject_nick: room.get(2),
            affiliations,
            subscriptions,
        };
        Ok(Some((stored, recent)))
    }

    async fn drop_stale(&self) -> anyhow::Result<Vec<String>> {
        let mut client = self.pg.client().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                "SELECT r.name, r.config FROM muc_rooms r WHERE NOT EXISTS
                    (SELECT 1 FROM muc_subscriptions s WHERE s.room = r.name) ORDER BY r.name",
                &[],
            )
            .await?;
        let rooms: Vec<String> = rows
            .iter()
            .filter(|r| is_temporary(r.get(1)))
            .map(|r| r.get(0))
            .collect();
        let ops: Vec<StoreOp> = rooms
            .iter()
            .map(|r| StoreOp::DestroyRoom { room: r.clone() })
            .collect();
        apply(&tx, &ops).await?;
        tx.commit().await?;
        Ok(rooms)
    }
}

impl MucStore for PgMuc {
    fn commit(&self, ops: Vec<StoreOp>) -> BoxFuture<'_, anyhow::Result<Committed>> {
        Box::pin(async move {
            if ops.is_empty() {
                return Ok(Committed::default());
            }
            let started = std::time::Instant::now();
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            let done = apply(&tx, &ops).await?;
            tx.commit().await?;
            self.pg.committed(started.elapsed());
            Ok(done)
        })
    }

    fn commit_within_room_quota<'a>(
        &'a self,
        creator: &'a str,
        max_owned: usize,
        ops: Vec<StoreOp>,
    ) -> BoxFuture<'a, anyhow::Result<Result<(), usize>>> {
        Box::pin(async move {
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            // Two nodes creating rooms for one account count one after the other.
            lock_account(&tx, creator).await?;
            let st = tx.prepare_cached(ROOMS_OWNED).await?;
            let owned = tx.query_one(&st, &[&creator]).await?.get::<_, i64>(0) as usize;
            if owned >= max_owned {
                return Ok(Err(owned));
            }
            apply(&tx, &ops).await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    fn load_room<'a>(
        &'a self,
        name: &'a str,
        history: usize,
    ) -> BoxFuture<'a, anyhow::Result<Option<LoadedRoom>>> {
        Box::pin(self.load(name, history))
    }

    fn subscriptions_of<'a>(
        &'a self,
        jid: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<AccountSubscription>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let st = client
                .prepare_cached(
                    "SELECT s.room, s.nick, s.nodes, a.id, a.stamp_us FROM muc_subscriptions s
                     LEFT JOIN LATERAL (SELECT id, stamp_us FROM muc_archive
                        WHERE room = s.room ORDER BY id DESC LIMIT 1) a ON true
                     WHERE s.jid = $1 ORDER BY s.room",
                )
                .await?;
            let rows = client.query(&st, &[&jid]).await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let id: Option<i64> = r.get(3);
                    let stamp: Option<i64> = r.get(4);
                    AccountSubscription {
                        room: r.get(0),
                        nick: r.get(1),
                        nodes: split_nodes(r.get(2)),
                        last: id.zip(stamp),
                    }
                })
                .collect())
        })
    }

    fn subscription_count<'a>(&'a self, jid: &'a str) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(self.count("SELECT COUNT(*) FROM muc_subscriptions WHERE jid = $1", jid))
    }

    fn rooms_owned_by<'a>(&'a self, jid: &'a str) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(self.count(ROOMS_OWNED, jid))
    }

    fn public_rooms(&self) -> BoxFuture<'_, anyhow::Result<Vec<(String, String)>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let rows = client
                .query(
                    "SELECT name, title FROM muc_rooms WHERE public ORDER BY name",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn room_names(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let rows = client
                .query("SELECT name FROM muc_rooms ORDER BY name", &[])
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn max_archive_id(&self) -> BoxFuture<'_, anyhow::Result<i64>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let row = client
                .query_one(
                    "SELECT COALESCE(MAX(last_id), 0)::BIGINT FROM muc_archive_counts",
                    &[],
                )
                .await?;
            Ok(row.get(0))
        })
    }

    fn drop_stale_temporary_rooms(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(self.drop_stale())
    }

    fn purge_deleted_accounts<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let n = client
                .execute(
                    "DELETE FROM muc_subscriptions s
                     WHERE split_part(s.jid, '@', 2) = $1
                       AND NOT EXISTS (SELECT 1 FROM accounts a
                                       WHERE a.username = split_part(s.jid, '@', 1))",
                    &[&domain],
                )
                .await?;
            Ok(n as usize)
        })
    }

    fn archive_page<'a>(
        &'a self,
        room: &'a str,
        query: &'a ArchiveQuery,
    ) -> BoxFuture<'a, anyhow::Result<Result<Page, UnknownId>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            archive::page(&client, room, query).await
        })
    }

    fn archive_bounds<'a>(&'a self, room: &'a str) -> BoxFuture<'a, anyhow::Result<Metadata>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            archive::bounds(&client, room).await
        })
    }
}
