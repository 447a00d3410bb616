//! Writing pages of events into IndexedDB with few request round trips.
//!
//! Every IndexedDB request costs a round trip to the browser's storage process, and the
//! requests of one transaction run in the order they were issued. So a batch of pages is
//! applied in three steps: issue every lookup the batch needs and await them together,
//! compute the result in memory exactly as applying the pages one by one would, then issue
//! every write without awaiting any (the commit reports a failed one).
//!
//! Lookups avoid one request per dedup key: stored events with an archive id are keyed
//! `[room, stanzaId]` and the room's ids sort in archive order, so one key range over the
//! batch's ids finds them; events without an archive id are keyed `[room, seq]` (numbers
//! sort before strings), so one range finds every such record of the room. Either range is
//! capped, and past the cap the lookups fall back to one request per id or dedup key.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture;

use idb::request::futures::{GetAllStoreRequestFuture, GetStoreRequestFuture};
use idb::{KeyRange, Query, Transaction};
use js_sys::Array;
use wasm_bindgen::JsValue;

use crate::event::RoomEvent;
use crate::store::order::{self, PageEntry, Positioned};
use crate::store::{Cursor, Gap};

use super::error::SdkError;
use super::idb_records::{self as rec, encode, field, set_field};
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

/// Records a range lookup may return before it is considered too broad to be cheap.
const RANGE_CAP: u32 = 512;

/// Apply `pages` in `tx` (which spans account, messages, cursors and gaps) with the result
/// of applying them one after another: the new events of each page, in input order.
pub(super) async fn apply_pages(
    tx: &Transaction,
    pages: &[PageWrite<'_>],
) -> Result<Vec<Vec<RoomEvent>>, SdkError> {
    let messages = tx.object_store(stores::MESSAGES)?;
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
        lookups.push(Lookups::issue(tx, room, runs)?);
    }
    let mut seq = match seq_req.await? {
        Some(r) => field(&r, "value")?.as_f64().unwrap_or(0.0),
        None => 0.0,
    };
    let mut out: Vec<Vec<RoomEvent>> = vec![Vec::new(); pages.len()];
    for ((_, idx), l) in rooms.iter().zip(lookups) {
        let fresh = apply_room(tx, &messages, l, &mut seq).await?;
        for (&i, f) in idx.iter().zip(fresh) {
            out[i] = f;
        }
    }
    let r = rec::record();
    set_field(&r, "key", &JsValue::from_str("seq"))?;
    set_field(&r, "value", &JsValue::from_f64(seq))?;
    tx.object_store(stores::ACCOUNT)?.put(&r, None)?;
    Ok(out)
}

/// The first round of requests of one room, issued but not yet awaited.
struct Lookups<'a> {
    room: &'a str,
    runs: Vec<PageWrite<'a>>,
    cursor: Option<GetStoreRequestFuture>,
    /// Records keyed by the batch's archive ids (`None`: no event has one).
    by_id: Option<GetAllStoreRequestFuture>,
    /// Records of the room without an archive id (only when an event has other keys).
    unarchived: Option<GetAllStoreRequestFuture>,
    /// Records sharing a dedup key with an event that has no archive id.
    by_key: Vec<GetAllStoreRequestFuture>,
    /// Records in the batch's time range, and that range.
    by_time: Option<(GetAllStoreRequestFuture, i64, i64)>,
}

impl<'a> Lookups<'a> {
    fn issue(tx: &Transaction, room: &'a str, runs: Vec<PageWrite<'a>>) -> Result<Self, SdkError> {
        let messages = tx.object_store(stores::MESSAGES)?;
        let events = || runs.iter().flat_map(|p| p.events.iter());
        let cursor = if runs.iter().all(|p| p.cursor.is_some()) {
            None
        } else {
            Some(
                tx.object_store(stores::CURSORS)?
                    .get(Query::Key(JsValue::from_str(room)))?
                    .into_future(),
            )
        };
        let ids: Vec<&str> = events().filter_map(|e| e.stanza_id.as_deref()).collect();
        // IndexedDB compares strings by UTF-16 code units, not by code points.
        let utf16 = |a: &&&str, b: &&&str| a.encode_utf16().cmp(b.encode_utf16());
        let by_id = match (ids.iter().min_by(utf16), ids.iter().max_by(utf16)) {
            (Some(lo), Some(hi)) => {
                let range = KeyRange::bound(&pk(room, lo), &pk(room, hi), None, None)?;
                Some(
                    messages
                        .get_all(Some(Query::KeyRange(range)), Some(RANGE_CAP))?
                        .into_future(),
                )
            }
            _ => None,
        };
        let other_keys = events().any(|e| e.stanza_id.is_some() && e.dedup_keys().len() > 1);
        let unarchived = if other_keys {
            let (lower, _) = rec::room_bounds(room);
            let upper = pk(room, "");
            let range = KeyRange::bound(&lower, &upper, None, Some(true))?;
            Some(
                messages
                    .get_all(Some(Query::KeyRange(range)), Some(RANGE_CAP))?
                    .into_future(),
            )
        } else {
            None
        };
        let dedup = messages.index(indexes::DEDUP)?;
        let mut keys = HashSet::new();
        let mut by_key = Vec::new();
        for e in events().filter(|e| e.stanza_id.is_none()) {
            for k in rec::dedup_entries(e) {
                if keys.insert(k.clone()) {
                    by_key.push(
                        dedup
                            .get_all(Some(Query::Key(JsValue::from_str(&k))), None)?
                            .into_future(),
                    );
                }
            }
        }
        let lo = events().map(|e| e.timestamp.0).min();
        let hi = events().map(|e| e.timestamp.0).max();
        let by_time = match (lo, hi) {
            (Some(lo), Some(hi)) => Some((time_range(&messages, room, lo, hi)?, lo, hi)),
            _ => None,
        };
        Ok(Lookups {
            room,
            runs,
            cursor,
            by_id,
            unarchived,
            by_key,
            by_time,
        })
    }
}

fn index_keys(map: &mut HashMap<String, Vec<usize>>, ev: &RoomEvent, i: usize) {
    for k in ev.dedup_keys() {
        let slot = map.entry(k).or_default();
        if !slot.contains(&i) {
            slot.push(i);
        }
    }
}

/// `[room, id]`, a message primary key.
fn pk(room: &str, id: &str) -> JsValue {
    Array::of2(&JsValue::from_str(room), &JsValue::from_str(id)).into()
}

fn time_range(
    messages: &idb::ObjectStore,
    room: &str,
    lo: i64,
    hi: i64,
) -> Result<GetAllStoreRequestFuture, SdkError> {
    let (lower, upper) = rec::time_bounds(room, lo as f64, hi as f64);
    let range = KeyRange::bound(&lower, &upper, None, None)?;
    Ok(messages
        .index(indexes::BY_ORDER)?
        .get_all(Some(Query::KeyRange(range)), None)?
        .into_future())
}

/// A stored record that may be the same as a batch event.
struct Candidate {
    seq: u64,
    ev: RoomEvent,
    record: JsValue,
    /// Sort key of its primary key: records without an archive id (numeric keys) first.
    order: (bool, u64, String),
}

/// One distinct event of the batch.
struct Entry {
    seq: f64,
    ev: RoomEvent,
    stored: Option<Stored>,
    changed: bool,
}

/// What an already stored record was before this batch.
struct Stored {
    key: JsValue,
    had_archive_id: bool,
    ord: f64,
}

/// A record's place in the `by_order` index, as the pages applied so far left it.
struct Placed {
    ts: i64,
    ord: f64,
}

async fn apply_room(
    tx: &Transaction,
    messages: &idb::ObjectStore,
    l: Lookups<'_>,
    seq: &mut f64,
) -> Result<Vec<Vec<RoomEvent>>, SdkError> {
    let room = l.room;
    let existing_cursor = match l.cursor {
        Some(f) => f.await?.is_some(),
        None => true,
    };
    let mut found: Vec<JsValue> = Vec::new();
    let mut retry_ids = false;
    if let Some(f) = l.by_id {
        let got = f.await?;
        retry_ids = got.len() as u32 >= RANGE_CAP;
        found.extend(got);
    }
    let mut retry_keys = false;
    if let Some(f) = l.unarchived {
        let got = f.await?;
        retry_keys = got.len() as u32 >= RANGE_CAP;
        found.extend(got);
    }
    for f in l.by_key {
        found.extend(f.await?);
    }
    let (mut in_time, time_lo, time_hi) = match l.by_time {
        Some((f, lo, hi)) => (f.await?, lo, hi),
        None => (Vec::new(), 0, -1),
    };
    let events = || l.runs.iter().flat_map(|p| p.events.iter());
    if retry_ids || retry_keys {
        // A range was too broad to read whole: look each id or key up instead.
        let mut gets = Vec::new();
        let mut all = Vec::new();
        let dedup = messages.index(indexes::DEDUP)?;
        for e in events() {
            if let Some(id) = e.stanza_id.as_deref().filter(|_| retry_ids) {
                gets.push(messages.get(Query::Key(pk(room, id)))?.into_future());
            }
            if retry_keys && e.stanza_id.is_some() {
                for k in rec::dedup_entries(e).into_iter().skip(1) {
                    all.push(
                        dedup
                            .get_all(Some(Query::Key(JsValue::from_str(&k))), None)?
                            .into_future(),
                    );
                }
            }
        }
        for f in gets {
            found.extend(f.await?);
        }
        for f in all {
            found.extend(f.await?);
        }
    }
    // Every stored record that could be the same as a batch event, each once, in the
    // primary-key order the dedup index would list them in.
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut seen = HashSet::new();
    for record in found {
        let seq = rec::seq_of(&record)? as u64;
        if !seen.insert(seq) {
            continue;
        }
        let ev = rec::event_of(&record)?;
        let order = match &ev.stanza_id {
            Some(id) => (true, 0, id.clone()),
            None => (false, seq, String::new()),
        };
        candidates.push(Candidate {
            seq,
            ev,
            record,
            order,
        });
    }
    candidates.sort_by(|a, b| a.order.cmp(&b.order));
    // Dedup key → candidates / batch entries that have it, so matching an event costs a
    // few lookups rather than a scan (a batch can hold hundreds of live events).
    let mut cand_by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        for k in c.ev.dedup_keys() {
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
                    .find(|c| !by_seq.contains_key(&c.seq) && c.ev.same_as(ev))
            });
            let entry = match hit {
                Some(c) => {
                    let mut stored = c.ev.clone();
                    before.insert(entries.len(), Some(stored.timestamp.0));
                    let changed = stored.absorb(ev);
                    Entry {
                        seq: c.seq as f64,
                        stored: Some(Stored {
                            key: field(&c.record, "k")?,
                            had_archive_id: c.ev.stanza_id.is_some(),
                            ord: rec::ord_of(&c.record)?,
                        }),
                        ev: stored,
                        changed,
                    }
                }
                None => {
                    *seq += 1.0;
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
            by_seq.insert(entry.seq as u64, entries.len());
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
                        id: e.seq as u64,
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
    let mut neighbours: HashMap<u64, JsValue> = HashMap::new();
    if placing {
        let lo = pages.iter().flatten().map(|e| e.ts).min().unwrap_or(0);
        let hi = pages.iter().flatten().map(|e| e.ts).max().unwrap_or(0);
        if lo < time_lo || hi > time_hi {
            // A stored copy kept a time outside the events' own: read the wider range.
            in_time = time_range(messages, room, lo, hi)?.await?;
        }
        for r in in_time {
            let id = rec::seq_of(&r)? as u64;
            positions.insert(
                id,
                Placed {
                    ts: rec::ts_of(&r)? as i64,
                    ord: rec::ord_of(&r)?,
                },
            );
            neighbours.insert(id, r);
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

    // 3. Write each new or changed record once, and every renumbered neighbour.
    for e in &entries {
        let id = e.seq as u64;
        neighbours.remove(&id);
        let new_ord = positions.get(&id).map(|p| p.ord);
        let (ord, moved) = match &e.stored {
            Some(s) => (
                new_ord.unwrap_or(s.ord),
                new_ord.is_some_and(|o| o != s.ord),
            ),
            None => (new_ord.unwrap_or(0.0), true),
        };
        if !(e.changed || moved) {
            continue;
        }
        if let Some(s) = &e.stored {
            if !s.had_archive_id && e.ev.stanza_id.is_some() {
                // The primary key holds the archive id: re-key the record.
                messages.delete(Query::Key(s.key.clone()))?;
            }
        }
        messages.put(&rec::message_record(&e.ev, e.seq, ord)?, None)?;
    }
    for (id, record) in neighbours {
        let Some(p) = positions.get(&id) else {
            continue;
        };
        if rec::ord_of(&record)? != p.ord {
            set_field(&record, "ord", &JsValue::from_f64(p.ord))?;
            messages.put(&record, None)?;
        }
    }

    let last_cursor = l.runs.iter().rev().find_map(|p| p.cursor);
    if last_cursor.is_some() || !existing_cursor {
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
