//! Sign-in with the app's own tokens, in headless Chromium against a real mucsub-server
//! (`tests/suites/browser-sdk.sh` runs it with `[auth] methods = ["password", "jwt"]` and an
//! HS256 secret it passes here as `MUCSUB_TEST_JWT_SECRET`). The page mints its tokens with
//! that secret, as the app's backend would, and hands them to the client through the
//! `credentials` callback.

use std::cell::Cell;
use std::rc::Rc;

use crate::support::*;
use base64::Engine;
use hmac::{Hmac, Mac};
use js_sys::{Function, Object, Promise};
use mucsub::wasm::socket::sleep;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

fn secret() -> &'static str {
    env!(
        "MUCSUB_TEST_JWT_SECRET",
        "MUCSUB_TEST_JWT_SECRET must be set when these tests are built: run them through \
         tests/suites/browser-sdk.sh"
    )
}

fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// An HS256 JWT `{jid, iat, exp: now + ttl}` signed with `key`.
fn mint(key: &str, jid: &str, ttl: i64) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"jid": jid, "iat": now_secs(), "exp": now_secs() + ttl});
    let payload = b64.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        b64.encode(mac.finalize().into_bytes())
    )
}

/// `{token}` or `{password}` as a resolved Promise, as an `async` callback returns it.
fn answer(key: &str, value: &str) -> Promise {
    let o = Object::new();
    set(&o, key, &value.into());
    Promise::resolve(&JsValue::from(o))
}

/// A `credentials` callback: `make(n)` gives the n-th call's answer (n from 1); the count
/// of calls is shared.
fn callback(make: impl Fn(u32) -> Promise + 'static) -> (Function, Rc<Cell<u32>>) {
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let f = Closure::<dyn FnMut() -> Promise>::new(move || {
        c.set(c.get() + 1);
        make(c.get())
    });
    let function: Function = f.as_ref().unchecked_ref::<Function>().clone();
    // Lives as long as the page: the client calls it at every reconnect.
    f.forget();
    (function, calls)
}

fn resource() -> String {
    format!("tok-{}", (js_sys::Math::random() * 1e9) as u64)
}

#[wasm_bindgen_test]
async fn signs_in_with_a_token_and_reconnects_with_a_fresh_one_after_it_expired() {
    const FIRST_TTL: i64 = 3;
    let (f, calls) = callback(|n| {
        // The first token lives a few seconds; every later one an hour.
        let ttl = if n == 1 { FIRST_TTL } else { 3600 };
        answer("token", &mint(secret(), "alice@localhost", ttl))
    });
    let res = resource();
    let alice = Peer::with_credentials("alice", &res, &f);
    alice.connect().await;
    assert_eq!(calls.get(), 1);
    let room = fresh_room("token");
    alice.subscribe(&room, "alice").await;
    alice.send(&room, "signed in with a token").await;
    alice
        .wait_event(|e| prop_str(e, "body").as_deref() == Some("signed in with a token"))
        .await;

    // The first token expires (exp is in whole seconds: wait past it).
    sleep(((FIRST_TTL + 2) * 1000) as f64).await;
    // The server ends alice's connection: another session takes her resource over.
    let intruder = Peer::with_resource("alice", &res);
    intruder.connect().await;
    intruder.close().await;

    // alice reconnects by herself; she can only get in with a fresh token, so the callback
    // was asked again.
    alice
        .wait_until("alice reconnected", |p| {
            let s = p.states();
            let lost = s
                .iter()
                .rposition(|x| x == "reconnecting" || x == "disconnected");
            lost.is_some_and(|i| s[i..].iter().any(|x| x == "online"))
        })
        .await;
    assert!(
        calls.get() >= 2,
        "the callback was asked again: {}",
        calls.get()
    );
    let auth_errors: Vec<_> = alice
        .errors
        .borrow()
        .iter()
        .filter_map(|e| prop_str(e, "code"))
        .filter(|c| c == "auth-failed")
        .collect();
    assert!(auth_errors.is_empty(), "{auth_errors:?}");
    alice.send(&room, "back with a fresh token").await;
    alice
        .wait_event(|e| prop_str(e, "body").as_deref() == Some("back with a fresh token"))
        .await;
    alice.close().await;
}

/// `connect()` with a callback giving `make()`: its error (which must exist).
async fn connect_error(make: impl Fn(u32) -> Promise + 'static) -> JsValue {
    let (f, _) = callback(make);
    let p = Peer::with_credentials("alice", &resource(), &f);
    let e = call(p.client.connect())
        .await
        .expect_err("the sign-in must fail");
    p.close().await;
    e
}

#[wasm_bindgen_test]
async fn expired_forged_and_other_users_tokens_fail_with_auth_failed() {
    let expired = connect_error(|_| answer("token", &mint(secret(), "alice@localhost", -60))).await;
    assert_error(&expired, "auth-failed");
    let forged = connect_error(|_| {
        answer(
            "token",
            &mint(
                "not the server's secret, but 32+ bytes",
                "alice@localhost",
                600,
            ),
        )
    })
    .await;
    assert_error(&forged, "auth-failed");
    let bobs = connect_error(|_| answer("token", &mint(secret(), "bob@localhost", 600))).await;
    assert_error(&bobs, "auth-failed");
}

#[wasm_bindgen_test]
async fn a_callback_that_fails_or_answers_nothing_usable_fails_with_auth_failed() {
    let rejected =
        connect_error(|_| Promise::reject(&js_sys::Error::new("backend unreachable"))).await;
    assert_error(&rejected, "auth-failed");
    assert!(
        prop_str(&rejected, "message").is_some_and(|m| m.contains("backend unreachable")),
        "{:?}",
        prop_str(&rejected, "message")
    );
    let empty = connect_error(|_| Promise::resolve(&JsValue::from(Object::new()))).await;
    assert_error(&empty, "auth-failed");

    // `{password}` from the callback signs in like the password option.
    let (f, calls) = callback(|_| answer("password", "pw"));
    let p = Peer::with_credentials("carol", &resource(), &f);
    p.connect().await;
    assert_eq!(calls.get(), 1);
    p.close().await;
}

#[wasm_bindgen_test]
async fn a_reconnect_whose_callback_fails_reports_it_and_retries() {
    // The backend is unreachable once, at the first reconnect.
    let (f, calls) = callback(|n| {
        if n == 2 {
            Promise::reject(&js_sys::Error::new("backend unreachable"))
        } else {
            answer("token", &mint(secret(), "dave@localhost", 3600))
        }
    });
    let res = resource();
    let dave = Peer::with_credentials("dave", &res, &f);
    dave.connect().await;
    let intruder = Peer::with_resource("dave", &res);
    intruder.connect().await;
    intruder.close().await;
    dave.wait_until("dave's third attempt", |_| calls.get() >= 3)
        .await;
    dave.wait_until("dave back online", |p| {
        p.states().last().map(String::as_str) == Some("online")
    })
    .await;
    let reported: Vec<_> = dave
        .errors
        .borrow()
        .iter()
        .filter(|e| prop_str(e, "message").is_some_and(|m| m.contains("backend unreachable")))
        .filter_map(|e| prop_str(e, "code"))
        .collect();
    assert_eq!(
        reported,
        ["auth-failed"],
        "the failed callback was reported once"
    );
    dave.close().await;
}
