//! Property tests of the resync engine against a simulated room archive: random
//! interleavings of posts, live deliveries, pages, disconnects, app restarts from the
//! persisted store, purged (unknown) cursor ids, the restart-from-the-beginning quirk and
//! oversized pages. Whatever happens, once the client finally stays connected the store
//! holds every archived message exactly once (minus the recorded gaps), in archive order.

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

/// MemoryStore futures never wait, so polling once is enough.
fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("memory store future pending"),
    }
}

#[derive(Clone, Debug)]
struct Item {
    id: String,
    stamp: i64,
    msg_id: String,
}

#[derive(Clone, Debug)]
enum Op {
    Post(usize),
    DeliverLive { with_sid: bool },
    Step,
    Disconnect,
    Restart,
    Connect { hint: bool },
    Purge(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize).prop_map(Op::Post),
        2 => any::<bool>().prop_map(|with_sid| Op::DeliverLive { with_sid }),
        6 => Just(Op::Step),
        1 => Just(Op::Disconnect),
        1 => Just(Op::Restart),
        2 => any::<bool>().prop_map(|hint| Op::Connect { hint }),
        1 => (0..2usize, 1..4usize).prop_map(|(r, n)| Op::Purge(r, n)),
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
            PageFrom::Start(t) => {
                let rest: Vec<&Item> = arch.iter().filter(|i| i.stamp >= t.0).collect();
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
                stamp: Some(Timestamp(it.stamp)),
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
                ResyncOut::Apply {
                    room,
                    events,
                    cursor,
                    gap,
                } => {
                    if std::env::var("SIM_DEBUG").is_ok() {
                        eprintln!("apply {room} n={} {cursor:?} {gap:?}", events.len());
                    }
                    now_or_never(self.store.apply_page(
                        &room,
                        &events,
                        cursor.as_ref(),
                        gap.as_ref(),
                    ))
                    .unwrap();
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
        outs.extend(engine.on_fin(&qid, fin));
        self.execute(outs);
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
                    stamp: Timestamp(i.stamp),
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
            Op::Post(r) => {
                self.clock += 1;
                let n = self.rooms[*r].full.len();
                let it = Item {
                    // Opaque, non-monotonic ids: the engine must not compare them.
                    id: format!("{:x}-{r}", (n as u64 * 7919) % 10007 + 1_000_000 * n as u64),
                    stamp: self.clock,
                    msg_id: format!("m{r}-{n}"),
                };
                self.rooms[*r].full.push(it.clone());
                if self.engine.is_some() {
                    self.live.push_back((*r, it));
                }
            }
            Op::DeliverLive { with_sid } => {
                if let (Some((r, it)), Some(_)) = (self.live.pop_front(), self.engine.as_ref()) {
                    let room = &self.rooms[r].jid;
                    let m = stanza(room, &it, *with_sid);
                    let mut ev = RoomEvent::from_joined(&m, Timestamp(it.stamp)).unwrap();
                    ev.source = Source::Live;
                    now_or_never(self.store.apply_page(room.as_str(), &[ev], None, None)).unwrap();
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
        }
    }

    fn settle(&mut self, hint: bool) {
        self.connect(hint);
        let mut guard = 0;
        while !self.in_flight.is_empty() {
            self.step();
            guard += 1;
            assert!(guard < 10_000, "resync does not terminate");
        }
        assert!(self.engine.as_ref().unwrap().is_idle());
    }

    fn check(&self) {
        for (r, room) in self.rooms.iter().enumerate() {
            let stored = now_or_never(self.store.events(room.jid.as_str(), usize::MAX)).unwrap();
            let state = now_or_never(self.store.room_state(room.jid.as_str())).unwrap();
            let in_gap = |stamp: i64| {
                state.gaps.iter().any(|g| {
                    g.after_stamp.is_none_or(|a| a.0 < stamp)
                        && g.before_stamp.is_none_or(|b| stamp < b.0)
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
                        in_gap(it.stamp),
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
    let posts = ops.iter().filter(|o| matches!(o, Op::Post(_))).count();
    let mut sim = Sim {
        rooms: (0..2)
            .map(|i| SimRoom {
                jid: BareJid::new(&format!("room{i}@conference.localhost")).unwrap(),
                full: Vec::new(),
                purged: 0,
                never_seen: Vec::new(),
            })
            .collect(),
        quirk,
        oversize,
        clock: 1_000,
        store: MemoryStore::new(),
        engine: None,
        generation: 0,
        cfg: ResyncConfig {
            page_size,
            room_cap: cap,
            max_in_flight: 1,
        },
        in_flight: VecDeque::new(),
        live: VecDeque::new(),
    };
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
    let mut sim = Sim {
        rooms: vec![SimRoom {
            jid: BareJid::new("r@conference.localhost").unwrap(),
            full: Vec::new(),
            purged: 0,
            never_seen: Vec::new(),
        }],
        quirk: false,
        oversize: false,
        clock: 0,
        store: MemoryStore::new(),
        engine: None,
        generation: 0,
        cfg: ResyncConfig {
            page_size: 3,
            room_cap: 100,
            max_in_flight: 2,
        },
        in_flight: VecDeque::new(),
        live: VecDeque::new(),
    };
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
        let mut sim = Sim {
            rooms: vec![SimRoom {
                jid: BareJid::new("r@conference.localhost").unwrap(),
                full: Vec::new(),
                purged: 0,
                never_seen: Vec::new(),
            }],
            quirk,
            oversize: false,
            clock: 0,
            store: MemoryStore::new(),
            engine: None,
            generation: 0,
            cfg: ResyncConfig::default(),
            in_flight: VecDeque::new(),
            live: VecDeque::new(),
        };
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
    let outs = e.on_fin(&q1, FinOutcome::Fin { complete: false });
    assert!(outs
        .iter()
        .any(|o| matches!(o, ResyncOut::Apply { gap: None, cursor: Some(c), .. } if c.id == "b")));
    let (q2, from) = query_of(&outs);
    assert_eq!(from, PageFrom::After("b".into()));
    // The server forgot "b" and starts over.
    e.on_result(&room, archived(&room, &q2, "z", 5), Timestamp(0));
    e.on_result(&room, archived(&room, &q2, "a", 10), Timestamp(0));
    let outs = e.on_fin(&q2, FinOutcome::Fin { complete: false });
    assert!(outs.iter().any(|o| matches!(
        o,
        ResyncOut::Warn(ResyncWarning::RestartedFromBeginning { .. })
    )));
    assert!(
        !outs.iter().any(|o| matches!(o, ResyncOut::Apply { .. })),
        "nothing from the bogus page is stored"
    );
    let (q3, from) = query_of(&outs);
    assert_eq!(from, PageFrom::Start(Timestamp(11)));
    e.on_result(&room, archived(&room, &q3, "c", 12), Timestamp(0));
    let outs = e.on_fin(&q3, FinOutcome::Fin { complete: true });
    let gap = outs.iter().find_map(|o| match o {
        ResyncOut::Apply { gap, .. } => gap.clone(),
        _ => None,
    });
    assert_eq!(gap.and_then(|g| g.after_id), Some("b".into()));
    assert_eq!(e.cursor(room.as_str()).map(|c| c.id.as_str()), Some("c"));
    assert!(outs
        .iter()
        .any(|o| matches!(o, ResyncOut::RoomDone { ok: true, .. })));
    assert!(e.is_idle());
}

/// A page whose query failed is retried on the next run; nothing is written meanwhile.
#[test]
fn failed_queries_end_the_run_without_writes() {
    let room = BareJid::new("r@conference.localhost").unwrap();
    let mut e = Resync::new(ResyncConfig::default(), "t");
    e.enqueue(room.clone(), None);
    let (q, from) = query_of(&e.pump());
    assert_eq!(from, PageFrom::Newest);
    let outs = e.on_fin(&q, FinOutcome::Failed("timeout".into()));
    assert!(outs
        .iter()
        .any(|o| matches!(o, ResyncOut::RoomDone { ok: false, .. })));
    assert!(!outs.iter().any(|o| matches!(o, ResyncOut::Apply { .. })));
    assert_eq!(e.cursor(room.as_str()), None);
    // Late answers for the dead query are ignored.
    assert!(e.on_fin(&q, FinOutcome::Fin { complete: true }).is_empty());
}
