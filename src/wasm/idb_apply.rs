//! Writing pages of events into IndexedDB chunks with few requests.
//!
//! Every IndexedDB request costs a round trip to the browser's storage process and a task
//! on the page to deliver its result, and the requests of one transaction run in the order
//! they were issued. So a batch of pages is applied in three rounds, each issued for every
//! room before any of it is awaited:
//! 1. index lookups that return only chunk ids (`getAllKeys`): the chunks that may hold a
//!    copy of a batch event, and those holding events of the batch's time range;
//! 2. those chunks, each fetched once;
//! 3. the result computed in memory exactly as applying the pages one by one would, then
//!    each changed chunk written once and the new events of each room as new chunks,
//!    without awaiting any write (the commit reports a failed one).
//!
//! New events go into the room's newest chunk when it is still small (live events arriving
//! one by one would otherwise make one chunk each), else into new chunks.
//!
//! The lookups avoid one request per dedup key: archive ids sort in archive order, so one
//! key range over the batch's ids finds every stored copy; chunks holding a message without
//! an archive id carry one shared dedup entry, so one lookup finds the copies an archived
//! event can match by its other keys. A range that names more than a few chunks falls back
//! to one exact lookup per key.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture;

use idb::request::futures::{
    GetAllKeysStoreRequestFuture, GetStoreRequestFuture, OpenKeyCursorStoreRequestFuture,
};
use idb::{CursorDirection, Index, KeyRange, ObjectStore, Query, Transaction};
use wasm_bindgen::JsValue;

use crate::event::RoomEvent;
use crate::store::order::{self, PageEntry, Positioned};
use crate::store::{Cursor, Gap};

use super::error::SdkError;
use super::idb_records::{self as rec, encode, field, set_field, Chunk, Slot};
use super::idb_schema::{indexes, stores};

/// One page to store: the arguments of `Store::apply_page`.
#[derive(Debug, Clone, Copy)]
pub struct PageWrite<'a> {
    /// Room of every event.
    pub room: &'a str,
    /// The events, in archive (or arrival) order.
    pub events: &'a [RoomEvent],
    /// New resync cursor.
    pub cursor: Option<&'a Cursor>,
    /// Gap to record.
    pub gap: Option<&'a Gap>,
}

/// Events per new chunk: big enough that a page is one `put`, small enough that rewriting
/// a chunk for one changed event stays cheap.
pub const CHUNK_MAX: usize = 200;

/// A room's newest chunk takes new events while it holds fewer than this many: enough to
/// keep a room fed one live event at a time in few chunks, few enough that rewriting it per
/// event stays cheap.
pub const TAIL_MERGE: usize = 32;

/// Distinct chunks a range lookup may name before it is considered too broad to be cheap.
const RANGE_CHUNKS: usize = 64;

/// Apply `pages` in `tx` (which spans account, chunks, cursors and gaps) with the result
/// of applying them one after another: the new events of each page, in input order.
pub(super) async fn apply_pages(
    tx: &Transaction,
    pages: &[PageWrite<'_>],
) -> Result<Vec<Vec<RoomEvent>>, SdkError> {
    let chunks = tx.object_store(stores::CHUNKS)?;
    let dedup = chunks.index(indexes::DEDUP)?;
    let seq_req = tx
        .object_store(stores::ACCOUNT)?
        .get(Query::Key(JsValue::from_str("seq")))?
        .into_future();
    // Rooms are independent, so each room's pages are applied together, in their order.
    let mut rooms: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        match rooms.iter_mut().find(|(r, _)| *r == p.room) {
            Some((_, v)) => v.push(i),
            None => rooms.push((p.room, vec![i])),
        }
    }
    let mut lookups = Vec::with_capacity(rooms.len());
    for (room, idx) in &rooms {
        let runs: Vec<PageWrite> = idx.iter().map(|&i| pages[i]).collect();
        lookups.push(Lookups::issue(tx, &chunks, &dedup, room, runs)?);
    }
    let mut loading = Vec::with_capacity(lookups.len());
    for l in lookups {
        loading.push(l.resolve(&chunks, &dedup).await?);
    }
    let mut seq = match seq_req.await? {
        Some(r) => field(&r, "value")?.as_f64().unwrap_or(0.0) as u64,
        None => 0,
    };
    let mut out: Vec<Vec<RoomEvent>> = vec![Vec::new(); pages.len()];
    for ((_, idx), l) in rooms.iter().zip(loading) {
        let fresh = apply_room(tx, &chunks, l, &mut seq).await?;
        for (&i, f) in idx.iter().zip(fresh) {
            out[i] = f;
        }
    }
    let r = rec::record();
    set_field(&r, "key", &JsValue::from_str("seq"))?;
    set_field(&r, "value", &JsValue::from_f64(seq as f64))?;
    tx.object_store(stores::ACCOUNT)?.put(&r, None)?;
    Ok(out)
}

/// The first round of requests of one room, issued but not yet awaited.
struct Lookups<'a> {
    room: &'a str,
    runs: Vec<PageWrite<'a>>,
    cursor: Option<GetStoreRequestFuture>,
    /// Chunks holding an archive id in the range of the batch's ids.
    by_id: Option<GetAllKeysStoreRequestFuture>,
    /// Chunks holding a message without an archive id (only when an archived event has
    /// other keys it could match one by).
    unarchived: Option<GetAllKeysStoreRequestFuture>,
    /// Chunks sharing a dedup key with an event that has no archive id.
    by_key: Vec<GetAllKeysStoreRequestFuture>,
    /// Chunks holding events of the batch's time range, and that range.
    by_time: Option<(GetAllKeysStoreRequestFuture, i64, i64)>,
    /// The room's newest chunk (by history order), which may take the new events.
    tail: OpenKeyCursorStoreRequestFuture,
}

/// Every event of a room's pages.
fn events_of<'a>(runs: &'a [PageWrite<'a>]) -> impl Iterator<Item = &'a RoomEvent> + 'a {
    runs.iter().flat_map(|p| p.events.iter())
}

fn exact(index: &Index, key: &str) -> Result<GetAllKeysStoreRequestFuture, SdkError> {
    Ok(index
        .get_all_keys(Some(Query::Key(JsValue::from_str(key))), None)?
        .into_future())
}

impl<'a> Lookups<'a> {
    fn issue(
        tx: &Transaction,
        chunks: &ObjectStore,
        dedup: &Index,
        room: &'a str,
        runs: Vec<PageWrite<'a>>,
    ) -> Result<Self, SdkError> {
        let cursor = if runs.iter().all(|p| p.cursor.is_some()) {
            None
        } else {
            Some(
                tx.object_store(stores::CURSORS)?
                    .get(Query::Key(JsValue::from_str(room)))?
                    .into_future(),
            )
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
                Some(
                    dedup
                        .get_all_keys(Some(Query::KeyRange(range)), None)?
                        .into_future(),
                )
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
        let mut keys = HashSet::new();
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
        let tail = chunks
            .index(indexes::BY_ORDER)?
            .open_key_cursor(
                Some(Query::KeyRange(KeyRange::bound(
                    &lower, &upper, None, None,
                )?)),
                Some(CursorDirection::Prev),
            )?
            .into_future();
        Ok(Lookups {
            room,
            runs,
            cursor,
            by_id,
            unarchived,
            by_key,
            by_time,
            tail,
        })
    }

    /// Await the lookups (falling back to exact keys where a range was too broad) and
    /// issue the second round: the chunks they named.
    async fn resolve(self, chunks: &ObjectStore, dedup: &Index) -> Result<Loading<'a>, SdkError> {
        let room = self.room;
        let existing_cursor = match self.cursor {
            Some(f) => f.await?.is_some(),
            None => true,
        };
        let mut ids = HashSet::new();
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
        let tail_id = match self.tail.await? {
            Some(c) => c.primary_key()?.as_f64().map(|id| id as u64),
            None => None,
        };
        // Fetched apart: it is only decoded when small enough to take new events.
        let tail_get = match tail_id.filter(|id| !ids.contains(id)) {
            Some(id) => fetch(chunks, [id])?.pop(),
            None => None,
        };
        Ok(Loading {
            room,
            runs: self.runs,
            existing_cursor,
            gets: fetch(chunks, ids)?,
            tail_id,
            tail_get,
            time_lo,
            time_hi,
        })
    }
}

/// The chunks a range lookup `named`, or, when that is more than [`RANGE_CHUNKS`], the
/// chunks `keys` name, looked up one by one.
async fn narrow(
    named: HashSet<u64>,
    dedup: &Index,
    keys: impl Iterator<Item = String>,
) -> Result<HashSet<u64>, SdkError> {
    if named.len() <= RANGE_CHUNKS {
        return Ok(named);
    }
    let mut seen = HashSet::new();
    let mut each = Vec::new();
    for k in keys {
        if seen.insert(k.clone()) {
            each.push(exact(dedup, &k)?);
        }
    }
    let mut ids = HashSet::new();
    for f in each {
        ids.extend(chunk_ids(f.await?));
    }
    Ok(ids)
}

/// The distinct chunk ids among the primary keys an index lookup returned.
pub(super) fn chunk_ids(keys: Vec<JsValue>) -> HashSet<u64> {
    keys.iter()
        .filter_map(|k| k.as_f64())
        .map(|k| k as u64)
        .collect()
}

/// Issue a `get` for each chunk.
pub(super) fn fetch(
    chunks: &ObjectStore,
    ids: impl IntoIterator<Item = u64>,
) -> Result<Vec<GetStoreRequestFuture>, SdkError> {
    let mut gets = Vec::new();
    for id in ids {
        gets.push(
            chunks
                .get(Query::Key(JsValue::from_f64(id as f64)))?
                .into_future(),
        );
    }
    Ok(gets)
}

fn time_range(
    chunks: &ObjectStore,
    room: &str,
    lo: i64,
    hi: i64,
) -> Result<GetAllKeysStoreRequestFuture, SdkError> {
    let (lower, upper) = rec::time_bounds(room, lo as f64, hi as f64);
    let range = KeyRange::bound(&lower, &upper, None, None)?;
    Ok(chunks
        .index(indexes::BY_ORDER)?
        .get_all_keys(Some(Query::KeyRange(range)), None)?
        .into_future())
}

/// The second round of one room: its chunks, requested.
struct Loading<'a> {
    room: &'a str,
    runs: Vec<PageWrite<'a>>,
    existing_cursor: bool,
    gets: Vec<GetStoreRequestFuture>,
    /// The room's newest chunk, and its fetch when no lookup named it.
    tail_id: Option<u64>,
    tail_get: Option<GetStoreRequestFuture>,
    time_lo: i64,
    time_hi: i64,
}

/// Await chunk fetches into `into` (by id).
pub(super) async fn receive(
    gets: Vec<GetStoreRequestFuture>,
    into: &mut HashMap<u64, Chunk>,
) -> Result<(), SdkError> {
    for f in gets {
        if let Some(r) = f.await? {
            let c = rec::chunk_of(&r)?;
            into.insert(c.id.unwrap_or_default() as u64, c);
        }
    }
    Ok(())
}

/// A stored event that may be the same as a batch event: where it is.
struct Candidate {
    seq: u64,
    chunk: u64,
    slot: usize,
    /// The order the dedup index of schema v3 listed records in: events without an
    /// archive id first, by insertion; then by archive id.
    order: (bool, u64, String),
}

/// One distinct event of the batch.
struct Entry {
    seq: u64,
    ev: RoomEvent,
    stored: Option<Stored>,
    changed: bool,
}

/// Where an already stored event is, and its order before this batch.
struct Stored {
    chunk: u64,
    slot: usize,
    ord: f64,
}

/// A record's place in the history order, as the pages applied so far left it.
struct Placed {
    ts: i64,
    ord: f64,
}

fn index_keys(map: &mut HashMap<String, Vec<usize>>, ev: &RoomEvent, i: usize) {
    for k in ev.dedup_keys() {
        let slot = map.entry(k).or_default();
        if !slot.contains(&i) {
            slot.push(i);
        }
    }
}

async fn apply_room(
    tx: &Transaction,
    store: &ObjectStore,
    l: Loading<'_>,
    seq: &mut u64,
) -> Result<Vec<Vec<RoomEvent>>, SdkError> {
    let room = l.room;
    let mut chunks: HashMap<u64, Chunk> = HashMap::new();
    receive(l.gets, &mut chunks).await?;
    if let Some(f) = l.tail_get {
        if let Some(r) = f.await? {
            if js_sys::Array::from(&field(&r, "pos")?).length() < TAIL_MERGE as u32 {
                let c = rec::chunk_of(&r)?;
                chunks.insert(c.id.unwrap_or_default() as u64, c);
            }
        }
    }
    if let Some(bad) = chunks.values().find(|c| c.room != room) {
        return Err(SdkError::store(format!(
            "chunk {:?} of {} is indexed under {room}",
            bad.id, bad.room
        )));
    }

    // Every stored event that could be the same as a batch event, each once, in the order
    // the dedup index of the per-event layout listed them in (the first match wins).
    let mut candidates: Vec<Candidate> = Vec::new();
    for (&chunk, c) in &chunks {
        for (slot, s) in c.slots.iter().enumerate() {
            let order = match &s.ev.stanza_id {
                Some(id) => (true, 0, id.clone()),
                None => (false, s.seq, String::new()),
            };
            candidates.push(Candidate {
                seq: s.seq,
                chunk,
                slot,
                order,
            });
        }
    }
    candidates.sort_by(|a, b| a.order.cmp(&b.order));
    let stored_ev = |c: &Candidate| &chunks[&c.chunk].slots[c.slot];
    // Dedup key → candidates / batch entries that have it, so matching an event costs a
    // few lookups rather than a scan (a batch can hold hundreds of live events).
    let mut cand_by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        for k in stored_ev(c).ev.dedup_keys() {
            cand_by_key.entry(k).or_default().push(i);
        }
    }
    let mut entry_by_key: HashMap<String, Vec<usize>> = HashMap::new();

    // 1. Dedup, page by page: each event is an earlier batch event, a stored one, or new.
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_seq: HashMap<u64, usize> = HashMap::new();
    // Per page: its entries in page order with their time after the page, and whether
    // the page placed them (new, or moved to another time).
    let mut pages: Vec<Vec<PageEntry>> = Vec::with_capacity(l.runs.len());
    let mut fresh: Vec<Vec<RoomEvent>> = Vec::with_capacity(l.runs.len());
    for run in &l.runs {
        let mut page: Vec<usize> = Vec::with_capacity(run.events.len());
        let mut before: HashMap<usize, Option<i64>> = HashMap::new();
        let mut new_here = Vec::new();
        for ev in run.events {
            let keys = ev.dedup_keys();
            let earlier = keys
                .iter()
                .filter_map(|k| entry_by_key.get(k))
                .flatten()
                .copied()
                .filter(|&i| entries[i].ev.same_as(ev))
                .min();
            if let Some(i) = earlier {
                before.entry(i).or_insert(Some(entries[i].ev.timestamp.0));
                if entries[i].ev.absorb(ev) {
                    entries[i].changed = true;
                    index_keys(&mut entry_by_key, &entries[i].ev, i);
                }
                page.push(i);
                continue;
            }
            let hit = keys.iter().find_map(|k| {
                cand_by_key
                    .get(k)?
                    .iter()
                    .map(|&c| &candidates[c])
                    .find(|c| !by_seq.contains_key(&c.seq) && stored_ev(c).ev.same_as(ev))
            });
            let entry = match hit {
                Some(c) => {
                    let s = stored_ev(c);
                    let mut stored = s.ev.clone();
                    before.insert(entries.len(), Some(stored.timestamp.0));
                    let changed = stored.absorb(ev);
                    Entry {
                        seq: c.seq,
                        stored: Some(Stored {
                            chunk: c.chunk,
                            slot: c.slot,
                            ord: s.ord,
                        }),
                        ev: stored,
                        changed,
                    }
                }
                None => {
                    *seq += 1;
                    new_here.push(ev.clone());
                    before.insert(entries.len(), None);
                    Entry {
                        seq: *seq,
                        stored: None,
                        ev: ev.clone(),
                        changed: true,
                    }
                }
            };
            by_seq.insert(entry.seq, entries.len());
            index_keys(&mut entry_by_key, &entry.ev, entries.len());
            page.push(entries.len());
            entries.push(entry);
        }
        pages.push(
            page.iter()
                .map(|&i| {
                    let e = &entries[i];
                    let ts = e.ev.timestamp.0;
                    PageEntry {
                        id: e.seq,
                        ts,
                        place: before.get(&i).copied().flatten() != Some(ts),
                    }
                })
                .collect(),
        );
        fresh.push(new_here);
    }

    // 2. Order, page by page, against the stored positions as the pages before left them.
    let placing = pages.iter().flatten().any(|e| e.place);
    let mut positions: HashMap<u64, Placed> = HashMap::new();
    if placing {
        let lo = pages.iter().flatten().map(|e| e.ts).min().unwrap_or(0);
        let hi = pages.iter().flatten().map(|e| e.ts).max().unwrap_or(0);
        if lo < l.time_lo || hi > l.time_hi {
            // A stored copy kept a time outside the events' own: read the wider range.
            let named = chunk_ids(time_range(store, room, lo, hi)?.await?);
            let missing: Vec<u64> = named
                .into_iter()
                .filter(|id| !chunks.contains_key(id))
                .collect();
            receive(fetch(store, missing)?, &mut chunks).await?;
        }
        for c in chunks.values() {
            for s in &c.slots {
                positions.insert(
                    s.seq,
                    Placed {
                        ts: s.ev.timestamp.0,
                        ord: s.ord,
                    },
                );
            }
        }
        for (run, page) in l.runs.iter().zip(&pages) {
            if !page.iter().any(|e| e.place) {
                continue;
            }
            let plo = page.iter().map(|e| e.ts).min().unwrap_or(0);
            let phi = page.iter().map(|e| e.ts).max().unwrap_or(0);
            let stored: Vec<Positioned> = positions
                .iter()
                .filter(|(_, p)| (plo..=phi).contains(&p.ts))
                .map(|(&id, p)| Positioned {
                    id,
                    ts: p.ts,
                    ord: p.ord,
                })
                .collect();
            let history = order::is_history_page(run.events, run.cursor, run.gap);
            let ts_in_page: HashMap<u64, i64> = page.iter().map(|e| (e.id, e.ts)).collect();
            for (id, ord) in order::place(&stored, page, history) {
                let ts = ts_in_page
                    .get(&id)
                    .copied()
                    .or_else(|| positions.get(&id).map(|p| p.ts))
                    .unwrap_or(0);
                positions.insert(id, Placed { ts, ord });
            }
        }
    }

    // 3. Update the stored events that changed or moved, and every renumbered neighbour,
    // in their chunks; then write each such chunk once and the new events as new chunks.
    let mut dirty: HashSet<u64> = HashSet::new();
    let mut new_slots: Vec<Slot> = Vec::new();
    for e in entries {
        let new_ord = positions.get(&e.seq).map(|p| p.ord);
        match e.stored {
            Some(s) => {
                let moved = new_ord.is_some_and(|o| o != s.ord);
                if e.changed || moved {
                    if let Some(slot) = chunks
                        .get_mut(&s.chunk)
                        .and_then(|c| c.slots.get_mut(s.slot))
                    {
                        slot.ev = e.ev;
                        slot.ord = new_ord.unwrap_or(s.ord);
                        dirty.insert(s.chunk);
                    }
                }
            }
            None => new_slots.push(Slot {
                seq: e.seq,
                ord: new_ord.unwrap_or(0.0),
                ev: e.ev,
            }),
        }
    }
    for (&id, c) in chunks.iter_mut() {
        for s in c.slots.iter_mut() {
            if by_seq.contains_key(&s.seq) {
                continue;
            }
            if let Some(p) = positions.get(&s.seq) {
                if p.ord != s.ord {
                    s.ord = p.ord;
                    dirty.insert(id);
                }
            }
        }
    }
    if let Some(tail) = l.tail_id.and_then(|id| chunks.get_mut(&id)) {
        let n = tail.slots.len();
        if !new_slots.is_empty() && n < TAIL_MERGE && n + new_slots.len() <= CHUNK_MAX {
            tail.slots.append(&mut new_slots);
            dirty.insert(l.tail_id.unwrap_or_default());
        }
    }
    for id in &dirty {
        store.put(&rec::chunk_record(&chunks[id])?, None)?;
    }
    let mut rest = new_slots.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk = Chunk {
            id: None,
            room: room.to_owned(),
            slots: rest.by_ref().take(CHUNK_MAX).collect(),
        };
        store.put(&rec::chunk_record(&chunk)?, None)?;
    }

    let last_cursor = l.runs.iter().rev().find_map(|p| p.cursor);
    if last_cursor.is_some() || !l.existing_cursor {
        let r = rec::record();
        set_field(&r, "room", &JsValue::from_str(room))?;
        let c = match last_cursor {
            Some(c) => encode(c)?,
            None => JsValue::NULL,
        };
        set_field(&r, "cursor", &c)?;
        tx.object_store(stores::CURSORS)?.put(&r, None)?;
    }
    let gaps = tx.object_store(stores::GAPS)?;
    for g in l.runs.iter().filter_map(|p| p.gap) {
        let r = rec::record();
        set_field(&r, "room", &JsValue::from_str(room))?;
        set_field(&r, "gap", &encode(g)?)?;
        gaps.put(&r, None)?;
    }
    Ok(fresh)
}
