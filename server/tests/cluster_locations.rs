//! Issue 19, a room's fanout uses the session directory's answer for a while instead of
//! asking PostgreSQL for every event (server/src/cluster/locations.rs), with real server
//! processes on one PostgreSQL database and one `nats-server` (both started here). The
//! nodes keep answers for a minute (`locations_ttl_ms = 60000`), so that what is counted
//! does not depend on how fast the machine is:
//!
//! - events at any rate cost one directory lookup while nobody's sessions change;
//! - a session bound on another node after that lookup gets the very next event (the
//!   binding node told the owner before its client was told it is bound), and the
//!   owner looks the accounts up again;
//! - a session that ended on another node loses nothing: the event is stored offline and
//!   comes with the next login;
//! - a room's messages to an occupant on another node (its full JID) use the same answers.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use cluster_support::{burst, connect, counter, two_nodes_with, TwoNodes};
use mucsub_server::testkit::{Mech, RawClient};
use support::*;

const KEEP: &str = "locations_ttl_ms = 60000\n";

/// The body of the next `messages` event `c` gets.
async fn next_body(c: &mut RawClient) -> String {
    loop {
        let (_, _, inner) = expect_event(c, "messages").await;
        if let Some(b) = inner.get_child("body", CLIENT) {
            return b.text();
        }
    }
}

/// Alice (joined) owns room `name` on node A; `local` is subscribed from node A, `far`
/// from node B.
async fn room_on_a(name: &str) -> (TwoNodes, String, RawClient, RawClient, RawClient) {
    let nodes = two_nodes_with(3, &["alice", "local", "far"], KEEP).await;
    let r = room(name);
    let mut alice = connect(&nodes.a, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut local = connect(&nodes.a, "local").await;
    subscribe(&mut local, &r, "local").await;
    let mut far = connect(&nodes.b, "far").await;
    subscribe(&mut far, &r, "far").await;
    for c in [&mut alice, &mut local, &mut far] {
        c.drain().await;
    }
    (nodes, r, alice, local, far)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cost_one_lookup_while_no_session_changes() {
    let (nodes, r, mut alice, mut local, mut far) = room_on_a("steady").await;
    let lookups = counter(&nodes.a, "mucsub_cluster_directory_lookups_total").await;
    for n in 0..5 {
        // One at a time: each event is a room run of its own.
        alice.send(&burst(&r, &format!("e{n}-"), 1)).await;
        let want = format!("e{n}-0");
        assert_eq!(next_body(&mut local).await, want);
        assert_eq!(next_body(&mut far).await, want);
    }
    let lookups = counter(&nodes.a, "mucsub_cluster_directory_lookups_total").await - lookups;
    // At most one: the room's earlier sends (the subscriptions' notices) may have
    // looked them up already.
    assert!(
        lookups <= 1,
        "five events to subscribers on nodes A and B while no session changed took \
         {lookups} lookups: one answer serves them all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_bound_elsewhere_after_the_lookup_gets_the_next_event() {
    let (nodes, r, mut alice, mut local, mut far) = room_on_a("newsession").await;
    alice.send(&burst(&r, "before", 1)).await;
    assert_eq!(next_body(&mut local).await, "before0");
    assert_eq!(next_body(&mut far).await, "before0");
    // Node A now holds the answer "local has no session on another node". Local's
    // second device signs in on node B.
    let lookups = counter(&nodes.a, "mucsub_cluster_directory_lookups_total").await;
    let mut phone = RawClient::login_tcp(
        nodes.b.c2s_addr,
        "local",
        "pw",
        Mech::Plain,
        None,
        Some("phone"),
    )
    .await
    .expect("login");
    phone.send("<presence/>").await;
    phone.drain().await;

    alice.send(&burst(&r, "after", 1)).await;
    assert_eq!(next_body(&mut local).await, "after0");
    assert_eq!(next_body(&mut far).await, "after0");
    assert_eq!(
        next_body(&mut phone).await,
        "after0",
        "the session bound on node B after node A's lookup got the event"
    );
    let lookups = counter(&nodes.a, "mucsub_cluster_directory_lookups_total").await - lookups;
    assert_eq!(lookups, 1, "node A looked the accounts up again once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_elsewhere_gets_the_event_offline() {
    let (nodes, r, mut alice, mut local, far) = room_on_a("gone").await;
    alice.send(&burst(&r, "first", 1)).await;
    assert_eq!(next_body(&mut local).await, "first0");
    // Node A now holds the answer "far is on node B"; far signs out.
    drop(far);
    // Until node B has seen the stream end, far is still bound there; the event then
    // reaches the closing session (or its offline store): wait until the directory
    // says it is gone.
    wait_unbound(&nodes, "far").await;

    alice.send(&burst(&r, "while-away", 1)).await;
    assert_eq!(next_body(&mut local).await, "while-away0");
    // Far signs in again, on node A this time: the event waited offline.
    let mut back = RawClient::login_tcp(nodes.a.c2s_addr, "far", "pw", Mech::Plain, None, None)
        .await
        .expect("login");
    back.send("<presence/>").await;
    assert_eq!(next_body(&mut back).await, "while-away0");
}

/// Waits until no directory row holds a session of `user`.
async fn wait_unbound(nodes: &TwoNodes, user: &str) {
    let sql = format!("SELECT 1 FROM cluster_sessions WHERE account = '{user}'");
    tokio::time::timeout(mucsub_server::testkit::TIMEOUT, async {
        while !cluster_support::rows(&nodes.db.url, &sql).await.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the session left the directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_to_an_occupant_on_another_node_cost_one_lookup() {
    let nodes = two_nodes_with(3, &["owner", "guest"], KEEP).await;
    let r = room("occupants");
    // The room lives on node A (its owner joined there); the guest joins from node B, so
    // every message reaches the guest's full JID on node B.
    let mut owner = connect(&nodes.a, "owner").await;
    join(&mut owner, &r, "owner").await;
    let mut guest = connect(&nodes.b, "guest").await;
    join(&mut guest, &r, "guest").await;
    owner.drain().await;
    let lookups = counter(&nodes.a, "mucsub_cluster_directory_lookups_total").await;
    for n in 0..5 {
        owner.send(&burst(&r, &format!("o{n}-"), 1)).await;
        let want = format!("o{n}-0");
        let got = guest.expect_message().await;
        let body = got.get_child("body", CLIENT).map(|b| b.text());
        assert_eq!(
            body.as_deref(),
            Some(want.as_str()),
            "{}",
            String::from(&got)
        );
    }
    let lookups = counter(&nodes.a, "mucsub_cluster_directory_lookups_total").await - lookups;
    assert!(
        lookups <= 1,
        "five messages to an occupant on node B took {lookups} lookups on node A: one \
         answer serves them all"
    );
}
