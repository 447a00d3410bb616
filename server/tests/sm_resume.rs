//! XEP-0198 stream management over real TCP and WebSocket (docs/protocol.md X10): counting
//! both ways, resumption after a dropped connection with every unacknowledged stanza
//! delivered again exactly once and in order (chat, plain groupchat and wrapped MucSub
//! events alike) under the same full JID, refused resumptions, the resumption timeout
//! and its salvage to offline storage, the bound on a waiting session's queue, takeovers,
//! and bad input.

#[path = "scenarios/support.rs"]
mod support;

use minidom::Element;
use mucsub_server::testkit::{panics, Mech, RawClient, Resumption, TestServer};
use std::time::Duration;
use support::*;

const SM: &str = "urn:xmpp:sm:3";

#[derive(Clone, Copy, Debug)]
enum Via {
    Tcp,
    Ws,
}

/// Alice on `via`, bound to `phone`, available, with stream management (resumable).
async fn alice_managed(s: &TestServer, via: Via) -> (RawClient, String) {
    let mut a = match via {
        Via::Tcp => {
            RawClient::login_tcp(
                s.c2s_addr(),
                "alice",
                "pw",
                Mech::Plain,
                None,
                Some("phone"),
            )
            .await
        }
        Via::Ws => {
            RawClient::login_ws(&s.ws_url(), "alice", "pw", Mech::Plain, Some("phone")).await
        }
    }
    .expect("login");
    a.send("<presence/>").await;
    a.drain_for(Duration::from_millis(100)).await;
    let enabled = a.enable_sm().await;
    assert!(enabled.resume);
    assert_eq!(
        enabled.max,
        Some(s.config().stream_management.resume_timeout_secs),
        "the configured resumption timeout (300 s by default)"
    );
    (a, enabled.id.expect("an SM-ID"))
}

async fn resume(s: &TestServer, via: Via, previd: &str, h: u32) -> (RawClient, Resumption) {
    match via {
        Via::Tcp => RawClient::resume_tcp(s.c2s_addr(), "alice", "pw", previd, h).await,
        Via::Ws => RawClient::resume_ws(&s.ws_url(), "alice", "pw", previd, h).await,
    }
}

/// Carol's chat message to alice's bare JID, handled before this returns.
async fn chat(carol: &mut RawClient, body: &str) {
    chat_to(carol, "alice@localhost", body).await;
}

/// What a received stanza is, for comparing sequences: `chat:B`, `groupchat:B`,
/// `event:B` (a wrapped `messages` event carrying body B).
fn label(el: &Element) -> String {
    if let Some((node, _, inner)) = unwrap_event(el) {
        let body = inner
            .get_child("body", CLIENT)
            .map(|b| b.text())
            .unwrap_or_default();
        return format!("event:{node}:{body}");
    }
    let body = el
        .get_child("body", CLIENT)
        .map(|b| b.text())
        .unwrap_or_default();
    format!("{}:{body}", el.attr("type").unwrap_or("normal"))
}

/// Rooms for alice: `joined` (she is an occupant: plain groupchat) and `feed` (she is
/// subscribed: wrapped events). Bob posts in both.
async fn rooms(s: &TestServer, alice: &mut RawClient) -> (RawClient, String, String) {
    let joined = room("joined");
    let feed = room("feed");
    let mut bob = login(s, "bob", "desk").await;
    join(&mut bob, &joined, "bob").await;
    join(&mut bob, &feed, "bob").await;
    join(alice, &joined, "alice").await;
    subscribe(alice, &feed, "alice").await;
    alice.drain_for(Duration::from_millis(150)).await;
    bob.drain_for(Duration::from_millis(150)).await;
    (bob, joined, feed)
}

async fn resume_after_drop(via: Via) {
    let s = server(&["alice", "bob", "carol"]).await;
    let (mut a, previd) = alice_managed(&s, via).await;
    let (mut bob, joined, feed) = rooms(&s, &mut a).await;
    let mut carol = login(&s, "carol", "c").await;
    // The setup counted already (both ways): acknowledge it, and note the server's count.
    a.ack().await;
    let acked = a.sm_h();
    let base = a.request_ack().await;

    // Live: three stanzas received, none acknowledged.
    say(&mut bob, &joined, "g1").await;
    say(&mut bob, &feed, "e1").await;
    chat(&mut carol, "c1").await;
    let mut live = Vec::new();
    for _ in 0..3 {
        let el = a.expect("a live stanza", |e| e.name() == "message").await;
        live.push(label(&el));
    }
    assert_eq!(live, ["groupchat:g1", "event:messages:e1", "chat:c1"]);
    // Alice sends two stanzas: the server's h will be 2.
    a.send("<message to='carol@localhost' type='chat'><body>from alice</body></message>")
        .await;
    let id = a.next_id();
    a.iq(&format!(
        "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
    ))
    .await;
    // The last live stanza (and the ping's reply) "got lost in the air": h says only up
    // to c1's predecessor.
    let h = a.sm_h() - 2;
    assert_eq!(h, acked + 2);
    a.disconnect();

    // While the socket is dead: one of each kind more.
    say(&mut bob, &joined, "g2").await;
    say(&mut bob, &feed, "e2").await;
    chat(&mut carol, "c2").await;

    let (mut a, r) = resume(&s, via, &previd, h).await;
    let Resumption::Resumed(resumed) = r else {
        panic!("resumption refused: {r:?}");
    };
    assert_eq!(resumed.previd, previd);
    assert_eq!(
        resumed.h,
        base + 2,
        "the server handled alice's two stanzas"
    );
    let got: Vec<String> = a
        .drain()
        .await
        .iter()
        .filter(|e| e.name() == "message")
        .map(label)
        .collect();
    assert_eq!(
        got,
        ["chat:c1", "groupchat:g2", "event:messages:e2", "chat:c2"],
        "unacknowledged before the drop, then what came meanwhile: each once, in order"
    );

    // The same full JID: carol sees alice's new message from alice@localhost/phone.
    a.send("<message to='carol@localhost' type='chat'><body>back</body></message>")
        .await;
    let m = carol.expect_message().await;
    let m = if m.get_child("body", CLIENT).unwrap().text() == "from alice" {
        carol.expect_message().await
    } else {
        m
    };
    assert_eq!(m.attr("from"), Some("alice@localhost/phone"));
    // h both ways, continued: the server handled one more stanza of alice now.
    assert_eq!(a.request_ack().await, base + 3);

    // Everything acknowledged: a second drop and resumption sends nothing again.
    a.ack().await;
    let h = a.sm_h();
    // The ack is handled before the connection goes: wait for the request round trip.
    assert_eq!(a.request_ack().await, base + 3);
    a.disconnect();
    let (mut a, r) = resume(&s, via, &previd, h).await;
    assert!(matches!(r, Resumption::Resumed(_)), "{r:?}");
    let again: Vec<Element> = a.drain().await;
    assert!(
        again.iter().all(|e| e.name() != "message"),
        "nothing resent after a full ack: {again:?}"
    );
    a.close().await;
    assert_eq!(panics(), 0);
}

#[tokio::test]
async fn resume_after_a_dropped_tcp_connection() {
    resume_after_drop(Via::Tcp).await;
}

#[tokio::test]
async fn resume_after_a_dropped_websocket() {
    resume_after_drop(Via::Ws).await;
}

#[tokio::test]
async fn resume_on_the_other_transport_and_while_the_old_stream_is_still_open() {
    let s = server(&["alice", "carol"]).await;
    let (mut tcp, previd) = alice_managed(&s, Via::Tcp).await;
    let mut carol = login(&s, "carol", "c").await;
    chat(&mut carol, "unacked").await;
    tcp.expect_message().await;
    // The TCP stream is still open: a WebSocket resumes it, the old one ends in conflict.
    let (mut ws, r) = resume(&s, Via::Ws, &previd, 0).await;
    assert!(matches!(r, Resumption::Resumed(_)), "{r:?}");
    assert_eq!(tcp.expect_stream_error().await, "conflict");
    let got: Vec<String> = ws.drain().await.iter().map(label).collect();
    assert_eq!(got, ["chat:unacked"]);
    chat(&mut carol, "live").await;
    assert_eq!(label(&ws.expect_message().await), "chat:live");
}

#[tokio::test]
async fn unknown_previd_fails_with_item_not_found_and_the_stream_can_still_bind() {
    let s = server(&["alice", "bob"]).await;
    let (_, r) = resume(&s, Via::Tcp, "no-such-stream", 0).await;
    let (mut c, r2) = resume(&s, Via::Ws, "no-such-stream", 0).await;
    for r in [r, r2] {
        let Resumption::Failed(f) = r else {
            panic!("{r:?}")
        };
        assert_eq!(f.condition.as_deref(), Some("item-not-found"));
        assert_eq!(f.h, None);
    }
    let jid = c.bind(Some("after")).await;
    assert_eq!(jid, "alice@localhost/after");
    c.send("<presence/>").await;
    let id = c.next_id();
    assert_result(
        &c.iq(&format!(
            "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await,
    );

    // Another account's SM-ID is as unknown as a made-up one.
    let mut bob = RawClient::login_tcp(s.c2s_addr(), "bob", "pw", Mech::Plain, None, Some("b"))
        .await
        .unwrap();
    let bob_id = bob.enable_sm().await.id.unwrap();
    // A second enable is refused, and the stream goes on.
    bob.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .await;
    let f = bob.expect("failed", |e| e.is("failed", SM)).await;
    assert!(f.has_child("unexpected-request", STANZAS));
    bob.request_ack().await;
    let (_, r) = resume(&s, Via::Tcp, &bob_id, 0).await;
    let Resumption::Failed(f) = r else {
        panic!("{r:?}")
    };
    assert_eq!(f.condition.as_deref(), Some("item-not-found"));
    assert_eq!(f.h, None);
}

#[tokio::test]
async fn timeout_moves_what_was_not_acknowledged_to_offline_storage_once() {
    let s = server_with(&["alice", "bob", "carol"], |c| {
        c.stream_management.resume_timeout_secs = 1;
    })
    .await;
    let (mut a, previd) = alice_managed(&s, Via::Ws).await;
    let (mut bob, joined, feed) = rooms(&s, &mut a).await;
    let mut carol = login(&s, "carol", "c").await;
    a.ack().await;
    a.request_ack().await;
    // Received but never acknowledged.
    chat(&mut carol, "c1").await;
    say(&mut bob, &feed, "e1").await;
    say(&mut bob, &joined, "g1").await;
    // The wrapped event's stanza-id as first delivered, to find it again offline.
    let mut first_event_id = None;
    for _ in 0..3 {
        let m = a.expect("message", |e| e.name() == "message").await;
        if let Some((_, item_id, _)) = unwrap_event(&m) {
            first_event_id = Some(item_id);
        }
    }
    let first_event_id = first_event_id.expect("e1 delivered as an event");
    let sent = a.request_ack().await;
    a.disconnect();
    // While it waits.
    chat(&mut carol, "c2").await;
    say(&mut bob, &feed, "e2").await;
    say(&mut bob, &joined, "g2").await;

    // After the timeout: the storable ones are offline, once; plain groupchat is not.
    wait_offline(&s, "alice", 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.ctx().offline.count("alice").await.unwrap(), 4);
    assert!(!s.ctx().router.is_available("alice@localhost"));

    // The expired SM-ID: item-not-found, with the h the session ended with; then bind.
    let (mut c, r) = resume(&s, Via::Tcp, &previd, 0).await;
    let Resumption::Failed(f) = r else {
        panic!("{r:?}")
    };
    assert_eq!(f.condition.as_deref(), Some("item-not-found"));
    assert_eq!(
        f.h,
        Some(sent),
        "how many of alice's stanzas the session handled"
    );
    c.bind(Some("phone")).await;
    c.send("<presence/>").await;
    let got = c.drain().await;
    let msgs: Vec<&Element> = got.iter().filter(|e| e.name() == "message").collect();
    let labels: Vec<String> = msgs.iter().map(|e| label(e)).collect();
    assert_eq!(
        labels,
        [
            "chat:c1",
            "event:messages:e1",
            "chat:c2",
            "event:messages:e2"
        ]
    );
    for m in &msgs {
        assert!(
            m.has_child("delay", "urn:xmpp:delay"),
            "from offline storage"
        );
    }
    // The events keep their stanza-ids (the room's archive ids) for the SDK to dedupe:
    // e1 comes back with the id it had when first delivered.
    let mut offline_ids = Vec::new();
    for m in msgs.iter().filter(|m| unwrap_event(m).is_some()) {
        let (_, item_id, inner) = unwrap_event(m).unwrap();
        assert_eq!(stanza_id(&inner).as_deref(), Some(item_id.as_str()));
        offline_ids.push(item_id);
    }
    assert_eq!(offline_ids.len(), 2);
    assert_eq!(offline_ids[0], first_event_id, "e1 keeps its stanza-id");
    assert_ne!(offline_ids[1], first_event_id);
    assert_eq!(s.ctx().offline.count("alice").await.unwrap(), 0);
    assert_eq!(panics(), 0);
}

#[tokio::test]
async fn a_new_bind_of_the_same_resource_takes_over_a_waiting_session() {
    let s = server(&["alice", "carol"]).await;
    let (mut a, previd) = alice_managed(&s, Via::Tcp).await;
    let mut carol = login(&s, "carol", "c").await;
    chat(&mut carol, "waiting").await;
    a.expect_message().await;
    a.disconnect();
    let mut fresh = s.login_bound("alice", "pw", Some("phone")).await;
    // The waiting session is given up like a timeout: its queue goes to offline storage.
    wait_offline(&s, "alice", 1).await;
    fresh.send("<presence/>").await;
    let m = fresh.expect_message().await;
    assert_eq!(label(&m), "chat:waiting");
    let (_, r) = resume(&s, Via::Ws, &previd, 1).await;
    assert!(matches!(r, Resumption::Failed(_)), "{r:?}");
}

#[tokio::test]
async fn at_the_session_limit_a_waiting_session_gives_way_to_a_new_bind() {
    // One session per account: a page reloaded without ending its stream (no `pagehide`)
    // must not lock the account out for the resumption timeout.
    let s = server_with(&["alice", "carol"], |c| {
        c.limits.max_sessions_per_account = 1;
    })
    .await;
    let (mut a, previd) = alice_managed(&s, Via::Ws).await;
    let mut carol = login(&s, "carol", "c").await;
    chat(&mut carol, "never acknowledged").await;
    a.expect_message().await;
    a.disconnect();
    let waiting = async {
        while !s
            .ctx()
            .metrics
            .encode()
            .contains("mucsub_sessions_waiting 1")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the session waits to be resumed");
    // Another resource: over the limit but for the waiting session, which ends as on
    // timeout (its queue to offline storage) to make room.
    let mut fresh = s.login_bound("alice", "pw", Some("laptop")).await;
    wait_offline(&s, "alice", 1).await;
    fresh.send("<presence/>").await;
    let m = fresh.expect_message().await;
    assert_eq!(label(&m), "chat:never acknowledged");
    let (_, r) = resume(&s, Via::Tcp, &previd, 1).await;
    assert!(matches!(r, Resumption::Failed(_)), "{r:?}");
    assert_eq!(panics(), 0);
}

#[tokio::test]
async fn a_waiting_session_holds_a_bounded_queue() {
    let s = server_with(&["alice", "carol"], |c| c.stream_management.max_queue = 5).await;
    let (a, previd) = alice_managed(&s, Via::Tcp).await;
    let mut carol = login(&s, "carol", "c").await;
    a.disconnect();
    for i in 0..6 {
        chat(&mut carol, &format!("m{i}")).await;
    }
    wait_offline(&s, "alice", 6).await;
    let (_, r) = resume(&s, Via::Tcp, &previd, 0).await;
    let Resumption::Failed(f) = r else {
        panic!("{r:?}")
    };
    assert_eq!(f.condition.as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn acknowledging_more_than_was_sent_ends_the_stream() {
    let s = server(&["alice"]).await;
    let (mut a, _) = alice_managed(&s, Via::Tcp).await;
    a.send("<a xmlns='urn:xmpp:sm:3' h='1000'/>").await;
    assert_eq!(a.expect_stream_error().await, "undefined-condition");
    // A resumption claiming more than the session sent ends the stream too.
    let (a, previd) = alice_managed(&s, Via::Ws).await;
    a.disconnect();
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    c.read_features().await;
    c.authenticate("alice", "pw", Mech::Plain).await.unwrap();
    c.open().await;
    c.read_features().await;
    c.send(&format!(
        "<resume xmlns='urn:xmpp:sm:3' previd='{previd}' h='77'/>"
    ))
    .await;
    let err = c
        .expect("stream error", |e| {
            e.is("error", "http://etherx.jabber.org/streams")
        })
        .await;
    assert!(err.has_child("undefined-condition", "urn:ietf:params:xml:ns:xmpp-streams"));
    let too_high = err
        .get_child("handled-count-too-high", SM)
        .expect("the XEP-0198 application condition");
    assert_eq!(too_high.attr("h"), Some("77"));
    assert_eq!(too_high.attr("send-count"), Some("0"));
    assert_eq!(panics(), 0);
}

#[tokio::test]
async fn malformed_stream_management_gets_clear_errors() {
    let s = server(&["alice"]).await;
    for bad in [
        "<a xmlns='urn:xmpp:sm:3'/>",
        "<a xmlns='urn:xmpp:sm:3' h='minus one'/>",
        "<enable xmlns='urn:xmpp:sm:3' resume='maybe'/>",
        "<unknown xmlns='urn:xmpp:sm:3'/>",
    ] {
        let (mut a, _) = alice_managed(&s, Via::Tcp).await;
        a.send(bad).await;
        assert_eq!(a.expect_stream_error().await, "invalid-xml", "{bad}");
    }
    // Without stream management: <r/> is refused, <a/> ignored, the stream goes on.
    let mut c = s.login_bound("alice", "pw", Some("plain")).await;
    c.send("<r xmlns='urn:xmpp:sm:3'/>").await;
    let f = c.expect("failed", |e| e.is("failed", SM)).await;
    assert!(f.has_child("unexpected-request", STANZAS));
    c.send("<a xmlns='urn:xmpp:sm:3' h='3'/>").await;
    // A resume on a bound stream.
    c.send("<resume xmlns='urn:xmpp:sm:3' previd='x' h='0'/>")
        .await;
    let f = c.expect("failed", |e| e.is("failed", SM)).await;
    assert!(f.has_child("unexpected-request", STANZAS));
    let id = c.next_id();
    assert_result(
        &c.iq(&format!(
            "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await,
    );
    // Before binding: enable is refused, the stream can still bind.
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    c.read_features().await;
    c.authenticate("alice", "pw", Mech::Plain).await.unwrap();
    c.open().await;
    c.read_features().await;
    c.send("<enable xmlns='urn:xmpp:sm:3'/>").await;
    let f = c.expect("failed", |e| e.is("failed", SM)).await;
    assert!(f.has_child("unexpected-request", STANZAS));
    c.bind(None).await;
    assert_eq!(panics(), 0);
}

#[tokio::test]
async fn the_server_asks_for_acks_and_keeps_only_what_is_unacknowledged() {
    let s = server(&["alice", "carol"]).await;
    let (mut a, previd) = alice_managed(&s, Via::Tcp).await;
    a.set_auto_ack(true);
    let mut carol = login(&s, "carol", "c").await;
    for i in 0..10 {
        chat(&mut carol, &format!("n{i}")).await;
        a.expect_message().await;
    }
    assert!(
        a.sm_requests() > 0,
        "the server requests acks after what it sends"
    );
    // Its answers acknowledged everything: after a drop nothing is sent again.
    a.request_ack().await;
    let h = a.sm_h();
    a.disconnect();
    let (mut a, r) = resume(&s, Via::Tcp, &previd, h).await;
    assert!(matches!(r, Resumption::Resumed(_)), "{r:?}");
    let again = a.drain().await;
    assert!(again.iter().all(|e| e.name() != "message"), "{again:?}");
}
