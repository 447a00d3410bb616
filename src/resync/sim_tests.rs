//! Property tests of the resync engine against a simulated room archive: random
//! interleavings of posts, live deliveries, pages, disconnects, app restarts from the
//! persisted store, purged (unknown) cursor ids, the restart-from-the-beginning quirk and
//! oversized pages, and queries whose answer never comes (IQ timeouts, retried after a
//! delay). Whatever happens, a busy engine always has a query out or a retry due, and once
//! the client finally stays connected the store holds every archived message exactly once
//! (minus the recorded gaps), in archive order.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use jid::BareJid;
use minidom::Element;
use proptest::prelude::*;

use super::*;
use crate::event::Source;
use crate::protocol::mam::ArchivedStanza;
use crate::store::{MemoryStore, Store};

/// The SDK's view of a microsecond archive stamp.
fn ms(us: i64) -> Timestamp {
    Timestamp(us.div_euclid(1000))
}

/// MemoryStore futures never wait, so polling once is enough.
pub(crate) fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("memory store future pending"),
    }
}

#[derive(Clone, Debug)]
struct Item {
    id: String,
    /// Microseconds, as ejabberd and our server stamp the archive; the SDK sees
    /// milliseconds.
    stamp: i64,
    msg_id: String,
}

#[derive(Clone, Debug)]
enum Op {
    Post(usize),
    /// Posts within the current millisecond (a burst the server stamps microseconds apart).
    PostSameMs(usize),
    DeliverLive {
        with_sid: bool,
    },
    Step,
    Disconnect,
    Restart,
    Connect {
        hint: bool,
    },
    Purge(usize, usize),
    /// The oldest query in flight gets no answer: the client's IQ timeout fires.
    TimeOut,
    /// Time passes; due retries go out.
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize).prop_map(Op::Post),
        3 => (0..2usize).prop_map(Op::PostSameMs),
        2 => any::<bool>().prop_map(|with_sid| Op::DeliverLive { with_sid }),
        6 => Just(Op::Step),
        1 => Just(Op::Disconnect),
        1 => Just(Op::Restart),
        2 => any::<bool>().prop_map(|hint| Op::Connect { hint }),
        1 => (0..2usize, 1..4usize).prop_map(|(r, n)| Op::Purge(r, n)),
        1 => Just(Op::TimeOut),
        1 => (1..40_000i64).prop_map(Op::Wait),
    ]
}

struct SimRoom {
    jid: BareJid,
    /// Everything ever posted.
    full: Vec<Item>,
    /// Items purged from the front of the archive.
    purged: usize,
    /// Items purged before the client had any cursor for the room.
    never_seen: Vec<String>,
}

struct Sim {
    rooms: Vec<SimRoom>,
    quirk: bool,
    oversize: bool,
    clock: i64,
    store: MemoryStore,
    engine: Option<Resync>,
    generation: u64,
    cfg: ResyncConfig,
    /// Server answers not yet delivered: (queryid, room index, results, fin).
    in_flight: VecDeque<(String, usize, Vec<ArchivedStanza>, FinOutcome)>,
    /// Live copies not yet delivered.
    live: VecDeque<(usize, Item)>,
}

impl Sim {
    /// A simulation of `rooms` (room JIDs) with nothing posted yet, at time `clock`.
    fn new(rooms: &[String], quirk: bool, oversize: bool, clock: i64, cfg: ResyncConfig) -> Sim {
        Sim {
            rooms: rooms
                .iter()
                .map(|r| SimRoom {
                    jid: BareJid::new(r).unwrap(),
                    full: Vec::new(),
                    purged: 0,
                    never_seen: Vec::new(),
                })
                .collect(),
            quirk,
            oversize,
            clock,
            store: MemoryStore::new(),
            engine: None,
            generation: 0,
            cfg,
            in_flight: VecDeque::new(),
            live: VecDeque::new(),
        }
    }
}

fn stanza(room: &BareJid, it: &Item, with_sid: bool) -> Element {
    let mut b = Element::builder("message", "jabber:client")
        .attr(crate::protocol::xml::ncname("from"), format!("{room}/nick"))
        .attr(crate::protocol::xml::ncname("type"), "groupchat")
        .attr(crate::protocol::xml::ncname("id"), it.msg_id.clone())
        .append(
            Element::builder("body", "jabber:client")
                .append(format!("body of {}", it.msg_id))
                .build(),
        );
    if with_sid {
        b = b.append(
            Element::builder("stanza-id", "urn:xmpp:sid:0")
                .attr(crate::protocol::xml::ncname("by"), room.to_string())
                .attr(crate::protocol::xml::ncname("id"), it.id.clone())
                .build(),
        );
    }
    b.build()
}

impl Sim {
    fn archive(&self, r: usize) -> &[Item] {
        &self.rooms[r].full[self.rooms[r].purged..]
    }

    fn answer(
        &self,
        r: usize,
        queryid: &str,
        from: &PageFrom,
        max: usize,
    ) -> (Vec<ArchivedStanza>, FinOutcome) {
        let arch = self.archive(r);
        let take = if self.oversize { max + 2 } else { max };
        let (slice, complete): (&[Item], bool) = match from {
            PageFrom::After(id) => match arch.iter().position(|i| &i.id == id) {
                Some(p) => {
                    let rest = &arch[p + 1..];
                    (&rest[..rest.len().min(take)], rest.len() <= max)
                }
                None if self.quirk => (&arch[..arch.len().min(take)], arch.len() <= max),
                None => return (Vec::new(), FinOutcome::ItemNotFound),
            },
            // `start` has millisecond precision: its whole millisecond matches.
            PageFrom::Start(t) => {
                let rest: Vec<&Item> = arch.iter().filter(|i| i.stamp >= t.0 * 1000).collect();
                let p = arch.len() - rest.len();
                let rest = &arch[p..];
                (&rest[..rest.len().min(take)], rest.len() <= max)
            }
            PageFrom::Newest => {
                let n = arch.len().min(take);
                (&arch[arch.len() - n..], arch.len() <= max)
            }
            PageFrom::Oldest => (&arch[..arch.len().min(take)], arch.len() <= max),
            PageFrom::Before(_) => unreachable!("the engine never pages backwards"),
        };
        let results = slice
            .iter()
            .map(|it| ArchivedStanza {
                queryid: Some(queryid.to_owned()),
                id: it.id.clone(),
                stamp: Some(ms(it.stamp)),
                message: stanza(&self.rooms[r].jid, it, true),
            })
            .collect();
        (results, FinOutcome::Fin { complete })
    }

    fn room_index(&self, room: &str) -> usize {
        self.rooms
            .iter()
            .position(|r| r.jid.as_str() == room)
            .unwrap()
    }

    fn execute(&mut self, outs: Vec<ResyncOut>) {
        for o in outs {
            match o {
                ResyncOut::Query {
                    room,
                    queryid,
                    from,
                    max,
                } => {
                    let r = self.room_index(room.as_str());
                    let (res, fin) = self.answer(r, &queryid, &from, max);
                    self.in_flight.push_back((queryid, r, res, fin));
                }
                ResyncOut::Apply(page) => {
                    if std::env::var("SIM_DEBUG").is_ok() {
                        let Page {
                            room,
                            events,
                            cursor,
                            gap,
                        } = &page;
                        eprintln!("apply {room} n={} {cursor:?} {gap:?}", events.len());
                    }
                    now_or_never(self.store.apply_page(&page)).unwrap();
                }
                ResyncOut::RoomDone { .. } | ResyncOut::Warn(_) => {
                    if std::env::var("SIM_DEBUG").is_ok() {
                        eprintln!("{o:?}");
                    }
                }
            }
        }
    }

    fn step(&mut self) {
        let Some((qid, r, results, fin)) = self.in_flight.pop_front() else {
            return;
        };
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let mut outs = Vec::new();
        let from = self.rooms[r].jid.clone();
        for a in results {
            outs.extend(engine.on_result(&from, a, Timestamp(self.clock)));
        }
        outs.extend(engine.on_fin(&qid, fin, Timestamp(self.clock)));
        self.execute(outs);
    }

    fn time_out(&mut self) {
        let Some((qid, ..)) = self.in_flight.pop_front() else {
            return;
        };
        if let Some(engine) = self.engine.as_mut() {
            let outs = engine.on_fin(
                &qid,
                FinOutcome::Transient("timeout".into()),
                Timestamp(self.clock),
            );
            self.execute(outs);
        }
    }

    fn wait(&mut self, ms: i64) {
        self.clock += ms;
        if let Some(engine) = self.engine.as_mut() {
            let outs = engine.retry_due(Timestamp(self.clock));
            self.execute(outs);
        }
    }

    /// Liveness: a busy engine is waiting for an answer or for a retry time.
    fn assert_live(&self) {
        if let Some(e) = &self.engine {
            assert!(
                e.is_idle() || !self.in_flight.is_empty() || e.next_retry().is_some(),
                "the engine is busy with nothing out and nothing due"
            );
            assert!(e.queries_in_flight() <= self.in_flight.len());
        }
    }

    fn connect(&mut self, hint: bool) {
        if self.engine.is_none() {
            self.generation += 1;
            let mut e = Resync::new(self.cfg.clone(), format!("g{}", self.generation));
            e.load(now_or_never(self.store.load()).unwrap().rooms);
            self.engine = Some(e);
        }
        let hints: Vec<Option<SyncEnd>> = (0..self.rooms.len())
            .map(|r| {
                self.archive(r).last().filter(|_| hint).map(|i| SyncEnd {
                    id: i.id.clone(),
                    stamp: ms(i.stamp),
                })
            })
            .collect();
        let engine = self.engine.as_mut().unwrap();
        for (r, h) in hints.iter().enumerate() {
            engine.enqueue(self.rooms[r].jid.clone(), h.as_ref());
        }
        let outs = engine.pump();
        self.execute(outs);
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Post(r) | Op::PostSameMs(r) => {
                if matches!(op, Op::Post(_)) {
                    self.clock += 1;
                }
                let newest = self.rooms.iter().filter_map(|r| r.full.last());
                let stamp = newest
                    .map(|i| i.stamp + 1)
                    .fold(self.clock * 1000, i64::max);
                let n = self.rooms[*r].full.len();
                let it = Item {
                    // Opaque, non-monotonic ids: the engine must not compare them.
                    id: format!("{:x}-{r}", (n as u64 * 7919) % 10007 + 1_000_000 * n as u64),
                    stamp,
                    msg_id: format!("m{r}-{n}"),
                };
                self.rooms[*r].full.push(it.clone());
                if self.engine.is_some() {
                    self.live.push_back((*r, it));
                }
            }
            Op::DeliverLive { with_sid } => {
                if let (Some((r, it)), Some(_)) = (self.live.pop_front(), self.engine.as_ref()) {
                    // The copy is lost when others share its millisecond: the store places a
                    // live event among archive events of its millisecond by rule
                    // (store/order.rs), without the archive order, whatever the engine does.
                    let t = ms(it.stamp);
                    if self.rooms[r]
                        .full
                        .iter()
                        .any(|i| i.id != it.id && ms(i.stamp) == t)
                    {
                        return self.assert_live();
                    }
                    let room = &self.rooms[r].jid;
                    let m = stanza(room, &it, *with_sid);
                    let mut ev = RoomEvent::from_joined(&m, ms(it.stamp)).unwrap();
                    ev.source = Source::Live;
                    now_or_never(self.store.apply_page(&Page::new(room.as_str(), vec![ev])))
                        .unwrap();
                }
            }
            Op::Step => self.step(),
            Op::Disconnect => {
                if let Some(e) = self.engine.as_mut() {
                    e.on_disconnect();
                }
                self.in_flight.clear();
                self.live.clear();
            }
            Op::Restart => {
                self.engine = None;
                self.in_flight.clear();
                self.live.clear();
            }
            Op::Connect { hint } => self.connect(*hint),
            // Retention runs between syncs, not in the middle of a client's paging.
            Op::Purge(r, n) if self.in_flight.is_empty() => {
                let has_cursor = now_or_never(self.store.room_state(self.rooms[*r].jid.as_str()))
                    .unwrap()
                    .cursor
                    .is_some_and(|c| !c.id.is_empty());
                let room = &mut self.rooms[*r];
                let end = (room.purged + n).min(room.full.len());
                if !has_cursor {
                    // Gone before the client ever synced this room: not its history.
                    room.never_seen
                        .extend(room.full[room.purged..end].iter().map(|i| i.msg_id.clone()));
                }
                room.purged = end;
            }
            Op::Purge(..) => {}
            Op::TimeOut => self.time_out(),
            Op::Wait(ms) => self.wait(*ms),
        }
        self.assert_live();
    }

    fn settle(&mut self, hint: bool) {
        self.connect(hint);
        let mut guard = 0;
        loop {
            self.assert_live();
            if !self.in_flight.is_empty() {
                self.step();
            } else if let Some(due) = self.engine.as_ref().and_then(Resync::next_retry) {
                self.wait((due - self.clock).max(0));
            } else {
                break;
            }
            guard += 1;
            assert!(guard < 10_000, "resync does not terminate");
        }
        assert!(self.engine.as_ref().unwrap().is_idle());
    }

    fn check(&self) {
        for (r, room) in self.rooms.iter().enumerate() {
            let stored = now_or_never(self.store.events(room.jid.as_str(), usize::MAX)).unwrap();
            let state = now_or_never(self.store.room_state(room.jid.as_str())).unwrap();
            // Between the gap's ends in the archive; by time only where the millisecond
            // stamps tell them apart.
            let pos = |id: &str| room.full.iter().position(|i| i.id == id);
            let in_gap = |it: &Item| {
                let at = pos(&it.id);
                state.gaps.iter().any(|g| {
                    let by_id = g.after_id.as_deref().is_none_or(|a| pos(a) < at)
                        && g.before_id.as_deref().is_none_or(|b| at < pos(b));
                    let t = ms(it.stamp);
                    let by_time =
                        g.after_stamp.is_none_or(|a| a < t) && g.before_stamp.is_none_or(|b| t < b);
                    by_id || by_time
                })
            };
            let stored_ids: Vec<&str> = stored
                .iter()
                .map(|e| e.message_id.as_deref().unwrap())
                .collect();
            let mut dedup = stored_ids.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(
                dedup.len(),
                stored_ids.len(),
                "duplicates in {stored_ids:?}"
            );
            let expected: Vec<&str> = room
                .full
                .iter()
                .filter(|i| stored_ids.contains(&i.msg_id.as_str()))
                .map(|i| i.msg_id.as_str())
                .collect();
            assert_eq!(
                stored_ids, expected,
                "stored order differs from the archive"
            );
            for it in &room.full {
                if !stored_ids.contains(&it.msg_id.as_str())
                    && !room.never_seen.contains(&it.msg_id)
                {
                    assert!(
                        in_gap(it),
                        "room {r}: {} missing and not in a gap {:?}",
                        it.msg_id,
                        state.gaps
                    );
                }
            }
            for e in &stored {
                if let Some(sid) = &e.stanza_id {
                    assert!(room.full.iter().any(|i| &i.id == sid), "forged id {sid}");
                }
            }
            if let Some(last) = self.archive(r).last().filter(|_| !room.full.is_empty()) {
                assert_eq!(
                    state.cursor.as_ref().map(|c| c.id.as_str()),
                    Some(last.id.as_str())
                );
            }
        }
    }
}

fn run(ops: Vec<Op>, quirk: bool, oversize: bool, page_size: usize, cap: usize, final_hint: bool) {
    let purges = ops.iter().any(|o| matches!(o, Op::Purge(..)));
    let posts = ops
        .iter()
        .filter(|o| matches!(o, Op::Post(_) | Op::PostSameMs(_)))
        .count();
    let rooms: Vec<String> = (0..2)
        .map(|i| format!("room{i}@conference.localhost"))
        .collect();
    let cfg = ResyncConfig {
        page_size,
        room_cap: cap,
        max_in_flight: 1,
        ..ResyncConfig::default()
    };
    let mut sim = Sim::new(&rooms, quirk, oversize, 1_000, cfg);
    for op in &ops {
        sim.apply(op);
    }
    sim.settle(final_hint);
    sim.check();
    if !purges && posts < cap {
        // Nothing was lost and no cap was hit: the only acceptable gap is the history
        // older than a new subscription's first page.
        for room in &sim.rooms {
            let st = now_or_never(sim.store.room_state(room.jid.as_str())).unwrap();
            assert!(
                st.gaps.iter().all(|g| g.after_id.is_none()),
                "spurious gap {:?}",
                st.gaps
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("SIM_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(300), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn store_converges_to_the_archive(
        ops in proptest::collection::vec(op(), 0..120),
        quirk in any::<bool>(),
        oversize in any::<bool>(),
        page_size in 1..6usize,
        cap in 3..40usize,
        final_hint in any::<bool>(),
    ) {
        run(ops, quirk, oversize, page_size, cap, final_hint);
    }
}

#[test]
fn new_subscription_fetches_only_the_newest_page() {
    let mut ops: Vec<Op> = (0..10).map(|_| Op::Post(0)).collect();
    ops.push(Op::Connect { hint: true });
    let mut sim_ops = ops.clone();
    sim_ops.extend(std::iter::repeat_n(Op::Step, 20));
    let cfg = ResyncConfig {
        page_size: 3,
        room_cap: 100,
        max_in_flight: 2,
        ..ResyncConfig::default()
    };
    let room = "r@conference.localhost".to_owned();
    let mut sim = Sim::new(&[room], false, false, 0, cfg);
    for op in &sim_ops {
        sim.apply(op);
    }
    let stored = now_or_never(sim.store.events("r@conference.localhost", 100)).unwrap();
    let ids: Vec<_> = stored
        .iter()
        .map(|e| e.message_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["m0-7", "m0-8", "m0-9"]);
    let st = now_or_never(sim.store.room_state("r@conference.localhost")).unwrap();
    assert_eq!(st.gaps.len(), 1);
    assert_eq!(st.gaps[0].after_id, None);
    sim.check();
}

#[test]
fn unknown_cursor_falls_back_to_start_with_a_gap() {
    for quirk in [false, true] {
        let mut ops: Vec<Op> = vec![Op::Post(0), Op::Post(0), Op::Connect { hint: false }];
        ops.extend(std::iter::repeat_n(Op::Step, 5));
        ops.extend([
            Op::Restart,
            Op::Post(0),
            Op::Post(0),
            Op::Post(0),
            Op::Purge(0, 3),
        ]);
        let room = "r@conference.localhost".to_owned();
        let mut sim = Sim::new(&[room], quirk, false, 0, ResyncConfig::default());
        for op in &ops {
            sim.apply(op);
        }
        sim.settle(false);
        sim.check();
        let st = now_or_never(sim.store.room_state("r@conference.localhost")).unwrap();
        assert_eq!(st.gaps.len(), 1, "quirk={quirk}");
        assert!(st.gaps[0].after_id.is_some());
        let stored = now_or_never(sim.store.events("r@conference.localhost", 100)).unwrap();
        let ids: Vec<_> = stored
            .iter()
            .map(|e| e.message_id.clone().unwrap())
            .collect();
        // m0-2 was purged before we saw it: the gap covers it.
        assert_eq!(ids, ["m0-0", "m0-1", "m0-3", "m0-4"], "quirk={quirk}");
    }
}

fn archived(room: &BareJid, qid: &str, id: &str, stamp: i64) -> ArchivedStanza {
    let it = Item {
        id: id.into(),
        stamp,
        msg_id: format!("m-{id}"),
    };
    ArchivedStanza {
        queryid: Some(qid.into()),
        id: id.into(),
        stamp: Some(Timestamp(stamp)),
        message: stanza(room, &it, true),
    }
}

fn query_of(outs: &[ResyncOut]) -> (String, PageFrom) {
    outs.iter()
        .find_map(|o| match o {
            ResyncOut::Query { queryid, from, .. } => Some((queryid.clone(), from.clone())),
            _ => None,
        })
        .expect("a query")
}

/// ejabberd answers an `after` id it does not know with the start of its archive: the
/// engine notices (items older than the cursor) and falls back to a time query.
#[test]
fn restart_from_the_beginning_is_detected_on_forward_pages() {
    let room = BareJid::new("r@conference.localhost").unwrap();
    let mut e = Resync::new(
        ResyncConfig {
            page_size: 2,
            room_cap: 100,
            max_in_flight: 1,

            ..ResyncConfig::default()
        },
        "t",
    );
    e.load([RoomState {
        room: room.to_string(),
        cursor: Some(Cursor {
            id: "a".into(),
            stamp: Timestamp(10),
        }),
        gaps: vec![],
    }]);
    assert!(e.enqueue(room.clone(), None));
    let (q1, from) = query_of(&e.pump());
    assert_eq!(from, PageFrom::Start(Timestamp(10)));
    e.on_result(&room, archived(&room, &q1, "a", 10), Timestamp(0));
    e.on_result(&room, archived(&room, &q1, "b", 11), Timestamp(0));
    let outs = e.on_fin(&q1, FinOutcome::Fin { complete: false }, Timestamp(0));
    assert!(outs.iter().any(
        |o| matches!(o, ResyncOut::Apply(Page { gap: None, cursor: Some(c), .. }) if c.id == "b")
    ));
    let (q2, from) = query_of(&outs);
    assert_eq!(from, PageFrom::After("b".into()));
    // The server forgot "b" and starts over.
    e.on_result(&room, archived(&room, &q2, "z", 5), Timestamp(0));
    e.on_result(&room, archived(&room, &q2, "a", 10), Timestamp(0));
    let outs = e.on_fin(&q2, FinOutcome::Fin { complete: false }, Timestamp(0));
    assert!(outs.iter().any(|o| matches!(
        o,
        ResyncOut::Warn(ResyncWarning::RestartedFromBeginning { .. })
    )));
    assert!(
        !outs.iter().any(|o| matches!(o, ResyncOut::Apply(_))),
        "nothing from the bogus page is stored"
    );
    let (q3, from) = query_of(&outs);
    assert_eq!(from, PageFrom::Start(Timestamp(11)));
    e.on_result(&room, archived(&room, &q3, "c", 12), Timestamp(0));
    let outs = e.on_fin(&q3, FinOutcome::Fin { complete: true }, Timestamp(0));
    let gap = outs.iter().find_map(|o| match o {
        ResyncOut::Apply(p) => p.gap.clone(),
        _ => None,
    });
    assert_eq!(gap.and_then(|g| g.after_id), Some("b".into()));
    assert_eq!(e.cursor(room.as_str()).map(|c| c.id.as_str()), Some("c"));
    assert!(outs
        .iter()
        .any(|o| matches!(o, ResyncOut::RoomDone { ok: true, .. })));
    assert!(e.is_idle());
}

/// A page whose query failed for good is retried on the next run; nothing is written meanwhile.
#[test]
fn failed_queries_end_the_run_without_writes() {
    let room = BareJid::new("r@conference.localhost").unwrap();
    let mut e = Resync::new(ResyncConfig::default(), "t");
    e.enqueue(room.clone(), None);
    let (q, from) = query_of(&e.pump());
    assert_eq!(from, PageFrom::Newest);
    let outs = e.on_fin(&q, FinOutcome::Failed("forbidden".into()), Timestamp(0));
    assert!(outs
        .iter()
        .any(|o| matches!(o, ResyncOut::RoomDone { ok: false, .. })));
    assert!(!outs.iter().any(|o| matches!(o, ResyncOut::Apply(_))));
    assert_eq!(e.cursor(room.as_str()), None);
    assert!(e.is_idle());
    // Late answers for the dead query are ignored.
    assert!(e
        .on_fin(&q, FinOutcome::Fin { complete: true }, Timestamp(0))
        .is_empty());
}

/// A page that timed out is asked again, the same page, after a doubling delay; after
/// `max_attempts` the run ends with an error instead of waiting forever.
#[test]
fn timed_out_pages_are_retried_with_backoff_then_given_up() {
    let room = BareJid::new("r@conference.localhost").unwrap();
    let cfg = ResyncConfig {
        retry_base_ms: 100,
        retry_max_ms: 250,
        max_attempts: 4,
        ..ResyncConfig::default()
    };
    let mut e = Resync::new(cfg, "t");
    e.load([RoomState {
        room: room.to_string(),
        cursor: Some(Cursor {
            id: "a".into(),
            stamp: Timestamp(10),
        }),
        gaps: vec![],
    }]);
    e.enqueue(room.clone(), None);
    let (mut q, first_from) = query_of(&e.pump());
    let mut now = 1_000;
    let mut delays = Vec::new();
    for attempt in 2..=4 {
        let outs = e.on_fin(&q, FinOutcome::Transient("timeout".into()), Timestamp(now));
        assert!(outs.iter().any(|o| matches!(o, ResyncOut::Warn(ResyncWarning::QueryFailed { reason, .. }) if reason == "timeout")));
        let delay = outs
            .iter()
            .find_map(|o| match o {
                ResyncOut::Warn(ResyncWarning::Retrying {
                    attempt: a,
                    delay_ms,
                    ..
                }) => {
                    assert_eq!(*a, attempt);
                    Some(*delay_ms)
                }
                _ => None,
            })
            .expect("a retry is scheduled");
        delays.push(delay);
        assert!(!outs
            .iter()
            .any(|o| matches!(o, ResyncOut::Query { .. } | ResyncOut::RoomDone { .. })));
        assert!(!e.is_idle(), "a room waiting for its retry is not in sync");
        // Another subscription cannot take the waiting room's slot twice.
        assert!(e.enqueue(room.clone(), None));
        assert!(e.pump().is_empty());
        let due = e.next_retry().expect("retry time");
        assert_eq!(due, now + delay as i64);
        assert!(e.retry_due(Timestamp(due - 1)).is_empty());
        let outs = e.retry_due(Timestamp(due));
        let (q2, from) = query_of(&outs);
        assert_eq!(from, first_from, "the same page is asked again");
        assert_ne!(q2, q);
        // The dead query's late answer is ignored.
        assert!(e
            .on_fin(&q, FinOutcome::Fin { complete: true }, Timestamp(due))
            .is_empty());
        q = q2;
        now = due;
    }
    assert_eq!(delays, [100, 200, 250]);
    let outs = e.on_fin(&q, FinOutcome::Transient("timeout".into()), Timestamp(now));
    assert!(outs
        .iter()
        .any(|o| matches!(o, ResyncOut::Warn(ResyncWarning::QueryFailed { .. }))));
    assert!(!outs
        .iter()
        .any(|o| matches!(o, ResyncOut::Warn(ResyncWarning::Retrying { .. }))));
    assert!(outs
        .iter()
        .any(|o| matches!(o, ResyncOut::RoomDone { ok: false, .. })));
    // The enqueue made while it waited runs the room again from its cursor.
    let (_, from) = query_of(&outs);
    assert_eq!(from, PageFrom::Start(Timestamp(10)));
    assert_eq!(e.next_retry(), None);
}

/// A disconnect drops waiting retries along with the queries in flight.
#[test]
fn disconnect_drops_waiting_retries() {
    let room = BareJid::new("r@conference.localhost").unwrap();
    let mut e = Resync::new(ResyncConfig::default(), "t");
    e.enqueue(room.clone(), None);
    let (q, _) = query_of(&e.pump());
    e.on_fin(&q, FinOutcome::Transient("timeout".into()), Timestamp(0));
    assert!(e.next_retry().is_some());
    e.on_disconnect();
    assert!(e.is_idle());
    assert_eq!(e.next_retry(), None);
    assert!(e.retry_due(Timestamp(i64::MAX)).is_empty());
}

/// A forward page that timed out is asked again from the cursor's time: retention may have
/// removed the cursor meanwhile, which an `after` query could not reveal (ejabberd answers
/// an unknown id with the start of its archive).
#[test]
fn timed_out_forward_page_is_retried_from_the_cursor_time() {
    let ops = vec![
        Op::Connect { hint: false },
        Op::Post(0),
        Op::Post(0),
        Op::Step,
        Op::Post(0),
        Op::Post(0),
        Op::Step,
        Op::Connect { hint: false },
        Op::Step,
        Op::TimeOut,
        Op::Purge(0, 2),
        Op::Post(0),
        Op::TimeOut,
        Op::Post(0),
    ];
    run(ops, true, false, 1, 3, false);
}

fn one_room(page_size: usize) -> Sim {
    let cfg = ResyncConfig {
        page_size,
        room_cap: 100,
        max_in_flight: 1,
        ..ResyncConfig::default()
    };
    Sim::new(
        &["r@conference.localhost".to_owned()],
        false,
        false,
        1_000,
        cfg,
    )
}

/// Answers every query in flight, recording where each page started.
fn drain(sim: &mut Sim) -> Vec<PageFrom> {
    let mut froms = Vec::new();
    while let Some((qid, ..)) = sim.in_flight.front() {
        let qid = qid.clone();
        let from = sim
            .engine
            .as_ref()
            .and_then(|e| e.active.get(&qid))
            .map(|a| a.from.clone());
        froms.extend(from);
        sim.step();
    }
    froms
}

/// The cursor shares its millisecond with more than a page of older items (the server
/// stamps in microseconds, `start` has milliseconds): the resume reads on through that
/// millisecond until it meets the cursor, and records no gap.
#[test]
fn resume_reads_through_the_cursor_millisecond() {
    let mut sim = one_room(2);
    // An empty archive first, so the burst below is all fetched forward.
    sim.apply(&Op::Connect { hint: false });
    drain(&mut sim);
    sim.apply(&Op::Post(0));
    for _ in 0..5 {
        sim.apply(&Op::PostSameMs(0));
    }
    sim.apply(&Op::Connect { hint: false });
    drain(&mut sim);
    let burst = sim.rooms[0].full.clone();
    assert_eq!(
        sim.engine
            .as_ref()
            .unwrap()
            .cursor("r@conference.localhost")
            .map(|c| c.id.as_str()),
        Some(burst[5].id.as_str())
    );
    sim.apply(&Op::Restart);
    sim.apply(&Op::Post(0));
    sim.apply(&Op::Connect { hint: false });
    let froms = drain(&mut sim);
    assert_eq!(
        froms,
        [
            PageFrom::Start(ms(burst[5].stamp)),
            PageFrom::After(burst[1].id.clone()),
            PageFrom::After(burst[3].id.clone()),
            PageFrom::After(burst[5].id.clone()),
        ]
    );
    let st = now_or_never(sim.store.room_state("r@conference.localhost")).unwrap();
    assert_eq!(st.gaps, [], "no spurious gap");
    let stored = now_or_never(sim.store.events("r@conference.localhost", 100)).unwrap();
    assert_eq!(stored.len(), 7);
    sim.check();
}

/// Retention removed the cursor, and items of its millisecond that came after it are
/// still archived: the scan ends without meeting the cursor, records the gap and keeps
/// every remaining item once.
#[test]
fn purged_cursor_within_its_millisecond_is_a_gap() {
    for page_size in [1, 2, 3, 10] {
        let mut sim = one_room(page_size);
        sim.apply(&Op::Connect { hint: false });
        drain(&mut sim);
        sim.apply(&Op::Post(0));
        for _ in 0..3 {
            sim.apply(&Op::PostSameMs(0));
        }
        sim.apply(&Op::Connect { hint: false });
        drain(&mut sim);
        sim.apply(&Op::Restart);
        for _ in 0..3 {
            sim.apply(&Op::PostSameMs(0));
        }
        sim.apply(&Op::Purge(0, 4));
        sim.settle(false);
        sim.check();
        let full = &sim.rooms[0].full;
        let st = now_or_never(sim.store.room_state("r@conference.localhost")).unwrap();
        assert_eq!(st.gaps.len(), 1, "page_size={page_size}");
        assert_eq!(st.gaps[0].after_id.as_deref(), Some(full[3].id.as_str()));
        assert_eq!(st.gaps[0].before_id.as_deref(), Some(full[4].id.as_str()));
        let stored = now_or_never(sim.store.events("r@conference.localhost", 100)).unwrap();
        assert_eq!(stored.len(), 7, "page_size={page_size}");
    }
}

/// The per-room cap jumps to a newest page that starts in the cursor's millisecond but
/// not at the cursor: items of that millisecond may lie between, so the gap is recorded
/// (a first item in the same millisecond proves nothing).
#[test]
fn cap_jump_into_the_cursor_millisecond_records_the_gap() {
    use Op::*;
    let mut ops = vec![Post(0), Connect { hint: false }, Step, Step, Restart];
    ops.extend([Post(0), Post(0), Post(0), PostSameMs(0), PostSameMs(0)]);
    ops.extend([PostSameMs(0), Post(0)]);
    // Page size 2, cap 3: the run reads [1, 2], [3, 4], then jumps to [6, 7].
    run(ops, false, false, 2, 3, false);
}

/// Found by the proptest: a resume whose scan of the cursor's millisecond (page size 1,
/// interrupted by a timeout) reaches the per-room cap. It must jump to the newest page,
/// not record the millisecond's older items as new with the cursor moved back onto them.
#[test]
fn cap_reached_inside_the_cursor_millisecond_jumps() {
    use Op::*;
    run(
        vec![
            Connect { hint: false },
            Step,
            Post(0),
            PostSameMs(0),
            Step,
            Post(0),
            Post(0),
            Post(0),
            Connect { hint: false },
            Step,
            Step,
            Post(0),
            PostSameMs(0),
            Step,
            PostSameMs(0),
            PostSameMs(0),
            Step,
            Step,
            Step,
            Disconnect,
            PostSameMs(0),
            Connect { hint: false },
            Step,
            Step,
            TimeOut,
        ],
        false,
        false,
        1,
        3,
        false,
    );
}
