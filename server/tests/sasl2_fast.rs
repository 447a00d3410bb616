//! SASL2 (XEP-0388) with Bind 2 (XEP-0386), inline XEP-0198 and FAST tokens (XEP-0484)
//! over real TCP and WebSocket (docs/protocol.md X11, X12): one round trip from the
//! socket's features to a resumed stream with no password on the device; tokens issued,
//! used, rotated, expired, revoked (also from the CLI) and signed out; a replayed counted
//! authentication refused; bad input answered with clear failures.

#[path = "scenarios/support.rs"]
mod support;

use mucsub_server::testkit::{
    b64, panics, Proof, RawClient, Sasl2Login, TestServer, TEST_DEVICE, TIMEOUT,
};
use std::time::Duration;
use support::*;

const OTHER_DEVICE: &str = "00000000-1111-4222-8333-444444444444";

/// Signs in with the password and asks for a token; returns it.
async fn token_for(s: &TestServer, user: &str) -> String {
    let mut login = Sasl2Login::plain(user, "pw");
    login.request_token = true;
    let (c, r) = RawClient::sasl2_ws(&s.ws_url(), &login).await;
    let success = r.expect("signed in");
    let token = success.token.expect("a token in the success");
    assert!(token.expiry.ends_with('Z'), "{}", token.expiry);
    c.close().await;
    token.token
}

/// Signs in with `token`; the next token its success carries.
async fn rotated(s: &TestServer, token: &str) -> String {
    with_token(s, "alice", token, None)
        .await
        .expect("the token works")
        .token
        .expect("rotated")
        .token
}

async fn with_token(
    s: &TestServer,
    user: &str,
    token: &str,
    count: Option<u32>,
) -> Result<mucsub_protocol::sasl2::Success, String> {
    let (c, r) = RawClient::sasl2_ws(&s.ws_url(), &Sasl2Login::token(user, token, count)).await;
    match r {
        Ok(success) => {
            c.close().await;
            Ok(success)
        }
        Err(f) => Err(f.condition),
    }
}

#[tokio::test]
async fn sasl2_with_bind2_and_stream_management_over_tcp_and_websocket() {
    let s = server(&["alice", "bob"]).await;
    let (mut tcp, r) = RawClient::sasl2_tcp(s.c2s_addr(), &Sasl2Login::plain("alice", "pw")).await;
    let success = r.expect("signed in");
    let full = success.authorization_identifier.clone();
    assert!(full.starts_with("alice@localhost/test."), "{full}");
    let enabled = success
        .bound
        .unwrap()
        .enabled
        .expect("stream management enabled inline");
    assert!(enabled.resume && enabled.id.is_some());
    // The session works: presence, a message to bob, counted by stream management.
    tcp.send("<presence/>").await;
    let mut bob = login(&s, "bob", "b").await;
    tcp.send("<message to='bob@localhost' type='chat'><body>hi</body></message>")
        .await;
    let m = bob.expect_message().await;
    assert_eq!(m.attr("from"), Some(full.as_str()));
    assert_eq!(tcp.request_ack().await, 2);

    // The same device signs in again (over WebSocket, with SCRAM): same resource, and the
    // earlier session of that device is replaced.
    let login = Sasl2Login {
        proof: Proof::ScramSha256("pw".into()),
        ..Sasl2Login::plain("alice", "")
    };
    let (ws, r) = RawClient::sasl2_ws(&s.ws_url(), &login).await;
    assert_eq!(r.expect("SCRAM in SASL2").authorization_identifier, full);
    assert_eq!(tcp.expect_stream_error().await, "conflict");
    ws.close().await;
    assert_eq!(panics(), 0);
}

#[tokio::test]
async fn a_token_and_an_inline_resumption_wake_in_one_round_trip() {
    let s = server(&["alice", "carol"]).await;
    let mut first = Sasl2Login::plain("alice", "pw");
    first.request_token = true;
    let (mut a, r) = RawClient::sasl2_ws(&s.ws_url(), &first).await;
    let success = r.unwrap();
    let token = success.token.unwrap().token;
    let full = success.authorization_identifier;
    let previd = success.bound.unwrap().enabled.unwrap().id.unwrap();
    a.send("<presence/>").await;
    a.drain_for(Duration::from_millis(100)).await;
    let mut carol = login(&s, "carol", "c").await;
    chat_to(&mut carol, "alice@localhost", "before").await;
    a.expect_message().await;
    let h = a.sm_h() - 1; // "before" was lost in the air
    a.disconnect();
    chat_to(&mut carol, "alice@localhost", "meanwhile").await;
    until_metric(&s, "mucsub_sessions_waiting 1").await;

    // The wake: socket, features, then ONE request with the token, the resumption and a
    // bind for the case it fails; the answer is the success with <resumed/>, then the
    // stanzas: nothing else is asked for.
    let mut wake = Sasl2Login::token("alice", &token, Some(1));
    wake.resume = Some((previd.clone(), h));
    let (mut a, r) = RawClient::sasl2_ws(&s.ws_url(), &wake).await;
    let success = r.expect("resumed");
    assert_eq!(success.authorization_identifier, full, "the same full JID");
    assert_eq!(success.resumed.expect("<resumed/>").previd, previd);
    assert!(
        success.bound.is_none(),
        "the bind request is ignored after a resumption"
    );
    let got = a.drain().await;
    assert!(
        got.iter().all(|e| e.name() != "features"),
        "no stream features after a resumption"
    );
    let bodies: Vec<String> = got
        .iter()
        .filter_map(|e| e.get_child("body", CLIENT).map(|b| b.text()))
        .collect();
    assert_eq!(bodies, ["before", "meanwhile"]);
    until_metric(&s, "mucsub_sessions_waiting 0").await;
    until_metric(&s, "mucsub_resumptions_total{result=\"resumed\"} 1").await;

    // A resumption that fails still binds in the same round trip.
    let mut wake = Sasl2Login::token("alice", &token, Some(2));
    wake.resume = Some(("gone".into(), 0));
    let (b, r) = RawClient::sasl2_ws(&s.ws_url(), &wake).await;
    let success = r.unwrap();
    let failed = success.failed.expect("<failed/> in the success");
    assert_eq!(failed.condition.as_deref(), Some("item-not-found"));
    assert_eq!(
        success.authorization_identifier, full,
        "bound again, same device"
    );
    assert!(success.bound.unwrap().enabled.is_some());
    b.close().await;
    let text = s.ctx().metrics.encode();
    for line in [
        "mucsub_resumptions_total{result=\"failed\"} 1",
        "mucsub_fast_sign_ins_total{result=\"accepted\"} 2",
        "mucsub_fast_sign_ins_total{result=\"refused\"} 0",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

/// Waits until `/metrics` (what `Metrics::encode` serves) has this line.
async fn until_metric(s: &TestServer, line: &str) {
    let wait = async {
        while !s.ctx().metrics.encode().contains(line) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(TIMEOUT, wait).await.is_err() {
        panic!("{line} never in {}", s.ctx().metrics.encode());
    }
}

#[tokio::test]
async fn tokens_are_issued_used_and_revoked_per_device() {
    let s = server(&["alice"]).await;
    let t = token_for(&s, "alice").await;
    let success = with_token(&s, "alice", &t, None)
        .await
        .expect("the token works");
    assert!(success.token.is_none(), "far from expiry: no rotation");
    assert!(
        with_token(&s, "alice", &t, Some(1)).await.is_ok(),
        "and again"
    );
    // A token sign-in that asks for a new token gets one; the old one still works until
    // the new one is used.
    let mut again = Sasl2Login::token("alice", &t, None);
    again.request_token = true;
    let (c, r) = RawClient::sasl2_ws(&s.ws_url(), &again).await;
    let fresh = r.unwrap().token.expect("a new token on request").token;
    c.close().await;
    assert_ne!(fresh, t);
    assert!(
        with_token(&s, "alice", &t, None).await.is_ok(),
        "grace use of the old one"
    );
    assert!(with_token(&s, "alice", &fresh, None).await.is_ok());
    assert_eq!(
        with_token(&s, "alice", &t, None).await.unwrap_err(),
        "not-authorized",
        "retired once the new one was used"
    );
    let t = fresh;
    // Bound to its device.
    let mut other = Sasl2Login::token("alice", &t, None);
    other.device = Some(OTHER_DEVICE.into());
    let (_, r) = RawClient::sasl2_ws(&s.ws_url(), &other).await;
    assert_eq!(r.unwrap_err().condition, "not-authorized");
    // A wrong token.
    assert_eq!(
        with_token(&s, "alice", "forged", None).await.unwrap_err(),
        "not-authorized"
    );
    // Revoked (what the CLI and the HTTP API call): not-authorized.
    assert_eq!(
        s.ctx()
            .fast
            .revoke("alice", Some(TEST_DEVICE))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        with_token(&s, "alice", &t, None).await.unwrap_err(),
        "not-authorized"
    );
    // Signing out with the token itself.
    let t = token_for(&s, "alice").await;
    let mut out = Sasl2Login::token("alice", &t, None);
    out.proof = Proof::Token {
        token: t.clone(),
        count: None,
        invalidate: true,
    };
    let (c, r) = RawClient::sasl2_ws(&s.ws_url(), &out).await;
    assert!(r.unwrap().token.is_none(), "no new token when signing out");
    c.close().await;
    assert_eq!(
        with_token(&s, "alice", &t, None).await.unwrap_err(),
        "not-authorized"
    );
    assert_eq!(panics(), 0);
}

#[tokio::test]
async fn tokens_rotate_with_a_grace_use_of_the_old_one() {
    // Every use is "near expiry": each success carries the next token.
    let s = TestServer::start_with(|c| {
        c.fast.token_lifetime_secs = 3600;
        c.fast.rotate_before_secs = 7200;
    })
    .await;
    s.add_user("alice", "pw").await;
    let t1 = token_for(&s, "alice").await;
    let t2 = rotated(&s, &t1).await;
    assert_ne!(t1, t2);
    // The client missed t2: t1 still works (its grace use), and brings t3 (t2, never
    // used, is replaced).
    let t3 = rotated(&s, &t1).await;
    assert_eq!(
        with_token(&s, "alice", &t2, None).await.unwrap_err(),
        "not-authorized"
    );
    // Using t3 retires t1.
    let t4 = rotated(&s, &t3).await;
    assert_eq!(
        with_token(&s, "alice", &t1, None).await.unwrap_err(),
        "not-authorized"
    );
    assert!(with_token(&s, "alice", &t4, None).await.is_ok());
}

#[tokio::test]
async fn tokens_expire() {
    let s = TestServer::start_with(|c| c.fast.token_lifetime_secs = 1).await;
    s.add_user("alice", "pw").await;
    let t = token_for(&s, "alice").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        with_token(&s, "alice", &t, None).await.unwrap_err(),
        "credentials-expired"
    );
}

#[tokio::test]
async fn a_replayed_counted_authentication_is_refused() {
    let s = server(&["alice"]).await;
    let t = token_for(&s, "alice").await;
    // The exact same <authenticate/> twice, as an attacker replaying 0-RTT data would.
    let ir = b64(&mucsub_protocol::fast::initial_response("alice", &t, b""));
    let auth = format!(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'>\
         <initial-response>{ir}</initial-response><user-agent id='{TEST_DEVICE}'/>\
         <fast xmlns='urn:xmpp:fast:0' count='5'/></authenticate>"
    );
    let outcome = |s: &TestServer, auth: String| {
        let url = s.ws_url();
        async move {
            let mut c = RawClient::connect_ws(&url).await;
            c.open().await;
            c.read_features().await;
            c.send(&auth).await;
            c.recv().await.name().to_owned()
        }
    };
    assert_eq!(outcome(&s, auth.clone()).await, "success");
    assert_eq!(outcome(&s, auth.clone()).await, "failure", "replay refused");
    assert_eq!(
        outcome(&s, auth.replace("count='5'", "count='4'")).await,
        "failure"
    );
    assert_eq!(
        outcome(&s, auth.replace("count='5'", "count='6'")).await,
        "success"
    );
}

#[tokio::test]
async fn malformed_sasl2_gets_clear_failures_and_the_stream_goes_on() {
    let s = server(&["alice"]).await;
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    c.read_features().await;
    for (bad, condition, text) in [
        (
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%%%</initial-response></authenticate>",
            "malformed-request",
            "base64",
        ),
        (
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>YQB4</initial-response></authenticate>",
            "malformed-request",
            "user-agent",
        ),
    ] {
        c.send(bad).await;
        let f = c.recv().await;
        let f = mucsub_protocol::sasl2::Failure::try_from(f).expect("a SASL2 failure");
        assert_eq!(f.condition, condition);
        assert!(f.text.unwrap_or_default().contains(text), "{bad}");
    }
    // Still negotiating: a correct sign-in succeeds (two failures are under the limit).
    c.sasl2(&Sasl2Login::plain("alice", "pw"))
        .await
        .expect("signed in");
    assert_eq!(panics(), 0);
}

#[tokio::test]
async fn fast_list_and_revoke_from_the_command_line() {
    let s = server(&["alice"]).await;
    let t = token_for(&s, "alice").await;
    // The server's storage on either engine (SQLite in its data dir, or its PostgreSQL).
    let cli = |args: &[&str]| s.cli(env!("CARGO_BIN_EXE_mucsub-server"), args);
    let listed = cli(&["user", "fast", "list", "alice"]);
    assert!(
        listed.contains(TEST_DEVICE) && listed.contains("HT-SHA-256-NONE"),
        "{listed}"
    );
    assert!(!listed.contains(&t), "no secret in the listing");
    let out = cli(&["user", "fast", "revoke", "alice", TEST_DEVICE]);
    assert!(out.contains("revoked 1 token"), "{out}");
    assert_eq!(
        with_token(&s, "alice", &t, None).await.unwrap_err(),
        "not-authorized"
    );
    assert!(cli(&["user", "fast", "list", "alice"]).trim().is_empty());
}
