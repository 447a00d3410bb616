//! [`MucStore`] on PostgreSQL: the MUC tables and their queries; the writes of a room
//! batch are `muc_apply.rs`'s, pipelined in one transaction (one round trip for the
//! batch's statements, one commit).
//!
//! The archive is keyed by `(room, id)`: ids are strictly increasing within a room, and a
//! room may move between nodes, so uniqueness is the room's, not the whole database's.

use tokio_postgres::types::ToSql;

use super::archive;
use super::edits;
use super::muc_apply::apply;
use super::offline::lock_account;
use super::pool::Pg;
use crate::muc::affiliation::Affiliation;
use crate::muc::mam::query::ArchiveQuery;
use crate::storage::archive::{Page, UnknownId};
use crate::storage::muc::{
    is_temporary, parse_config, split_nodes, AccountSubscription, ArchiveKey, ArchivedMsg,
    Committed, LoadedRoom, MucStore, StoreOp, StoredRoom, StoredSubscription,
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
",
    "
    -- The id the sender gave a message, which a XEP-0308 correction names.
    ALTER TABLE muc_archive ADD COLUMN client_id TEXT;
    CREATE INDEX muc_archive_client ON muc_archive(room, client_id)
        WHERE client_id IS NOT NULL;
    -- Service secrets (the key occupant-ids are derived with, XEP-0421), created once.
    CREATE TABLE muc_secrets(
        name TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
",
    "
    -- The ownership epoch a message was archived under (`ownership.rs`): a cluster's
    -- record that nothing was committed under an epoch after the next one began. NULL for
    -- rows written without a fence.
    ALTER TABLE muc_archive ADD COLUMN epoch BIGINT;
",
];

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
        // A room another node serves under a live lease still has its occupants there.
        let rows = tx
            .query(
                "SELECT r.name, r.config FROM muc_rooms r WHERE NOT EXISTS
                    (SELECT 1 FROM muc_subscriptions s WHERE s.room = r.name)
                 AND NOT EXISTS (SELECT 1 FROM cluster_rooms c
                    JOIN cluster_incarnations n ON n.incarnation = c.incarnation
                    WHERE c.room = r.name AND n.lease_until > now())
                 ORDER BY r.name",
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
        apply(&tx, &ops, None).await?;
        tx.commit().await?;
        Ok(rooms)
    }
}

impl MucStore for PgMuc {
    fn commit_as<'a>(
        &'a self,
        fence: Option<&'a Fence>,
        ops: Vec<StoreOp>,
    ) -> BoxFuture<'a, anyhow::Result<Committed>> {
        Box::pin(async move {
            if ops.is_empty() {
                return Ok(Committed::default());
            }
            let started = std::time::Instant::now();
            let mut client = self.pg.client().await?;
            let tx = client.transaction().await?;
            let done = apply(&tx, &ops, fence).await?;
            tx.commit().await?;
            self.pg.committed(started.elapsed());
            Ok(done)
        })
    }

    fn commit_within_room_quota<'a>(
        &'a self,
        fence: Option<&'a Fence>,
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
            apply(&tx, &ops, fence).await?;
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

    fn archived<'a>(
        &'a self,
        room: &'a str,
        key: &'a ArchiveKey,
    ) -> BoxFuture<'a, anyhow::Result<Option<ArchivedMsg>>> {
        Box::pin(async move { edits::archived(&self.pg.client().await?, room, key).await })
    }

    fn secret<'a>(
        &'a self,
        name: &'a str,
        fresh: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<u8>>> {
        Box::pin(async move { edits::secret(&self.pg.client().await?, name, &fresh).await })
    }
}
