//! Issue 19, how stanzas find their way between nodes, counted through each node's real
//! `/metrics` (`mucsub_cluster_requests_total`, `mucsub_cluster_directory_lookups_total`,
//! `mucsub_cluster_claims_total`), with real server processes on one PostgreSQL database
//! and one `nats-server` (both started here; a missing binary fails the test):
//!
//! - a room's fanout to subscribers on another node is one directory lookup and one NATS
//!   request per event, not one of each per subscriber, and that request carries the
//!   event once (`mucsub_cluster_request_bytes_total`), each recipient there getting it
//!   addressed to itself, except on its resources joined to the room;
//! - an account with a resource joined to the room keeps the wrapped feed on its other
//!   resources, wherever each is bound (docs/protocol.md S11), once each, and nothing is
//!   stored offline for it;
//! - an account's resources that are not joined get the room's events on every node,
//!   also when one of them is on the owner node (a local delivery does not end the
//!   search), once each; a node alone asks the directory nothing for them;
//! - a node that forwards stanzas to a room another node owns claims it once, not once
//!   per stanza (it remembers the owner);
//! - a node that lost its lease (paused past the TTL) and came back as a new incarnation
//!   publishes its live sessions again: another node's message to its user arrives live,
//!   not in offline storage.

mod cluster_support;
#[path = "scenarios/support.rs"]
mod support;

use std::time::Duration;

use cluster_support::{connect, counter, rows, two_nodes, TwoNodes};
use mucsub_server::testkit::{ChildServer, Mech, RawClient, TIMEOUT};
use support::*;

/// Waits for the `messages` event carrying `body`.
async fn event_with(c: &mut RawClient, body: &str) {
    loop {
        let (_, _, inner) = expect_event(c, "messages").await;
        if inner
            .get_child("body", CLIENT)
            .is_some_and(|b| b.text() == body)
        {
            return;
        }
    }
}

/// Node A owns room `r` (alice joined there); each of `subscribers` is connected to node B
/// and subscribed. Returns alice's and the subscribers' connections, not yet drained.
async fn alice_on_a_subscribers_on_b(
    a: &ChildServer,
    b: &ChildServer,
    r: &str,
    subscribers: &[&str],
) -> (RawClient, Vec<RawClient>) {
    let mut alice = connect(a, "alice").await;
    join(&mut alice, r, "alice").await;
    let mut subs = Vec::new();
    for &u in subscribers {
        let mut c = connect(b, u).await;
        subscribe(&mut c, r, u).await;
        subs.push(c);
    }
    (alice, subs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_asks_each_node_once_per_event() {
    let subscribers = ["s1", "s2", "s3", "s4"];
    let users: Vec<&str> = ["alice"].into_iter().chain(subscribers).collect();
    let TwoNodes {
        a,
        b,
        db: _db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(3, &users).await;
    let r = room("fanout");
    let (mut alice, mut subs) = alice_on_a_subscribers_on_b(&a, &b, &r, &subscribers).await;
    for c in subs.iter_mut().chain([&mut alice]) {
        c.drain().await;
    }

    let requests = counter(&a, "mucsub_cluster_requests_total").await;
    let lookups = counter(&a, "mucsub_cluster_directory_lookups_total").await;
    say(&mut alice, &r, "to everyone on B").await;
    for c in &mut subs {
        event_with(c, "to everyone on B").await;
    }
    assert_eq!(
        counter(&a, "mucsub_cluster_requests_total").await - requests,
        1,
        "one NATS request to node B for the event, whatever the number of its subscribers there"
    );
    assert_eq!(
        counter(&a, "mucsub_cluster_directory_lookups_total").await - lookups,
        1,
        "one session directory lookup for all the event's recipients"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_carries_an_event_once_per_node_not_once_per_recipient() {
    let subscribers = ["s1", "s2", "s3", "s4"];
    let users: Vec<&str> = ["alice"].into_iter().chain(subscribers).collect();
    let TwoNodes {
        a,
        b,
        db: _db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(3, &users).await;
    let r = room("carried");

    // As above, and s1 has a second resource on node B joined to the room
    // (docs/protocol.md S11: it gets the plain stanza only).
    let (mut alice, mut subs) = alice_on_a_subscribers_on_b(&a, &b, &r, &subscribers).await;
    let mut joined = RawClient::login_tcp(b.c2s_addr, "s1", "pw", Mech::Plain, None, Some("in"))
        .await
        .expect("login");
    joined.send("<presence/>").await;
    join(&mut joined, &r, "s1").await;
    for c in subs.iter_mut().chain([&mut joined, &mut alice]) {
        c.drain().await;
    }

    let body = "x".repeat(4000);
    let bytes = counter(&a, "mucsub_cluster_request_bytes_total").await;
    say(&mut alice, &r, &body).await;
    for (c, u) in subs.iter_mut().zip(subscribers) {
        let (outer, _, inner) = loop {
            let got = expect_event(c, "messages").await;
            if got
                .2
                .get_child("body", CLIENT)
                .is_some_and(|b| b.text() == body)
            {
                break got;
            }
        };
        let me = format!("{u}@localhost");
        assert_eq!(
            outer.attr("to"),
            Some(me.as_str()),
            "{}",
            String::from(&outer)
        );
        assert_eq!(
            inner.attr("to"),
            Some(me.as_str()),
            "{}",
            String::from(&inner)
        );
    }
    let sent = counter(&a, "mucsub_cluster_request_bytes_total").await - bytes;
    assert!(
        sent < 3 * body.len() as u64,
        "node A sent {sent} bytes to node B: the event once and the groupchat to s1's joined \
         resource once, not a copy of the event per subscriber there"
    );

    // The joined resource got the plain stanza and no wrapped copy: had it had one, it
    // would have come before the next message's groupchat (the room sends in order).
    say(&mut alice, &r, "next").await;
    loop {
        let el = joined.recv().await;
        assert!(
            unwrap_event(&el).is_none(),
            "a resource joined to the room gets no MucSub event: {}",
            String::from(&el)
        );
        if el
            .get_child("body", CLIENT)
            .is_some_and(|b| b.text() == "next")
        {
            break;
        }
    }
}

/// Logs `user` in on `srv` as resource `resource`, available, and joins room `r` with the
/// nick `user`.
async fn joined_resource(srv: &ChildServer, user: &str, resource: &str, r: &str) -> RawClient {
    let mut c = RawClient::login_tcp(srv.c2s_addr, user, "pw", Mech::Plain, None, Some(resource))
        .await
        .expect("login");
    c.send("<presence/>").await;
    join(&mut c, r, user).await;
    c
}

/// What `c` got up to the wrapped event carrying `last`: how many wrapped events carried
/// each of `bodies` (the room sends in order, so any copy of an earlier one came before).
async fn events_until(c: &mut RawClient, bodies: &[&str], last: &str) -> Vec<usize> {
    let mut seen = vec![0; bodies.len()];
    loop {
        let (_, _, inner) = expect_event(c, "messages").await;
        let Some(text) = inner.get_child("body", CLIENT).map(|b| b.text()) else {
            continue;
        };
        if let Some(at) = bodies.iter().position(|b| *b == text) {
            seen[at] += 1;
        }
        if text == last {
            return seen;
        }
    }
}

/// Reads a joined resource's stanzas up to the plain groupchat carrying `last`, asserting
/// that no wrapped event came.
async fn plain_until(c: &mut RawClient, who: &str, last: &str) {
    loop {
        let el = c.recv().await;
        assert!(
            unwrap_event(&el).is_none(),
            "{who}, joined to the room, gets no MucSub event: {}",
            String::from(&el)
        );
        if el.attr("type") == Some("groupchat")
            && el
                .get_child("body", CLIENT)
                .is_some_and(|b| b.text() == last)
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_resource_on_any_node_leaves_the_other_resources_their_events() {
    let TwoNodes {
        a,
        b,
        db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(3, &["alice", "s1", "s2", "s3"]).await;
    let r = room("joined");
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    // Node A owns the room. Each subscriber subscribes from resource `r` and joins from
    // resource `in`:
    // - s1 joined on the owner, A, its other resource on B (the owner sees s1 online
    //   through the joined resource and must still reach B);
    // - s2 joined on B, its other resource on the owner;
    // - s3 with both on B.
    let layout = [("s1", &b, &a), ("s2", &a, &b), ("s3", &b, &b)];
    let (mut feeds, mut joined) = (Vec::new(), Vec::new());
    for (u, feed_node, joined_node) in layout {
        let mut c = connect(feed_node, u).await;
        subscribe(&mut c, &r, u).await;
        feeds.push(c);
        joined.push(joined_resource(joined_node, u, "in", &r).await);
    }
    for c in feeds
        .iter_mut()
        .chain(joined.iter_mut())
        .chain([&mut alice])
    {
        c.drain().await;
    }

    say(&mut alice, &r, "first").await;
    say(&mut alice, &r, "second").await;
    for ((u, _, _), c) in layout.iter().zip(&mut feeds) {
        assert_eq!(
            events_until(c, &["first", "second"], "second").await,
            [1, 1],
            "{u}/r, not joined, gets each message once as a MucSub event"
        );
        // A late duplicate would come before an event posted after it.
        say(&mut alice, &r, &format!("after {u}")).await;
        assert_eq!(
            events_until(c, &["first", "second"], &format!("after {u}")).await,
            [0, 0],
            "{u}/r got a message's event twice"
        );
    }
    for ((u, _, _), c) in layout.iter().zip(&mut joined) {
        plain_until(c, &format!("{u}/in"), "after s3").await;
    }
    let stored = rows(&db.url, "SELECT username FROM offline").await;
    let stored: Vec<String> = stored.iter().map(|row| row.get(0)).collect();
    assert!(
        stored.is_empty(),
        "nothing stored offline for accounts that are online: {stored:?}"
    );
}

/// Logs `user` in on `srv` as resource `resource`, available, self-presence drained.
async fn resource_on(srv: &ChildServer, user: &str, resource: &str) -> RawClient {
    let mut c = RawClient::login_tcp(srv.c2s_addr, user, "pw", Mech::Plain, None, Some(resource))
        .await
        .expect("login");
    c.send("<presence/>").await;
    c.drain().await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_not_joined_gets_the_events_on_whichever_node() {
    let TwoNodes {
        a,
        b,
        db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(3, &["alice", "s1", "s2"]).await;
    let r = room("spread");
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    // Node A owns the room; nobody but alice is joined. s1 has a resource on the owner,
    // A (reached there, which must not end the search), and one on B; s2 has both on B.
    let layout = [("s1", [&a, &b]), ("s2", [&b, &b])];
    let mut feeds = Vec::new();
    for (u, [first, second]) in layout {
        let mut c = resource_on(first, u, "r1").await;
        subscribe(&mut c, &r, u).await;
        feeds.push((format!("{u}/r1"), c));
        feeds.push((format!("{u}/r2"), resource_on(second, u, "r2").await));
    }
    for (_, c) in feeds.iter_mut() {
        c.drain().await;
    }
    alice.drain().await;

    say(&mut alice, &r, "first").await;
    say(&mut alice, &r, "second").await;
    for (who, c) in feeds.iter_mut() {
        assert_eq!(
            events_until(c, &["first", "second"], "second").await,
            [1, 1],
            "{who}, not joined, gets each message once as a MucSub event"
        );
        // A late duplicate would come before an event posted after it.
        let after = format!("after {who}");
        say(&mut alice, &r, &after).await;
        assert_eq!(
            events_until(c, &["first", "second"], &after).await,
            [0, 0],
            "{who} got a message's event twice"
        );
    }
    // A chat message to the bare JID reaches every available resource, as on one node.
    alice
        .send("<message to='s1@localhost' type='chat'><body>hi s1</body></message>")
        .await;
    for (who, c) in feeds.iter_mut().filter(|(who, _)| who.starts_with("s1/")) {
        loop {
            let el = c.recv().await;
            if el.attr("type") == Some("chat") {
                let body = el.get_child("body", CLIENT).map(|b| b.text());
                assert_eq!(body.as_deref(), Some("hi s1"), "{who}");
                break;
            }
        }
    }
    let stored = rows(&db.url, "SELECT username FROM offline").await;
    let stored: Vec<String> = stored.iter().map(|row| row.get(0)).collect();
    assert!(
        stored.is_empty(),
        "nothing stored offline for accounts that are online: {stored:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_alone_looks_for_no_session_elsewhere() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let db = mucsub_server::testkit::postgres::shared()
        .fresh_database()
        .await;
    let nats = mucsub_server::testkit::nats::NatsServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = cluster_support::spawn(bin, dir.path(), "a", &db.url, &nats.url(), 3).await;
    for u in ["alice", "s1"] {
        mucsub_server::testkit::ChildServer::add_user(bin, dir.path(), u, "pw").await;
    }
    let r = room("alone");
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    let mut feeds = vec![resource_on(&a, "s1", "r1").await];
    subscribe(&mut feeds[0], &r, "s1").await;
    feeds.push(resource_on(&a, "s1", "r2").await);
    for c in feeds.iter_mut().chain([&mut alice]) {
        c.drain().await;
    }

    // A cluster of one node: an account reached here has no session elsewhere to look
    // for, so a room's events cost no directory lookup (nor does a chat message).
    let lookups = counter(&a, "mucsub_cluster_directory_lookups_total").await;
    say(&mut alice, &r, "first").await;
    for c in &mut feeds {
        event_with(c, "first").await;
    }
    alice
        .send("<message to='s1@localhost' type='chat'><body>hi</body></message>")
        .await;
    for c in &mut feeds {
        loop {
            let el = c.recv().await;
            if el.attr("type") == Some("chat") {
                break;
            }
        }
    }
    assert_eq!(
        counter(&a, "mucsub_cluster_directory_lookups_total").await - lookups,
        0,
        "no session directory lookup on a node alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarding_node_claims_a_room_once_not_per_stanza() {
    let TwoNodes {
        a,
        b,
        db: _db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(3, &["alice", "bob"]).await;
    let r = room("owned");
    let mut alice = connect(&a, "alice").await;
    join(&mut alice, &r, "alice").await;
    // Bob on node B: his subscription is forwarded to A, after one claim found A there.
    let mut bob = connect(&b, "bob").await;
    subscribe(&mut bob, &r, "bob").await;
    bob.drain().await;

    let claims = counter(&b, "mucsub_cluster_claims_total").await;
    for n in 0..5 {
        let body = format!("from bob {n}");
        post(&mut bob, &r, &body).await;
        event_with(&mut bob, &body).await;
    }
    assert_eq!(
        counter(&b, "mucsub_cluster_claims_total").await - claims,
        0,
        "node B forwards to the owner it knows, without a claim query per stanza"
    );
}

/// Whether node `node`'s newest incarnation has a running lease; its number.
async fn newest_incarnation(url: &str, node: &str) -> (i64, bool) {
    let got = rows(
        url,
        &format!(
            "SELECT incarnation, lease_until > now() FROM cluster_incarnations
             WHERE node = '{node}' ORDER BY incarnation DESC LIMIT 1"
        ),
    )
    .await;
    (got[0].get(0), got[0].get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_from_a_lost_lease_is_reached_again() {
    let TwoNodes {
        a,
        b,
        db,
        dirs: _dirs,
        nats: _nats,
    } = two_nodes(1, &["alice", "bob"]).await;
    let mut alice = connect(&a, "alice").await;
    let mut bob = connect(&b, "bob").await;
    let chat = |n: &str| {
        format!("<message to='bob@localhost' type='chat' id='{n}'><body>{n}</body></message>")
    };
    alice.send(&chat("before")).await;
    bob.expect("the chat message across nodes", |e| {
        e.attr("id") == Some("before")
    })
    .await;

    // B stops with its sockets open until its lease has expired, then resumes and
    // starts a new incarnation.
    let (old, _) = newest_incarnation(&db.url, "b").await;
    b.signal("STOP");
    while newest_incarnation(&db.url, "b").await.1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.signal("CONT");
    tokio::time::timeout(TIMEOUT, async {
        while newest_incarnation(&db.url, "b").await == (old, false) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("node B rejoined");

    // Bob never left: alice's messages reach him live again (the first ones may still
    // find the directory without him, and wait offline).
    tokio::time::timeout(TIMEOUT * 2, async {
        for n in 0.. {
            let id = format!("after-{n}");
            alice.send(&chat(&id)).await;
            while let Some(el) = bob.try_recv(Duration::from_millis(500)).await {
                if el.attr("id").is_some_and(|i| i.starts_with("after-")) {
                    return;
                }
            }
        }
    })
    .await
    .expect("a message to bob reached him live on node B after it rejoined");
}
