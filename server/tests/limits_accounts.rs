//! Per-account limits (`[limits]`): bound sessions, MucSub subscriptions, rooms owned,
//! and the largest MAM page. Each refusal leaves what exists untouched, and freeing one
//! (closing a session, unsubscribing, destroying a room) makes room for another.

#[path = "scenarios/support.rs"]
mod support;

use std::time::Duration;

use mucsub_server::testkit::{Mech, RawClient, TestServer};
use support::*;

async fn ping(c: &mut RawClient, id: &str) {
    let r = c
        .iq(&format!(
            "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    assert_result(&r);
}

/// Authenticated on a restarted stream, not bound yet.
async fn authenticated(s: &TestServer, user: &str) -> RawClient {
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    c.read_features().await;
    c.authenticate(user, "pw", Mech::Plain)
        .await
        .expect("authenticated");
    c.open().await;
    c.read_features().await;
    c
}

async fn bind_reply(c: &mut RawClient, id: &str, resource: &str) -> minidom::Element {
    c.iq(&format!(
        "<iq type='set' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>"
    ))
    .await
}

#[tokio::test]
async fn sessions_per_account() {
    let s = server_with(&["alice", "bob"], |c| c.limits.max_sessions_per_account = 2).await;
    let mut r1 = login(&s, "alice", "r1").await;
    let mut r2 = login(&s, "alice", "r2").await;
    let mut third = authenticated(&s, "alice").await;
    // RFC 6120 7.6.2.1: too many resources bound is resource-constraint, type wait.
    let e = bind_reply(&mut third, "b1", "r3").await;
    assert_error(&e, "wait", "resource-constraint");
    // Another account is not affected, and neither are alice's sessions.
    let mut b = login(&s, "bob", "b").await;
    ping(&mut b, "b").await;
    ping(&mut r1, "p1").await;
    ping(&mut r2, "p2").await;
    assert!(!s.ctx().router.has_resource("alice", "r3"));

    // One of them goes: the same stream may now bind.
    r2.close().await;
    for _ in 0..500 {
        if !s.ctx().router.has_resource("alice", "r2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ok = bind_reply(&mut third, "b2", "r3").await;
    assert_result(&ok);
    ping(&mut third, "p3").await;
    ping(&mut r1, "p4").await;

    // Taking over a bound resource is not one more session: allowed even at the limit.
    let mut again = authenticated(&s, "alice").await;
    let ok = bind_reply(&mut again, "b3", "r1").await;
    assert_result(&ok);
    assert_eq!(r1.expect_stream_error().await, "conflict");
    ping(&mut again, "p5").await;
    ping(&mut third, "p6").await;
}

/// Three rooms owned by carol, for alice and bob to subscribe to.
async fn rooms_of_carol(s: &TestServer, names: &[&str]) -> RawClient {
    let mut c = login(s, "carol", "c").await;
    for n in names {
        join(&mut c, &room(n), "carol").await;
    }
    c
}

fn assert_over_subscription_limit(e: &minidom::Element) {
    assert_error(e, "modify", "policy-violation");
}

#[tokio::test]
async fn subscriptions_per_account_survive_restart() {
    let mut s = server_with(&["alice", "bob", "carol"], |c| {
        c.limits.max_subscriptions_per_account = 2
    })
    .await;
    let _carol = rooms_of_carol(&s, &["s1", "s2", "s3"]).await;
    let mut a = login(&s, "alice", "a").await;
    subscribe(&mut a, &room("s1"), "alice").await;
    subscribe(&mut a, &room("s2"), "alice").await;
    let e = subscribe_raw(&mut a, &room("s3"), "nick='alice'", ALL_NODES).await;
    assert_over_subscription_limit(&e);
    // Subscribing to a room that does not exist yet is refused before it is created.
    let e = subscribe_raw(&mut a, &room("fresh"), "nick='alice'", ALL_NODES).await;
    assert_over_subscription_limit(&e);
    let id = a.next_id();
    let info = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{}'><query xmlns='{DISCO_INFO}'/></iq>",
            room("fresh")
        ))
        .await;
    assert_error(&info, "cancel", "item-not-found");
    // Changing an existing subscription is not a new one.
    subscribe(&mut a, &room("s1"), "alice2").await;
    // Per account: bob may subscribe where alice may not.
    let mut b = login(&s, "bob", "b").await;
    subscribe(&mut b, &room("s3"), "bob").await;
    // The refused one left nothing behind; the others still deliver.
    let rows = s
        .ctx()
        .storage
        .muc
        .subscription_count("alice@localhost")
        .await
        .expect("count");
    assert_eq!(rows, 2);

    // Unsubscribing frees one.
    assert_result(&unsubscribe(&mut a, &room("s2"), "").await);
    subscribe(&mut a, &room("s3"), "alice").await;
    let e = subscribe_raw(&mut a, &room("s2"), "nick='alice'", ALL_NODES).await;
    assert_over_subscription_limit(&e);

    // The count is what is stored: after a restart the limit still holds.
    drop(a);
    drop(b);
    s.restart().await;
    let mut a = login(&s, "alice", "a").await;
    let e = subscribe_raw(&mut a, &room("s2"), "nick='alice'", ALL_NODES).await;
    assert_over_subscription_limit(&e);
    assert_result(&unsubscribe(&mut a, &room("s1"), "").await);
    subscribe(&mut a, &room("s2"), "alice").await;
    assert_eq!(mucsub_server::testkit::panics(), 0);
}

/// A moderator subscribing someone else counts against that account, not the moderator.
#[tokio::test]
async fn subscribing_someone_else_counts_for_them() {
    let s = server_with(&["alice", "carol"], |c| {
        c.limits.max_subscriptions_per_account = 1
    })
    .await;
    let mut c = rooms_of_carol(&s, &["o1", "o2"]).await;
    let reply = subscribe_raw(
        &mut c,
        &room("o1"),
        "jid='alice@localhost' nick='alice'",
        ALL_NODES,
    )
    .await;
    assert_result(&reply);
    let e = subscribe_raw(
        &mut c,
        &room("o2"),
        "jid='alice@localhost' nick='alice'",
        ALL_NODES,
    )
    .await;
    assert_over_subscription_limit(&e);
    // Carol herself has none yet.
    subscribe(&mut c, &room("o2"), "carol").await;
}

async fn destroy(c: &mut RawClient, r: &str) {
    let id = c.next_id();
    let res = c
        .iq(&format!(
            "<iq type='set' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'><destroy/></query></iq>"
        ))
        .await;
    assert_result(&res);
}

#[tokio::test]
async fn rooms_per_account() {
    let mut s = server_with(&["alice", "bob"], |c| c.limits.max_rooms_per_account = 2).await;
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &room("a1"), "alice").await;
    join(&mut a, &room("a2"), "alice").await;
    // XEP-0045 §10.1.1: creation refused by policy is not-allowed.
    let e = join_fails(&mut a, &room("a3"), "alice", "").await;
    assert_error(&e, "cancel", "not-allowed");
    // Creating by subscribing is refused the same way, and creates nothing.
    let e = subscribe_raw(&mut a, &room("a4"), "nick='alice'", ALL_NODES).await;
    assert_error(&e, "cancel", "not-allowed");
    let mut b = login(&s, "bob", "b").await;
    let id = b.next_id();
    let info = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{}'><query xmlns='{DISCO_INFO}'/></iq>",
            room("a4")
        ))
        .await;
    assert_error(&info, "cancel", "item-not-found");
    // Others still create rooms, and alice still joins rooms she does not own.
    join(&mut b, &room("b1"), "bob").await;
    join(&mut a, &room("b1"), "alice").await;
    // Her rooms are untouched.
    post(&mut a, &room("a1"), "still mine").await;
    a.expect_message().await;

    // Destroying one frees a slot.
    destroy(&mut a, &room("a1")).await;
    join(&mut a, &room("a3"), "alice").await;
    let e = join_fails(&mut a, &room("a5"), "alice", "").await;
    assert_error(&e, "cancel", "not-allowed");

    // Counted from storage: still two after a restart.
    drop(a);
    drop(b);
    s.restart().await;
    let mut a = login(&s, "alice", "a").await;
    let e = join_fails(&mut a, &room("a5"), "alice", "").await;
    assert_error(&e, "cancel", "not-allowed");
    assert_eq!(mucsub_server::testkit::panics(), 0);
}

#[tokio::test]
async fn mam_page_limit_is_in_limits() {
    let s = server_with(&["alice"], |c| c.limits.mam_max_page = 4).await;
    let mut a = login(&s, "alice", "a").await;
    let r = room("paged");
    join(&mut a, &r, "alice").await;
    for i in 0..7 {
        post(&mut a, &r, &format!("m{i}")).await;
        a.expect_message().await;
    }
    let id = a.next_id();
    let (reply, before) = iq_collect(
        &mut a,
        &format!(
            "<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}' queryid='{id}'><set xmlns='{RSM}'><max>100</max></set></query></iq>"
        ),
    )
    .await;
    assert_result(&reply);
    let n = before
        .iter()
        .filter(|m| {
            m.get_child("result", MAM)
                .is_some_and(|x| x.attr("queryid") == Some(id.as_str()))
        })
        .count();
    assert_eq!(n, 4);
    let complete = reply.get_child("fin", MAM).and_then(|f| f.attr("complete"));
    assert_ne!(complete, Some("true"));
}

#[test]
fn account_limit_defaults() {
    let c = mucsub_server::config::Config::parse("").expect("defaults");
    let l = &c.limits;
    assert!((2..=100).contains(&l.max_sessions_per_account));
    assert!(l.max_subscriptions_per_account >= 100);
    assert!(l.max_rooms_per_account >= 10);
    assert_eq!(
        l.mam_max_page,
        mucsub_server::muc::Settings::default().mam_max_page
    );
}
