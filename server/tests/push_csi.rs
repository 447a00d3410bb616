//! XEP-0352 Client State Indication and push: a session that says `<inactive/>` keeps
//! receiving its stanzas, and while every session of the account is inactive each storable
//! event is also pushed (the user is not looking at the app). `<active/>` stops that.
//!
//! "No push" is shown without waiting for silence: deliveries of one account go out in
//! order, so when the next push that arrives is a later marker event, the events in between
//! produced none.

#[path = "scenarios/support.rs"]
mod support;

mod push_support;

use mucsub_server::testkit::{Mech, RawClient, TestServer};
use push_support::{push_of, PushService};
use std::time::Duration;
use support::*;

const PUSH: &str = "push.localhost";
const CSI: &str = "urn:xmpp:csi:0";

async fn push_server(users: &[&str]) -> TestServer {
    server_with(users, |c| {
        c.push
            .insert("allow_http_endpoints".into(), toml::Value::Boolean(true));
    })
    .await
}

async fn push_service(s: &TestServer) -> PushService {
    let svc = PushService::start().await;
    svc.expect_vapid_key(push_of(s).vapid_public_key());
    svc
}

/// Sends a CSI element, then a ping: the session handles its input in order, so once the
/// ping is answered the state change is in effect (and the stream is still up).
async fn set_state(c: &mut RawClient, state: &str) {
    c.send(&format!("<{state} xmlns='{CSI}'/>")).await;
    let id = c.next_id();
    let pong = c
        .iq(&format!(
            "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    assert_result(&pong);
}

#[tokio::test]
async fn inactive_session_is_pushed_and_active_again_is_not() {
    let s = push_server(&["alice", "bob"]).await;
    let mut svc = push_service(&s).await;
    let r = room("csi");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let mut b = login(&s, "bob", "phone").await;
    let sub = svc.subscribe("bob-phone");
    sub.enable(&mut b, PUSH, true).await;
    subscribe(&mut b, &r, "bob").await;

    // Inactive: the event still reaches the session, and it is pushed too.
    set_state(&mut b, "inactive").await;
    say(&mut a, &r, "while inactive").await;
    expect_message_event(&mut b, "while inactive").await;
    let got = svc.next().await;
    assert_eq!(got.subscription, "bob-phone");
    assert_eq!(got.json["body"], "while inactive");
    assert_eq!(got.json["room"], r);
    assert_eq!(got.json["sender"], "alice");

    // Active again: delivered, not pushed.
    set_state(&mut b, "active").await;
    say(&mut a, &r, "while active").await;
    expect_message_event(&mut b, "while active").await;

    // One session inactive while another is active: the user sees it on the active one.
    set_state(&mut b, "inactive").await;
    let mut desk = login(&s, "bob", "desk").await;
    say(&mut a, &r, "one of two inactive").await;
    expect_message_event(&mut b, "one of two inactive").await;
    expect_message_event(&mut desk, "one of two inactive").await;

    // Both inactive: pushed again. This is the next push, so the two above made none.
    set_state(&mut desk, "inactive").await;
    say(&mut a, &r, "both inactive").await;
    expect_message_event(&mut desk, "both inactive").await;
    let got = svc.next().await;
    assert_eq!(got.json["body"], "both inactive");

    // Offline still pushes, and nothing else came in between.
    b.close().await;
    go_offline(&s, desk, "bob@localhost").await;
    say(&mut a, &r, "offline").await;
    let got = svc.next().await;
    assert_eq!(got.json["body"], "offline");
    let late: Vec<_> = svc.drain().into_iter().collect();
    assert!(late.is_empty(), "unexpected pushes: {late:?}");
}

#[tokio::test]
async fn csi_is_advertised_after_auth_and_keeps_the_stream() {
    let s = push_server(&["bob"]).await;
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    let before = c.read_features().await;
    assert!(
        !before.has_child("csi", CSI),
        "CSI is offered only to an authenticated stream"
    );
    c.authenticate("bob", "pw", Mech::Plain).await.unwrap();
    c.open().await;
    let after = c.read_features().await;
    assert!(after.has_child("csi", CSI), "{}", String::from(&after));
    c.bind(Some("csi")).await;
    c.send("<presence/>").await;
    c.drain_for(Duration::from_millis(100)).await;

    // Before this server knew CSI these ended the stream with unsupported-stanza-type.
    set_state(&mut c, "inactive").await;
    set_state(&mut c, "active").await;
    set_state(&mut c, "inactive").await;
    let id = c.next_id();
    let info = c
        .iq(&format!(
            "<iq type='get' id='{id}' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert_result(&info);
    c.close().await;
}
