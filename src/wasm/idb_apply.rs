//! Writing pages of events into IndexedDB chunks with few requests.
//!
//! Every IndexedDB request costs a round trip to the browser's storage process and a task
//! on the page to deliver its result, and the requests of one transaction run in the order
//! they were issued. So a batch of pages is applied in three rounds, each issued for every
//! room before any of it is awaited:
//! 1. index lookups that return only chunk ids (`getAllKeys`): the chunks that may hold a
//!    copy of a batch event, and those holding events of the batch's time range;
//! 2. those chunks, each fetched once (both in [`super::idb_lookup`]);
//! 3. the result computed in memory exactly as applying the pages one by one would, then
//!    each changed chunk written once and the new events of each room as new chunks,
//!    without awaiting any write (the commit reports a failed one).
//!
//! New events go into the room's newest chunk when it is still small (live events arriving
//! one by one would otherwise make one chunk each), else into new chunks.

use std::collections::HashMap;

use idb::{ObjectStore, Query, Transaction};
use wasm_bindgen::JsValue;

use crate::event::RoomEvent;
use crate::store::fold;
use crate::store::order::{self, PageEntry};
use crate::store::{Applied, Page};

use super::error::SdkError;
use super::idb_chunks::{ChunkIds, Chunks};
use super::idb_dedup::{dedup, Deduped, Entry};
use super::idb_fold;
use super::idb_lookup::{chunk_ids, fetch, receive, time_range, Loading, Lookups};
use super::idb_positions::{Placed, Positions};
use super::idb_records::{self as rec, encode, field, set_field, Chunk, Slot};
use super::idb_req::{found, req};
use super::idb_schema::{indexes, stores};

/// Events per new chunk: big enough that a page is one `put`, small enough that rewriting
/// a chunk for one changed event stays cheap.
pub const CHUNK_MAX: usize = 200;

/// A room's newest chunk takes new events while it holds fewer than this many: enough to
/// keep a room fed one live event at a time in few chunks, few enough that rewriting it per
/// event stays cheap.
pub const TAIL_MERGE: usize = 32;

/// Apply `pages` in `tx` (which spans account, chunks, cursors and gaps) with the result
/// of applying them one after another: the new events of each page, in input order, and
/// on each room's last page the stored messages the batch changed ([`Applied::updated`]).
pub(super) async fn apply_pages(
    tx: &Transaction,
    pages: &[&Page],
) -> Result<Vec<Applied>, SdkError> {
    let chunks = tx.object_store(stores::CHUNKS)?;
    let dedup = chunks.index(indexes::DEDUP)?;
    let seq_req = req(tx
        .object_store(stores::ACCOUNT)?
        .get(Query::Key(JsValue::from_str("seq")))?);
    // Rooms are independent, so each room's pages are applied together, in their order.
    let mut rooms: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        match rooms.iter_mut().find(|(r, _)| *r == p.room) {
            Some((_, v)) => v.push(i),
            None => rooms.push((&p.room, vec![i])),
        }
    }
    let mut lookups = Vec::with_capacity(rooms.len());
    for (room, idx) in &rooms {
        let runs: Vec<&Page> = idx.iter().map(|&i| pages[i]).collect();
        lookups.push(Lookups::issue(tx, &chunks, &dedup, room, runs)?);
    }
    let mut loading = Vec::with_capacity(lookups.len());
    for l in lookups {
        loading.push(l.resolve(&chunks, &dedup).await?);
    }
    let mut seq = match found(seq_req.await?) {
        Some(r) => field(&r, "value")?.as_f64().unwrap_or(0.0) as u64,
        None => 0,
    };
    let mut out: Vec<Applied> = vec![Applied::default(); pages.len()];
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

async fn apply_room(
    tx: &Transaction,
    store: &ObjectStore,
    mut l: Loading<'_>,
    seq: &mut u64,
) -> Result<Vec<Applied>, SdkError> {
    let room = l.room;
    let mut chunks = Chunks::default();
    receive(std::mem::take(&mut l.gets), &mut chunks).await?;
    if let Some(f) = l.tail_get.take() {
        if let Some(r) = found(f.await?) {
            if js_sys::Array::from(&field(&r, "pos")?).length() < TAIL_MERGE as u32 {
                let c = rec::chunk_of(&r)?;
                chunks.insert(c.id.unwrap_or_default() as u64, c);
            }
        }
    }
    if let Some(bad) = chunks.values().find(|c| c.room != room) {
        // The id as an integer: `{:?}` of the `Option<f64>` was one of the two uses of
        // Rust's float printing in the package.
        return Err(SdkError::store(format!(
            "chunk {} of {} is indexed under {room}",
            bad.id.unwrap_or_default() as u64,
            bad.room
        )));
    }

    let d = dedup(&chunks, &l.runs, seq);

    // Changes and the messages they name, wherever they are stored (idb_fold.rs).
    let folding = l.has_changes || d.entries.iter().any(|e| fold::target_of(&e.ev).is_some());
    if folding {
        let batch: Vec<&RoomEvent> = d
            .entries
            .iter()
            .filter(|e| touched(e) || fold::target_of(&e.ev).is_some())
            .map(|e| &e.ev)
            .collect();
        idb_fold::load_related(store, room, &batch, &mut chunks).await?;
    }

    // 2. Order, page by page, against the stored positions as the pages before left them.
    let placing = d.pages.iter().flatten().any(|e| e.place);
    let mut positions = Positions::default();
    if placing {
        let lo = d.pages.iter().flatten().map(|e| e.ts).min().unwrap_or(0);
        let hi = d.pages.iter().flatten().map(|e| e.ts).max().unwrap_or(0);
        if lo < l.time_lo || hi > l.time_hi {
            // A stored copy kept a time outside the events' own: read the wider range.
            let named = chunk_ids(time_range(store, room, lo, hi)?.await?);
            let missing: Vec<u64> = named
                .into_iter()
                .filter(|id| !chunks.contains_key(id))
                .collect();
            receive(fetch(store, missing)?, &mut chunks).await?;
        }
        positions = place(&chunks, &l.runs, &d.pages);
    }
    write_back(tx, store, &l, d, chunks, positions, folding)
}

/// Step 2: the stored positions after each placing page, by seq. Out of line for the
/// reason given at `idb_dedup::dedup`.
#[inline(never)]
fn place(chunks: &Chunks, runs: &[&Page], pages: &[Vec<PageEntry>]) -> Positions {
    // By seq and by time: each page reads only its own time range (idb_positions.rs).
    let mut positions = Positions::default();
    for c in chunks.values() {
        for s in &c.slots {
            let ts = s.ev.timestamp.0;
            positions.set(s.seq, Placed { ts, ord: s.ord });
        }
    }
    for (run, page) in runs.iter().zip(pages) {
        if !page.iter().any(|e| e.place) {
            continue;
        }
        let plo = page.iter().map(|e| e.ts).min().unwrap_or(0);
        let phi = page.iter().map(|e| e.ts).max().unwrap_or(0);
        let stored = positions.range(plo, phi);
        let history = run.is_history();
        // Each id's entry in the page, in a map of the type `by_seq` already is (one hash
        // map instance less than a map of its own to the time; issue 24, package size).
        let in_page: HashMap<u64, usize> =
            page.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
        for (id, ord) in order::place(&stored, page, history) {
            let ts = in_page
                .get(&id)
                .map(|&i| page[i].ts)
                .or_else(|| positions.get(id).map(|p| p.ts))
                .unwrap_or(0);
            positions.set(id, Placed { ts, ord });
        }
    }
    positions
}

/// Folds, the changed messages to report, and step 3: the writes. Out of line for the
/// reason given at `idb_dedup::dedup`.
#[inline(never)]
fn write_back(
    tx: &Transaction,
    store: &ObjectStore,
    l: &Loading<'_>,
    d: Deduped,
    mut chunks: Chunks,
    positions: Positions,
    folding: bool,
) -> Result<Vec<Applied>, SdkError> {
    let room = l.room;
    let Deduped {
        mut entries,
        by_seq,
        fresh,
        ..
    } = d;
    let mut dirty = ChunkIds::default();
    let fresh_entries: Vec<Vec<usize>> = fresh
        .iter()
        .map(|p| p.iter().map(|(i, _)| *i).collect())
        .collect();
    let mut refolded = Vec::new();
    let fresh = if folding {
        refold(
            &mut entries,
            &by_seq,
            &mut chunks,
            &positions,
            (&mut dirty, &mut refolded),
            fresh,
        )
    } else {
        strip(fresh)
    };
    // By entry index (a list, not one more map type in the package).
    let mut reported: Vec<Option<&RoomEvent>> = vec![None; entries.len()];
    for (idx, evs) in fresh_entries.iter().zip(&fresh) {
        for (&i, ev) in idx.iter().zip(evs) {
            if let Some(r) = reported.get_mut(i) {
                *r = Some(ev);
            }
        }
    }
    let updated = updates(&entries, &reported, &chunks, &refolded, &positions);
    let mut out: Vec<Applied> = fresh
        .into_iter()
        .map(|fresh| Applied {
            fresh,
            updated: Vec::new(),
        })
        .collect();
    if let Some(last) = out.last_mut() {
        last.updated = updated;
    }

    // 3. Update the stored events that changed or moved, and every renumbered neighbour,
    // in their chunks; then write each such chunk once and the new events as new chunks.
    let mut new_slots: Vec<Slot> = Vec::new();
    for e in entries {
        let new_ord = positions.get(e.seq).map(|p| p.ord);
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
            if let Some(p) = positions.get(s.seq) {
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
    for id in dirty.iter() {
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

    let last_cursor = l.runs.iter().rev().find_map(|p| p.cursor.as_ref());
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
    for g in l.runs.iter().filter_map(|p| p.gap.as_ref()) {
        let r = rec::record();
        set_field(&r, "room", &JsValue::from_str(room))?;
        set_field(&r, "gap", &encode(g)?)?;
        gaps.put(&r, None)?;
    }
    Ok(out)
}

/// The messages the batch changed as the app shows them, as it left them, in stored order:
/// stored ones (a batch copy against its stored slot, which step 3 has not rewritten yet;
/// one only refolded), and new ones a later page changed after they were `reported`.
fn updates(
    entries: &[Entry],
    reported: &[Option<&RoomEvent>],
    chunks: &Chunks,
    refolded: &[u64],
    positions: &Positions,
) -> Vec<RoomEvent> {
    let mut out: Vec<(u64, f64, &RoomEvent)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let old = match &e.stored {
            Some(s) => chunks.get(&s.chunk).and_then(|c| c.slots.get(s.slot)),
            None => None,
        };
        let (old, ord) = match old {
            Some(slot) => (Some(&slot.ev), slot.ord),
            None => (reported.get(i).copied().flatten(), 0.0),
        };
        if fold::is_message(&e.ev) && old.is_some_and(|o| !fold::shown_same(o, &e.ev)) {
            out.push((e.seq, ord, &e.ev));
        }
    }
    for s in chunks.values().flat_map(|c| c.slots.iter()) {
        if refolded.contains(&s.seq) {
            out.push((s.seq, s.ord, &s.ev));
        }
    }
    let key = |&(seq, ord, ev): &(u64, f64, &RoomEvent)| {
        (
            ev.timestamp.0,
            positions.get(seq).map_or(ord, |p| p.ord),
            seq,
        )
    };
    crate::sort::sort_by(&mut out, |a, b| {
        let (a, b) = (key(a), key(b));
        a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2))
    });
    out.into_iter().map(|(_, _, ev)| ev.clone()).collect()
}

/// A batch event new to the store or changed by its copy here (it may have gained an id a
/// stored change names). Any other batch message is stored folded already: its changes need
/// no lookup and it no new fold.
fn touched(e: &Entry) -> bool {
    e.stored.is_none() || e.changed
}

/// The new events of each page, as they came.
fn strip(fresh: Vec<Vec<(usize, RoomEvent)>>) -> Vec<Vec<RoomEvent>> {
    fresh
        .into_iter()
        .map(|page| page.into_iter().map(|(_, ev)| ev).collect())
        .collect()
}

/// Fold every change into the messages it names (idb_fold.rs): batch entries are updated
/// in place, stored messages in their chunks (marked `dirty`), and each new event of a
/// page is reported folded with the changes that had arrived by that page. The stored
/// messages outside the batch that changed are `changed.1` (by seq), their chunks `changed.0`.
fn refold(
    entries: &mut [Entry],
    by_seq: &HashMap<u64, usize>,
    chunks: &mut Chunks,
    positions: &Positions,
    changed: (&mut ChunkIds, &mut Vec<u64>),
    fresh: Vec<Vec<(usize, RoomEvent)>>,
) -> Vec<Vec<RoomEvent>> {
    let (dirty, refolded) = changed;
    let at = |seq: u64, ev: &RoomEvent, ord: f64| {
        let ord = positions.get(seq).map_or(ord, |p| p.ord);
        (ev.timestamp.0, ord)
    };
    let plans = {
        let mut items: Vec<idb_fold::Item> = entries
            .iter()
            .map(|e| idb_fold::Item {
                seq: e.seq,
                at: at(e.seq, &e.ev, e.stored.as_ref().map_or(0.0, |s| s.ord)),
                page: Some(e.page),
                touched: touched(e),
                ev: &e.ev,
            })
            .collect();
        for s in chunks.values().flat_map(|c| c.slots.iter()) {
            if !by_seq.contains_key(&s.seq) {
                items.push(idb_fold::Item {
                    seq: s.seq,
                    at: at(s.seq, &s.ev, s.ord),
                    page: None,
                    touched: false,
                    ev: &s.ev,
                });
            }
        }
        idb_fold::plan(&items)
    };
    // Each stored event's (chunk, slot), found through a map of the type `by_seq` already
    // is into a list: one hash map instance less than a map to the pair (issue 24, package
    // size).
    let mut slots: Vec<(u64, usize)> = Vec::new();
    let mut where_stored: HashMap<u64, usize> = HashMap::new();
    for (&id, c) in chunks.iter() {
        for (i, s) in c.slots.iter().enumerate() {
            where_stored.insert(s.seq, slots.len());
            slots.push((id, i));
        }
    }
    for (seq, changes) in plans.iter() {
        if let Some(&i) = by_seq.get(seq) {
            if idb_fold::apply(&mut entries[i].ev, changes, None) {
                entries[i].changed = true;
            }
        } else if let Some(&(id, i)) = where_stored.get(seq).map(|&at| &slots[at]) {
            let slot = chunks.get_mut(&id).and_then(|c| c.slots.get_mut(i));
            if slot.is_some_and(|s| idb_fold::apply(&mut s.ev, changes, None)) {
                dirty.insert(id);
                refolded.push(*seq);
            }
        }
    }
    fresh
        .into_iter()
        .enumerate()
        .map(|(page, evs)| {
            evs.into_iter()
                .map(|(i, mut ev)| {
                    if let Some(changes) = plans.get(entries[i].seq) {
                        idb_fold::apply(&mut ev, changes, Some(page));
                    }
                    ev
                })
                .collect()
        })
        .collect()
}
