//! [`RoomOwnership`] on PostgreSQL: incarnations with leases on the database's clock,
//! rooms claimed by a conditional upsert, and the fence every room commit checks first
//! (`cluster_fence`, called by `muc.rs` at the head of a fenced commit).
//!
//! No session-level advisory locks: a lock held by a connection that died silently would
//! leave two owners; a row that names an incarnation and an epoch cannot.

use std::time::Duration;

use tokio_postgres::error::SqlState;

use super::pool::Pg;
use crate::storage::ownership::{
    Claim, Fence, LostOwnership, Owner, Renewal, RoomOwnership, TAIL_MARGIN, TAIL_MAX,
};
use crate::storage::types::BoxFuture;

/// The SQLSTATE `cluster_fence` raises when the fence does not hold.
const FENCE_FAILED: &str = "MU001";

/// How long a claim waits for the room's row (a commit of the owner in flight) before it
/// gives up; the stanza that wanted the room then gets a `wait` error.
const CLAIM_LOCK_TIMEOUT: &str = "2s";

/// `MIGRATIONS[i]` brings the `cluster` tables from version `i` to `i + 1`. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    "
    -- One row per node start. `lease_until` is on the database's clock; an incarnation
    -- whose lease has passed is over for good (it never renews again).
    CREATE TABLE cluster_incarnations(
        incarnation BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        node TEXT NOT NULL,
        started TIMESTAMPTZ NOT NULL DEFAULT now(),
        lease_until TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX cluster_incarnations_by_node ON cluster_incarnations(node, incarnation);
    -- The owner of each room ever claimed (NULL: released) and the room's epoch, which
    -- only grows: each claim by another incarnation takes the next one.
    CREATE TABLE cluster_rooms(
        room TEXT PRIMARY KEY,
        incarnation BIGINT REFERENCES cluster_incarnations,
        epoch BIGINT NOT NULL
    );
    -- The first statement of every fenced room commit: locks the ownership row for share
    -- (a claim waits for the commit, a commit after a claim sees the new owner) and raises
    -- MU001, aborting the transaction, unless the fence still holds.
    CREATE FUNCTION cluster_fence(p_room TEXT, p_incarnation BIGINT, p_epoch BIGINT)
    RETURNS BOOLEAN LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM cluster_rooms r
         WHERE r.room = p_room AND r.incarnation = p_incarnation AND r.epoch = p_epoch
           AND EXISTS (SELECT 1 FROM cluster_incarnations n
                        WHERE n.incarnation = p_incarnation AND n.lease_until > now())
           FOR SHARE OF r;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'MU001', MESSAGE = format(
                'room %s is not owned by incarnation %s at epoch %s',
                p_room, p_incarnation, p_epoch);
        END IF;
        RETURN true;
    END $$;
",
    super::directory::MIGRATION,
    "
    -- The lease's TTL, which bounds how far back a dead owner's unsent tail can reach
    -- (`storage::ownership::TAIL_MARGIN`).
    ALTER TABLE cluster_incarnations ADD COLUMN ttl_secs DOUBLE PRECISION NOT NULL DEFAULT 3;
",
];

/// The statement a fenced commit starts with.
pub(super) const FENCE_SQL: &str = "SELECT cluster_fence($1, $2, $3)";

/// `e` as [`LostOwnership`] when it is the fence's refusal; otherwise `e` itself.
pub(super) fn fence_error(e: tokio_postgres::Error, fence: &Fence) -> anyhow::Error {
    if e.code() == Some(&SqlState::from_code(FENCE_FAILED)) {
        anyhow::Error::new(LostOwnership(fence.clone()))
    } else {
        anyhow::Error::new(e)
    }
}

/// The room's owner as stored.
async fn owner(
    client: &impl deadpool_postgres::GenericClient,
    room: &str,
) -> anyhow::Result<Option<Owner>> {
    let row = client
        .query_opt(
            "SELECT r.incarnation, n.node, r.epoch, COALESCE(n.lease_until > now(), false)
             FROM cluster_rooms r
             LEFT JOIN cluster_incarnations n ON n.incarnation = r.incarnation
             WHERE r.room = $1",
            &[&room],
        )
        .await?;
    Ok(row.map(|r| Owner {
        incarnation: r.get(0),
        node: r.get(1),
        epoch: r.get(2),
        live: r.get(3),
    }))
}

/// What the owner at `epoch`, whose last renewal was at most at `renewed` (microseconds),
/// archived in its last moments: see [`Claim::Owned`]'s `tail`. Oldest first.
async fn dead_tail(
    tx: &impl deadpool_postgres::GenericClient,
    room: &str,
    epoch: i64,
    renewed: i64,
) -> anyhow::Result<Vec<(i64, String)>> {
    let from = renewed - TAIL_MARGIN.as_micros() as i64;
    let rows = tx
        .query(
            "SELECT id, stanza FROM muc_archive
             WHERE room = $1 AND id >= $2 AND epoch = $3
             ORDER BY id DESC LIMIT $4",
            &[&room, &from, &epoch, &TAIL_MAX],
        )
        .await?;
    Ok(rows.iter().rev().map(|r| (r.get(0), r.get(1))).collect())
}

/// [`RoomOwnership`] on PostgreSQL.
#[derive(Clone)]
pub struct PgOwnership {
    pg: Pg,
}

impl PgOwnership {
    pub(super) fn new(pg: Pg) -> Self {
        PgOwnership { pg }
    }

    async fn do_join(&self, node: &str, ttl: Duration) -> anyhow::Result<i64> {
        let mut client = self.pg.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "UPDATE cluster_incarnations SET lease_until = now()
             WHERE node = $1 AND lease_until > now()",
            &[&node],
        )
        .await?;
        let row = tx
            .query_one(
                "INSERT INTO cluster_incarnations(node, lease_until, ttl_secs)
                 VALUES ($1, now() + make_interval(secs => $2), $2)
                 RETURNING incarnation",
                &[&node, &ttl.as_secs_f64()],
            )
            .await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    async fn do_renew(&self, incarnation: i64, ttl: Duration) -> anyhow::Result<Renewal> {
        let client = self.pg.client().await?;
        // Prepared once per connection: every node renews every third of the TTL.
        let st = client
            .prepare_cached(
                "UPDATE cluster_incarnations SET lease_until = now() + make_interval(secs => $2)
                 WHERE incarnation = $1 AND lease_until > now()",
            )
            .await?;
        let renewed = client
            .execute(&st, &[&incarnation, &ttl.as_secs_f64()])
            .await?;
        if renewed == 1 {
            return Ok(Renewal::Renewed);
        }
        let superseded: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM cluster_incarnations a
                    JOIN cluster_incarnations b ON b.node = a.node AND b.incarnation > a.incarnation
                    WHERE a.incarnation = $1)",
                &[&incarnation],
            )
            .await?
            .get(0);
        Ok(if superseded {
            Renewal::Superseded
        } else {
            Renewal::Expired
        })
    }

    async fn do_claim(&self, room: &str, incarnation: i64) -> anyhow::Result<Claim> {
        let mut client = self.pg.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{CLAIM_LOCK_TIMEOUT}'"))
            .await?;
        // The owner before this claim, locked: an incarnation (other than this one) still
        // named there lost the room by its lease, not by releasing it (`tail`).
        let before = tx
            .query_opt(
                "SELECT r.incarnation, r.epoch,
                        (EXTRACT(EPOCH FROM n.lease_until - make_interval(secs => n.ttl_secs))
                           * 1000000)::BIGINT
                 FROM cluster_rooms r
                 LEFT JOIN cluster_incarnations n ON n.incarnation = r.incarnation
                 WHERE r.room = $1
                 FOR UPDATE OF r",
                &[&room],
            )
            .await?;
        // Only a live incarnation claims; the owner claiming again keeps its epoch; anyone
        // else takes the next epoch, and only from no owner or an expired lease.
        let st = tx
            .prepare_cached(
                "WITH me AS (SELECT incarnation FROM cluster_incarnations
                              WHERE incarnation = $2 AND lease_until > now())
                 INSERT INTO cluster_rooms(room, incarnation, epoch)
                 SELECT $1, incarnation, 1 FROM me
                 ON CONFLICT (room) DO UPDATE SET incarnation = excluded.incarnation,
                    epoch = CASE WHEN cluster_rooms.incarnation = excluded.incarnation
                                 THEN cluster_rooms.epoch ELSE cluster_rooms.epoch + 1 END
                 WHERE cluster_rooms.incarnation IS NULL
                    OR cluster_rooms.incarnation = excluded.incarnation
                    OR NOT EXISTS (SELECT 1 FROM cluster_incarnations n
                                    WHERE n.incarnation = cluster_rooms.incarnation
                                      AND n.lease_until > now())
                 RETURNING epoch",
            )
            .await?;
        if let Some(row) = tx.query_opt(&st, &[&room, &incarnation]).await? {
            let epoch: i64 = row.get(0);
            let last_id: i64 = tx
                .query_one(
                    "SELECT COALESCE((SELECT last_id FROM muc_archive_counts WHERE room = $1), 0)",
                    &[&room],
                )
                .await?
                .get(0);
            let before: Option<(Option<i64>, i64, Option<i64>)> =
                before.map(|r| (r.get(0), r.get(1), r.get(2)));
            let tail = match before {
                Some((Some(old), old_epoch, Some(renewed))) if old != incarnation => {
                    dead_tail(&tx, room, old_epoch, renewed).await?
                }
                _ => Vec::new(),
            };
            tx.commit().await?;
            let fence = Fence {
                room: room.to_owned(),
                incarnation,
                epoch,
            };
            return Ok(Claim::Owned {
                fence,
                last_id,
                tail,
            });
        }
        // Each statement sees what committed before it: the owner that refused the claim.
        let holder = owner(&tx, room).await?;
        tx.commit().await?;
        match holder {
            Some(Owner {
                incarnation: Some(other),
                node: Some(node),
                live: true,
                ..
            }) if other != incarnation => Ok(Claim::Held {
                node,
                incarnation: other,
            }),
            _ => anyhow::bail!(
                "room {room}: incarnation {incarnation} cannot claim it (its lease has expired)"
            ),
        }
    }
}

impl RoomOwnership for PgOwnership {
    fn join<'a>(&'a self, node: &'a str, ttl: Duration) -> BoxFuture<'a, anyhow::Result<i64>> {
        Box::pin(self.do_join(node, ttl))
    }

    fn renew(&self, incarnation: i64, ttl: Duration) -> BoxFuture<'_, anyhow::Result<Renewal>> {
        Box::pin(self.do_renew(incarnation, ttl))
    }

    fn leave(&self, incarnation: i64) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            client
                .execute(
                    "UPDATE cluster_incarnations SET lease_until = now()
                     WHERE incarnation = $1 AND lease_until > now()",
                    &[&incarnation],
                )
                .await?;
            Ok(())
        })
    }

    fn claim<'a>(
        &'a self,
        room: &'a str,
        incarnation: i64,
    ) -> BoxFuture<'a, anyhow::Result<Claim>> {
        Box::pin(self.do_claim(room, incarnation))
    }

    fn release<'a>(&'a self, fence: &'a Fence) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                [&fence.room, &fence.incarnation, &fence.epoch];
            // A claim for a room that never came to be (a stanza to a room that does not
            // exist) or was destroyed leaves no row behind, so names sent at random cost
            // nothing lasting. Its epochs may start again: its archive went with it.
            client
                .execute(
                    "DELETE FROM cluster_rooms
                     WHERE room = $1 AND incarnation = $2 AND epoch = $3
                       AND NOT EXISTS (SELECT 1 FROM muc_rooms WHERE name = $1)",
                    &args,
                )
                .await?;
            client
                .execute(
                    "UPDATE cluster_rooms SET incarnation = NULL
                     WHERE room = $1 AND incarnation = $2 AND epoch = $3",
                    &args,
                )
                .await?;
            Ok(())
        })
    }

    fn rooms_of(&self, incarnation: i64) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            let rows = client
                .query(
                    "SELECT room FROM cluster_rooms WHERE incarnation = $1",
                    &[&incarnation],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn others_live(&self, incarnation: i64) -> BoxFuture<'_, anyhow::Result<Vec<i64>>> {
        Box::pin(async move {
            let client = self.pg.client().await?;
            // At every lease renewal: prepared once per connection.
            let st = client
                .prepare_cached(
                    "SELECT incarnation FROM cluster_incarnations
                     WHERE incarnation <> $1 AND lease_until > now()",
                )
                .await?;
            let rows = client.query(&st, &[&incarnation]).await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn owner<'a>(&'a self, room: &'a str) -> BoxFuture<'a, anyhow::Result<Option<Owner>>> {
        Box::pin(async move { owner(&self.pg.client().await?, room).await })
    }
}
