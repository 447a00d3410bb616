//! The write side of [`crate::storage::MucStore`] on PostgreSQL: each [`StoreOp`] as its
//! statements, and [`apply`], which sends a room batch's statements pipelined in one round
//! trip inside the caller's transaction, behind the ownership fence when there is one.

use std::collections::HashMap;

use futures_util::future::join_all;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::ownership::{fence_error, FENCE_SQL};
use crate::muc::affiliation::Affiliation;
use crate::storage::muc::{config_text, join_nodes, ArchivedMsg, Committed, Duplicate, StoreOp};
use crate::storage::ownership::Fence;

type Param = Box<dyn ToSql + Sync + Send>;

fn p<T: ToSql + Sync + Send + 'static>(v: T) -> Param {
    Box::new(v)
}

/// The statement(s) of one op, with owned parameters; archived messages record `epoch`.
fn statements(op: &StoreOp, epoch: Option<i64>) -> Vec<(&'static str, Vec<Param>)> {
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
                "INSERT INTO muc_archive(room, id, stamp_us, nick, sender, origin_id, stanza,
                    client_id, epoch)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (room, sender, origin_id) WHERE origin_id IS NOT NULL DO NOTHING",
                vec![
                    p(m.room.clone()),
                    p(m.id),
                    p(m.stamp_us),
                    p(m.nick.clone()),
                    p(m.sender.clone()),
                    p(m.origin_id.clone()),
                    p(m.stanza.clone()),
                    p(m.client_id.clone()),
                    p(epoch),
                ],
            )];
            if let Some(origin) = &m.origin_id {
                // Right after the insert (so before a later destruction in the batch): the
                // row that refused it, if any. Another id means the insert did nothing (the
                // same id again would have failed on the primary key).
                st.push((
                    "SELECT id, stamp_us, nick, stanza, client_id FROM muc_archive
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
        StoreOp::Tombstone { room, id, stanza } => vec![(
            "UPDATE muc_archive SET stanza = $3 WHERE room = $1 AND id = $2",
            vec![p(room.clone()), p(*id), p(stanza.clone())],
        )],
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
/// returns each statement's rows (none for a write without `RETURNING`), or the error of
/// the first statement that failed (the later ones then fail only because the transaction
/// is aborted).
async fn pipeline(
    tx: &deadpool_postgres::Transaction<'_>,
    plan: &[(&'static str, Vec<Param>)],
) -> Result<Vec<Vec<Row>>, tokio_postgres::Error> {
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
    join_all(runs).await.into_iter().collect()
}

/// Applies `ops` inside `tx`. Every statement goes out pipelined, the archive counters
/// last (counted as if every message were new): one round trip. Only when a message was
/// refused as a duplicate does a second one correct its room's counter.
///
/// With a `fence`, the fence's check goes first in the same round trip: when it does not
/// hold, the transaction is aborted before any write and the error is [`LostOwnership`]
/// (`crate::storage::ownership`).
///
/// `last_id` may so include a refused message's id: it is a floor that ids only ever
/// go above, and a refused id is above every id stored before it.
pub(super) async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    ops: &[StoreOp],
    fence: Option<&Fence>,
) -> anyhow::Result<Committed> {
    let mut plan = Vec::with_capacity(ops.len() + 2);
    if let Some(f) = fence {
        plan.push((
            FENCE_SQL,
            vec![p(f.room.clone()), p(f.incarnation), p(f.epoch)],
        ));
    }
    // Where each op's statements start in the plan.
    let mut starts = Vec::with_capacity(ops.len());
    // Per room, in op order: messages archived since its last destruction in this batch
    // and the newest id (a destroyed room starts again from nothing).
    let mut archived: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut destroyed_at: HashMap<&str, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        starts.push(plan.len());
        plan.extend(statements(op, fence.map(|f| f.epoch)));
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
    let rows = pipeline(tx, &plan).await.map_err(|e| match fence {
        Some(f) => fence_error(e, f),
        None => e.into(),
    })?;
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
                client_id: stored.get(4),
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
