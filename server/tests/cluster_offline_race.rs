//! Issue 19, item 7, the offline race through real servers: never an offline row for an
//! account that is online. Two node processes on one PostgreSQL database and one
//! `nats-server` (started here; a missing binary fails the test). Alice, on node A, sends
//! chat messages to an account at the moment it becomes available on node B: A stores them
//! offline unless the account is reachable on B (then they go to B over NATS), and B's login
//! marks the account reachable, then reads its queue, both under the account's lock in the
//! database. If A could store after B's read, the row would stay behind while the user is
//! online, and the message would not reach them until their next login.
//!
//! Each round is a new account (so no earlier session of it is around), logged in and bound
//! on B before the race; then its initial presence and alice's 1–3 messages go out with a
//! seeded interleaving, and each side ends with a ping to its own node. Both pings answered
//! means every decision is taken: A's session routes a message before it reads the next
//! stanza, and B's session reads the queue, writes it and deletes what it wrote before it
//! answers the ping. The checks: no offline row for the account (it is online), and each
//! message arrives exactly once (offline on login, or live through NATS).
//!
//! The rounds run in parallel lanes: each lane has its own sender (`alice<lane>` on A) and
//! its own accounts, its rounds one after the other with the same ping barriers, and its
//! own interleavings, drawn from the seed and the lane number. The accounts' passwords are
//! derived with one PBKDF2 iteration (4,096 per login on node B were most of a round's CPU;
//! the race is about what a login does once authenticated). Together: the 1,000
//! rounds in about the wall time 200 serial rounds took before (1,000 serial ones took
//! 249 s on the shared 2-core machine at load average 15). The lanes are also what makes
//! the race bite now: logins and sends of different accounts overlap on the nodes, as in
//! production; with logins this cheap, 1,000 serial rounds no longer caught the broken
//! server below.
//!
//! Rounds in all: `MUCSUB_OFFLINE_RACE_ROUNDS` (default 1,000, the count), lanes
//! `MUCSUB_OFFLINE_RACE_LANES` (default 8), seed `MUCSUB_OFFLINE_RACE_SEED` (printed; a
//! failure names its lane and round, and the same seed and lanes replay the same
//! interleavings, though the lanes' timing against each other is up to the machine).
//! Checked against the bug it guards: with B's login reading the queue before it marks the
//! account reachable (`router/delivery.rs`, `become_available`), the default seed and three
//! others each failed within the first few rounds of a lane (e.g. lane 1 round 6) with the
//! stranded row, in 5–10 s.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use std::path::Path;

use cluster_support::{connect, env_u64, spawn, Rng};
use minidom::Element;
use mucsub_server::storage::OfflineStore;
use mucsub_server::storage::{postgres, Credentials};
use mucsub_server::testkit::nats::NatsServer;
use mucsub_server::testkit::postgres::shared;
use mucsub_server::testkit::ChildServer;
use mucsub_server::testkit::{Mech, RawClient};
use support::*;

/// The body of a chat message, if `el` is one.
fn chat_body(el: &Element) -> Option<String> {
    (el.name() == "message" && el.attr("type") == Some("chat"))
        .then(|| el.get_child("body", CLIENT).map(|b| b.text()))
        .flatten()
}

/// Sends a ping to the client's own node and collects the chat bodies that arrive before
/// its answer.
async fn ping(c: &mut RawClient, into: &mut Vec<String>) {
    let id = c.next_id();
    c.send(&format!(
        "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
    ))
    .await;
    loop {
        let el = c.recv().await;
        if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
            assert_result(&el);
            return;
        }
        into.extend(chat_body(&el));
    }
}

/// `n` yields of this task: the seeded offset between the two sides of a round.
async fn yields(n: u64) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// One lane's seed: lane 0 keeps the seed itself (the interleavings of the serial test).
fn lane_seed(seed: u64, lane: u64) -> u64 {
    (seed ^ lane.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

/// What the lanes share: the two nodes, the offline store read directly, the seed.
struct Race<'a> {
    a: &'a ChildServer,
    b: &'a ChildServer,
    offline: &'a dyn OfflineStore,
    seed: u64,
    lanes: u64,
}

impl Race<'_> {
    /// Lane `lane`'s `rounds` rounds, one after the other: sender `alice<lane>` on A, a
    /// new account `u<lane>_<round>` on B each round (all created already).
    async fn lane(&self, lane: u64, rounds: u64) {
        let (seed, lanes) = (self.seed, self.lanes);
        let mut alice = connect(self.a, &format!("alice{lane}")).await;
        let mut rng = Rng(lane_seed(seed, lane));
        for round in 0..rounds {
            let at = format!("lane {lane} round {round} (seed {seed}, {lanes} lanes)");
            let user = format!("u{lane}_{round}");
            let sent: Vec<String> = (0..=rng.below(3))
                .map(|i| format!("l{lane} r{round} m{i}"))
                .collect();
            let (carol_wait, alice_wait) = (rng.below(40), rng.below(40));
            let mut carol =
                RawClient::login_tcp(self.b.c2s_addr, &user, "pw", Mech::Plain, None, None)
                    .await
                    .expect("login");
            let mut got = Vec::new();
            let login = async {
                yields(carol_wait).await;
                carol.send("<presence/>").await;
                ping(&mut carol, &mut got).await;
            };
            let send = async {
                yields(alice_wait).await;
                for body in &sent {
                    alice
                        .send(&format!(
                            "<message to='{user}@localhost' type='chat'><body>{body}</body></message>"
                        ))
                        .await;
                }
                ping(&mut alice, &mut Vec::new()).await;
            };
            tokio::join!(login, send);

            let left = self.offline.peek(&user).await.unwrap();
            assert!(
                left.is_empty(),
                "{at}: {} offline row(s) for {user}, who is online on B: {:?}",
                left.len(),
                left.iter().map(|m| &m.stanza).collect::<Vec<_>>()
            );
            // What is not here yet went live through NATS and is on its way to the session.
            while got.len() < sent.len() {
                got.extend(chat_body(&carol.recv().await));
            }
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, sent, "{at}: what {user} got");
            carol.disconnect();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_offline_row_for_an_account_online_on_another_node() {
    let total = env_u64("MUCSUB_OFFLINE_RACE_ROUNDS", 1000);
    let lanes = env_u64("MUCSUB_OFFLINE_RACE_LANES", 8).max(1);
    let seed = env_u64("MUCSUB_OFFLINE_RACE_SEED", 0x0ff1_19e7) | 1;
    // Every lane runs the same number of rounds: the total rounded up.
    let rounds = total.div_ceil(lanes);
    eprintln!(
        "offline race: {} rounds in {lanes} lanes of {rounds}, seed {seed}",
        rounds * lanes
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = shared().fresh_database().await;
    let nats = NatsServer::start().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = spawn(bin, dirs[0].path(), "a", &db.url, &nats.url(), 3).await;
    let b = spawn(bin, dirs[1].path(), "b", &db.url, &nats.url(), 3).await;

    // The accounts straight into the database (the nodes ran the migrations): one SCRAM
    // derivation shared by all of them, instead of a CLI process per account; each
    // lane's created by the lane, at the same time as the others'. One PBKDF2 iteration
    // (see the top of this file).
    let store = postgres::open(&db.url, 1000).await.expect("PostgreSQL");
    let creds = Credentials::derive_with("pw", b"offline-race-salt", 1).unwrap();
    let accounts = &store.accounts;
    futures_util::future::join_all((0..lanes).map(|lane| {
        let creds = creds.clone();
        async move {
            accounts
                .create(&format!("alice{lane}"), creds.clone())
                .await
                .unwrap();
            for round in 0..rounds {
                let user = format!("u{lane}_{round}");
                accounts.create(&user, creds.clone()).await.unwrap();
            }
        }
    }))
    .await;

    let race = Race {
        a: &a,
        b: &b,
        offline: store.offline.as_ref(),
        seed,
        lanes,
    };
    futures_util::future::join_all((0..lanes).map(|lane| race.lane(lane, rounds))).await;
    drop((a, b));
}
