//! Issue 19, a room's fanout in a cluster sends the events of one committed batch of
//! stanzas together (server/src/muc/deliver.rs, `Deferred`), with real server processes
//! on one PostgreSQL database and one `nats-server` (both started here):
//!
//! - a burst of messages reaches the subscribers on another node in fewer NATS requests
//!   and directory lookups than events (`/metrics`), every subscriber, there and on the
//!   owner's node, getting every event once and in order;
//! - an event for subscribers both on the owner's node and on another node costs one
//!   directory lookup, not one for each of its delivery's two parts;
//! - what the room sends a session besides events (here an IQ result to a subscriber
//!   that posts without being joined) still comes after the events it sent that session
//!   before it.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use cluster_support::{burst, connect, counter, two_nodes, two_nodes_with, TwoNodes};
use mucsub_server::testkit::RawClient;
use support::*;

/// The bodies of the next `n` `messages` events `c` gets, in the order it gets them.
async fn event_bodies(c: &mut RawClient, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let (_, _, inner) = expect_event(c, "messages").await;
        if let Some(b) = inner.get_child("body", CLIENT) {
            got.push(b.text());
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_crosses_to_another_node_in_fewer_requests_than_events() {
    const N: usize = 40;
    let remote = ["s1", "s2", "s3"];
    let users: Vec<&str> = ["alice", "local"].into_iter().chain(remote).collect();
    let TwoNodes {
        a,
        b,
        db: _db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(3, &users).await;
    let r = room("burst");
    // Node A owns the room (alice created it there by joining); `local` is subscribed
    // on A, the others on B.
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut local = connect(&a, "local").await;
    subscribe(&mut local, &r, "local").await;
    let mut subs = Vec::new();
    for u in remote {
        let mut c = connect(&b, u).await;
        subscribe(&mut c, &r, u).await;
        subs.push(c);
    }
    for c in subs.iter_mut().chain([&mut alice, &mut local]) {
        c.drain().await;
    }

    let requests = counter(&a, "mucsub_cluster_requests_total").await;
    let lookups = counter(&a, "mucsub_cluster_directory_lookups_total").await;
    alice.send(&burst(&r, "m", N)).await;
    let want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    for c in subs.iter_mut().chain([&mut local]) {
        assert_eq!(event_bodies(c, N).await, want, "every event once, in order");
    }
    let requests = counter(&a, "mucsub_cluster_requests_total").await - requests;
    let lookups = counter(&a, "mucsub_cluster_directory_lookups_total").await - lookups;
    assert!(
        requests < N as u64,
        "{N} events to node B took {requests} NATS requests: the events of one batch go \
         in one request per node, not one each"
    );
    assert!(
        lookups < N as u64,
        "{N} events took {lookups} directory lookups: one per batch, not one per event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_for_subscribers_here_and_elsewhere_costs_one_lookup() {
    let users = ["alice", "local", "far"];
    // Nothing kept between events (`cluster_locations.rs` tests what is): each event's
    // delivery looks its accounts up.
    let TwoNodes {
        a,
        b,
        db: _db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes_with(3, &users, "locations_ttl_ms = 0\n").await;
    let r = room("onelookup");
    // Node A owns the room; `local` (online on A: its part of the delivery goes after
    // the part owed to accounts not online here) and `far` (on B) are subscribed.
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut local = connect(&a, "local").await;
    subscribe(&mut local, &r, "local").await;
    let mut far = connect(&b, "far").await;
    subscribe(&mut far, &r, "far").await;
    for c in [&mut alice, &mut local, &mut far] {
        c.drain().await;
    }

    for round in 0..3 {
        let lookups = counter(&a, "mucsub_cluster_directory_lookups_total").await;
        alice.send(&burst(&r, &format!("r{round}-"), 1)).await;
        let want = vec![format!("r{round}-0")];
        assert_eq!(event_bodies(&mut local, 1).await, want);
        assert_eq!(event_bodies(&mut far, 1).await, want);
        let lookups = counter(&a, "mucsub_cluster_directory_lookups_total").await - lookups;
        assert_eq!(
            lookups, 1,
            "one event to a subscriber on node A and one on node B: one directory lookup \
             for both parts of its delivery (round {round})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iq_result_comes_after_the_events_sent_before_it() {
    const N: usize = 20;
    let users = ["alice", "poster", "far"];
    let TwoNodes {
        a,
        b,
        db: _db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(3, &users).await;
    let r = room("order");
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    // `poster` is subscribed, not joined: its own messages come back as events, on the
    // session that posted them, like the IQ's result. `far` is on node B.
    let mut poster = connect(&a, "poster").await;
    subscribe(&mut poster, &r, "poster").await;
    let mut far = connect(&b, "far").await;
    subscribe(&mut far, &r, "far").await;
    for c in [&mut alice, &mut poster, &mut far] {
        c.drain().await;
    }

    let disco = "<iq type='get' id='after' to='ROOM'>\
                 <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        .replace("ROOM", &r);
    poster.send(&format!("{}{disco}", burst(&r, "p", N))).await;
    let mut bodies = Vec::new();
    loop {
        let el = poster.recv().await;
        if el.name() == "iq" && el.attr("id") == Some("after") {
            break;
        }
        if let Some((node, _, inner)) = unwrap_event(&el) {
            if let Some(b) = inner
                .get_child("body", CLIENT)
                .filter(|_| node == "messages")
            {
                bodies.push(b.text());
            }
        }
    }
    let want: Vec<String> = (0..N).map(|i| format!("p{i}")).collect();
    assert_eq!(
        bodies, want,
        "the room answered the IQ after the messages before it: their events come first"
    );
    assert_eq!(event_bodies(&mut far, N).await, want);
}
