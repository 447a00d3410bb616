//! The client core against a scripted in-memory server, under random schedules: IQ
//! answers delivered in any order, answers lost (the IQ timeout fires), `wait` errors,
//! transport losses, a driver reporting a new connection without the old one's end, and
//! app restarts from the persisted store. Two properties:
//! - liveness: a bound client that is not in sync always has an answer coming or a timer
//!   armed (the native client once sat forever after the subscription list was answered
//!   before the disco query: no IQ pending, no timer, never "synced");
//! - convergence: once the server answers everything, the client reaches "synced" and the
//!   store holds the archive exactly once, in order, apart from the recorded gap older
//!   than a room's first page.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;
use crate::protocol::{ns, Node};
use crate::resync::sim_tests::now_or_never;
use crate::resync::ResyncWarning;
use crate::session::framing::parse_ws_message;
use crate::store::{MemoryStore, Store};

const ROOMS: [&str; 2] = ["r0@conference.localhost", "r1@conference.localhost"];
const SERVICE: &str = "conference.localhost";

fn cfg(page_size: usize) -> ClientConfig {
    let mut c = super::tests::cfg();
    c.resync.page_size = page_size;
    c.resync.max_in_flight = 1;
    c
}

#[derive(Clone, Debug)]
struct Item {
    id: String,
    /// Microseconds, as ejabberd and our server stamp the archive.
    stamp: i64,
}

/// An XEP-0082 stamp with microseconds, as ejabberd writes them.
fn stamp_us(us: i64) -> String {
    let ms = Timestamp(us.div_euclid(1000)).to_xep0082();
    format!("{}{:03}Z", ms.trim_end_matches('Z'), us.rem_euclid(1000))
}

/// What the server does with the request it picks.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Normally,
    /// Never answers (lost with the server's crash, or just stuck).
    Lose,
    /// `<error type='wait'><resource-constraint/></error>`.
    Wait,
}

#[derive(Clone, Debug)]
enum Op {
    Post(usize),
    /// Posts within the current millisecond (a burst the server stamps microseconds apart).
    PostSameMs(usize),
    /// Answer the request at this index (modulo the queue length).
    Serve(usize, Answer),
    /// Time passes; a due timer fires.
    Elapse(i64),
    /// The transport breaks: the server forgets the requests.
    Drop,
    /// The driver connects again without reporting the old connection's end.
    Reconnect,
    /// The app restarts over its store.
    Restart,
    Connect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..2usize).prop_map(Op::Post),
        2 => (0..2usize).prop_map(Op::PostSameMs),
        8 => (0..8usize).prop_map(|i| Op::Serve(i, Answer::Normally)),
        1 => (0..8usize).prop_map(|i| Op::Serve(i, Answer::Lose)),
        1 => (0..8usize).prop_map(|i| Op::Serve(i, Answer::Wait)),
        2 => (1..40_000i64).prop_map(Op::Elapse),
        1 => Just(Op::Drop),
        1 => Just(Op::Reconnect),
        1 => Just(Op::Restart),
        2 => Just(Op::Connect),
    ]
}

struct Sim {
    page_size: usize,
    sync_feature: bool,
    archive: [Vec<Item>; 2],
    clock: i64,
    store: MemoryStore,
    client: Option<Client>,
    connected: bool,
    /// Requests the server has not answered yet.
    requests: VecDeque<Element>,
    /// The driver's timer, as the last `TimerAt` set it.
    timer_at: Option<i64>,
    synced_events: usize,
}

fn child_text(e: &Element, name: &str, ns: &str) -> Option<String> {
    e.get_child(name, ns).map(Element::text)
}

impl Sim {
    fn new(page_size: usize, sync_feature: bool) -> Self {
        let store = MemoryStore::new();
        for room in ROOMS {
            now_or_never(store.put_subscription(&SubscriptionRecord {
                room: room.into(),
                nick: Some("bob".into()),
                nodes: vec![Node::Messages],
            }))
            .unwrap();
        }
        Sim {
            page_size,
            sync_feature,
            archive: [Vec::new(), Vec::new()],
            clock: 1_000_000,
            store,
            client: None,
            connected: false,
            requests: VecDeque::new(),
            timer_at: None,
            synced_events: 0,
        }
    }

    fn client(&mut self) -> &mut Client {
        if self.client.is_none() {
            let snapshot = now_or_never(self.store.load()).unwrap();
            self.client = Some(Client::new(cfg(self.page_size), snapshot));
        }
        self.client.as_mut().unwrap()
    }

    fn input(&mut self, input: Input) {
        let now = Timestamp(self.clock);
        let out = self.client().handle(input, now);
        self.execute(out);
    }

    fn frame(&mut self, xml: &str) {
        self.input(Input::Frame(parse_ws_message(xml).unwrap()));
    }

    fn execute(&mut self, out: Vec<Action>) {
        let mut pep = Vec::new();
        for a in out {
            match a {
                Action::Write(w) if self.connected => {
                    let e: Element = w.parse().unwrap();
                    // Binding is scripted in `connect`; the account's PEP service (read
                    // markers) answers at once and is not what these schedules are about.
                    if e.has_child("pubsub", ns::PUBSUB) {
                        pep.push(e.attr("id").unwrap_or_default().to_owned());
                    } else if e.name() == "iq"
                        && matches!(e.attr("type"), Some("get" | "set"))
                        && e.attr("id") != Some("bind-1")
                    {
                        self.requests.push_back(e);
                    }
                }
                Action::Write(_) | Action::ResetParser | Action::ReconnectIn(_) => {}
                Action::CloseTransport => {
                    self.connected = false;
                    self.requests.clear();
                }
                Action::Store(StoreOp::Apply(page)) => {
                    now_or_never(self.store.apply_page(&page)).unwrap();
                }
                Action::Store(StoreOp::PutSubscription(r)) => {
                    now_or_never(self.store.put_subscription(&r)).unwrap()
                }
                Action::Store(StoreOp::RemoveSubscription(r)) => {
                    now_or_never(self.store.remove_subscription(&r)).unwrap()
                }
                // No other device publishes read markers here.
                Action::Store(StoreOp::ReadUpTo { .. }) => {}
                Action::Event(AppEvent::Synced) => self.synced_events += 1,
                Action::Event(_) => {}
                Action::TimerAt(t) => self.timer_at = Some(t),
            }
        }
        for id in pep {
            self.frame(&format!(
                "<iq xmlns='jabber:client' type='result' id='{id}' from='bob@localhost'/>"
            ));
        }
    }

    /// Transport up, SASL and bind scripted; the client's own requests go to the queue.
    fn connect(&mut self) {
        self.connected = true;
        self.requests.clear();
        self.input(Input::Connected);
        let open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";
        self.frame(open);
        self.frame("<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></features>");
        self.frame("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        self.frame(open);
        self.frame("<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></features>");
        self.frame("<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>bob@localhost/r</jid></bind></iq>");
        assert!(self.client().is_ready());
    }

    fn room_index(&self, to: &str) -> Option<usize> {
        ROOMS.iter().position(|r| *r == to)
    }

    /// The server's answer to one request: stanzas in the order they go out.
    fn answer(&self, req: &Element) -> Vec<String> {
        let id = req.attr("id").unwrap_or_default();
        let to = req.attr("to").unwrap_or_default();
        if req.has_child("query", ns::DISCO_INFO) {
            let sync = if self.sync_feature {
                format!("<feature var='{}'/>", ns::MUCSUB_SYNC)
            } else {
                String::new()
            };
            return vec![format!("<iq xmlns='jabber:client' type='result' id='{id}' from='{SERVICE}'><query xmlns='{}'><feature var='urn:xmpp:mucsub:0'/>{sync}</query></iq>", ns::DISCO_INFO)];
        }
        if req.has_child("subscriptions", ns::MUCSUB) && to == SERVICE {
            let items: String = ROOMS
                .iter()
                .zip(&self.archive)
                .map(|(room, arch)| {
                    let end = arch
                        .last()
                        .map(|i| {
                            format!(
                                "<end xmlns='{}' id='{}' stamp='{}'/>",
                                ns::MUCSUB_SYNC,
                                i.id,
                                stamp_us(i.stamp)
                            )
                        })
                        .unwrap_or_default();
                    format!("<subscription jid='{room}' nick='bob'><event node='urn:xmpp:mucsub:nodes:messages'/>{end}</subscription>")
                })
                .collect();
            return vec![format!("<iq xmlns='jabber:client' type='result' id='{id}' from='{SERVICE}'><subscriptions xmlns='urn:xmpp:mucsub:0'>{items}</subscriptions></iq>")];
        }
        let (Some(r), Some(q)) = (self.room_index(to), req.get_child("query", ns::MAM)) else {
            panic!("the client sent an unexpected request: {req:?}");
        };
        let arch = &self.archive[r];
        let qid = q.attr("queryid").unwrap_or_default();
        let set = q.get_child("set", ns::RSM);
        let max = set
            .and_then(|s| child_text(s, "max", ns::RSM))
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        let after = set.and_then(|s| child_text(s, "after", ns::RSM));
        let before = set.and_then(|s| child_text(s, "before", ns::RSM));
        let start = q
            .get_child("x", ns::DATA_FORMS)
            .and_then(|x| x.children().find(|f| f.attr("var") == Some("start")))
            .and_then(|f| f.children().next().map(Element::text))
            .map(|t| Timestamp::parse(&t).expect("a valid start").0);
        let (page, complete): (&[Item], bool) = if let Some(a) = after {
            let Some(p) = arch.iter().position(|i| i.id == a) else {
                return vec![format!("<iq xmlns='jabber:client' type='error' id='{id}' from='{to}'><error type='cancel'><item-not-found xmlns='{}'/></error></iq>", ns::XMPP_STANZAS)];
            };
            let rest = &arch[p + 1..];
            (&rest[..rest.len().min(max)], rest.len() <= max)
        } else if before.as_deref() == Some("") {
            let n = arch.len().min(max);
            (&arch[arch.len() - n..], arch.len() <= max)
        } else {
            // `start` has millisecond precision: its whole millisecond matches.
            let from = start.map_or(0, |t| {
                arch.iter().take_while(|i| i.stamp < t * 1000).count()
            });
            let rest = &arch[from..];
            (&rest[..rest.len().min(max)], rest.len() <= max)
        };
        let mut out: Vec<String> = page
            .iter()
            .map(|i| {
                format!("<message xmlns='jabber:client' from='{to}' to='bob@localhost/r'><result xmlns='urn:xmpp:mam:2' queryid='{qid}' id='{}'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='{}'/><message xmlns='jabber:client' from='{to}/alice' type='groupchat' id='m-{}'><body>{}</body></message></forwarded></result></message>", i.id, stamp_us(i.stamp), i.id, i.id)
            })
            .collect();
        let last = page
            .last()
            .map(|i| format!("<last>{}</last>", i.id))
            .unwrap_or_default();
        out.push(format!("<iq xmlns='jabber:client' type='result' id='{id}' from='{to}'><fin xmlns='urn:xmpp:mam:2' complete='{complete}'><set xmlns='{}'>{last}</set></fin></iq>", ns::RSM));
        out
    }

    fn serve(&mut self, i: usize, how: Answer) {
        if self.requests.is_empty() {
            return;
        }
        let req = self.requests.remove(i % self.requests.len()).unwrap();
        let replies = match how {
            Answer::Normally => self.answer(&req),
            Answer::Lose => Vec::new(),
            Answer::Wait => vec![format!(
                "<iq xmlns='jabber:client' type='error' id='{}' from='{}'><error type='wait'><resource-constraint xmlns='{}'/></error></iq>",
                req.attr("id").unwrap_or_default(),
                req.attr("to").unwrap_or_default(),
                ns::XMPP_STANZAS
            )],
        };
        for r in replies {
            if !self.connected {
                break;
            }
            self.frame(&r);
        }
    }

    /// Answer the connect-time questions (service disco, list, the rooms' disco#info)
    /// until the first request is an archive query.
    fn serve_to_first_page(&mut self) {
        while self
            .requests
            .front()
            .is_some_and(|r| !r.has_child("query", ns::MAM))
        {
            self.apply(&Op::Serve(0, Answer::Normally));
        }
    }

    fn elapse(&mut self, ms: i64) {
        self.clock += ms;
        if self.connected && self.timer_at.is_some_and(|t| t <= self.clock) {
            self.timer_at = None;
            self.input(Input::Tick);
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Post(r) | Op::PostSameMs(r) => {
                if matches!(op, Op::Post(_)) {
                    self.clock += 1;
                }
                let stamp = self
                    .archive
                    .iter()
                    .filter_map(|a| a.last())
                    .map(|i| i.stamp + 1)
                    .fold(self.clock * 1000, i64::max);
                let n = self.archive[*r].len();
                self.archive[*r].push(Item {
                    // Opaque ids: nothing may compare them.
                    id: format!("{:x}{r}", (n as u64 * 7919) % 10_007 + 100_000 * n as u64),
                    stamp,
                });
            }
            Op::Serve(i, how) if self.connected => self.serve(*i, *how),
            Op::Serve(..) => {}
            Op::Elapse(ms) => self.elapse(*ms),
            Op::Drop if self.connected => {
                self.connected = false;
                self.requests.clear();
                self.input(Input::Disconnected(Some("reset".into())));
            }
            Op::Drop => {}
            Op::Reconnect if self.connected => self.connect(),
            Op::Reconnect => {}
            Op::Restart => {
                self.client = None;
                self.connected = false;
                self.requests.clear();
                self.timer_at = None;
            }
            Op::Connect if !self.connected => self.connect(),
            Op::Connect => {}
        }
        self.assert_live();
    }

    fn assert_live(&mut self) {
        let connected = self.connected;
        let Some(c) = self.client.as_ref() else {
            return;
        };
        if connected && c.is_ready() && !c.is_synced() {
            assert!(
                !self.requests.is_empty() || self.timer_at.is_some(),
                "not in sync, with no request out and no timer armed"
            );
        }
    }

    /// Stay connected and answer everything until the client is in sync.
    fn settle(&mut self) {
        if self.connected {
            self.apply(&Op::Drop);
        }
        self.apply(&Op::Connect);
        let before = self.synced_events;
        for _ in 0..10_000 {
            self.assert_live();
            if self.client().is_synced() {
                assert!(
                    self.synced_events > before,
                    "synced without telling the app"
                );
                return;
            }
            if !self.requests.is_empty() {
                self.serve(0, Answer::Normally);
            } else if let Some(t) = self.timer_at {
                self.elapse((t - self.clock).max(0));
            } else {
                panic!("not in sync, with no request out and no timer armed");
            }
        }
        panic!("the client never reached sync");
    }

    /// Answer everything on the current connection until in sync; no reconnect.
    fn settle_connected(&mut self) {
        for _ in 0..1_000 {
            self.assert_live();
            if self.client().is_synced() {
                return;
            }
            assert!(
                !self.requests.is_empty(),
                "not in sync and nothing asked of the server"
            );
            self.serve(0, Answer::Normally);
        }
        panic!("the client never reached sync");
    }

    fn check(&self) {
        for (room, arch) in ROOMS.iter().zip(&self.archive) {
            let stored = now_or_never(self.store.events(room, usize::MAX)).unwrap();
            let state = now_or_never(self.store.room_state(room)).unwrap();
            let ids: Vec<&str> = stored
                .iter()
                .map(|e| {
                    e.stanza_id
                        .as_deref()
                        .expect("archived events keep their id")
                })
                .collect();
            let want: Vec<&str> = arch
                .iter()
                .map(|i| i.id.as_str())
                .filter(|id| ids.contains(id))
                .collect();
            assert_eq!(ids, want, "{room}: duplicates or out of archive order");
            assert!(
                state.gaps.iter().all(|g| g.after_id.is_none()),
                "{room}: only history older than the first page may be missing: {:?}",
                state.gaps
            );
            let pos = |id: &str| arch.iter().position(|i| i.id == id);
            for i in arch {
                // Before the gap's end in the archive; by time only where the millisecond
                // stamps tell them apart.
                let in_gap = state.gaps.iter().any(|g| {
                    g.before_id.as_deref().is_some_and(|b| pos(&i.id) < pos(b))
                        || g.before_stamp
                            .is_some_and(|b| i.stamp.div_euclid(1000) < b.0)
                });
                assert!(
                    ids.contains(&i.id.as_str()) || in_gap,
                    "{room}: {} is neither stored nor in a recorded gap",
                    i.id
                );
            }
            if let Some(last) = arch.last() {
                assert_eq!(
                    state.cursor.as_ref().map(|c| c.id.as_str()),
                    Some(last.id.as_str()),
                    "{room}: the cursor is the newest archived id"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("SIM_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(300), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_never_stall_and_converge(
        ops in proptest::collection::vec(op(), 0..100),
        page_size in 1..5usize,
        sync_feature in any::<bool>(),
    ) {
        let mut sim = Sim::new(page_size, sync_feature);
        for op in &ops {
            sim.apply(op);
        }
        sim.settle();
        sim.check();
    }
}

/// The hang the reliability test found, replayed: on a reconnect the subscription list
/// came back before the disco answer, the core dropped the list, and with nothing pending
/// and no timer it never reached "synced".
#[test]
fn list_answered_before_disco_still_syncs() {
    for sync_feature in [true, false] {
        let mut sim = Sim::new(10, sync_feature);
        for r in [0, 1, 0] {
            sim.apply(&Op::Post(r));
        }
        sim.settle();
        sim.apply(&Op::Drop);
        sim.apply(&Op::Connect);
        let order: Vec<bool> = sim
            .requests
            .iter()
            .map(|r| r.has_child("query", ns::DISCO_INFO))
            .collect();
        assert_eq!(order, [true, false], "disco first, then the list");
        let synced = sim.synced_events;
        // The list first.
        sim.apply(&Op::Serve(1, Answer::Normally));
        assert!(!sim.client().is_synced());
        sim.apply(&Op::Serve(0, Answer::Normally));
        if sync_feature {
            // The hints equal the stored cursors: nothing to fetch.
            assert!(sim.requests.is_empty(), "{:?}", sim.requests);
            assert!(sim.client().is_synced());
            assert_eq!(sim.synced_events, synced + 1);
        }
        sim.settle_connected();
        sim.check();
    }
}

/// A lost MAM answer fails the page at the IQ timeout, tells the app, and the same page is
/// asked again after the retry delay; the client then reaches sync on the same connection.
#[test]
fn lost_page_is_retried_after_the_timeout_and_reported() {
    let mut sim = Sim::new(2, true);
    for _ in 0..5 {
        sim.apply(&Op::Post(0));
    }
    sim.apply(&Op::Connect);
    sim.serve_to_first_page();
    let q = sim.requests[0].clone();
    assert!(q.has_child("query", ns::MAM));
    sim.apply(&Op::Serve(0, Answer::Lose));
    let deadline = sim.timer_at.expect("the IQ timeout is armed");
    sim.clock = deadline;
    let out = sim.client().handle(Input::Tick, Timestamp(deadline));
    assert!(out.iter().any(|a| matches!(a,
        Action::Event(AppEvent::Warning(ClientWarning::Resync(ResyncWarning::QueryFailed { room, reason })))
            if room == ROOMS[0] && reason == "timeout")));
    let delay = out
        .iter()
        .find_map(|a| match a {
            Action::Event(AppEvent::Warning(ClientWarning::Resync(ResyncWarning::Retrying {
                attempt: 2,
                delay_ms,
                ..
            }))) => Some(*delay_ms),
            _ => None,
        })
        .expect("a retry is announced");
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::TimerAt(t) if *t == deadline + delay as i64)));
    assert!(!out.iter().any(|a| matches!(a, Action::Write(_))));
    sim.execute(out);
    assert!(!sim.client().is_synced());
    sim.apply(&Op::Elapse(delay as i64));
    let again = sim.requests.back().expect("the page is asked again");
    let page = |e: &Element| {
        e.get_child("query", ns::MAM)
            .map(|q| q.children().cloned().collect::<Vec<_>>())
    };
    assert_eq!(page(again), page(&q), "the same page");
    sim.settle_connected();
    sim.check();
}

/// A driver that reports a new connection while the old one still had a page in flight:
/// the stale query is dropped and the new connection syncs by itself.
#[test]
fn new_connection_without_the_old_ones_end_does_not_wait_for_stale_pages() {
    let mut sim = Sim::new(2, true);
    for _ in 0..5 {
        sim.apply(&Op::Post(1));
    }
    sim.apply(&Op::Connect);
    sim.serve_to_first_page();
    assert!(sim.requests.iter().any(|r| r.has_child("query", ns::MAM)));
    sim.apply(&Op::Reconnect);
    sim.settle_connected();
    sim.check();
}

/// The reload-crash e2e case, scripted: the cursor is the last of a burst longer than a
/// page within one millisecond; after an app restart the resume (`start` = the cursor's
/// millisecond) reads through the burst instead of recording a gap.
#[test]
fn resume_after_a_burst_in_one_millisecond_records_no_gap() {
    for sync_feature in [true, false] {
        let mut sim = Sim::new(3, sync_feature);
        sim.settle();
        sim.apply(&Op::Post(0));
        for _ in 0..7 {
            sim.apply(&Op::PostSameMs(0));
        }
        sim.settle();
        sim.check();
        sim.apply(&Op::Restart);
        sim.apply(&Op::Post(0));
        sim.settle();
        sim.check();
        let stored = now_or_never(sim.store.events(ROOMS[0], usize::MAX)).unwrap();
        assert_eq!(stored.len(), 9, "sync_feature={sync_feature}");
    }
}
