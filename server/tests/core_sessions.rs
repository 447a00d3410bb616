//! Login over TCP (PLAIN, SCRAM, STARTTLS) and WebSocket, messages between accounts,
//! routing to bare and full JIDs with priorities, server IQs.

use mucsub_server::ns;
use mucsub_server::testkit::{mechanisms, Mech, RawClient, TestServer};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(400);

fn body(el: &minidom::Element) -> String {
    el.get_child("body", ns::CLIENT)
        .map(|b| b.text())
        .unwrap_or_default()
}

#[tokio::test]
async fn scram_over_starttls_and_websocket_exchange_messages() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw-a").await;
    s.add_user("bob", "pw-b").await;
    let ca = s.dev_cert();
    let mut a = RawClient::login_tcp(
        s.c2s_addr(),
        "alice",
        "pw-a",
        Mech::ScramSha256,
        Some(&ca),
        Some("tcp"),
    )
    .await
    .unwrap();
    assert_eq!(a.jid, "alice@localhost/tcp");
    let mut b = RawClient::login_ws(&s.ws_url(), "bob", "pw-b", Mech::ScramSha1, None)
        .await
        .unwrap();
    assert!(
        b.jid.starts_with("bob@localhost/"),
        "generated resource: {}",
        b.jid
    );
    a.send("<presence/>").await;
    b.send("<presence/>").await;
    // `from` is forged: the server must overwrite it.
    a.send("<message from='mallory@localhost/x' to='bob@localhost' type='chat' id='m1'><body>hello bob</body></message>")
        .await;
    let m = b.expect_message().await;
    assert_eq!(m.attr("from"), Some("alice@localhost/tcp"));
    assert_eq!(m.attr("id"), Some("m1"));
    assert_eq!(body(&m), "hello bob");
    let reply = format!(
        "<message to='{}' type='chat'><body>hi alice</body></message>",
        "alice@localhost/tcp"
    );
    b.send(&reply).await;
    let m = a.expect_message().await;
    assert_eq!(m.attr("from"), Some(b.jid.as_str()));
    assert_eq!(body(&m), "hi alice");
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn features_depend_on_transport_and_wrong_password_fails() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    let f = c.read_features().await;
    assert!(f.has_child("starttls", ns::TLS));
    let mechs = mechanisms(&f);
    assert_eq!(mechs, vec!["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
    assert_eq!(
        c.authenticate("alice", "wrong", Mech::ScramSha256).await,
        Err("not-authorized".into())
    );
    assert_eq!(
        c.authenticate("nobody", "pw", Mech::Plain).await,
        Err("not-authorized".into())
    );
    // SCRAM for an unknown account runs to the end like a wrong password.
    assert_eq!(
        c.authenticate("nobody", "pw", Mech::ScramSha1).await,
        Err("not-authorized".into())
    );
    assert_eq!(c.authenticate("alice", "pw", Mech::Plain).await, Ok(()));
    c.open().await;
    let f = c.read_features().await;
    assert!(f.has_child("bind", ns::BIND));
    // The legacy session IQ is accepted after binding.
    c.bind(Some("r1")).await;
    let r = c
        .iq("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}

#[tokio::test]
async fn bare_jid_routing_follows_priorities() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut a = s.login("alice", "pw").await;
    let mut b1 = s.login_bound("bob", "pw", Some("one")).await;
    let mut b2 = s.login_bound("bob", "pw", Some("two")).await;
    let mut b3 = s.login_bound("bob", "pw", Some("neg")).await;
    b1.send("<presence><priority>5</priority></presence>").await;
    b2.send("<presence><priority>0</priority></presence>").await;
    b3.send("<presence><priority>-1</priority></presence>")
        .await;
    // Let the presences be processed before routing depends on them: a round trip each.
    for c in [&mut b1, &mut b2, &mut b3] {
        let r = c
            .iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
            .await;
        assert_eq!(r.attr("type"), Some("result"));
    }
    a.send("<message to='bob@localhost' type='chat'><body>to bare</body></message>")
        .await;
    assert_eq!(body(&b1.expect_message().await), "to bare");
    assert_eq!(body(&b2.expect_message().await), "to bare");
    assert!(
        b3.try_recv(QUIET).await.is_none(),
        "negative priority gets nothing"
    );
    a.send("<message to='bob@localhost/neg' type='chat'><body>to full</body></message>")
        .await;
    assert_eq!(body(&b3.expect_message().await), "to full");
    assert!(b1.try_recv(QUIET).await.is_none());
    assert!(b2.try_recv(QUIET).await.is_none());
    // Unknown resource: a chat message falls back to the bare JID.
    a.send("<message to='bob@localhost/gone' type='chat'><body>fallback</body></message>")
        .await;
    assert_eq!(body(&b1.expect_message().await), "fallback");
    assert_eq!(body(&b2.expect_message().await), "fallback");
    // ... an IQ gets service-unavailable.
    let r = a
        .iq("<iq type='get' id='q1' to='bob@localhost/gone'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("error"));
    assert!(r
        .get_child("error", ns::CLIENT)
        .unwrap()
        .has_child("service-unavailable", ns::STANZAS_ERR));
    // An IQ to a full JID reaches that session, with the real sender.
    a.send("<iq type='get' id='q2' to='bob@localhost/one'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let q = b1.expect("the ping", |e| e.name() == "iq").await;
    assert_eq!(q.attr("from"), Some(a.jid.as_str()));
}

#[tokio::test]
async fn server_iqs_and_errors() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut a = s.login("alice", "pw").await;
    let r = a
        .iq("<iq type='get' id='1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let r = a
        .iq("<iq type='get' id='2'><query xmlns='jabber:iq:roster'/></iq>")
        .await;
    let q = r.get_child("query", ns::ROSTER).expect("roster");
    assert_eq!(q.children().count(), 0);
    let r = a
        .iq("<iq type='get' id='3' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let q = r.get_child("query", ns::DISCO_INFO).unwrap();
    let features: Vec<&str> = q.children().filter_map(|f| f.attr("var")).collect();
    assert!(features.contains(&ns::PING));
    let r = a
        .iq("<iq type='get' id='4' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        .await;
    let items: Vec<&str> = r
        .get_child("query", ns::DISCO_ITEMS)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("jid"))
        .collect();
    assert_eq!(items, vec!["conference.localhost"]);
    let r = a
        .iq("<iq type='get' id='5'><vCard xmlns='vcard-temp'/></iq>")
        .await;
    assert!(r
        .get_child("error", ns::CLIENT)
        .unwrap()
        .has_child("service-unavailable", ns::STANZAS_ERR));
    let r = a
        .iq("<iq type='get' id='6' to='not a jid@@'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert!(r
        .get_child("error", ns::CLIENT)
        .unwrap()
        .has_child("jid-malformed", ns::STANZAS_ERR));
    let r = a.iq("<iq type='get' id='7' to='someone@elsewhere.example'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    assert!(r
        .get_child("error", ns::CLIENT)
        .unwrap()
        .has_child("remote-server-not-found", ns::STANZAS_ERR));
    // Messages to an account that does not exist bounce.
    a.send("<message to='ghost@localhost' type='chat' id='g'><body>x</body></message>")
        .await;
    let e = a
        .expect("bounce", |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(e.attr("from"), Some("ghost@localhost"));
}

#[tokio::test]
async fn resource_conflict_kicks_the_older_session() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut old = s.login_bound("alice", "pw", Some("same")).await;
    let mut new = s.login_bound("alice", "pw", Some("same")).await;
    assert_eq!(old.expect_stream_error().await, "conflict");
    let r = new
        .iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}
