//! Keepalive: a client that stops answering (a phone put to sleep) loses its session, so
//! what is sent to it goes to offline storage; a client that answers keeps it.

use mucsub_server::ns;
use mucsub_server::testkit::{Mech, RawClient, TestServer, TIMEOUT};
use std::time::Duration;

async fn wait_unavailable(s: &TestServer, bare: &str) {
    tokio::time::timeout(TIMEOUT, async {
        while s.ctx().router.is_available(bare) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the silent session was dropped");
}

#[tokio::test]
async fn silent_clients_are_dropped_and_messages_go_offline() {
    let s = TestServer::start_with(|c| {
        c.limits.keepalive_secs = 1;
        c.limits.keepalive_timeout_secs = 1;
    })
    .await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut tcp = s.login("bob", "pw").await;
    tcp.iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    // Bob stops reading: the server's XEP-0199 ping goes unanswered.
    wait_unavailable(&s, "bob@localhost").await;
    let ping = tcp.recv().await;
    assert_eq!(ping.attr("type"), Some("get"));
    assert_eq!(ping.attr("from"), Some("localhost"));
    assert!(ping.has_child("ping", ns::PING));

    let mut ws = RawClient::login_ws(&s.ws_url(), "alice", "pw", Mech::ScramSha256, None)
        .await
        .unwrap();
    ws.send("<presence/>").await;
    ws.iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    // Not reading means no pong to the WebSocket ping.
    wait_unavailable(&s, "alice@localhost").await;

    let mut a = s.login("alice", "pw").await;
    a.send("<message to='bob@localhost' type='chat'><body>while asleep</body></message>")
        .await;
    a.iq("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(s.ctx().offline.count("bob").await.unwrap(), 1);
}

#[tokio::test]
async fn answering_clients_keep_their_session() {
    let s = TestServer::start_with(|c| {
        c.limits.keepalive_secs = 1;
        c.limits.keepalive_timeout_secs = 10;
    })
    .await;
    s.add_user("bob", "pw").await;
    let mut tcp = s.login("bob", "pw").await;
    let mut ws = RawClient::login_ws(&s.ws_url(), "bob", "pw", Mech::Plain, Some("ws"))
        .await
        .unwrap();
    ws.send("<presence/>").await;
    let mut pings = 0;
    while pings < 2 {
        // Reading the WebSocket answers its pings; the TCP client answers IQ pings.
        let _ = ws.try_recv(Duration::from_millis(100)).await;
        if let Some(p) = tcp.try_recv(Duration::from_millis(100)).await {
            assert!(p.has_child("ping", ns::PING), "{p:?}");
            let id = p.attr("id").unwrap().to_owned();
            tcp.send(&format!("<iq type='result' to='localhost' id='{id}'/>"))
                .await;
            pings += 1;
        }
    }
    let _ = ws.try_recv(Duration::from_millis(100)).await;
    let r = tcp
        .iq("<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let r = ws
        .iq("<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected_when_its_queue_fills() {
    let s = TestServer::start_with(|c| c.limits.session_queue = 8).await;
    s.add_user("bob", "pw").await;
    let mut b = s.login("bob", "pw").await;
    b.iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    // Bob reads nothing while a flood far larger than the socket buffers is routed to him.
    let big = "z".repeat(16 * 1024);
    let mut n = 0;
    while s.ctx().router.is_available("bob@localhost") && n < 20_000 {
        let el = mucsub_server::testkit::xml_with_ns(&format!(
            "<message from='room@conference.localhost' to='{}' type='groupchat'><body>{big}</body></message>",
            b.jid
        ));
        s.ctx().router.route(el).await;
        n += 1;
        if n % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // He gets what was written, then a stream error instead of a silent gap.
    assert_eq!(b.expect_stream_error().await, "policy-violation");
}
