//! The tab protocol against a simulated browser: tabs on one channel (every post reaches
//! every other open tab, in order) and one lock (granted in request order; a closed or
//! crashed holder releases it).

use std::collections::VecDeque;

use super::{Call, Effect, Failure, Role, Tabs, Wire};

/// A call: its name; `send…` is not safe to repeat, `connect` asks for the connection.
#[derive(Debug, Clone, PartialEq)]
struct C(&'static str);

impl Call for C {
    fn retry_safe(&self) -> bool {
        !self.0.starts_with("send")
    }
    fn connects(&self) -> bool {
        self.0 == "connect"
    }
}

type V = String;

/// One tab and what its app observed.
struct Tab {
    tabs: Tabs<C, V>,
    open: bool,
    /// Results delivered to this tab's callers, by request id.
    results: Vec<(u64, Result<V, Failure>)>,
    /// `event` callbacks fired here.
    events: Vec<String>,
    states: Vec<String>,
    roles: Vec<Role>,
    /// Calls this tab ran as leader (its own and followers'), in order.
    ran: Vec<&'static str>,
    /// Followers' calls waiting to be served: (from, req, call).
    serving: Vec<(String, u64, C)>,
    connects: usize,
}

/// The simulated browser.
struct Browser {
    tabs: Vec<Tab>,
    /// Posts in flight: (sender index, message).
    channel: VecDeque<(usize, Wire<C, V>)>,
    /// Tabs waiting for the lock, in request order; the holder.
    lock_queue: VecDeque<usize>,
    holder: Option<usize>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            tabs: Vec::new(),
            channel: VecDeque::new(),
            lock_queue: VecDeque::new(),
            holder: None,
        }
    }

    /// Open a tab: it says hello and asks for the lock (`ifAvailable`, then waits).
    fn open_tab(&mut self) -> usize {
        let i = self.tabs.len();
        let tabs = Tabs::new(format!("tab{i}"));
        let effects = tabs.start();
        self.tabs.push(Tab {
            tabs,
            open: true,
            results: Vec::new(),
            events: Vec::new(),
            states: Vec::new(),
            roles: Vec::new(),
            ran: Vec::new(),
            serving: Vec::new(),
            connects: 0,
        });
        self.perform(i, effects);
        let granted = self.holder.is_none();
        if granted {
            self.holder = Some(i);
        } else {
            self.lock_queue.push_back(i);
        }
        let effects = self.tabs[i].tabs.lock_granted(granted);
        self.perform(i, effects);
        self.settle();
        i
    }

    fn perform(&mut self, i: usize, effects: Vec<Effect<C, V>>) {
        for e in effects {
            let tab = &mut self.tabs[i];
            match e {
                Effect::Post(w) => self.channel.push_back((i, w)),
                Effect::Run { req, call } => {
                    tab.ran.push(call.0);
                    tab.results.push((req, Ok(format!("{} by tab{i}", call.0))));
                }
                Effect::Serve { from, req, call } => tab.serving.push((from, req, call)),
                Effect::Deliver { req, result } => tab.results.push((req, result)),
                Effect::Emit { name, value } => {
                    assert_eq!(name, "event");
                    tab.events.push(value);
                }
                Effect::State(s) => tab.states.push(s),
                Effect::Role(r) => tab.roles.push(r),
                Effect::Connect => tab.connects += 1,
            }
        }
    }

    /// Deliver every post in flight, in order, to every other open tab.
    fn settle(&mut self) {
        while let Some((from, w)) = self.channel.pop_front() {
            for i in 0..self.tabs.len() {
                if i != from && self.tabs[i].open {
                    let effects = self.tabs[i].tabs.receive(w.clone());
                    self.perform(i, effects);
                }
            }
        }
    }

    /// Tab `i`'s app calls `name`; returns the request id.
    fn call(&mut self, i: usize, name: &'static str) -> u64 {
        let (req, effects) = self.tabs[i].tabs.call(C(name));
        self.perform(i, effects);
        self.settle();
        req
    }

    /// The leader `i` runs the followers' calls it received.
    fn serve(&mut self, i: usize) {
        for (from, req, call) in std::mem::take(&mut self.tabs[i].serving) {
            self.tabs[i].ran.push(call.0);
            let effects = self.tabs[i]
                .tabs
                .served(from, req, Ok(format!("{} by tab{i}", call.0)));
            self.perform(i, effects);
        }
        self.settle();
    }

    /// The leader's client stored and reports an event.
    fn event(&mut self, i: usize, body: &str) {
        self.tabs[i].events.push(body.to_owned());
        let effects = self.tabs[i].tabs.local_event("event", body.to_owned());
        self.perform(i, effects);
        self.settle();
    }

    fn state(&mut self, i: usize, state: &str) {
        let effects = self.tabs[i].tabs.local_state(state);
        self.perform(i, effects);
        self.settle();
    }

    /// Tab `i` goes away: `close()` (its app closed the client) or a crash (nothing runs
    /// any more). Either way its lock goes to the next waiting tab.
    fn gone(&mut self, i: usize, crashed: bool) {
        if !crashed {
            let effects = self.tabs[i].tabs.close();
            self.perform(i, effects);
        }
        self.settle();
        self.tabs[i].open = false;
        self.lock_queue.retain(|&t| t != i);
        if self.holder == Some(i) {
            self.holder = self.lock_queue.pop_front();
            if let Some(next) = self.holder {
                let effects = self.tabs[next].tabs.lock_granted(true);
                self.perform(next, effects);
            }
        }
        self.settle();
    }

    fn result(&self, i: usize, req: u64) -> Option<&Result<V, Failure>> {
        self.tabs[i]
            .results
            .iter()
            .find(|(r, _)| *r == req)
            .map(|(_, v)| v)
    }
}

#[test]
fn the_first_tab_leads_and_runs_its_calls_itself() {
    let mut b = Browser::new();
    let a = b.open_tab();
    assert_eq!(b.tabs[a].tabs.role(), Role::Leader);
    assert_eq!(b.tabs[a].roles, [Role::Leader]);
    let req = b.call(a, "subscribe");
    assert_eq!(b.result(a, req), Some(&Ok("subscribe by tab0".into())));
    // Nobody follows: nothing is broadcast.
    assert!(!b.tabs[a].tabs.followed());
    b.event(a, "m1");
    assert!(b.channel.is_empty());
}

#[test]
fn a_followers_call_runs_on_the_leader_and_its_result_comes_back() {
    let mut b = Browser::new();
    let a = b.open_tab();
    let f = b.open_tab();
    assert_eq!(b.tabs[f].tabs.role(), Role::Follower);
    assert_eq!(b.tabs[f].roles, [Role::Follower]);
    let req = b.call(f, "markRead");
    assert_eq!(b.result(f, req), None, "waits for the leader");
    b.serve(a);
    assert_eq!(b.result(f, req), Some(&Ok("markRead by tab0".into())));
    assert_eq!(b.tabs[a].ran, ["markRead"]);
    assert!(b.tabs[f].ran.is_empty(), "the follower runs nothing itself");
}

#[test]
fn every_tab_sees_each_leader_event_once_in_the_leaders_order() {
    let mut b = Browser::new();
    let a = b.open_tab();
    let f1 = b.open_tab();
    let f2 = b.open_tab();
    for m in ["m1", "m2", "m3"] {
        b.event(a, m);
    }
    for t in [a, f1, f2] {
        assert_eq!(b.tabs[t].events, ["m1", "m2", "m3"], "tab{t}");
    }
}

#[test]
fn followers_learn_the_connection_state_once_per_change() {
    let mut b = Browser::new();
    let a = b.open_tab();
    b.state(a, "connecting");
    b.state(a, "online");
    // A tab opened later hears the current state in the leader's answer to its hello.
    let f = b.open_tab();
    assert_eq!(b.tabs[f].states, ["online"]);
    b.state(a, "reconnecting");
    assert_eq!(b.tabs[f].states, ["online", "reconnecting"]);
}

#[test]
fn calls_made_before_the_leader_is_known_wait_and_then_go_to_it() {
    // A follower whose hello is not answered yet (the leader's reply is still in flight).
    let mut f: Tabs<C, V> = Tabs::new("f".into());
    let hello = f.start();
    assert_eq!(hello, vec![Effect::Post(Wire::Hello { from: "f".into() })]);
    assert_eq!(f.lock_granted(false), vec![Effect::Role(Role::Follower)]);
    let (req, effects) = f.call(C("subscribe"));
    assert!(effects.is_empty(), "{effects:?}");
    let effects = f.receive(Wire::Leader {
        from: "l".into(),
        state: None,
    });
    assert_eq!(
        effects,
        vec![Effect::Post(Wire::Request {
            from: "f".into(),
            to: "l".into(),
            req,
            call: C("subscribe"),
        })]
    );
    // An answer from another tab than the one asked is not taken for it.
    let stray = f.receive(Wire::Response {
        from: "x".into(),
        to: "f".into(),
        req,
        result: Ok("wrong".into()),
    });
    assert!(stray.is_empty());
    let effects = f.receive(Wire::Response {
        from: "l".into(),
        to: "f".into(),
        req,
        result: Ok("ok".into()),
    });
    assert_eq!(
        effects,
        vec![Effect::Deliver {
            req,
            result: Ok("ok".into())
        }]
    );
}

#[test]
fn a_leader_serves_only_requests_addressed_to_it() {
    let mut l: Tabs<C, V> = Tabs::alone("l".into());
    let other = l.receive(Wire::Request {
        from: "f".into(),
        to: "old".into(),
        req: 1,
        call: C("subscribe"),
    });
    assert!(other.is_empty());
    let mine = l.receive(Wire::Request {
        from: "f".into(),
        to: "l".into(),
        req: 1,
        call: C("subscribe"),
    });
    assert_eq!(
        mine,
        vec![Effect::Serve {
            from: "f".into(),
            req: 1,
            call: C("subscribe")
        }]
    );
}

#[test]
fn when_the_leader_crashes_the_next_tab_leads_connects_and_reruns_safe_calls() {
    let mut b = Browser::new();
    let a = b.open_tab();
    let f1 = b.open_tab();
    let f2 = b.open_tab();
    b.state(a, "online");
    // In flight when the leader dies: a subscribe and a send from each follower.
    let sub1 = b.call(f1, "subscribe");
    let send1 = b.call(f1, "send-1");
    let sub2 = b.call(f2, "subscribe");
    let send2 = b.call(f2, "send-2");
    b.gone(a, true);

    // f1 asked for the lock first: it leads and connects (the account was online).
    assert_eq!(b.tabs[f1].tabs.role(), Role::Leader);
    assert_eq!(b.tabs[f1].roles, [Role::Follower, Role::Leader]);
    assert_eq!(b.tabs[f1].connects, 1);
    assert_eq!(b.tabs[f2].tabs.role(), Role::Follower);
    assert_eq!(b.tabs[f2].connects, 0);
    // Its own subscribe ran again locally, f2's went to it; both sends failed clearly.
    assert_eq!(b.result(f1, sub1), Some(&Ok("subscribe by tab1".into())));
    b.serve(f1);
    assert_eq!(b.result(f2, sub2), Some(&Ok("subscribe by tab1".into())));
    for (t, req) in [(f1, send1), (f2, send2)] {
        let failed = b.result(t, req).expect("the send is answered").clone();
        assert_eq!(failed.unwrap_err().code, "network", "tab{t}");
    }
    // Events of the new leader reach the remaining follower.
    b.event(f1, "m9");
    assert_eq!(b.tabs[f2].events, ["m9"]);
}

#[test]
fn a_call_not_yet_sent_at_hand_off_is_sent_to_the_next_leader_even_if_unsafe() {
    let mut b = Browser::new();
    let a = b.open_tab();
    let f1 = b.open_tab();
    let f2 = b.open_tab();
    b.gone(a, true);
    // f2 learnt of f1 from its announcement: a send now goes there and succeeds.
    let send = b.call(f2, "send-x");
    b.serve(f1);
    assert_eq!(b.result(f2, send), Some(&Ok("send-x by tab1".into())));
}

#[test]
fn a_closing_leader_answers_nothing_more_and_the_call_is_retried_on_the_next() {
    let mut b = Browser::new();
    let a = b.open_tab();
    let f = b.open_tab();
    let req = b.call(f, "history");
    // The leader's app closes the client while the call runs; its late result is dropped.
    let (from, r, call) = b.tabs[a].serving.pop().expect("served");
    b.gone(a, false);
    let late = b.tabs[a]
        .tabs
        .served(from, r, Ok(format!("{} late", call.0)));
    assert!(late.is_empty());
    // f leads now and ran the call itself.
    assert_eq!(b.tabs[f].tabs.role(), Role::Leader);
    assert_eq!(b.result(f, req), Some(&Ok("history by tab1".into())));
}

#[test]
fn a_leader_that_never_went_online_does_not_make_the_next_one_connect() {
    let mut b = Browser::new();
    let a = b.open_tab();
    let f = b.open_tab();
    b.gone(a, false);
    assert_eq!(b.tabs[f].tabs.role(), Role::Leader);
    assert_eq!(b.tabs[f].connects, 0);
    // A follower whose app asked to connect does connect once leader.
    let mut b = Browser::new();
    let a = b.open_tab();
    let f = b.open_tab();
    b.call(f, "connect");
    b.gone(a, true);
    assert_eq!(b.tabs[f].connects, 1);
}

#[test]
fn a_closed_tab_fails_its_waiting_calls_and_new_ones() {
    let mut b = Browser::new();
    let _a = b.open_tab();
    let f = b.open_tab();
    let req = b.call(f, "subscribe");
    b.gone(f, false);
    let failed = b.result(f, req).expect("answered").clone();
    assert_eq!(failed.unwrap_err().code, "not-connected");
    let (_, effects) = b.tabs[f].tabs.call(C("subscribe"));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Deliver { result: Err(_), .. }]
    ));
}

#[test]
fn closed_state_is_not_broadcast() {
    let mut b = Browser::new();
    let a = b.open_tab();
    let f = b.open_tab();
    b.state(a, "online");
    b.state(a, "closed");
    assert_eq!(b.tabs[f].states, ["online"]);
}

#[test]
fn a_new_leader_broadcasts_at_once_to_followers_that_asked_nothing() {
    let mut b = Browser::new();
    let a = b.open_tab();
    let f1 = b.open_tab();
    let f2 = b.open_tab();
    b.event(a, "m1");
    b.gone(a, true);
    assert_eq!(b.tabs[f1].tabs.role(), Role::Leader);
    b.event(f1, "m2");
    assert_eq!(b.tabs[f2].events, ["m1", "m2"]);
}
