use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Cursor, Gap, RoomState, Snapshot, Store, StoreError, SubscriptionRecord};
use crate::event::RoomEvent;

#[derive(Default)]
struct RoomData {
    /// (insertion seq, event)
    events: Vec<(u64, RoomEvent)>,
    /// dedup key → index into `events`
    keys: HashMap<String, Vec<usize>>,
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
            .find(|&i| self.events[i].1.same_as(ev))
    }

    fn index(&mut self, i: usize) {
        for k in self.events[i].1.dedup_keys() {
            let slot = self.keys.entry(k).or_default();
            if !slot.contains(&i) {
                slot.push(i);
            }
        }
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

    async fn apply_page(
        &self,
        room: &str,
        events: &[RoomEvent],
        cursor: Option<&Cursor>,
        gap: Option<&Gap>,
    ) -> Result<Vec<RoomEvent>, StoreError> {
        if let Some(bad) = events.iter().find(|e| e.room != room) {
            return Err(StoreError(format!(
                "event of {} in a page of {room}",
                bad.room
            )));
        }
        let mut inner = self.lock()?;
        let inner = &mut *inner;
        let data = inner.rooms.entry(room.to_owned()).or_default();
        data.state.room = room.to_owned();
        let mut fresh = Vec::new();
        for ev in events {
            match data.find(ev) {
                Some(i) => {
                    if data.events[i].1.absorb(ev) {
                        data.index(i);
                    }
                }
                None => {
                    inner.seq += 1;
                    data.events.push((inner.seq, ev.clone()));
                    let i = data.events.len() - 1;
                    data.index(i);
                    fresh.push(ev.clone());
                }
            }
        }
        if let Some(c) = cursor {
            data.state.cursor = Some(c.clone());
        }
        if let Some(g) = gap {
            data.state.gaps.push(g.clone());
        }
        Ok(fresh)
    }

    async fn events(&self, room: &str, limit: usize) -> Result<Vec<RoomEvent>, StoreError> {
        let inner = self.lock()?;
        let Some(data) = inner.rooms.get(room) else {
            return Ok(Vec::new());
        };
        let mut all: Vec<&(u64, RoomEvent)> = data.events.iter().collect();
        all.sort_by_key(|(seq, e)| (e.timestamp, *seq));
        let skip = all.len().saturating_sub(limit);
        Ok(all.into_iter().skip(skip).map(|(_, e)| e.clone()).collect())
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

// Native only: proptest and tokio are native dev-dependencies; the browser runs its own suites.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[tokio::test]
    async fn memory_store_passes_the_shared_suite() {
        let mut opened: HashMap<String, MemoryStore> = HashMap::new();
        crate::store_tests::run_all(|name: &str| {
            let s = opened.entry(name.to_owned()).or_default().clone();
            async move { s }
        })
        .await;
    }
}
