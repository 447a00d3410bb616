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
//! Rounds: `MUCSUB_OFFLINE_RACE_ROUNDS` (default 200; the 1,000 took 249 s of wall
//! time on the shared 2-core machine at load average 15, debug-built nodes, and passed),
//! seed `MUCSUB_OFFLINE_RACE_SEED` (printed, so a failing round can be replayed).
//! Checked against the bug it guards: with B's login reading the queue before it marks the
//! account reachable (`router/delivery.rs`, `become_available`), the default seed fails at
//! round 152 with the stranded row.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use std::path::Path;

use cluster_support::{connect, env_u64, spawn, Rng};
use minidom::Element;
use mucsub_server::storage::{postgres, Credentials};
use mucsub_server::testkit::nats::NatsServer;
use mucsub_server::testkit::postgres::shared;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_offline_row_for_an_account_online_on_another_node() {
    let rounds = env_u64("MUCSUB_OFFLINE_RACE_ROUNDS", 200);
    let seed = env_u64("MUCSUB_OFFLINE_RACE_SEED", 0x0ff1_19e7) | 1;
    eprintln!("offline race: {rounds} rounds, seed {seed}");
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = shared().fresh_database().await;
    let nats = NatsServer::start().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = spawn(bin, dirs[0].path(), "a", &db.url, &nats.url(), 3).await;
    let b = spawn(bin, dirs[1].path(), "b", &db.url, &nats.url(), 3).await;

    // The accounts straight into the database (the nodes ran the migrations): one SCRAM
    // derivation shared by all of them, instead of a CLI process per account.
    let store = postgres::open(&db.url, 1000).await.expect("PostgreSQL");
    let creds = Credentials::derive("pw").unwrap();
    store.accounts.create("alice", creds.clone()).await.unwrap();
    for round in 0..rounds {
        let user = format!("u{round}");
        store.accounts.create(&user, creds.clone()).await.unwrap();
    }

    let mut alice = connect(&a, "alice").await;
    let mut rng = Rng(seed);
    for round in 0..rounds {
        let user = format!("u{round}");
        let sent: Vec<String> = (0..=rng.below(3))
            .map(|i| format!("r{round} m{i}"))
            .collect();
        let (carol_wait, alice_wait) = (rng.below(40), rng.below(40));
        let mut carol = RawClient::login_tcp(b.c2s_addr, &user, "pw", Mech::Plain, None, None)
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

        let left = store.offline.peek(&user).await.unwrap();
        assert!(
            left.is_empty(),
            "round {round} (seed {seed}): {} offline row(s) for {user}, who is online on B: {:?}",
            left.len(),
            left.iter().map(|m| &m.stanza).collect::<Vec<_>>()
        );
        // What is not here yet went live through NATS and is on its way to the session.
        while got.len() < sent.len() {
            got.extend(chat_body(&carol.recv().await));
        }
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, sent, "round {round} (seed {seed}): what {user} got");
        carol.disconnect();
    }
    drop((a, b));
}
