//! Push and stream management (docs/protocol.md X10, X11): a session waiting to be resumed
//! counts as inactive, so the phone is notified while its stream waits; once resumed it is
//! active again; when resumption times out, what goes to offline storage is not pushed a
//! second time. And Bind 2's inline `<inactive/>` starts a session inactive.
//!
//! "No push" is shown as in `push_csi.rs`: deliveries of one account go out in order, so
//! when the next push is a later marker, the events in between produced none.

#[path = "scenarios/support.rs"]
mod support;

mod push_support;

use mucsub_server::testkit::{Mech, RawClient, Resumption, Sasl2Login, TestServer};
use push_support::{push_of, PushService};
use std::time::Duration;
use support::*;

const PUSH: &str = "push.localhost";

async fn push_server(
    users: &[&str],
    f: impl FnOnce(&mut mucsub_server::config::Config),
) -> TestServer {
    server_with(users, |c| {
        c.push
            .insert("allow_http_endpoints".into(), toml::Value::Boolean(true));
        f(c);
    })
    .await
}

/// Bob's phone: stream management on, push registered, subscribed to `r`.
async fn phone(s: &TestServer, svc: &PushService, r: &str) -> (RawClient, String) {
    let mut b = RawClient::login_tcp(s.c2s_addr(), "bob", "pw", Mech::Plain, None, Some("phone"))
        .await
        .unwrap();
    b.send("<presence/>").await;
    b.drain_for(Duration::from_millis(100)).await;
    let sub = svc.subscribe("bob-phone");
    sub.enable(&mut b, PUSH, true).await;
    subscribe(&mut b, r, "bob").await;
    let id = b.enable_sm().await.id.unwrap();
    (b, id)
}

#[tokio::test]
async fn the_phone_is_pushed_while_its_stream_waits() {
    let s = push_server(&["alice", "bob"], |_| {}).await;
    let mut svc = PushService::start().await;
    svc.expect_vapid_key(push_of(&s).vapid_public_key());
    let r = room("waits");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let (mut b, previd) = phone(&s, &svc, &r).await;

    say(&mut a, &r, "live").await;
    expect_message_event(&mut b, "live").await;
    b.ack().await;
    b.request_ack().await;
    let h = b.sm_h();
    b.disconnect();

    // The stream waits: the event is queued for it, and the phone is notified.
    say(&mut a, &r, "while away").await;
    let got = svc.next().await;
    assert_eq!(
        got.json["body"], "while away",
        "the first push: 'live' made none"
    );

    let (mut b, res) = RawClient::resume_tcp(s.c2s_addr(), "bob", "pw", &previd, h).await;
    assert!(matches!(res, Resumption::Resumed(_)), "{res:?}");
    expect_message_event(&mut b, "while away").await;

    // Resumed: active again, so no push; shown by the next push being the marker.
    say(&mut a, &r, "after resume").await;
    expect_message_event(&mut b, "after resume").await;
    b.disconnect();
    say(&mut a, &r, "marker").await;
    let got = svc.next().await;
    assert_eq!(got.json["body"], "marker");
}

#[tokio::test]
async fn a_timed_out_stream_is_not_pushed_twice() {
    let s = push_server(&["alice", "bob"], |c| {
        c.stream_management.resume_timeout_secs = 1
    })
    .await;
    let mut svc = PushService::start().await;
    svc.expect_vapid_key(push_of(&s).vapid_public_key());
    let r = room("twice");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let (b, _) = phone(&s, &svc, &r).await;
    b.disconnect();
    say(&mut a, &r, "m1").await;
    assert_eq!(svc.next().await.json["body"], "m1");
    // The timeout stores m1 offline without another notification.
    wait_offline(&s, "bob", 1).await;
    say(&mut a, &r, "m2").await;
    assert_eq!(
        svc.next().await.json["body"],
        "m2",
        "the next push is m2, not m1 again"
    );
    assert!(svc.drain().is_empty());
}

#[tokio::test]
async fn bind2_inline_inactive_starts_the_session_inactive() {
    let s = push_server(&["alice", "bob"], |_| {}).await;
    let mut svc = PushService::start().await;
    svc.expect_vapid_key(push_of(&s).vapid_public_key());
    let r = room("inline");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    // Registered and subscribed on a first session, which then closes.
    let (b, _) = phone(&s, &svc, &r).await;
    b.close().await;
    let mut login = Sasl2Login::plain("bob", "pw");
    login.bind = Some(("web".into(), true, true));
    let (mut b, success) = RawClient::sasl2_ws(&s.ws_url(), &login).await;
    success.expect("signed in");
    b.send("<presence/>").await;
    b.drain_for(Duration::from_millis(200)).await;
    say(&mut a, &r, "inactive from the start").await;
    expect_message_event(&mut b, "inactive from the start").await;
    assert_eq!(svc.next().await.json["body"], "inactive from the start");
}
