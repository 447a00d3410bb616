use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::fold;
use super::order::{self, PageEntry, Positioned};
use super::{
    answers_to, marker_of, Applied, Own, Page, PageResult, ReadMarker, RoomState, Snapshot, Store,
    StoreError, SubscriptionRecord,
};
use crate::event::{EventKind, RoomEvent};

#[derive(Default)]
struct RoomData {
    /// (insertion seq, order within the timestamp, event)
    events: Vec<(u64, f64, RoomEvent)>,
    read: Option<ReadMarker>,
    /// dedup key → index into `events`
    keys: HashMap<String, Vec<usize>>,
    /// stanza-id, message id or origin-id of a message → index: what a change names
    ids: HashMap<String, Vec<usize>>,
    /// the id a change event names → indexes of those change events
    changes: HashMap<String, Vec<usize>>,
    /// stanza-id of a correction → index: what a change naming a corrected message by
    /// its correction names (see [`fold::aliases`])
    corrections: HashMap<String, Vec<usize>>,
    state: RoomState,
}

#[derive(Default)]
struct Inner {
    subscriptions: Vec<SubscriptionRecord>,
    rooms: HashMap<String, RoomData>,
    seq: u64,
}

/// An in-memory store. Clones share the same data, which is how tests model "the app
/// restarted but its storage survived".
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError("memory store poisoned".into()))
    }
}

impl RoomData {
    fn find(&self, ev: &RoomEvent) -> Option<usize> {
        ev.dedup_keys()
            .iter()
            .filter_map(|k| self.keys.get(k))
            .flatten()
            .copied()
            .find(|&i| self.events[i].2.same_as(ev))
    }

    fn index(&mut self, i: usize) {
        let ev = &self.events[i].2;
        let ids: Vec<String> = fold::own_ids(ev).map(str::to_owned).collect();
        let target = fold::target_of(ev).map(str::to_owned);
        for k in ev.dedup_keys() {
            push_once(self.keys.entry(k).or_default(), i);
        }
        if matches!(self.events[i].2.kind, EventKind::Message { .. }) {
            for id in ids {
                push_once(self.ids.entry(id).or_default(), i);
            }
        }
        if fold::is_edit(&self.events[i].2) {
            if let Some(sid) = self.events[i].2.stanza_id.clone() {
                push_once(self.corrections.entry(sid).or_default(), i);
            }
        }
        if let Some(t) = target {
            push_once(self.changes.entry(t).or_default(), i);
        }
    }

    /// The messages a stored event concerns: itself for a message, its target for a
    /// change (none while the target has not arrived), also when the change names it
    /// through one of its corrections.
    fn concerned(&self, i: usize) -> Vec<usize> {
        let ev = &self.events[i].2;
        let Some(t) = fold::target_of(ev) else {
            return vec![i];
        };
        let corrected = self.corrections.get(t).into_iter().flatten();
        let targets = corrected.filter_map(|&c| fold::target_of(&self.events[c].2));
        std::iter::once(t)
            .chain(targets)
            .filter_map(|t| self.ids.get(t))
            .flatten()
            .copied()
            .collect()
    }

    /// The stored changes naming `id`.
    fn naming<'a>(&'a self, id: &str) -> impl Iterator<Item = usize> + 'a {
        self.changes.get(id).into_iter().flatten().copied()
    }

    /// Recompute message `i` from every stored change naming it, in stored order.
    fn refold(&mut self, i: usize) {
        let msg = &self.events[i].2;
        let mut found: Vec<usize> = fold::own_ids(msg)
            .flat_map(|id| self.naming(id))
            .filter(|&c| fold::names(&self.events[c].2, msg))
            .collect();
        let direct: Vec<&RoomEvent> = found.iter().map(|&c| &self.events[c].2).collect();
        let aliases = fold::aliases(msg, &direct);
        found.extend(
            aliases
                .iter()
                .flat_map(|id| self.naming(id))
                .filter(|&c| fold::names_through(&self.events[c].2, msg, &aliases)),
        );
        found.sort_unstable();
        found.dedup();
        found.sort_by(|&a, &b| self.stored_order(a, b));
        let changes: Vec<RoomEvent> = found.iter().map(|&c| self.events[c].2.clone()).collect();
        let refs: Vec<&RoomEvent> = changes.iter().collect();
        fold::fold(&mut self.events[i].2, &refs);
    }

    fn stored_order(&self, a: usize, b: usize) -> std::cmp::Ordering {
        let (ea, eb) = (&self.events[a], &self.events[b]);
        ea.2.timestamp
            .cmp(&eb.2.timestamp)
            .then(ea.1.total_cmp(&eb.1))
            .then(ea.0.cmp(&eb.0))
    }
}

fn push_once(slot: &mut Vec<usize>, i: usize) {
    if !slot.contains(&i) {
        slot.push(i);
    }
}

impl RoomData {
    /// Indexes of the events an app sees, in stored order: change events are folded into
    /// their targets, not shown on their own.
    fn ordered(&self) -> Vec<usize> {
        let mut all: Vec<usize> = (0..self.events.len())
            .filter(|&i| fold::target_of(&self.events[i].2).is_none())
            .collect();
        all.sort_by(|&a, &b| self.stored_order(a, b));
        all
    }

    /// The marked event (the newest that has the marker's key).
    fn marked(&self, ordered: &[usize]) -> Option<usize> {
        let key = &self.read.as_ref()?.key;
        ordered
            .iter()
            .rev()
            .copied()
            .find(|&i| self.events[i].2.dedup_keys().contains(key))
    }
}

impl Store for MemoryStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        let inner = self.lock()?;
        let mut rooms: Vec<RoomState> = inner.rooms.values().map(|r| r.state.clone()).collect();
        rooms.sort_by(|a, b| a.room.cmp(&b.room));
        Ok(Snapshot {
            subscriptions: inner.subscriptions.clone(),
            rooms,
        })
    }

    async fn put_subscription(&self, rec: &SubscriptionRecord) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        inner.subscriptions.retain(|s| s.room != rec.room);
        inner.subscriptions.push(rec.clone());
        Ok(())
    }

    async fn remove_subscription(&self, room: &str) -> Result<(), StoreError> {
        self.lock()?.subscriptions.retain(|s| s.room != room);
        Ok(())
    }

    async fn apply_page(&self, page: &Page) -> PageResult {
        page.check_room()?;
        let (room, events) = (page.room.as_str(), &page.events);
        let mut inner = self.lock()?;
        let inner = &mut *inner;
        let data = inner.rooms.entry(room.to_owned()).or_default();
        data.state.room = room.to_owned();
        let mut fresh = Vec::new();
        let mut matched = Vec::with_capacity(events.len());
        // Stored messages as they were before this page, to report those it changes.
        let mut shown_before: HashMap<usize, RoomEvent> = HashMap::new();
        for ev in events {
            let entry = match data.find(ev) {
                Some(i) => {
                    if !fresh.contains(&i) {
                        shown_before
                            .entry(i)
                            .or_insert_with(|| data.events[i].2.clone());
                    }
                    let before = data.events[i].2.timestamp;
                    if data.events[i].2.absorb(ev) {
                        data.index(i);
                    }
                    let moved = data.events[i].2.timestamp != before;
                    (i, moved)
                }
                None => {
                    inner.seq += 1;
                    data.events.push((inner.seq, 0.0, ev.clone()));
                    let i = data.events.len() - 1;
                    data.index(i);
                    fresh.push(i);
                    (i, true)
                }
            };
            matched.push(entry);
        }
        let entries: Vec<PageEntry> = matched
            .iter()
            .map(|&(i, place)| PageEntry {
                id: i as u64,
                ts: data.events[i].2.timestamp.0,
                place,
            })
            .collect();
        if entries.iter().any(|e| e.place) {
            let lo = entries.iter().map(|e| e.ts).min().unwrap_or(0);
            let hi = entries.iter().map(|e| e.ts).max().unwrap_or(0);
            let stored: Vec<Positioned> = data
                .events
                .iter()
                .enumerate()
                .filter(|(_, (_, _, e))| (lo..=hi).contains(&e.timestamp.0))
                .map(|(i, (_, ord, e))| Positioned {
                    id: i as u64,
                    ts: e.timestamp.0,
                    ord: *ord,
                })
                .collect();
            for (i, ord) in order::place(&stored, &entries, page.is_history()) {
                data.events[i as usize].1 = ord;
            }
        }
        let mut concerned: Vec<usize> = matched
            .iter()
            .flat_map(|&(i, _)| data.concerned(i))
            .collect();
        concerned.sort_unstable();
        concerned.dedup();
        for i in concerned {
            if !fresh.contains(&i) {
                shown_before
                    .entry(i)
                    .or_insert_with(|| data.events[i].2.clone());
            }
            data.refold(i);
        }
        let mut updated: Vec<usize> = shown_before
            .iter()
            .filter(|&(&i, old)| {
                let now = &data.events[i].2;
                matches!(now.kind, EventKind::Message { .. }) && !fold::shown_same(old, now)
            })
            .map(|(&i, _)| i)
            .collect();
        updated.sort_by(|&a, &b| data.stored_order(a, b));
        if let Some(c) = &page.cursor {
            data.state.cursor = Some(c.clone());
        }
        if let Some(g) = &page.gap {
            data.state.gaps.push(g.clone());
        }
        // New messages as the app should show them: with the changes that came first.
        let copy = |i: usize| data.events[i].2.clone();
        Ok(Applied {
            fresh: fresh.into_iter().map(copy).collect(),
            updated: updated.into_iter().map(copy).collect(),
        })
    }

    async fn events(&self, room: &str, limit: usize) -> Result<Vec<RoomEvent>, StoreError> {
        let inner = self.lock()?;
        let Some(data) = inner.rooms.get(room) else {
            return Ok(Vec::new());
        };
        let all = data.ordered();
        let skip = all.len().saturating_sub(limit);
        Ok(all
            .into_iter()
            .skip(skip)
            .map(|i| data.events[i].2.clone())
            .collect())
    }

    async fn mark_read(&self, room: &str, up_to: Option<&str>) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let Some(data) = inner.rooms.get_mut(room) else {
            return Ok(up_to.is_none());
        };
        let all = data.ordered();
        let target = match up_to {
            None => all.last().copied(),
            Some(id) => match all
                .iter()
                .rev()
                .copied()
                .find(|&i| answers_to(&data.events[i].2, id))
            {
                Some(i) => Some(i),
                None => return Ok(false),
            },
        };
        let Some(target) = target else {
            return Ok(true);
        };
        let current = data.marked(&all);
        let rank = |i: usize| all.iter().position(|&j| j == i);
        if current.is_some_and(|c| rank(c) >= rank(target)) {
            return Ok(true);
        }
        data.read = marker_of(&data.events[target].2);
        Ok(true)
    }

    async fn read_marker(&self, room: &str) -> Result<Option<ReadMarker>, StoreError> {
        Ok(self.lock()?.rooms.get(room).and_then(|r| r.read.clone()))
    }

    async fn unread(&self, room: &str, own: Own<'_>) -> Result<usize, StoreError> {
        let inner = self.lock()?;
        let Some(data) = inner.rooms.get(room) else {
            return Ok(0);
        };
        let all = data.ordered();
        let start = match (data.marked(&all), &data.read) {
            (Some(m), _) => all.iter().position(|&i| i == m).map_or(0, |p| p + 1),
            // The marked event is gone: count what is newer than its time.
            (None, Some(r)) => all
                .iter()
                .position(|&i| data.events[i].2.timestamp > r.stamp)
                .unwrap_or(all.len()),
            (None, None) => 0,
        };
        Ok(all[start..]
            .iter()
            .filter(|&&i| own.counts(&data.events[i].2))
            .count())
    }

    async fn room_state(&self, room: &str) -> Result<RoomState, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .rooms
            .get(room)
            .map(|r| r.state.clone())
            .unwrap_or_else(|| RoomState {
                room: room.to_owned(),
                ..RoomState::default()
            }))
    }
}

// Native only: tokio is a native dev-dependency; the browser runs the suite on IndexedDB.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod shared_suite {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::future::{ready, Ready};

    use super::MemoryStore;

    /// Opening a name again gives the same data (clones share it): a "reload".
    fn opener() -> impl Fn(&'static str) -> Ready<MemoryStore> {
        let opened: RefCell<HashMap<&'static str, MemoryStore>> = RefCell::default();
        move |name| ready(opened.borrow_mut().entry(name).or_default().clone())
    }

    crate::store_suite!(tokio::test, opener());
}
