//! Hostile input beyond `core_hostile.rs` (which has billion laughs, DTDs, entities,
//! 300 KiB stanzas, 10k-deep nesting before auth, invalid UTF-8, bad headers, stanzas
//! before auth, password guessing and the pre-auth timeout): every case gets the right
//! stream or stanza error, the server keeps serving others, and what a client cannot be
//! trusted with (`from`, stanza-ids, MucSub wrappers) is not trusted.

#[path = "scenarios/support.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use minidom::Element;
use mucsub_server::testkit::{Incoming, RawClient, TestServer, TIMEOUT};
use support::*;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

/// A logged-in witness must keep working while others misbehave, and a fresh login too.
async fn still_serving(s: &TestServer, witness: &mut RawClient) {
    let id = witness.next_id();
    let r = witness
        .iq(&format!(
            "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    assert_result(&r);
    let mut fresh = s.login("carol", "pw").await;
    let r = fresh
        .iq("<iq type='get' id='fresh'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_result(&r);
    fresh.close().await;
}

/// Waits until the server has let go of every connection but `expected`.
async fn connections_settle(s: &TestServer, expected: usize) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let n = s.ctx().connections.load(Ordering::SeqCst);
        if n == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} connections still open, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn setup() -> (TestServer, RawClient) {
    let s = server(&["alice", "bob", "carol"]).await;
    let w = login(&s, "alice", "w").await;
    (s, w)
}

/// Writes `total` bytes of body text in chunks, watching for the stream error between
/// chunks so it is read before the server resets the connection.
async fn oversized(c: &mut RawClient, total: usize) -> String {
    c.send("<message to='bob@localhost' type='chat'><body>")
        .await;
    let chunk = "z".repeat(64 * 1024);
    let mut sent = 0;
    while sent < total {
        c.send(&chunk).await;
        sent += chunk.len();
        if let Some(inc) = c.next_incoming(Duration::from_millis(1)).await {
            return stream_error_of(c, inc).await;
        }
    }
    let inc = c.next_incoming(TIMEOUT).await.expect("a reply");
    stream_error_of(c, inc).await
}

async fn stream_error_of(c: &mut RawClient, first: Incoming) -> String {
    let mut inc = Some(first);
    loop {
        match inc {
            Some(Incoming::Element(el)) if el.is("error", "http://etherx.jabber.org/streams") => {
                return el
                    .children()
                    .find(|c| c.name() != "text")
                    .map(|c| c.name().to_owned())
                    .unwrap_or_default();
            }
            Some(Incoming::Element(_)) | Some(Incoming::Open) => {}
            other => panic!("expected a stream error, got {other:?}"),
        }
        inc = c.next_incoming(TIMEOUT).await;
    }
}

#[tokio::test]
async fn ten_megabyte_stanza_is_cut_off() {
    let (s, mut w) = setup().await;
    let mut c = login(&s, "bob", "big").await;
    assert_eq!(oversized(&mut c, 10 << 20).await, "policy-violation");
    still_serving(&s, &mut w).await;
    connections_settle(&s, 1).await;
}

#[tokio::test]
async fn hundred_thousand_deep_nesting_after_auth() {
    let (s, mut w) = setup().await;
    let mut c = login(&s, "bob", "deep").await;
    c.send(&format!(
        "<message to='alice@localhost'>{}",
        "<a>".repeat(100_000)
    ))
    .await;
    assert_eq!(c.expect_stream_error().await, "policy-violation");
    // Nothing of it reached alice.
    assert!(w.try_recv(Duration::from_millis(200)).await.is_none());
    still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn truncated_streams_are_cleaned_up() {
    let (s, mut w) = setup().await;
    let baseline = s.ctx().connections.load(Ordering::SeqCst);
    // Cut in the stream header, in SASL, in a stanza after auth, and mid-UTF-8 sequence.
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.send_bytes(b"<?xml version='1.0'?><stream:stream xmlns='jabber:cl")
        .await;
    c.disconnect();
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.send_bytes(format!("{HEADER}<auth xmlns='{SASL}' mechanism='PLAIN'>AGJv").as_bytes())
        .await;
    c.disconnect();
    let mut c = login(&s, "bob", "cut").await;
    c.send_bytes(b"<message to='alice@localhost' type='chat'><body>h\xc3")
        .await;
    c.disconnect();
    connections_settle(&s, baseline).await;
    // Bob's session is gone: alice's message to that resource is not delivered to a
    // ghost (it goes to offline storage or bounces, but the server stays consistent).
    assert!(!s.ctx().router.is_available("bob@localhost"));
    still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn pre_auth_connection_flood() {
    let (s, mut w) = setup().await;
    let baseline = s.ctx().connections.load(Ordering::SeqCst);
    let mut idle = Vec::new();
    for _ in 0..200 {
        let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
        c.open().await;
        idle.push(c);
    }
    // Every one of them got a stream and features; nobody else noticed.
    for c in idle.iter_mut().take(5) {
        c.read_features().await;
    }
    still_serving(&s, &mut w).await;
    // One connection spews stanzas before authenticating: cut at the first.
    let mut spew = RawClient::connect_tcp(s.c2s_addr()).await;
    let mut data = HEADER.to_owned();
    for i in 0..2000 {
        data.push_str(&format!(
            "<iq type='get' id='{i}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
    }
    spew.send_bytes(data.as_bytes()).await;
    assert_eq!(spew.expect_stream_error().await, "not-authorized");
    drop(idle);
    connections_settle(&s, baseline).await;
    still_serving(&s, &mut w).await;
}

async fn failure(c: &mut RawClient, xml: &str) -> String {
    c.send(xml).await;
    let el = c.recv().await;
    assert!(el.is("failure", SASL), "expected a SASL failure: {el:?}");
    el.children()
        .next()
        .map(|c| c.name().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn sasl_garbage_gets_sasl_failures() {
    let (s, mut w) = setup().await;
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    c.read_features().await;
    // RFC 6120 §6.5: the defined failure conditions.
    assert_eq!(
        failure(
            &mut c,
            &format!("<auth xmlns='{SASL}' mechanism='X-BOGUS'>AAAA</auth>")
        )
        .await,
        "invalid-mechanism"
    );
    assert_eq!(
        failure(
            &mut c,
            &format!("<auth xmlns='{SASL}' mechanism='PLAIN'>!!!not base64!!!</auth>")
        )
        .await,
        "incorrect-encoding"
    );
    // PLAIN without the NUL separators.
    assert_eq!(
        failure(
            &mut c,
            &format!("<auth xmlns='{SASL}' mechanism='PLAIN'>Ym9ndXM=</auth>")
        )
        .await,
        "malformed-request"
    );
    // A SCRAM client-first-message that is not one.
    let bogus = "bm90IGEgc2NyYW0gbWVzc2FnZQ==";
    assert_eq!(
        failure(
            &mut c,
            &format!("<auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>{bogus}</auth>")
        )
        .await,
        "malformed-request"
    );
    // Still on the same stream, within the failure budget: a real login works.
    c.authenticate("alice", "pw", mucsub_server::testkit::Mech::ScramSha256)
        .await
        .expect("login after garbage");
    // A SCRAM exchange answered with garbage, and one aborted.
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    c.read_features().await;
    let first = "biwsbj1hbGljZSxyPWFiY2RlZmdoaWprbG1ub3A="; // n,,n=alice,r=abcdefghijklmnop
    c.send(&format!(
        "<auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>{first}</auth>"
    ))
    .await;
    let ch = c.recv().await;
    assert!(ch.is("challenge", SASL), "{ch:?}");
    let code = failure(
        &mut c,
        &format!("<response xmlns='{SASL}'>Z2FyYmFnZQ==</response>"),
    )
    .await;
    assert!(
        matches!(code.as_str(), "malformed-request" | "not-authorized"),
        "garbage SCRAM response: {code}"
    );
    c.send(&format!(
        "<auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>{first}</auth>"
    ))
    .await;
    let ch = c.recv().await;
    assert!(ch.is("challenge", SASL), "{ch:?}");
    assert_eq!(
        failure(&mut c, &format!("<abort xmlns='{SASL}'/>")).await,
        "aborted"
    );
    still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn invalid_jids_get_jid_malformed() {
    let (s, mut w) = setup().await;
    let mut c = login(&s, "bob", "j").await;
    let long = "x".repeat(2000);
    for (i, to) in [
        "@localhost".to_owned(),
        "a@b@localhost".to_owned(),
        format!("{long}@localhost"),
        "bob@localhost/".to_owned(),
        "bob@@localhost".to_owned(),
        format!("room@{MUC}/{long}"),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("bad{i}");
        let reply = c
            .iq(&format!(
                "<iq type='get' id='{id}' to='{}'><ping xmlns='urn:xmpp:ping'/></iq>",
                mucsub_server::stanza::escape_attr(to)
            ))
            .await;
        assert_error(&reply, "modify", "jid-malformed");
        let mid = format!("m{i}");
        c.send(&format!(
            "<message id='{mid}' type='chat' to='{}'><body>x</body></message>",
            mucsub_server::stanza::escape_attr(to)
        ))
        .await;
        let reply = c
            .expect("message error", |e| {
                e.name() == "message" && e.attr("id") == Some(mid.as_str())
            })
            .await;
        assert_error(&reply, "modify", "jid-malformed");
    }
    // A nickname that cannot be a resource, for a room join.
    let reply = c
        .iq(&format!(
            "<iq type='set' id='sub' to='r1@{MUC}'><subscribe xmlns='{MUCSUB}' nick='{long}'/></iq>"
        ))
        .await;
    assert_error(&reply, "modify", "jid-malformed");
    // Binding a resource longer than RFC 7622 allows (1023 bytes) fails and the stream
    // stays up.
    let mut b = RawClient::connect_tcp(s.c2s_addr()).await;
    b.open().await;
    b.read_features().await;
    b.authenticate("bob", "pw", mucsub_server::testkit::Mech::Plain)
        .await
        .expect("auth");
    b.open().await;
    b.read_features().await;
    let reply = b
        .iq(&format!("<iq type='set' id='bind-bad'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{long}</resource></bind></iq>"))
        .await;
    assert_eq!(reply.attr("type"), Some("error"), "{reply:?}");
    b.bind(Some("fine")).await;
    still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn forged_from_is_overwritten() {
    let (s, mut w) = setup().await;
    let mut b = login(&s, "bob", "f").await;
    for forged in [
        "carol@localhost/x",
        "localhost",
        "room@conference.localhost",
    ] {
        b.send(&format!(
            "<message from='{forged}' to='alice@localhost' type='chat'><body>from {forged}</body></message>"
        ))
        .await;
        let m = w.expect_message().await;
        assert_eq!(m.attr("from"), Some(b.jid.as_str()), "{m:?}");
    }
    still_serving(&s, &mut w).await;
}

/// A user sends alice a MucSub wrapper dressed up as a room's. The server cannot stop the
/// content, but the `from` it delivers is the sender's full JID, never the room's bare JID,
/// so a client that accepts wrappers only from subscribed rooms (docs/protocol.md C2) drops
/// it.
#[tokio::test]
async fn forged_mucsub_wrapper_arrives_with_the_real_sender() {
    let (s, mut w) = setup().await;
    let r = room("forge");
    subscribe(&mut w, &r, "alice").await;
    let mut b = login(&s, "bob", "f").await;
    let wrapper = format!(
        "<message from='{r}' to='alice@localhost' id='999'>\
           <event xmlns='{PUBSUB_EVENT}'><items node='urn:xmpp:mucsub:nodes:messages'>\
             <item id='999'><message xmlns='jabber:client' from='{r}/owner' to='alice@localhost' type='groupchat'>\
               <stanza-id xmlns='{SID}' by='{r}' id='999'/><body>forged</body></message></item>\
           </items></event></message>"
    );
    b.send(&wrapper).await;
    let got = w
        .expect("the forged wrapper", |e| {
            unwrap_event(e).is_some_and(|(_, id, _)| id == "999")
        })
        .await;
    assert_eq!(got.attr("from"), Some(b.jid.as_str()));
    // Relayed as a private message through the room, it comes from room/nick, a full
    // JID, not the room.
    join(&mut w, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    b.send(&wrapper.replace(
        "to='alice@localhost' id='999'",
        &format!("to='{r}/alice' id='998' type='chat'"),
    ))
    .await;
    let pm = w
        .expect("relayed private message", |e| {
            e.name() == "message" && e.attr("id") == Some("998")
        })
        .await;
    let from = pm.attr("from").unwrap_or("");
    assert!(from.starts_with(&format!("{r}/")), "relayed from {from}");
    still_serving(&s, &mut w).await;
}

/// docs/protocol.md S18: a client's own `<stanza-id/>` is stripped; the room's is the only one, and
/// the room's id is what subscribers get as the event's item id.
#[tokio::test]
async fn client_sent_stanza_ids_are_stripped() {
    let (s, mut w) = setup().await;
    let r = room("sid");
    join(&mut w, &r, "alice").await;
    let mut b = login(&s, "bob", "f").await;
    subscribe(&mut b, &r, "bob").await;
    b.send(&format!(
        "<message to='{r}' type='groupchat' id='p1'><body>hi</body>\
         <stanza-id xmlns='{SID}' by='{r}' id='forged-1'/>\
         <stanza-id xmlns='{SID}' by='alice@localhost' id='forged-2'/></message>"
    ))
    .await;
    let m = w.expect_message().await;
    let ids: Vec<&Element> = m.children().filter(|c| c.is("stanza-id", SID)).collect();
    assert_eq!(ids.len(), 1, "exactly the room's stanza-id: {m:?}");
    assert_eq!(ids[0].attr("by"), Some(r.as_str()));
    assert!(!String::from(&m).contains("forged"), "{m:?}");
    let (_, item_id, inner) = expect_event(&mut b, "messages").await;
    assert!(!String::from(&inner).contains("forged"));
    assert_eq!(stanza_id(&inner).as_deref(), Some(item_id.as_str()));
    still_serving(&s, &mut w).await;
}

/// docs/protocol.md S3: unknown nodes are dropped silently. Ten thousand of them (and ten thousand
/// copies of a real one) give a result listing each real node once.
#[tokio::test]
async fn subscribe_with_ten_thousand_nodes() {
    let (s, mut w) = setup().await;
    let r = room("many");
    let mut nodes = String::new();
    for i in 0..10_000 {
        nodes.push_str(&format!("<event node='x{i}'/>"));
    }
    let reply = w
        .iq(&format!(
            "<iq type='set' id='n1' to='{r}'><subscribe xmlns='{MUCSUB}' nick='alice'>{nodes}</subscribe></iq>"
        ))
        .await;
    assert_result(&reply);
    let echoed = reply.get_child("subscribe", MUCSUB).expect("subscribe");
    assert_eq!(echoed.children().count(), 0, "unknown nodes dropped");
    let same = "<event node='urn:xmpp:mucsub:nodes:messages'/>".repeat(4_000);
    let reply = w
        .iq(&format!(
            "<iq type='set' id='n2' to='{r}'><subscribe xmlns='{MUCSUB}' nick='alice'>{same}</subscribe></iq>"
        ))
        .await;
    assert_result(&reply);
    let echoed = reply.get_child("subscribe", MUCSUB).expect("subscribe");
    assert_eq!(echoed.children().count(), 1, "one node, once: {reply:?}");
    // Past the stanza size limit it is a policy violation, and only for that stream.
    let mut b = login(&s, "bob", "n").await;
    let huge = "<event node='urn:xmpp:mucsub:nodes:messages'/>".repeat(10_000);
    b.send(&format!(
        "<iq type='set' id='n3' to='{r}'><subscribe xmlns='{MUCSUB}' nick='bob'>{huge}</subscribe></iq>"
    ))
    .await;
    assert_eq!(b.expect_stream_error().await, "policy-violation");
    still_serving(&s, &mut w).await;
}

/// Thousands of IQs sent without reading the replies: the flooder is answered (or its
/// own queue sheds load), everybody else is served meanwhile, including in the same room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iq_floods_do_not_starve_others() {
    let (s, mut w) = setup().await;
    let r = room("flood");
    join(&mut w, &r, "alice").await;
    let mut f = login(&s, "bob", "flood").await;
    subscribe(&mut f, &r, "bob").await;
    let mut burst = String::new();
    for i in 0..3000 {
        burst.push_str(&format!(
            "<iq type='get' id='s{i}'><ping xmlns='urn:xmpp:ping'/></iq>\
             <iq type='get' id='r{i}' to='{r}'><query xmlns='{DISCO_INFO}'/></iq>"
        ));
    }
    f.send_bytes(burst.as_bytes()).await;
    // Meanwhile, in the same room and elsewhere.
    post(&mut w, &r, "still here").await;
    w.expect("own echo", |e| {
        e.get_child("body", CLIENT)
            .is_some_and(|b| b.text() == "still here")
    })
    .await;
    still_serving(&s, &mut w).await;
    // The flooder's stream either answers everything or sheds; either way it is usable
    // afterwards (or was closed with a stream error, which is a right answer too).
    let mut answered = 0;
    loop {
        match f.next_incoming(Duration::from_secs(2)).await {
            Some(Incoming::Element(el)) if el.name() == "iq" => answered += 1,
            Some(Incoming::Element(el)) if el.name() == "error" => {
                let cond = el.children().next().map(|c| c.name().to_owned());
                assert_eq!(cond.as_deref(), Some("policy-violation"), "{el:?}");
                return;
            }
            Some(Incoming::Element(_)) | Some(Incoming::Open) => {}
            None => break,
            Some(other) => panic!("flooder: {other:?}"),
        }
    }
    assert!(answered > 0, "the flooder got no replies at all");
    let r2 = f
        .iq("<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_result(&r2);
}
