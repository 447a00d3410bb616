//! Step 1 of applying a room's pages (idb_apply.rs): each batch event matched against the
//! earlier batch events and the stored ones it may repeat, or numbered as new.

use std::collections::HashMap;

use crate::event::RoomEvent;
use crate::store::order::PageEntry;
use crate::store::Page;

use super::idb_chunks::Chunks;

/// A stored event that may be the same as a batch event: where it is.
pub(super) struct Candidate {
    pub(super) seq: u64,
    pub(super) chunk: u64,
    pub(super) slot: usize,
    /// The order the dedup index of schema v3 listed records in: events without an
    /// archive id first, by insertion; then by archive id.
    pub(super) order: (bool, u64, String),
}

/// One distinct event of the batch.
pub(super) struct Entry {
    pub(super) seq: u64,
    pub(super) ev: RoomEvent,
    pub(super) stored: Option<Stored>,
    pub(super) changed: bool,
    /// The first page of the batch it came in.
    pub(super) page: usize,
}

/// Where an already stored event is, and its order before this batch.
pub(super) struct Stored {
    pub(super) chunk: u64,
    pub(super) slot: usize,
    pub(super) ord: f64,
}

/// Dedup key → the candidates or batch entries that have it. The lists are found through
/// a `HashMap<String, usize>`, the map type `crate::keyed` has already, not a
/// `HashMap<String, Vec<usize>>` of their own; the key moves into the map, as it did
/// (issue 24, package size).
#[derive(Default)]
struct ByKey {
    at: HashMap<String, usize>,
    lists: Vec<Vec<usize>>,
}

impl ByKey {
    /// The list of `key`, an empty one added first when there is none.
    fn list(&mut self, key: String) -> &mut Vec<usize> {
        let i = match self.at.get(key.as_str()) {
            Some(&i) => i,
            None => {
                self.at.insert(key, self.lists.len());
                self.lists.push(Vec::new());
                self.lists.len() - 1
            }
        };
        &mut self.lists[i]
    }

    fn get(&self, key: &str) -> Option<&Vec<usize>> {
        self.at.get(key).map(|&i| &self.lists[i])
    }
}

fn index_keys(map: &mut ByKey, ev: &RoomEvent, i: usize) {
    for k in ev.dedup_keys() {
        let slot = map.list(k);
        if !slot.contains(&i) {
            slot.push(i);
        }
    }
}

/// What step 1 of `apply_room` (idb_apply.rs) found: the batch's distinct events, by seq, per page.
pub(super) struct Deduped {
    pub(super) entries: Vec<Entry>,
    pub(super) by_seq: HashMap<u64, usize>,
    pub(super) pages: Vec<Vec<PageEntry>>,
    pub(super) fresh: Vec<Vec<(usize, RoomEvent)>>,
}

// The synchronous steps of `apply_room` (idb_apply.rs) are functions of their own, kept out
// of line: inlined into the async fn, their locals lived in its state machine (issue 24,
// package size: −219 B gzipped; binaryen merges the single-caller functions back, but the
// code LLVM emitted for them is smaller).
#[inline(never)]
pub(super) fn dedup(chunks: &Chunks, runs: &[&Page], seq: &mut u64) -> Deduped {
    // Every stored event that could be the same as a batch event, each once, in the order
    // the dedup index of the per-event layout listed them in (the first match wins).
    let mut candidates: Vec<Candidate> = Vec::new();
    for (&chunk, c) in chunks.iter() {
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
    crate::sort::sort_by(&mut candidates, |a, b| a.order.cmp(&b.order));
    let stored_ev = |c: &Candidate| &chunks[&c.chunk].slots[c.slot];
    // Dedup key → candidates / batch entries that have it, so matching an event costs a
    // few lookups rather than a scan (a batch can hold hundreds of live events).
    let mut cand_by_key = ByKey::default();
    for (i, c) in candidates.iter().enumerate() {
        for k in stored_ev(c).ev.dedup_keys() {
            cand_by_key.list(k).push(i);
        }
    }
    let mut entry_by_key = ByKey::default();

    // 1. Dedup, page by page: each event is an earlier batch event, a stored one, or new.
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_seq: HashMap<u64, usize> = HashMap::new();
    // Per page: its entries in page order with their time after the page, and whether
    // the page placed them (new, or moved to another time).
    let mut pages: Vec<Vec<PageEntry>> = Vec::with_capacity(runs.len());
    // Per page: the new events (entry, copy as that page left it).
    let mut fresh: Vec<Vec<(usize, RoomEvent)>> = Vec::with_capacity(runs.len());
    for (page_no, run) in runs.iter().enumerate() {
        let mut page: Vec<usize> = Vec::with_capacity(run.events.len());
        // Per entry of this page, its time before the page (`None`: new): through a map of
        // `by_seq`'s type into a list, one hash map instance less than a map of its own
        // (issue 24, package size).
        let mut before: HashMap<u64, usize> = HashMap::new();
        let mut before_ts: Vec<Option<i64>> = Vec::new();
        // Only an entry's first time in the page counts (the entries new to the batch are
        // absent until their first time, too). Not through `entry()`: one more instance of
        // the map's code, +194 B gzipped.
        #[allow(clippy::map_entry)]
        let mut set_before = |i: usize, ts: Option<i64>| {
            if !before.contains_key(&(i as u64)) {
                before.insert(i as u64, before_ts.len());
                before_ts.push(ts);
            }
        };
        let mut new_here = Vec::new();
        for ev in &run.events {
            let keys = ev.dedup_keys();
            let earlier = keys
                .iter()
                .filter_map(|k| entry_by_key.get(k))
                .flatten()
                .copied()
                .filter(|&i| entries[i].ev.same_as(ev))
                .min();
            if let Some(i) = earlier {
                set_before(i, Some(entries[i].ev.timestamp.0));
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
                    set_before(entries.len(), Some(stored.timestamp.0));
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
                        page: page_no,
                    }
                }
                None => {
                    *seq += 1;
                    new_here.push((entries.len(), ev.clone()));
                    set_before(entries.len(), None);
                    Entry {
                        seq: *seq,
                        stored: None,
                        ev: ev.clone(),
                        changed: true,
                        page: page_no,
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
                        place: before.get(&(i as u64)).and_then(|&at| before_ts[at]) != Some(ts),
                    }
                })
                .collect(),
        );
        fresh.push(new_here);
    }

    Deduped {
        entries,
        by_seq,
        pages,
        fresh,
    }
}
