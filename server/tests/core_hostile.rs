//! Hostile input: every case gets the right stream error (or SASL failure), the server
//! keeps serving the other connections, and nothing panics.

use mucsub_server::testkit::{Mech, RawClient, TestServer};

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

/// Opens a raw TCP connection, sends `data`, returns the stream error condition.
async fn stream_error_for(s: &TestServer, data: &[u8]) -> String {
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.send_bytes(data).await;
    c.expect_stream_error().await
}

/// A logged-in client that must keep working while others misbehave.
async fn assert_still_serving(s: &TestServer, witness: &mut RawClient) {
    let r = witness
        .iq("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let mut fresh = s.login("bob", "pw").await;
    let r = fresh
        .iq("<iq type='get' id='alive2'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    fresh.close().await;
    assert_eq!(mucsub_server::testkit::panics(), 0, "something panicked");
}

async fn server() -> (TestServer, RawClient) {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let w = s.login("alice", "pw").await;
    (s, w)
}

#[tokio::test]
async fn billion_laughs_and_dtd_are_restricted_xml() {
    let (s, mut w) = server().await;
    let laughs = "<?xml version='1.0'?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n \
        <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n \
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n \
        <!ENTITY lol9 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n]>\n\
        <stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
        to='localhost' version='1.0'><message><body>&lol9;</body></message>";
    assert_eq!(
        stream_error_for(&s, laughs.as_bytes()).await,
        "restricted-xml"
    );
    // A DTD inside an open stream, and an undeclared entity in a stanza.
    let dtd = format!("{HEADER}<!DOCTYPE x [<!ENTITY a 'b'>]>");
    assert_eq!(stream_error_for(&s, dtd.as_bytes()).await, "restricted-xml");
    let ent = format!("{HEADER}<message><body>&xxe;</body></message>");
    assert_eq!(stream_error_for(&s, ent.as_bytes()).await, "restricted-xml");
    assert_still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn oversized_stanzas_are_policy_violations() {
    let (s, mut w) = server().await;
    // Before authentication the budget is 8 KiB.
    let big = format!(
        "{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{}</auth>",
        "A".repeat(9000)
    );
    assert_eq!(
        stream_error_for(&s, big.as_bytes()).await,
        "policy-violation"
    );
    // After authentication, 256 KiB: a 300 KiB body is refused, sent in pieces as a
    // slow sender would.
    let mut c = s.login("bob", "pw").await;
    c.send("<message to='alice@localhost' type='chat'><body>")
        .await;
    let chunk = "x".repeat(16 * 1024);
    for _ in 0..20 {
        c.send(&chunk).await;
    }
    assert_eq!(c.expect_stream_error().await, "policy-violation");
    // A 200 KiB message is fine and arrives whole.
    let mut c = s.login("bob", "pw").await;
    let text = "y".repeat(200 * 1024);
    c.send(&format!(
        "<message to='alice@localhost' type='chat'><body>{text}</body></message>"
    ))
    .await;
    let m = w.expect_message().await;
    assert_eq!(
        m.get_child("body", mucsub_server::ns::CLIENT)
            .unwrap()
            .text()
            .len(),
        text.len()
    );
    assert_still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn deep_nesting_and_invalid_utf8() {
    let (s, mut w) = server().await;
    let deep = format!("{HEADER}<message>{}", "<a>".repeat(10_000));
    assert_eq!(
        stream_error_for(&s, deep.as_bytes()).await,
        "policy-violation"
    );
    let mut bad = format!("{HEADER}<message><body>").into_bytes();
    bad.extend_from_slice(b"\xc3\x28\xff\xfe</body></message>");
    assert_eq!(stream_error_for(&s, &bad).await, "not-well-formed");
    let garbage = format!("{HEADER}<message><body></message>");
    assert_eq!(
        stream_error_for(&s, garbage.as_bytes()).await,
        "not-well-formed"
    );
    assert_still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn bad_stream_headers() {
    let (s, mut w) = server().await;
    let wrong_host = HEADER.replace("to='localhost'", "to='example.org'");
    assert_eq!(
        stream_error_for(&s, wrong_host.as_bytes()).await,
        "host-unknown"
    );
    let wrong_ns = "<?xml version='1.0'?><stream:stream xmlns:stream='urn:wrong' to='localhost' version='1.0'>";
    assert_eq!(
        stream_error_for(&s, wrong_ns.as_bytes()).await,
        "invalid-namespace"
    );
    // Over WebSocket: a frame that is not XML.
    let mut c = RawClient::connect_ws(&s.ws_url()).await;
    c.open().await;
    c.read_features().await;
    c.send_bytes(b"<message xmlns='jabber:client'><body>unclosed")
        .await;
    assert_eq!(c.expect_stream_error().await, "not-well-formed");
    assert_still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn stanza_before_auth_is_not_authorized() {
    let (s, mut w) = server().await;
    let pre =
        format!("{HEADER}<message to='alice@localhost' type='chat'><body>sneaky</body></message>");
    assert_eq!(stream_error_for(&s, pre.as_bytes()).await, "not-authorized");
    let mut c = RawClient::connect_ws(&s.ws_url()).await;
    c.open().await;
    c.read_features().await;
    c.send("<message to='alice@localhost' type='chat'><body>sneaky</body></message>")
        .await;
    assert_eq!(c.expect_stream_error().await, "not-authorized");
    // Nothing reached alice.
    assert!(w
        .try_recv(std::time::Duration::from_millis(300))
        .await
        .is_none());
    assert_still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn a_hundred_wrong_passwords() {
    let (s, mut w) = server().await;
    let per_conn = s.config().limits.max_auth_failures as usize;
    let mut failures = 0;
    while failures < 100 {
        let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
        c.open().await;
        c.read_features().await;
        for i in 0..per_conn {
            let mech = if i % 2 == 0 {
                Mech::Plain
            } else {
                Mech::ScramSha256
            };
            assert_eq!(
                c.authenticate("alice", &format!("wrong{failures}"), mech)
                    .await,
                Err("not-authorized".to_string())
            );
            failures += 1;
        }
        // The connection that keeps guessing is cut off.
        assert_eq!(c.expect_stream_error().await, "policy-violation");
    }
    // The right password still works afterwards.
    let mut ok = RawClient::login_tcp(
        s.c2s_addr(),
        "alice",
        "pw",
        Mech::ScramSha256,
        None,
        Some("after"),
    )
    .await
    .expect("login after failures");
    ok.send("<presence/>").await;
    assert_still_serving(&s, &mut w).await;
}

#[tokio::test]
async fn pre_auth_timeout() {
    let s = TestServer::start_with(|c| c.limits.pre_auth_timeout_secs = 1).await;
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    c.read_features().await;
    assert_eq!(c.expect_stream_error().await, "connection-timeout");
}
