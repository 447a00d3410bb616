//! The first two rounds of a batch write (see [`super::idb_apply`]): index lookups that
//! name the chunks a batch may touch, then those chunks, fetched once each.
//!
//! The lookups avoid one request per dedup key: archive ids sort in archive order, so one
//! key range over the batch's ids finds every stored copy; chunks holding a message without
//! an archive id carry one shared dedup entry, so one lookup finds the copies an archived
//! event can match by its other keys. A range that names more than a few chunks falls back
//! to one exact lookup per key.

use crate::keyed::KeySet;

use idb::{CursorDirection, Index, KeyCursor, KeyRange, ObjectStore, Query, Transaction};
use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};

use crate::event::RoomEvent;
use crate::store::Page;

use super::error::SdkError;
use super::idb_chunks::{ChunkIds, Chunks};
use super::idb_records as rec;
use super::idb_req::{found, req, Req};
use super::idb_schema::{indexes, stores};

/// Distinct chunks a range lookup may name before it is considered too broad to be cheap.
const RANGE_CHUNKS: usize = 64;

/// The first round of requests of one room, issued but not yet awaited.
pub(super) struct Lookups<'a> {
    room: &'a str,
    runs: Vec<&'a Page>,
    cursor: Option<Req>,
    /// Chunks holding an archive id in the range of the batch's ids.
    by_id: Option<Req>,
    /// Chunks holding a message without an archive id (only when an archived event has
    /// other keys it could match one by).
    unarchived: Option<Req>,
    /// Chunks sharing a dedup key with an event that has no archive id.
    by_key: Vec<Req>,
    /// Chunks holding events of the batch's time range, and that range.
    by_time: Option<(Req, i64, i64)>,
    /// The room's newest chunk (by history order), which may take the new events.
    tail: Req,
    /// A chunk of the room holding a change event, if any (see `super::idb_fold`).
    changes: Req,
}

/// Every event of a room's pages.
fn events_of<'a>(runs: &'a [&'a Page]) -> impl Iterator<Item = &'a RoomEvent> + 'a {
    runs.iter().flat_map(|p| p.events.iter())
}

pub(super) fn exact(index: &Index, key: &str) -> Result<Req, SdkError> {
    Ok(req(index.get_all_keys(
        Some(Query::Key(JsValue::from_str(key))),
        None,
    )?))
}

impl<'a> Lookups<'a> {
    pub(super) fn issue(
        tx: &Transaction,
        chunks: &ObjectStore,
        dedup: &Index,
        room: &'a str,
        runs: Vec<&'a Page>,
    ) -> Result<Self, SdkError> {
        let cursor = if runs.iter().all(|p| p.cursor.is_some()) {
            None
        } else {
            Some(req(tx
                .object_store(stores::CURSORS)?
                .get(Query::Key(JsValue::from_str(room)))?))
        };
        let ids: Vec<&str> = events_of(&runs)
            .filter_map(|e| e.stanza_id.as_deref())
            .collect();
        // IndexedDB compares strings by UTF-16 code units, not by code points.
        let utf16 = |a: &&&str, b: &&&str| a.encode_utf16().cmp(b.encode_utf16());
        let by_id = match (ids.iter().min_by(utf16), ids.iter().max_by(utf16)) {
            (Some(lo), Some(hi)) => {
                let lo = JsValue::from_str(&rec::scoped_key(room, &format!("sid:{lo}")));
                let hi = JsValue::from_str(&rec::scoped_key(room, &format!("sid:{hi}")));
                let range = KeyRange::bound(&lo, &hi, None, None)?;
                Some(req(dedup.get_all_keys(Some(Query::KeyRange(range)), None)?))
            }
            _ => None,
        };
        let other_keys =
            events_of(&runs).any(|e| e.stanza_id.is_some() && e.dedup_keys().len() > 1);
        let unarchived = if other_keys {
            Some(exact(dedup, &rec::unarchived_key(room))?)
        } else {
            None
        };
        let mut keys = KeySet::new();
        let mut by_key = Vec::new();
        for e in events_of(&runs).filter(|e| e.stanza_id.is_none()) {
            for k in rec::dedup_entries(e) {
                if keys.insert(k.clone()) {
                    by_key.push(exact(dedup, &k)?);
                }
            }
        }
        let lo = events_of(&runs).map(|e| e.timestamp.0).min();
        let hi = events_of(&runs).map(|e| e.timestamp.0).max();
        let by_time = match (lo, hi) {
            (Some(lo), Some(hi)) => Some((time_range(chunks, room, lo, hi)?, lo, hi)),
            _ => None,
        };
        let (lower, upper) = rec::room_bounds(room);
        let tail = req(chunks.index(indexes::BY_ORDER)?.open_key_cursor(
            Some(Query::KeyRange(KeyRange::bound(
                &lower, &upper, None, None,
            )?)),
            Some(CursorDirection::Prev),
        )?);
        let changes = probe(chunks, room)?;
        Ok(Lookups {
            room,
            runs,
            cursor,
            by_id,
            unarchived,
            by_key,
            by_time,
            tail,
            changes,
        })
    }

    /// Await the lookups (falling back to exact keys where a range was too broad) and
    /// issue the second round: the chunks they named.
    pub(super) async fn resolve(
        self,
        chunks: &ObjectStore,
        dedup: &Index,
    ) -> Result<Loading<'a>, SdkError> {
        let room = self.room;
        let existing_cursor = match self.cursor {
            Some(f) => found(f.await?).is_some(),
            None => true,
        };
        let mut ids = ChunkIds::default();
        if let Some(f) = self.by_id {
            let sids = events_of(&self.runs)
                .filter_map(|e| e.stanza_id.as_deref())
                .map(|id| rec::scoped_key(room, &format!("sid:{id}")));
            ids.extend(narrow(chunk_ids(f.await?), dedup, sids).await?);
        }
        if let Some(f) = self.unarchived {
            let others = events_of(&self.runs)
                .filter(|e| e.stanza_id.is_some())
                .flat_map(|e| rec::dedup_entries(e).into_iter().skip(1));
            ids.extend(narrow(chunk_ids(f.await?), dedup, others).await?);
        }
        for f in self.by_key {
            ids.extend(chunk_ids(f.await?));
        }
        let (time_lo, time_hi) = match self.by_time {
            Some((f, lo, hi)) => {
                ids.extend(chunk_ids(f.await?));
                (lo, hi)
            }
            None => (0, -1),
        };
        let tail_id = match found(self.tail.await?) {
            Some(c) => KeyCursor::try_from(c)?
                .primary_key()?
                .as_f64()
                .map(|id| id as u64),
            None => None,
        };
        // Fetched apart: it is only decoded when small enough to take new events.
        let tail_get = match tail_id.filter(|id| !ids.contains(id)) {
            Some(id) => fetch(chunks, [id])?.pop(),
            None => None,
        };
        let has_changes = self.changes.await?.unchecked_into::<Array>().length() > 0;
        Ok(Loading {
            room,
            runs: self.runs,
            existing_cursor,
            has_changes,
            gets: fetch(chunks, ids)?,
            tail_id,
            tail_get,
            time_lo,
            time_hi,
        })
    }
}

/// Issue the request telling whether `room` has any stored change event: a room without
/// one skips the lookups that fold changes into messages (`super::idb_fold`).
fn probe(chunks: &ObjectStore, room: &str) -> Result<Req, SdkError> {
    let key = JsValue::from_str(&rec::changes_key(room));
    Ok(req(chunks
        .index(indexes::FOLD)?
        .get_all_keys(Some(Query::Key(key)), Some(1))?))
}

/// The chunks a range lookup `named`, or, when that is more than [`RANGE_CHUNKS`], the
/// chunks `keys` name, looked up one by one.
async fn narrow(
    named: ChunkIds,
    dedup: &Index,
    keys: impl Iterator<Item = String>,
) -> Result<ChunkIds, SdkError> {
    if named.len() <= RANGE_CHUNKS {
        return Ok(named);
    }
    let mut seen = KeySet::new();
    let mut each = Vec::new();
    for k in keys {
        if seen.insert(k.clone()) {
            each.push(exact(dedup, &k)?);
        }
    }
    let mut ids = ChunkIds::default();
    for f in each {
        ids.extend(chunk_ids(f.await?));
    }
    Ok(ids)
}

/// The distinct chunk ids among the primary keys an index lookup returned (its array).
pub(super) fn chunk_ids(keys: JsValue) -> ChunkIds {
    keys.unchecked_into::<Array>()
        .iter()
        .filter_map(|k| k.as_f64())
        .map(|k| k as u64)
        .collect()
}

/// Issue a `get` for each chunk.
pub(super) fn fetch(
    chunks: &ObjectStore,
    ids: impl IntoIterator<Item = u64>,
) -> Result<Vec<Req>, SdkError> {
    let mut gets = Vec::new();
    for id in ids {
        gets.push(req(chunks.get(Query::Key(JsValue::from_f64(id as f64)))?));
    }
    Ok(gets)
}

pub(super) fn time_range(
    chunks: &ObjectStore,
    room: &str,
    lo: i64,
    hi: i64,
) -> Result<Req, SdkError> {
    let (lower, upper) = rec::time_bounds(room, lo as f64, hi as f64);
    let range = KeyRange::bound(&lower, &upper, None, None)?;
    Ok(req(chunks
        .index(indexes::BY_ORDER)?
        .get_all_keys(Some(Query::KeyRange(range)), None)?))
}

/// The second round of one room: its chunks, requested.
pub(super) struct Loading<'a> {
    pub(super) room: &'a str,
    pub(super) runs: Vec<&'a Page>,
    pub(super) existing_cursor: bool,
    /// The room had a change event stored before this batch.
    pub(super) has_changes: bool,
    pub(super) gets: Vec<Req>,
    /// The room's newest chunk, and its fetch when no lookup named it.
    pub(super) tail_id: Option<u64>,
    pub(super) tail_get: Option<Req>,
    pub(super) time_lo: i64,
    pub(super) time_hi: i64,
}

/// Await chunk fetches into `into` (by id).
pub(super) async fn receive(gets: Vec<Req>, into: &mut Chunks) -> Result<(), SdkError> {
    for f in gets {
        if let Some(r) = found(f.await?) {
            let c = rec::chunk_of(&r)?;
            into.insert(c.id.unwrap_or_default() as u64, c);
        }
    }
    Ok(())
}
