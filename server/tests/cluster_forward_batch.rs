//! Issue 19, a node forwards the stanzas queued for one room owner together
//! (server/src/muc/forward.rs), with real server processes on one PostgreSQL database and
//! one `nats-server` (both started here): a burst of messages from a client of a node that
//! does not own the room reaches the owner in fewer NATS requests than stanzas
//! (`/metrics`), and the room still takes them in the sender's order: the sender's echoes,
//! another occupant's copies, a subscriber's events and the archive all follow it.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use cluster_support::{burst, connect, counter, rows, two_nodes, TwoNodes};
use mucsub_server::testkit::RawClient;
use support::*;

/// The bodies of the next `n` groupchat messages with a body `c` gets (plain, not events).
async fn groupchat_bodies(c: &mut RawClient, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let el = c.recv().await;
        assert_ne!(el.attr("type"), Some("error"), "{}", String::from(&el));
        if el.name() == "message" && el.attr("type") == Some("groupchat") {
            if let Some(b) = el.get_child("body", CLIENT) {
                got.push(b.text());
            }
        }
    }
    got
}

/// The bodies of the next `n` `messages` events `c` gets.
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
async fn a_burst_from_another_node_reaches_the_owner_in_fewer_requests_than_stanzas() {
    const N: usize = 40;
    let users = ["alice", "bob", "sub"];
    let TwoNodes {
        a,
        b,
        db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(3, &users).await;
    let r = room("forwarded");
    // Node A owns the room (alice created it there by joining); bob, on node B, joins it
    // through A; `sub` is subscribed on A.
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut sub = connect(&a, "sub").await;
    subscribe(&mut sub, &r, "sub").await;
    let mut bob = connect(&b, "bob").await;
    join(&mut bob, &r, "bob").await;
    for c in [&mut alice, &mut sub, &mut bob] {
        c.drain().await;
    }

    // Node B sends nothing else meanwhile: the room's echoes and events come from A.
    let requests = counter(&b, "mucsub_cluster_requests_total").await;
    bob.send(&burst(&r, "b", N)).await;
    let want: Vec<String> = (0..N).map(|i| format!("b{i}")).collect();
    assert_eq!(
        groupchat_bodies(&mut bob, N).await,
        want,
        "bob's echoes, each once, in the order he sent them"
    );
    assert_eq!(groupchat_bodies(&mut alice, N).await, want);
    assert_eq!(event_bodies(&mut sub, N).await, want);
    let requests = counter(&b, "mucsub_cluster_requests_total").await - requests;
    assert!(
        requests < N as u64,
        "{N} stanzas for the room on node A took {requests} NATS requests from node B: \
         the stanzas queued for one owner go together, not one request each"
    );

    let archived: Vec<String> = rows(
        &db.url,
        "SELECT stanza FROM muc_archive WHERE room = 'forwarded' ORDER BY id",
    )
    .await
    .iter()
    .map(|row| {
        let el = x(&row.get::<_, String>(0));
        el.get_child("body", CLIENT).expect("a body").text()
    })
    .collect();
    assert_eq!(archived, want, "archived once each, in bob's order");
}
