//! Push through the whole server: a client enables XEP-0357 over XMPP, a room event reaches
//! the account while it has no session, and the loopback push service (which checks VAPID
//! and decrypts with the subscription's keys) receives the Web Push. Accounts that are
//! online, or joined to the room, get none.

#[path = "scenarios/support.rs"]
mod support;

mod push_support;

use minidom::Element;
use mucsub_server::testkit::{RawClient, TestServer};
use push_support::PushService;
use support::*;

const PUSH: &str = "push.localhost";

async fn push_server(users: &[&str]) -> TestServer {
    server_with(users, |c| {
        c.push
            .insert("allow_http_endpoints".into(), toml::Value::Boolean(true));
        c.push
            .insert("retry_base_ms".into(), toml::Value::Integer(10));
        c.push
            .insert("retry_max_ms".into(), toml::Value::Integer(50));
    })
    .await
}

/// `GET /push/vapid` on the server's HTTP listener.
async fn vapid_over_http(s: &TestServer) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(s.http_addr()).await.unwrap();
    c.write_all(b"GET /push/vapid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

/// A push service that only accepts this server's VAPID key.
async fn push_service(s: &TestServer) -> PushService {
    let svc = PushService::start().await;
    let vapid = vapid_over_http(s).await;
    svc.expect_vapid_key(vapid["publicKey"].as_str().unwrap());
    svc
}

async fn disable(c: &mut RawClient, node: &str) {
    let id = c.next_id();
    let reply = c
        .iq(&format!(
            "<iq type='set' id='{id}'><disable xmlns='urn:xmpp:push:0' jid='{PUSH}' node='{node}'/></iq>"
        ))
        .await;
    assert_result(&reply);
}

#[tokio::test]
async fn offline_subscriber_is_pushed_and_online_or_joined_ones_are_not() {
    let s = push_server(&["alice", "bob"]).await;
    let mut svc = push_service(&s).await;
    let r = room("garden");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let mut b = login(&s, "bob", "phone").await;
    let sub = svc.subscribe("bob-phone");
    sub.enable(&mut b, PUSH, true).await;
    subscribe(&mut b, &r, "bob").await;

    // Online: the event goes to the session, no push.
    say(&mut a, &r, "while online").await;
    expect_event(&mut b, "messages").await;
    // Joined: plain groupchat, no push.
    join(&mut b, &r, "bob").await;
    say(&mut a, &r, "while joined").await;
    b.expect("plain groupchat", |e| {
        e.attr("type") == Some("groupchat") && e.get_child("body", CLIENT).is_some()
    })
    .await;
    leave(&mut b, &r, "bob").await;
    go_offline(&s, b, "bob@localhost").await;

    // No session: stored offline and pushed.
    say(&mut a, &r, "while offline").await;
    let got = svc.next().await;
    // Deliveries of one account are in order: the first push is the offline message, so
    // the earlier ones produced none.
    assert_eq!(got.subscription, "bob-phone");
    assert_eq!(got.json["body"], "while offline");
    assert_eq!(got.json["room"], r);
    assert_eq!(got.json["sender"], "alice");
    assert_eq!(got.json["kind"], "message");
    assert!(got.json["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(got.json["count"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn include_body_false_and_disable_over_xmpp() {
    let s = push_server(&["alice", "bob"]).await;
    let mut svc = push_service(&s).await;
    let r = room("quiet");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let mut b = login(&s, "bob", "laptop").await;
    let old = svc.subscribe("bob-old");
    old.enable(&mut b, PUSH, false).await;
    subscribe(&mut b, &r, "bob").await;
    go_offline(&s, b, "bob@localhost").await;

    say(&mut a, &r, "the code is 1234").await;
    let got = svc.next().await;
    assert!(!got.plaintext.contains("1234"), "{}", got.plaintext);
    assert!(got.json.get("body").is_none());
    assert_eq!(got.json["room"], r);

    // Disabled: nothing for that device any more.
    let mut b = login(&s, "bob", "laptop").await;
    disable(&mut b, "bob-old").await;
    go_offline(&s, b, "bob@localhost").await;
    say(&mut a, &r, "after disable").await;

    let mut b = login(&s, "bob", "laptop").await;
    let new = svc.subscribe("bob-new");
    new.enable(&mut b, PUSH, true).await;
    go_offline(&s, b, "bob@localhost").await;
    say(&mut a, &r, "after re-enable").await;
    let got = svc.next().await;
    assert_eq!(got.subscription, "bob-new");
    assert_eq!(got.json["body"], "after re-enable");
}

#[tokio::test]
async fn expired_subscription_is_removed() {
    let s = push_server(&["alice", "bob"]).await;
    let mut svc = push_service(&s).await;
    let r = room("expiry");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let mut b = login(&s, "bob", "tablet").await;
    let gone = svc.subscribe("bob-gone");
    gone.enable(&mut b, PUSH, true).await;
    subscribe(&mut b, &r, "bob").await;
    go_offline(&s, b, "bob@localhost").await;

    svc.script(&[410]);
    say(&mut a, &r, "first").await;
    assert_eq!(svc.next().await.status, 410);
    say(&mut a, &r, "second").await;

    // A new device: its first push is the third message; the expired one got no more.
    let mut b = login(&s, "bob", "tablet").await;
    let fresh = svc.subscribe("bob-fresh");
    fresh.enable(&mut b, PUSH, true).await;
    go_offline(&s, b, "bob@localhost").await;
    say(&mut a, &r, "third").await;
    let got = svc.next().await;
    assert_eq!(got.subscription, "bob-fresh");
    assert_eq!(got.json["body"], "third");
}

#[tokio::test]
async fn push_is_advertised_and_the_vapid_key_published() {
    let s = push_server(&["bob"]).await;
    let vapid = vapid_over_http(&s).await;
    let key = vapid["publicKey"].as_str().unwrap().to_string();
    assert_eq!(vapid["service"], PUSH);
    let mut b = login(&s, "bob", "x").await;
    assert!(disco_features(&mut b, "localhost")
        .await
        .contains(&"urn:xmpp:push:0".to_string()));
    let id = b.next_id();
    let info = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{PUSH}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert_result(&info);
    let q = info.get_child("query", DISCO_INFO).unwrap();
    let form = q.get_child("x", DATA).unwrap();
    let field = form
        .children()
        .find(|f| f.attr("var") == Some("vapid-public-key"))
        .unwrap();
    assert_eq!(
        field.children().next().map(Element::text),
        Some(key.clone())
    );

    // The key survives a restart: browser subscriptions made against it stay valid.
    let mut s = s;
    drop(b);
    s.restart().await;
    assert_eq!(vapid_over_http(&s).await["publicKey"], key);
}
