//! FAST tokens (XEP-0484, docs/protocol.md X12) taken away from outside the device, checked
//! where it matters: the device's next token sign-in. The HTTP API's `revoke_fast_tokens`
//! (one device, or all), `change_password` and `unregister` (also of a stream waiting to
//! be resumed), and the command line's `user passwd` and `user remove`.

#[path = "scenarios/support.rs"]
mod support;

use mucsub_server::testkit::{with_api, RawClient, Sasl2Login, TestServer, TEST_DEVICE, TIMEOUT};
use serde_json::json;
use std::time::Duration;
use support::*;

const PHONE: &str = TEST_DEVICE;
const LAPTOP: &str = "00000000-1111-4222-8333-444444444444";

/// Signs in on `device` with `password` and asks for a token; returns it.
async fn token_for(s: &TestServer, user: &str, password: &str, device: &str) -> String {
    let mut login = Sasl2Login::plain(user, password);
    login.device = Some(device.into());
    login.request_token = true;
    let (c, r) = RawClient::sasl2_ws(&s.ws_url(), &login).await;
    let token = r.expect("signed in").token.expect("a token").token;
    c.close().await;
    token
}

/// Signs in on `device` with `token`: `Ok` or the failure's condition.
async fn sign_in(s: &TestServer, user: &str, token: &str, device: &str) -> Result<(), String> {
    let mut login = Sasl2Login::token(user, token, None);
    login.device = Some(device.into());
    let (c, r) = RawClient::sasl2_ws(&s.ws_url(), &login).await;
    match r {
        Ok(_) => {
            c.close().await;
            Ok(())
        }
        Err(f) => Err(f.condition),
    }
}

fn revoke(user: &str, host: &str, device: &str) -> serde_json::Value {
    json!({"user": user, "host": host, "device": device})
}

#[tokio::test]
async fn the_api_revokes_one_devices_tokens_or_every_devices() {
    let s = server_with(&["alice", "bob"], with_api).await;
    let phone = token_for(&s, "alice", "pw", PHONE).await;
    let laptop = token_for(&s, "alice", "pw", LAPTOP).await;
    let bobs = token_for(&s, "bob", "pw", PHONE).await;

    let r = s
        .api("revoke_fast_tokens", revoke("Alice", "localhost", LAPTOP))
        .await;
    assert_eq!((r.status, r.body), (200, json!(1)));
    assert_eq!(
        sign_in(&s, "alice", &laptop, LAPTOP).await,
        Err("not-authorized".into())
    );
    sign_in(&s, "alice", &phone, PHONE)
        .await
        .expect("the other device keeps its token");
    // Again: nothing left on that device.
    let r = s
        .api("revoke_fast_tokens", revoke("alice", "localhost", LAPTOP))
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));

    // An empty device: every device of the account, no other account's.
    token_for(&s, "alice", "pw", LAPTOP).await;
    let r = s
        .api("revoke_fast_tokens", revoke("alice", "localhost", ""))
        .await;
    assert_eq!((r.status, r.body), (200, json!(2)));
    assert_eq!(
        sign_in(&s, "alice", &phone, PHONE).await,
        Err("not-authorized".into())
    );
    assert!(s.ctx().fast.list("alice").await.unwrap().is_empty());
    sign_in(&s, "bob", &bobs, PHONE)
        .await
        .expect("bob's token is his");

    // No such account, another host, a missing argument: refused, nothing revoked.
    for (args, status, body) in [
        (
            revoke("nobody", "localhost", ""),
            404,
            json!("unknown_user"),
        ),
        (revoke("bob", "nosuch", ""), 404, json!("unknown_user")),
        (
            json!({"user": "bob", "host": "localhost"}),
            400,
            json!("Request have missing argument: device"),
        ),
    ] {
        let r = s.api("revoke_fast_tokens", args).await;
        assert_eq!((r.status, r.body), (status, body));
    }
    sign_in(&s, "bob", &bobs, PHONE).await.expect("still his");
}

/// Waits until `/metrics` has this line.
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
async fn the_apis_password_change_and_unregister_take_every_token() {
    let s = server_with(&["alice"], with_api).await;
    let phone = token_for(&s, "alice", "pw", PHONE).await;
    let laptop = token_for(&s, "alice", "pw", LAPTOP).await;
    let r = s
        .api(
            "change_password",
            json!({"user": "alice", "host": "localhost", "newpass": "new"}),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    for (token, device) in [(&phone, PHONE), (&laptop, LAPTOP)] {
        assert_eq!(
            sign_in(&s, "alice", token, device).await,
            Err("not-authorized".into()),
            "{device} signs in with the new password again"
        );
    }

    // A token and a stream waiting to be resumed, then the account goes.
    let mut login = Sasl2Login::plain("alice", "new");
    login.request_token = true;
    let (mut c, r) = RawClient::sasl2_ws(&s.ws_url(), &login).await;
    let success = r.expect("the new password");
    let token = success.token.expect("a token").token;
    let previd = success.bound.unwrap().enabled.unwrap().id.unwrap();
    c.send("<presence/>").await;
    c.drain_for(Duration::from_millis(100)).await;
    c.disconnect();
    until_metric(&s, "mucsub_sessions_waiting 1").await;
    let r = s
        .api("unregister", json!({"user": "alice", "host": "localhost"}))
        .await;
    assert_eq!(r.status, 200);
    until_metric(&s, "mucsub_sessions_waiting 0").await;
    // A new account of the same name inherits nothing: no token, no stream.
    let r = s
        .api(
            "register",
            json!({"user": "alice", "host": "localhost", "password": "again"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        sign_in(&s, "alice", &token, PHONE).await,
        Err("not-authorized".into())
    );
    let mut wake = Sasl2Login::plain("alice", "again");
    wake.resume = Some((previd, 1));
    let (c, r) = RawClient::sasl2_ws(&s.ws_url(), &wake).await;
    let failed = r.expect("signed in").failed.expect("the resumption failed");
    assert_eq!(failed.condition.as_deref(), Some("item-not-found"));
    c.close().await;
}

#[tokio::test]
async fn the_command_lines_passwd_and_remove_take_every_token() {
    let s = server(&["alice"]).await;
    // The server's storage on either engine (SQLite in its data dir, or its PostgreSQL).
    let cli = |args: &[&str]| s.cli(env!("CARGO_BIN_EXE_mucsub-server"), args);
    let phone = token_for(&s, "alice", "pw", PHONE).await;
    let laptop = token_for(&s, "alice", "pw", LAPTOP).await;
    let out = cli(&["user", "passwd", "alice", "--password", "new"]);
    assert!(out.contains("2 FAST token(s) revoked"), "{out}");
    for (token, device) in [(&phone, PHONE), (&laptop, LAPTOP)] {
        assert_eq!(
            sign_in(&s, "alice", token, device).await,
            Err("not-authorized".into())
        );
    }
    let phone = token_for(&s, "alice", "new", PHONE).await;
    cli(&["user", "remove", "alice"]);
    cli(&["user", "add", "alice", "--password", "again"]);
    assert_eq!(
        sign_in(&s, "alice", &phone, PHONE).await,
        Err("not-authorized".into()),
        "a new account of the same name has none of the old one's tokens"
    );
}
