//! Offline storage: messages to an account with no available resource are stored,
//! bounded, and delivered with `<delay/>` on the next initial presence — also after a
//! server restart.

use mucsub_server::ns;
use mucsub_server::testkit::TestServer;
use std::time::Duration;

fn body(el: &minidom::Element) -> String {
    el.get_child("body", ns::CLIENT)
        .map(|b| b.text())
        .unwrap_or_default()
}

#[tokio::test]
async fn stored_while_offline_delivered_with_delay_in_order() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut a = s.login("alice", "pw").await;
    for i in 0..3 {
        a.send(&format!(
            "<message to='bob@localhost' type='chat' id='o{i}'><body>offline {i}</body></message>"
        ))
        .await;
    }
    // A headline is not stored; a round trip makes sure everything was routed.
    a.send("<message to='bob@localhost' type='headline'><body>news</body></message>")
        .await;
    a.iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(s.ctx().offline.count("bob").await.unwrap(), 3);

    // Bound but not yet available: nothing is delivered.
    let mut b = s.login_bound("bob", "pw", Some("phone")).await;
    assert!(b.try_recv(Duration::from_millis(300)).await.is_none());
    b.send("<presence/>").await;
    for i in 0..3 {
        let m = b.expect_message().await;
        assert_eq!(body(&m), format!("offline {i}"));
        assert_eq!(m.attr("from"), Some(a.jid.as_str()));
        let d = m.get_child("delay", ns::DELAY).expect("delay");
        assert_eq!(d.attr("from"), Some("localhost"));
        assert!(d.attr("stamp").unwrap().ends_with('Z'));
    }
    assert!(b.try_recv(Duration::from_millis(300)).await.is_none());
    assert_eq!(s.ctx().offline.count("bob").await.unwrap(), 0);
}

#[tokio::test]
async fn queue_is_bounded_and_overflow_bounces() {
    let s = TestServer::start_with(|c| c.limits.offline_max_per_account = 2).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut a = s.login("alice", "pw").await;
    for i in 0..3 {
        a.send(&format!(
            "<message to='bob@localhost' type='chat' id='q{i}'><body>{i}</body></message>"
        ))
        .await;
    }
    let e = a
        .expect("the bounce", |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(e.attr("id"), Some("q2"));
    assert!(e
        .get_child("error", ns::CLIENT)
        .unwrap()
        .has_child("resource-constraint", ns::STANZAS_ERR));
    assert_eq!(s.ctx().offline.count("bob").await.unwrap(), 2);
}

#[tokio::test]
async fn offline_messages_and_accounts_survive_restart() {
    let mut s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut a = s.login("alice", "pw").await;
    a.send("<message to='bob@localhost' type='chat'><body>kept</body></message>")
        .await;
    a.iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    s.restart().await;
    // The old connection was closed properly by the shutdown.
    a.expect_stream_end().await;
    let mut b = s.login("bob", "pw").await;
    let m = b.expect_message().await;
    assert_eq!(body(&m), "kept");
    assert!(m.has_child("delay", ns::DELAY));
}

#[tokio::test]
async fn mucsub_style_delivery_api() {
    use mucsub_server::router::Delivery;
    let s = TestServer::start().await;
    s.add_user("bob", "pw").await;
    let router = &s.ctx().router;
    let ev = |id: &str| -> minidom::Element {
        mucsub_server::testkit::xml_with_ns(&format!(
            "<message from='room@conference.localhost' to='bob@localhost' id='{id}'><body>{id}</body></message>"
        ))
    };
    assert!(!router.is_available("bob@localhost"));
    assert_eq!(
        router
            .deliver_to_account("bob@localhost", ev("presence-ev"), false)
            .await,
        Delivery::Dropped
    );
    assert_eq!(
        router
            .deliver_to_account("bob@localhost", ev("stored-ev"), true)
            .await,
        Delivery::Stored
    );
    assert_eq!(
        router
            .deliver_to_account("nobody@localhost", ev("x"), true)
            .await,
        Delivery::Dropped
    );
    let mut b1 = s.login("bob", "pw").await;
    assert_eq!(body(&b1.expect_message().await), "stored-ev");
    let mut b2 = s.login_bound("bob", "pw", Some("second")).await;
    b2.send("<presence/>").await;
    b2.iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert!(router.is_available("bob@localhost"));
    assert_eq!(
        router
            .deliver_to_account("bob@localhost", ev("live"), true)
            .await,
        Delivery::Online(2)
    );
    assert_eq!(body(&b1.expect_message().await), "live");
    assert_eq!(body(&b2.expect_message().await), "live");
    // Template fan-out to a full JID.
    let t = mucsub_server::stanza::Template::new(&ev("tpl"));
    assert!(router.send_template(&b2.jid, &t));
    let m = b2.expect_message().await;
    assert_eq!(m.attr("to"), Some(b2.jid.as_str()));
    assert_eq!(body(&m), "tpl");
}
