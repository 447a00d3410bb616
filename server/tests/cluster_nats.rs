//! Issue 19, nodes talking over NATS: three real server processes on one PostgreSQL
//! database and one real `nats-server` (started here, on a free port; a missing binary
//! fails the test). A room lives on the node that owns it; stanzas to it from clients of
//! other nodes are forwarded there, and its answers, echoes and MucSub events come back
//! through the session directory.
//!
//! Without the bus, a client of a node that does not own the room only ever gets `wait`
//! errors (the room is held by a live node), so every exchange below would fail.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use cluster_support::{connect, rows, spawn};
use minidom::Element;
use mucsub_server::testkit::nats::NatsServer;
use mucsub_server::testkit::postgres::shared;
use mucsub_server::testkit::{ChildServer, Mech, RawClient, TIMEOUT};
use support::*;

/// The room's archive ids, oldest first.
async fn archive_ids(url: &str, room: &str) -> Vec<i64> {
    rows(
        url,
        &format!("SELECT id FROM muc_archive WHERE room = '{room}' ORDER BY id"),
    )
    .await
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Walks the room's archive through the client's node; the ids in order.
async fn mam_ids(c: &mut RawClient, r: &str) -> Vec<i64> {
    let id = c.next_id();
    c.send(&format!(
        "<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}'/></iq>"
    ))
    .await;
    let mut walked = Vec::new();
    loop {
        let el = c.recv().await;
        if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
            assert_result(&el);
            return walked;
        }
        if let Some(res) = el.get_child("result", MAM) {
            walked.push(res.attr("id").unwrap().parse::<i64>().unwrap());
        }
    }
}

/// The stanza-id of the message inside a wrapped `messages` event with `body`.
async fn event_id(c: &mut RawClient, body: &str) -> i64 {
    loop {
        let (_, _, inner) = expect_event(c, "messages").await;
        if inner
            .get_child("body", CLIENT)
            .is_some_and(|b| b.text() == body)
        {
            return stanza_id(&inner).expect("stanza-id").parse().unwrap();
        }
    }
}

/// Says `body` and returns the echo's stanza-id.
async fn say_id(c: &mut RawClient, r: &str, body: &str) -> i64 {
    post(c, r, body).await;
    let echo = c
        .expect("own groupchat echo", |e| {
            e.name() == "message"
                && e.attr("type") == Some("groupchat")
                && e.get_child("body", CLIENT)
                    .is_some_and(|b| b.text() == body)
        })
        .await;
    stanza_id(&echo).expect("stanza-id").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_and_sessions_are_reached_across_nodes() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = shared().fresh_database().await;
    let nats = NatsServer::start().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = spawn(bin, dirs[0].path(), "a", &db.url, &nats.url(), 3).await;
    let b = spawn(bin, dirs[1].path(), "b", &db.url, &nats.url(), 3).await;
    let c = spawn(bin, dirs[2].path(), "c", &db.url, &nats.url(), 3).await;
    for u in ["alice", "bob", "carol"] {
        ChildServer::add_user(bin, dirs[0].path(), u, "pw").await;
    }
    let r = room("across");

    // Node A creates and owns the room.
    let mut alice = connect(&a, "alice").await;
    subscribe(&mut alice, &r, "alice").await;
    join(&mut alice, &r, "alice").await;
    // Bob on B and carol on C subscribe through their nodes: forwarded to A, answered back.
    let mut bob = connect(&b, "bob").await;
    subscribe(&mut bob, &r, "bob").await;
    let mut carol = connect(&c, "carol").await;
    subscribe(&mut carol, &r, "carol").await;
    // Carol goes offline: her events wait in offline storage.
    carol.close().await;
    let owner = rows(
        &db.url,
        "SELECT n.node FROM cluster_rooms r JOIN cluster_incarnations n USING (incarnation)
         WHERE r.room = 'across'",
    )
    .await;
    assert_eq!(owner[0].get::<_, String>(0), "a", "A owns the room");

    // A subscriber on B gets A's event under the stanza-id A echoed and archived.
    let first = say_id(&mut alice, &r, "hello from A").await;
    assert_eq!(event_id(&mut bob, "hello from A").await, first);

    // A sender on B joins and posts through B: the echo comes back to B, alice sees it.
    join(&mut bob, &r, "bob").await;
    let second = say_id(&mut bob, &r, "hello from B").await;
    let seen = alice
        .expect("bob's message", |e| {
            e.name() == "message"
                && e.get_child("body", CLIENT)
                    .is_some_and(|b| b.text() == "hello from B")
        })
        .await;
    assert_eq!(stanza_id(&seen).unwrap().parse::<i64>().unwrap(), second);
    assert!(second > first);
    assert_eq!(archive_ids(&db.url, "across").await, vec![first, second]);

    // The offline subscriber gets both on login, on node C, with the archive's ids.
    let mut carol = RawClient::login_tcp(c.c2s_addr, "carol", "pw", Mech::Plain, None, Some("r"))
        .await
        .expect("login");
    carol.send("<presence/>").await;
    assert_eq!(event_id(&mut carol, "hello from A").await, first);
    assert_eq!(event_id(&mut carol, "hello from B").await, second);

    // MAM walks from all three nodes: identical, strictly increasing, the archive itself.
    let from_a = mam_ids(&mut alice, &r).await;
    let from_b = mam_ids(&mut bob, &r).await;
    let from_c = mam_ids(&mut carol, &r).await;
    assert_eq!(from_a, vec![first, second]);
    assert_eq!(from_b, from_a);
    assert_eq!(from_c, from_a);
    for s in [a, b, c] {
        s.kill9().await;
    }
}

/// Whether `el` answers the message `id` with a `wait` error; panics on another error.
fn waits(el: &Element, id: &str) -> bool {
    if el.attr("id") != Some(id) || el.attr("type") != Some("error") {
        return false;
    }
    let kind = error_of(el).map(|(kind, _)| kind);
    assert_eq!(kind.as_deref(), Some("wait"), "{}", String::from(el));
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_nats_cross_node_sends_wait_and_service_returns_with_it() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = shared().fresh_database().await;
    let mut nats = NatsServer::start().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a = spawn(bin, dirs[0].path(), "a", &db.url, &nats.url(), 3).await;
    let mut b = spawn(bin, dirs[1].path(), "b", &db.url, &nats.url(), 3).await;
    for u in ["alice", "bob"] {
        ChildServer::add_user(bin, dirs[0].path(), u, "pw").await;
    }
    let r = room("busless");
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut bob = connect(&b, "bob").await;
    join(&mut bob, &r, "bob").await;
    say_id(&mut bob, &r, "before").await;

    // NATS gone: bob's message through B is refused with `wait`, not lost silently.
    nats.stop().await;
    let id = bob.next_id();
    bob.send(&format!(
        "<message to='{r}' type='groupchat' id='{id}'><body>during</body></message>"
    ))
    .await;
    let answer = bob
        .expect("an answer to the message", |el| {
            el.attr("id") == Some(id.as_str())
        })
        .await;
    assert!(waits(&answer, &id), "{}", String::from(&answer));
    // The owner's own clients are served all along.
    say_id(&mut alice, &r, "local while NATS is down").await;

    // NATS back: bob's resend is echoed once both nodes have reconnected.
    nats.start_again().await;
    let echoed = tokio::time::timeout(TIMEOUT * 2, async {
        loop {
            let id = bob.next_id();
            bob.send(&format!(
                "<message to='{r}' type='groupchat' id='{id}'><body>after</body></message>"
            ))
            .await;
            // Until the answer: a wait error (resend), or the echo. An echo lost while
            // only one side had reconnected shows as silence: resend then too.
            while let Some(el) = bob.try_recv(Duration::from_secs(1)).await {
                if waits(&el, &id) {
                    break;
                }
                if el.name() == "message"
                    && el
                        .get_child("body", CLIENT)
                        .is_some_and(|b| b.text() == "after")
                {
                    return el;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("bob's message is echoed once NATS is back");
    assert!(stanza_id(&echoed).is_some());
    // Both processes survived (nothing panicked): each still serves its clients.
    assert!(a.is_running(), "node A still runs");
    assert!(b.is_running(), "node B still runs");
    a.kill9().await;
    b.kill9().await;
}

/// A node dies: once its lease has expired, the room's owner drops the occupants that
/// were connected through it, announcing them gone with status 333.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_occupants_leave_with_status_333() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = shared().fresh_database().await;
    let nats = NatsServer::start().await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = spawn(bin, dirs[0].path(), "a", &db.url, &nats.url(), 3).await;
    let b = spawn(bin, dirs[1].path(), "b", &db.url, &nats.url(), 3).await;
    for u in ["alice", "bob"] {
        ChildServer::add_user(bin, dirs[0].path(), u, "pw").await;
    }
    let r = room("deadnode");
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut bob = connect(&b, "bob").await;
    join(&mut bob, &r, "bob").await;
    b.kill9().await;
    let gone = alice
        .expect("bob leaving with 333", |e| {
            e.name() == "presence"
                && e.attr("from") == Some(format!("{r}/bob").as_str())
                && e.attr("type") == Some("unavailable")
        })
        .await;
    assert!(
        codes(&gone).contains(&"333".to_string()),
        "{}",
        String::from(&gone)
    );
    // The room goes on serving its live occupants.
    say_id(&mut alice, &r, "after bob's node died").await;
    a.kill9().await;
}
