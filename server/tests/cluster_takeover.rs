//! Issue 19, a room's takeover between two real server processes on one PostgreSQL
//! database with a short lease: when its owner is killed (`kill -9`), and when it is only
//! paused and comes back.
//!
//! "A paused owner commits nothing afterwards": node A owns a room; A is paused (SIGSTOP,
//! every socket left open); a client of node B gets the room once A's lease has expired (B
//! claims it at the next epoch); A resumes (SIGCONT) and its room task, which still
//! believes it owns the room, tries to commit a message: the fence refuses it, the sender
//! gets a `wait` error, and the archive holds nothing under the old epoch after the
//! takeover.
//!
//! Without forwarding between nodes (NATS, not built yet) B can serve the room only once
//! A's lease has expired: B's client retries on `wait` errors until then.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use cluster_support::{connect, rows, spawn_node};
use minidom::Element;
use mucsub_server::testkit::postgres::shared;
use mucsub_server::testkit::{ChildServer, RawClient, TIMEOUT};
use support::*;

const TTL_SECS: f64 = 2.0;

/// Whether `el` is the error answer to the message with `id`, of type `wait`; panics on
/// any other error answer to it.
fn waits(el: &Element, id: &str) -> bool {
    if el.attr("id") != Some(id) || el.attr("type") != Some("error") {
        return false;
    }
    let kind = error_of(el).map(|(kind, _)| kind);
    assert_eq!(kind.as_deref(), Some("wait"), "{}", String::from(el));
    true
}

/// Posts `body` as an occupant until the room echoes it (a `wait` error means the room's
/// node is not serving it yet: try again); returns the echo's stanza-id.
async fn say_until_echoed(c: &mut RawClient, r: &str, body: &str) -> i64 {
    tokio::time::timeout(TIMEOUT * 2, async {
        loop {
            let id = c.next_id();
            c.send(&format!(
                "<message to='{r}' type='groupchat' id='{id}'><body>{body}</body></message>"
            ))
            .await;
            loop {
                let el = c.recv().await;
                if waits(&el, &id) {
                    break;
                }
                if el.name() == "message"
                    && el.attr("type") == Some("groupchat")
                    && el
                        .get_child("body", CLIENT)
                        .is_some_and(|b| b.text() == body)
                {
                    return stanza_id(&el).expect("stanza-id").parse().unwrap();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the room answered in time")
}

/// Subscribes with `nick` until the room's node serves it (`wait` errors meanwhile).
async fn subscribe_until_served(c: &mut RawClient, r: &str, nick: &str) {
    tokio::time::timeout(TIMEOUT * 2, async {
        loop {
            let answer = subscribe_raw(c, r, &format!("nick='{nick}'"), ALL_NODES).await;
            if answer.attr("type") == Some("result") {
                return;
            }
            assert_eq!(
                error_of(&answer).map(|(kind, _)| kind).as_deref(),
                Some("wait"),
                "{}",
                String::from(&answer)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("node B took the room over in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_commits_nothing_after_the_takeover() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = shared().fresh_database().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_node(bin, dir_a.path(), "a", &db.url, None, TTL_SECS).await;
    let b = spawn_node(bin, dir_b.path(), "b", &db.url, None, TTL_SECS).await;
    for u in ["alice", "bob"] {
        ChildServer::add_user(bin, dir_a.path(), u, "pw").await;
    }
    let r = room("paused");

    // Node A creates and so owns the room (epoch 1); alice's message is archived there.
    let mut alice = connect(&a, "alice").await;
    subscribe(&mut alice, &r, "alice").await;
    join(&mut alice, &r, "alice").await;
    let before = say_until_echoed(&mut alice, &r, "before the pause").await;

    // A stops with its sockets open; bob on node B gets the room once A's lease expired.
    a.signal("STOP");
    let mut bob = connect(&b, "bob").await;
    subscribe_until_served(&mut bob, &r, "bob").await;
    join(&mut bob, &r, "bob").await;
    let during = say_until_echoed(&mut bob, &r, "while A is paused").await;
    assert!(
        during > before,
        "ids rise across owners: {before} then {during}"
    );

    // A resumes, believing it owns the room: its commit is refused, alice is told to wait.
    a.signal("CONT");
    let id = alice.next_id();
    alice
        .send(&format!(
            "<message to='{r}' type='groupchat' id='{id}'><body>after the pause</body></message>"
        ))
        .await;
    let answer = alice
        .expect("a wait error, never the echo", |el| {
            el.attr("id") == Some(id.as_str()) && el.name() == "message"
        })
        .await;
    assert!(waits(&answer, &id), "{}", String::from(&answer));
    // And the room stays B's: A asked again finds it held.
    let again = post_and_answer(&mut alice, &r).await;
    assert!(waits(&again.0, &again.1));

    let owner = rows(
        &db.url,
        "SELECT n.node, r.epoch FROM cluster_rooms r
         JOIN cluster_incarnations n USING (incarnation) WHERE r.room = 'paused'",
    )
    .await;
    assert_eq!(owner.len(), 1);
    assert_eq!(
        (owner[0].get::<_, String>(0), owner[0].get::<_, i64>(1)),
        ("b".to_owned(), 2),
        "B took the room at the next epoch"
    );
    let archive = rows(
        &db.url,
        "SELECT id, epoch, stanza FROM muc_archive WHERE room = 'paused' ORDER BY id",
    )
    .await;
    let got: Vec<(i64, Option<i64>, bool)> = archive
        .iter()
        .map(|row| {
            let stanza: String = row.get(2);
            (row.get(0), row.get(1), stanza.contains("after the pause"))
        })
        .collect();
    assert_eq!(
        got,
        vec![(before, Some(1), false), (during, Some(2), false)],
        "one row per echoed message, under its owner's epoch; nothing of A after the takeover"
    );
    a.kill9().await;
    b.kill9().await;
}

/// Posts once more from the old owner's side and returns the answer with its id: the room
/// is found held by the other node.
async fn post_and_answer(c: &mut RawClient, r: &str) -> (Element, String) {
    let id = c.next_id();
    c.send(&format!(
        "<message to='{r}' type='groupchat' id='{id}'><body>still paused?</body></message>"
    ))
    .await;
    let el = c
        .expect("the answer", |el| el.attr("id") == Some(id.as_str()))
        .await;
    (el, id)
}

/// The owner killed: the room is served by the other node once the lease expired, at the
/// next epoch, with every echoed message in its archive once and ids still increasing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owners_room_is_taken_over_with_its_archive() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = shared().fresh_database().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn_node(bin, dir_a.path(), "a", &db.url, None, TTL_SECS).await;
    let b = spawn_node(bin, dir_b.path(), "b", &db.url, None, TTL_SECS).await;
    for u in ["alice", "bob"] {
        ChildServer::add_user(bin, dir_a.path(), u, "pw").await;
    }
    let r = room("killed");
    let mut alice = connect(&a, "alice").await;
    subscribe(&mut alice, &r, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut echoed = Vec::new();
    for i in 0..3 {
        echoed.push(say_until_echoed(&mut alice, &r, &format!("on A {i}")).await);
    }
    a.kill9().await;
    let mut bob = connect(&b, "bob").await;
    subscribe_until_served(&mut bob, &r, "bob").await;
    join(&mut bob, &r, "bob").await;
    echoed.push(say_until_echoed(&mut bob, &r, "on B").await);

    // Bob's archive walk through B: exactly the echoed messages, in increasing id order.
    let id = bob.next_id();
    bob.send(&format!(
        "<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}'/></iq>"
    ))
    .await;
    let mut walked = Vec::new();
    loop {
        let el = bob.recv().await;
        if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
            assert_result(&el);
            break;
        }
        if let Some(res) = el.get_child("result", MAM) {
            walked.push(res.attr("id").unwrap().parse::<i64>().unwrap());
        }
    }
    assert_eq!(walked, echoed);
    assert!(walked.windows(2).all(|w| w[0] < w[1]), "{walked:?}");
    let epochs: Vec<Option<i64>> = rows(
        &db.url,
        "SELECT epoch FROM muc_archive WHERE room = 'killed' ORDER BY id",
    )
    .await
    .iter()
    .map(|row| row.get(0))
    .collect();
    assert_eq!(epochs, [Some(1), Some(1), Some(1), Some(2)]);
    b.kill9().await;
}
