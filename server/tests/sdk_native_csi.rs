//! The SDK's native client tells the bundled server when the app is hidden (XEP-0352
//! CSI, `NativeClient::set_active`), and the server then sends Web Push for room messages
//! although the session stays connected; visible again, it does not. The wish outlives a
//! reconnect: the new session says `<inactive/>` by itself.
//!
//! "No push" is shown without waiting for silence, as in `push_csi.rs`: one account's
//! pushes go out in order, so when the next push is a later event, the earlier ones
//! produced none.

#[path = "scenarios/support.rs"]
mod support;

mod push_support;

mod sdk_support;
use mucsub::client::{AppEvent, Command, CommandResult};
use mucsub::event::EventKind;
use mucsub::native::{Endpoint, NativeClient};
use mucsub::session::Framing;
use mucsub::store::MemoryStore;
use mucsub_server::testkit::TestServer;
use push_support::{push_of, PushService};
use sdk_support::bounded;
use support::*;

const PUSH: &str = "push.localhost";

/// The SDK stored and reported the room message `body`: the session was still served.
async fn delivered(c: &mut NativeClient<MemoryStore>, body: &str) {
    c.wait_for(|e| {
        matches!(e, AppEvent::Room(ev) if matches!(&ev.kind, EventKind::Message { body: b } if b == body))
    })
    .await
    .expect("driving the native client");
}

/// A command round trip: the server handles one session's input in order, so once it is
/// answered the CSI element written before it is in effect.
async fn settle(c: &mut NativeClient<MemoryStore>) {
    let r = c
        .command(Command::ListSubscriptions)
        .await
        .expect("driving the native client");
    assert!(
        matches!(r, Ok(CommandResult::Subscriptions { .. })),
        "{r:?}"
    );
}

async fn native_bob(s: &TestServer) -> NativeClient<MemoryStore> {
    let cfg = sdk_support::config_over("bob", "tab", Framing::WebSocket);
    let mut c = NativeClient::new(cfg, Endpoint::WebSocket(s.ws_url()), MemoryStore::new())
        .await
        .expect("client");
    c.connect().await.expect("connect");
    c.wait_synced().await.expect("initial sync");
    c
}

#[tokio::test]
async fn hidden_sdk_client_is_pushed_visible_is_not_and_reconnect_keeps_hidden() {
    bounded(async {
        let s = server_with(&["alice", "bob"], |c| {
            c.push
                .insert("allow_http_endpoints".into(), toml::Value::Boolean(true));
        })
        .await;
        let mut svc = PushService::start().await;
        svc.expect_vapid_key(push_of(&s).vapid_public_key());
        let r = room("tabs");
        let mut a = login(&s, "alice", "a").await;
        join(&mut a, &r, "alice").await;

        // The push registration belongs to the account; the native SDK has no XEP-0357
        // command, so a short raw session registers the device first.
        let sub = svc.subscribe("bob-browser");
        let mut setup = login(&s, "bob", "setup").await;
        sub.enable(&mut setup, PUSH, true).await;
        go_offline(&s, setup, "bob@localhost").await;

        let mut bob = native_bob(&s).await;
        let res = bob.command(Command::subscribe(&r, "bob")).await.unwrap();
        assert!(
            matches!(res, Ok(CommandResult::Subscribed { .. })),
            "{res:?}"
        );
        bob.wait_synced().await.unwrap();
        assert!(bob.core().is_active());

        // Visible: delivered, not pushed (shown by the next push below).
        say(&mut a, &r, "seen live").await;
        delivered(&mut bob, "seen live").await;

        // Hidden: still delivered, and pushed.
        bob.set_active(false).await.unwrap();
        settle(&mut bob).await;
        say(&mut a, &r, "while hidden").await;
        delivered(&mut bob, "while hidden").await;
        let got = svc.next().await;
        assert_eq!(got.subscription, "bob-browser");
        assert_eq!(got.json["body"], "while hidden");
        assert_eq!(got.json["room"], r);
        assert_eq!(got.json["sender"], "alice");

        // Visible again: not pushed.
        bob.set_active(true).await.unwrap();
        settle(&mut bob).await;
        say(&mut a, &r, "visible again").await;
        delivered(&mut bob, "visible again").await;

        // Hidden, then the connection is replaced: the new session says inactive right
        // after binding (the server starts every session active), so this is pushed.
        bob.set_active(false).await.unwrap();
        bob.disconnect().await.unwrap();
        bob.connect().await.unwrap();
        bob.wait_synced().await.unwrap();
        assert!(!bob.core().is_active());
        say(&mut a, &r, "hidden after reconnect").await;
        delivered(&mut bob, "hidden after reconnect").await;
        let got = svc.next().await;
        assert_eq!(
            got.json["body"], "hidden after reconnect",
            "\"visible again\" must not have been pushed"
        );

        // Visible once more, then a marker while hidden: nothing came in between.
        bob.set_active(true).await.unwrap();
        settle(&mut bob).await;
        say(&mut a, &r, "visible at last").await;
        delivered(&mut bob, "visible at last").await;
        bob.set_active(false).await.unwrap();
        settle(&mut bob).await;
        say(&mut a, &r, "marker").await;
        delivered(&mut bob, "marker").await;
        assert_eq!(svc.next().await.json["body"], "marker");
        let late = svc.drain();
        assert!(late.is_empty(), "unexpected pushes: {late:?}");
    })
    .await;
}
