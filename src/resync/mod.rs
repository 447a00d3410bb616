//! The resync engine (docs/protocol.md C4): sans-IO, it turns subscriptions and persisted
//! cursors into MAM queries, and MAM results into store pages.
//!
//! Per room: the cursor is the newest archive id known to be contiguous with the stored
//! history. A known room starts with `start=cursor time` (whose answer must contain the
//! cursor, else a gap is recorded; `start` has milliseconds and archives stamp in
//! microseconds, so the engine reads on with `after` while the answer stays within the
//! cursor's millisecond without reaching it), then pages forward with `after` until
//! `complete`; a new room
//! (no cursor) fetches the newest page only and records the older history as a gap. An
//! unknown cursor id — reported as `item-not-found`, or silently answered from the
//! beginning of the archive as ejabberd does — falls back to `start=cursor time` with a
//! recorded gap. A per-run cap per room records a gap and jumps to the newest page instead
//! of paging forever. At most `max_in_flight` rooms page at once. Each page and its cursor
//! advance are emitted as ONE [`ResyncOut::Apply`], which the driver writes in one store
//! transaction before feeding the engine anything else.
//!
//! A page that fails transiently (IQ timeout, `wait` error) is asked again after an
//! exponential delay (an `after` page as a time query from the cursor, which re-proves the
//! join), up to `max_attempts` times; then the room's run ends with an error.
//! A retry waiting for its time holds its room's in-flight slot, so nothing is ever
//! "in flight" without either a query out or a retry due: the driver arms its timer with
//! [`Resync::next_retry`] and feeds [`Resync::retry_due`].

// Native only: proptest and tokio are native dev-dependencies; the browser runs its own suites.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod sim_tests;

mod types;

use std::collections::VecDeque;

use jid::BareJid;

pub use types::{FinOutcome, ResyncConfig, ResyncOut, ResyncWarning};

use crate::event::RoomEvent;
use crate::keyed::Keyed;
use crate::protocol::mam::{ArchivedStanza, PageFrom};
use crate::protocol::time::Timestamp;
use crate::protocol::SyncEnd;
use crate::store::{Cursor, Gap, Page, RoomState};

/// An archive item of a page: id, archive time, the event when it is one.
type Held = (String, Timestamp, Option<RoomEvent>);

#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    /// First page of a run for a room with a cursor: `start=cursor time`. The answer must
    /// hold the cursor itself, which proves the stored history and the archive still join
    /// (an `after` query cannot prove it: ejabberd answers an unknown id with the start of
    /// the archive, indistinguishable from a real continuation once the old part is gone).
    ///
    /// `start` has millisecond precision while servers stamp in microseconds, so more than
    /// a page of items can share the cursor's millisecond and precede it. While a page
    /// without the cursor stays within that millisecond, the scan goes on with `after=`
    /// its last id (an id the server just gave, so no unknown-id quirk) and `held` keeps
    /// what was read so far; the decision (joined or gap) and the write come with the
    /// page that settles it, so nothing is written before the join is proven.
    Resume { prev: Cursor, held: Vec<Held> },
    /// `after=` the last id of the previous page of this run.
    Forward,
    /// start=time after an unknown cursor; the gap starts at `prev`. Scans the cursor's
    /// millisecond like `Resume`.
    Fallback { prev: Cursor, held: Vec<Held> },
    /// Newest page of a room without cursor.
    Newest,
    /// Newest page after hitting the per-room cap; the gap starts at `prev`.
    CapJump { prev: Option<Cursor> },
}

struct Active {
    room: BareJid,
    from: PageFrom,
    purpose: Purpose,
    attempt: u32,
    items: Vec<Held>,
    oversized: bool,
}

/// A failed page waiting for its retry time.
struct Retry {
    room: BareJid,
    from: PageFrom,
    purpose: Purpose,
    attempt: u32,
    due: i64,
}

#[derive(Default)]
struct RoomMirror {
    cursor: Option<Cursor>,
    gaps: Vec<Gap>,
    fetched_this_run: usize,
}

/// The engine. Its room mirror follows what it told the driver to write, so after a
/// restart it must be re-created from the store with [`Resync::load`].
pub struct Resync {
    cfg: ResyncConfig,
    rooms: Keyed<RoomMirror>,
    queue: VecDeque<BareJid>,
    rerun: Vec<BareJid>,
    active: Keyed<Active>,
    retries: Vec<Retry>,
    next_query: u64,
    query_prefix: String,
}

impl Resync {
    /// A fresh engine; `query_prefix` keeps queryids unique across reconnects.
    pub fn new(cfg: ResyncConfig, query_prefix: impl Into<String>) -> Self {
        Resync {
            cfg,
            rooms: Keyed::new(),
            queue: VecDeque::new(),
            rerun: Vec::new(),
            active: Keyed::new(),
            retries: Vec::new(),
            next_query: 0,
            query_prefix: query_prefix.into(),
        }
    }

    /// Take the persisted room states.
    pub fn load(&mut self, rooms: impl IntoIterator<Item = RoomState>) {
        for r in rooms {
            self.rooms.insert(
                r.room,
                RoomMirror {
                    cursor: r.cursor,
                    gaps: r.gaps,
                    fetched_this_run: 0,
                },
            );
        }
    }

    /// The cursor the engine believes is stored for `room`.
    pub fn cursor(&self, room: &str) -> Option<&Cursor> {
        self.rooms.get(room).and_then(|r| r.cursor.as_ref())
    }

    /// Whether nothing is queued, in flight or waiting for a retry.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.active.is_empty() && self.retries.is_empty()
    }

    /// Queries sent and not answered yet.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    fn queries_in_flight(&self) -> usize {
        self.active.len()
    }

    /// When the earliest retry is due (ms), for the driver's timer.
    pub fn next_retry(&self) -> Option<i64> {
        self.retries.iter().map(|r| r.due).min()
    }

    /// Ask again every failed page whose retry time has come.
    pub fn retry_due(&mut self, now: Timestamp) -> Vec<ResyncOut> {
        let (due, wait): (Vec<Retry>, Vec<Retry>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|r| r.due <= now.0);
        self.retries = wait;
        due.into_iter()
            .map(|r| self.start(r.room, r.from, r.purpose, r.attempt))
            .collect()
    }

    fn busy(&self, room: &BareJid) -> bool {
        self.active.values().any(|a| &a.room == room)
            || self.retries.iter().any(|r| &r.room == room)
    }

    /// Queue `room` for a run. With a sync hint equal to the stored cursor the room is
    /// already in sync and nothing is queued (returns `false`).
    pub fn enqueue(&mut self, room: BareJid, hint: Option<&SyncEnd>) -> bool {
        let key = room.to_string();
        let busy = self.busy(&room);
        let mirror = self.rooms.get_or_insert_with(&key, RoomMirror::default);
        if let (Some(h), Some(c)) = (hint, mirror.cursor.as_ref()) {
            if h.id == c.id {
                return false;
            }
        }
        if busy {
            // The run in flight may have been answered before whatever prompted this call:
            // go again once it ends.
            if !self.rerun.contains(&room) {
                self.rerun.push(room);
            }
        } else if !self.queue.contains(&room) {
            mirror.fetched_this_run = 0;
            self.queue.push_back(room);
        }
        true
    }

    /// Forget a room (unsubscribed): drop it from the queue; in-flight answers get ignored.
    pub fn forget(&mut self, room: &BareJid) {
        self.queue.retain(|r| r != room);
        self.rerun.retain(|r| r != room);
        self.active.retain(|_, a| &a.room != room);
        self.retries.retain(|r| &r.room != room);
    }

    /// The connection is gone: everything in flight or waiting is dropped (the next
    /// connect queues the rooms again), the mirror stays.
    pub fn on_disconnect(&mut self) {
        self.queue.clear();
        self.rerun.clear();
        self.active.clear();
        self.retries.clear();
    }

    /// Start queued rooms up to the in-flight bound.
    pub fn pump(&mut self) -> Vec<ResyncOut> {
        let mut out = Vec::new();
        while self.active.len() + self.retries.len() < self.cfg.max_in_flight.max(1) {
            let Some(room) = self.queue.pop_front() else {
                break;
            };
            let (from, purpose) = match self.cursor(room.as_str()) {
                // The archive was empty when we first looked: all of it is new to us.
                Some(c) if c.id.is_empty() => (PageFrom::Oldest, Purpose::Forward),
                Some(c) => (
                    PageFrom::Start(c.stamp),
                    Purpose::Resume {
                        prev: c.clone(),
                        held: Vec::new(),
                    },
                ),
                None => (PageFrom::Newest, Purpose::Newest),
            };
            out.push(self.start(room, from, purpose, 1));
        }
        out
    }

    fn start(
        &mut self,
        room: BareJid,
        from: PageFrom,
        purpose: Purpose,
        attempt: u32,
    ) -> ResyncOut {
        self.next_query += 1;
        let queryid = format!("{}-{}", self.query_prefix, self.next_query);
        self.active.insert(
            queryid.clone(),
            Active {
                room: room.clone(),
                from: from.clone(),
                purpose,
                attempt,
                items: Vec::new(),
                oversized: false,
            },
        );
        ResyncOut::Query {
            room,
            queryid,
            from,
            max: self.cfg.page_size,
        }
    }

    /// One MAM `<result/>` from `from`.
    pub fn on_result(
        &mut self,
        from: &BareJid,
        a: ArchivedStanza,
        now: Timestamp,
    ) -> Vec<ResyncOut> {
        let qid = a.queryid.clone().unwrap_or_default();
        let page_size = self.cfg.page_size;
        let Some(active) = self.active.get_mut(&qid) else {
            return vec![ResyncOut::Warn(ResyncWarning::UnknownQuery(qid))];
        };
        if &active.room != from {
            return vec![ResyncOut::Warn(ResyncWarning::WrongSender {
                room: active.room.to_string(),
                from: from.to_string(),
            })];
        }
        let mut out = Vec::new();
        if active.items.len() >= page_size {
            if !active.oversized {
                out.push(ResyncOut::Warn(ResyncWarning::OversizedPage {
                    room: active.room.to_string(),
                }));
            }
            active.oversized = true;
            if matches!(active.from, PageFrom::Newest | PageFrom::Before(_)) {
                // A backwards page ends at the newest item: keep that end.
                active.items.remove(0);
            } else {
                return out;
            }
        }
        let stamp = a.stamp.unwrap_or(now);
        match RoomEvent::from_archive(&active.room, &a, now) {
            Ok(ev) => active.items.push((a.id, stamp, Some(ev))),
            Err(e) => {
                // Still counts for the cursor: the archive has it, it just is not an event.
                let room = active.room.to_string();
                active.items.push((a.id.clone(), stamp, None));
                out.push(ResyncOut::Warn(ResyncWarning::Unusable {
                    room,
                    id: a.id,
                    reason: e.to_string(),
                }));
            }
        }
        out
    }

    /// The query `queryid` ended (`now` dates a retry).
    pub fn on_fin(&mut self, queryid: &str, outcome: FinOutcome, now: Timestamp) -> Vec<ResyncOut> {
        let Some(mut active) = self.active.remove(queryid) else {
            return Vec::new();
        };
        let room = active.room.clone();
        let key = room.to_string();
        let mut out = Vec::new();
        let prev = self.cursor(&key).cloned();
        let complete = match outcome {
            FinOutcome::Fin { complete } => complete,
            FinOutcome::ItemNotFound => {
                return self.fall_back(active, prev, false);
            }
            FinOutcome::Transient(reason) if active.attempt < self.cfg.max_attempts => {
                out.push(ResyncOut::Warn(ResyncWarning::QueryFailed {
                    room: key.clone(),
                    reason,
                }));
                let delay_ms = self
                    .cfg
                    .retry_base_ms
                    .max(1)
                    .saturating_mul(1u64 << (active.attempt - 1).min(30))
                    .min(self.cfg.retry_max_ms.max(1));
                let attempt = active.attempt + 1;
                out.push(ResyncOut::Warn(ResyncWarning::Retrying {
                    room: key,
                    attempt,
                    delay_ms,
                }));
                // A timeout may hide a server restart, and retention may run before the
                // retry: an `after` page is asked again as a time query that must hold the
                // cursor, which proves the stored history still joins the archive.
                // A scan of the cursor's millisecond starts over: nothing of it was written.
                let (from, purpose) = match (active.purpose, prev) {
                    (Purpose::Forward, Some(c)) if !c.id.is_empty() => (
                        PageFrom::Start(c.stamp),
                        Purpose::Resume {
                            prev: c,
                            held: Vec::new(),
                        },
                    ),
                    (Purpose::Resume { prev, .. }, _) => (
                        PageFrom::Start(prev.stamp),
                        Purpose::Resume {
                            prev,
                            held: Vec::new(),
                        },
                    ),
                    (Purpose::Fallback { prev, .. }, _) => (
                        PageFrom::Start(prev.stamp),
                        Purpose::Fallback {
                            prev,
                            held: Vec::new(),
                        },
                    ),
                    (purpose, _) => (active.from, purpose),
                };
                self.retries.push(Retry {
                    room,
                    from,
                    purpose,
                    attempt,
                    due: now
                        .0
                        .saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX)),
                });
                return out;
            }
            FinOutcome::Failed(reason) | FinOutcome::Transient(reason) => {
                out.push(ResyncOut::Warn(ResyncWarning::QueryFailed {
                    room: key.clone(),
                    reason,
                }));
                out.extend(self.finish(room, false));
                return out;
            }
        };
        // ejabberd answers an unknown `after` id with the start of the archive: anything
        // older than the cursor, or the cursor itself, gives it away.
        if let (PageFrom::After(after), Some(c)) = (&active.from, prev.as_ref()) {
            if active
                .items
                .iter()
                .any(|(id, stamp, _)| id == after || *stamp < c.stamp)
            {
                return self.fall_back(active, prev, true);
            }
        }
        let complete = complete && !active.oversized;
        let page_len = active.items.len();
        if let Purpose::Resume { prev, held } | Purpose::Fallback { prev, held } =
            &mut active.purpose
        {
            let found = held
                .iter()
                .chain(&active.items)
                .any(|(id, ..)| *id == prev.id);
            let within_ms = active.items.iter().all(|(_, st, _)| *st <= prev.stamp);
            if !found && !complete && within_ms && page_len > 0 {
                let mirror = self.rooms.get_or_insert_with(&key, RoomMirror::default);
                mirror.fetched_this_run += page_len;
                if mirror.fetched_this_run >= self.cfg.room_cap {
                    // A millisecond longer than the cap: jump as any capped run does. What
                    // was read is either stored already (older than the cursor) or, the
                    // cursor being gone, inside the gap the jump records.
                    let prev = mirror.cursor.clone();
                    return vec![self.start(room, PageFrom::Newest, Purpose::CapJump { prev }, 1)];
                }
                // The cursor may still come later in its millisecond: read on.
                let after = active.items[page_len - 1].0.clone();
                held.append(&mut active.items);
                return vec![self.start(room, PageFrom::After(after), active.purpose, 1)];
            }
            held.append(&mut active.items);
            active.items = std::mem::take(held);
        }
        let first = active.items.first().map(|(id, st, _)| (id.clone(), *st));
        let last = active.items.last().map(|(id, st, _)| Cursor {
            id: id.clone(),
            stamp: *st,
        });
        let mirror = self.rooms.get_or_insert_with(&key, RoomMirror::default);
        mirror.fetched_this_run += page_len;
        let gap = match &active.purpose {
            Purpose::Forward => None,
            // The answer holds the cursor itself: stored history and archive still join.
            Purpose::Resume { prev, .. } | Purpose::Fallback { prev, .. }
                if active.items.iter().any(|(id, _, _)| *id == prev.id) =>
            {
                None
            }
            Purpose::Resume { prev, .. } => Some(Gap {
                after_id: Some(prev.id.clone()),
                after_stamp: Some(prev.stamp),
                before_id: first.as_ref().map(|f| f.0.clone()),
                before_stamp: first.as_ref().map(|f| f.1),
            }),
            Purpose::Fallback { prev, .. } => Some(Gap {
                after_id: Some(prev.id.clone()),
                after_stamp: Some(prev.stamp),
                before_id: first.as_ref().map(|f| f.0.clone()),
                before_stamp: first.as_ref().map(|f| f.1),
            }),
            Purpose::Newest if !complete && first.is_some() => Some(Gap {
                after_id: None,
                after_stamp: None,
                before_id: first.as_ref().map(|f| f.0.clone()),
                before_stamp: first.as_ref().map(|f| f.1),
            }),
            Purpose::Newest => None,
            // The newest page reaches back to what we have: nothing is missing. Only a
            // first item older than the cursor's millisecond proves it by time: several
            // archive items share a millisecond.
            Purpose::CapJump { prev }
                if prev.as_ref().is_none_or(|p| {
                    first.as_ref().is_none_or(|f| f.1 < p.stamp)
                        || active.items.iter().any(|(id, _, _)| *id == p.id)
                }) =>
            {
                None
            }
            Purpose::CapJump { prev } => Some(Gap {
                after_id: prev.as_ref().map(|p| p.id.clone()),
                after_stamp: prev.as_ref().map(|p| p.stamp),
                before_id: first.as_ref().map(|f| f.0.clone()),
                before_stamp: first.as_ref().map(|f| f.1),
            }),
        };
        let gap = gap.filter(|g| !mirror.gaps.contains(g));
        if let Some(g) = &gap {
            mirror.gaps.push(g.clone());
        }
        // Never move the cursor backwards (a newest page can be older than a cursor that
        // a concurrent run already stored).
        let mut cursor = last.filter(|l| prev.as_ref().is_none_or(|p| l.stamp >= p.stamp));
        if active.purpose == Purpose::Newest
            && active.items.is_empty()
            && complete
            && prev.is_none()
        {
            // An empty archive: remember that we have seen it from its very beginning, so
            // the next run fetches everything instead of only a newest page.
            cursor = Some(Cursor {
                id: String::new(),
                stamp: Timestamp(0),
            });
        }
        if let Some(c) = &cursor {
            mirror.cursor = Some(c.clone());
        }
        let fetched = mirror.fetched_this_run;
        let events: Vec<RoomEvent> = active.items.into_iter().filter_map(|(_, _, e)| e).collect();
        if !events.is_empty() || cursor.is_some() || gap.is_some() {
            out.push(ResyncOut::Apply(Page {
                room: key.clone(),
                events,
                cursor: cursor.clone(),
                gap,
            }));
        }
        let progressed = cursor.as_ref().is_some_and(|c| !c.id.is_empty());
        let next = match active.purpose {
            // A newest page ends backwards: catch up forward with whatever arrived since.
            Purpose::Newest | Purpose::CapJump { .. } if progressed => Some(Purpose::Forward),
            Purpose::Newest | Purpose::CapJump { .. } => None,
            _ if complete => None,
            _ if !progressed => {
                out.push(ResyncOut::Warn(ResyncWarning::NoProgress {
                    room: key.clone(),
                }));
                None
            }
            _ if fetched >= self.cfg.room_cap => Some(Purpose::CapJump {
                prev: self.cursor(&key).cloned(),
            }),
            _ => Some(Purpose::Forward),
        };
        let from = match &next {
            Some(Purpose::CapJump { .. }) => Some(PageFrom::Newest),
            Some(_) => self.cursor(&key).map(|c| {
                if c.id.is_empty() {
                    PageFrom::Oldest
                } else {
                    PageFrom::After(c.id.clone())
                }
            }),
            None => None,
        };
        match (next, from) {
            (Some(purpose), Some(from)) => out.push(self.start(room, from, purpose, 1)),
            _ => out.extend(self.finish(room, true)),
        }
        out
    }

    /// End a room's run: maybe queue it again, then start whatever is waiting.
    fn finish(&mut self, room: BareJid, ok: bool) -> Vec<ResyncOut> {
        let mut out = vec![ResyncOut::RoomDone {
            room: room.to_string(),
            ok,
        }];
        if let Some(p) = self.rerun.iter().position(|r| *r == room) {
            self.rerun.remove(p);
            if let Some(m) = self.rooms.get_mut(room.as_str()) {
                m.fetched_this_run = 0;
            }
            self.queue.push_back(room);
        }
        out.extend(self.pump());
        out
    }

    fn fall_back(&mut self, active: Active, prev: Option<Cursor>, quirk: bool) -> Vec<ResyncOut> {
        let key = active.room.to_string();
        let mut out = vec![ResyncOut::Warn(if quirk {
            ResyncWarning::RestartedFromBeginning { room: key.clone() }
        } else {
            ResyncWarning::UnknownCursor { room: key.clone() }
        })];
        match (prev, &active.purpose) {
            // Only `after` queries fall back; a time query failing means giving up for
            // this run.
            (Some(prev), Purpose::Forward) => {
                let from = PageFrom::Start(prev.stamp);
                let purpose = Purpose::Fallback {
                    prev,
                    held: Vec::new(),
                };
                out.push(self.start(active.room, from, purpose, 1));
            }
            _ => out.extend(self.finish(active.room, false)),
        }
        out
    }
}
