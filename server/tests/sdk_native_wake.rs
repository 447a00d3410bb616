//! The SDK's native client wakes without its password against the bundled server (issue
//! 26): the first sign-in (SASL2 + Bind 2 with stream management) gets a FAST token; a
//! socket dropped while messages are posted is resumed with that token in one round trip
//! after the socket opens (the `<authenticate/>` goes with the stream header, as the
//! client's own traffic shows), same full JID, each stanza once; a revoked token makes the client ask for credentials
//! and stop; a resumption the server refuses binds afresh and the resync stores nothing
//! twice. Real TCP and WebSocket on loopback.

mod sdk_support;
use mucsub::client::{AppEvent, ClientConfig, Command, CommandResult};

use mucsub::native::{Endpoint, NativeClient, Traffic};
use mucsub::session::{Frame, Wake};
use mucsub::store::{MemoryStore, Store};
use mucsub_server::testkit::TestServer;
use sdk_support::{body, bounded};

const ROOM: &str = "wake@conference.localhost";
const DEVICE: &str = "0b6f1c1e-4a55-4f0e-9d57-2c1b9e0d7c31";

/// `managed`: SASL2, FAST and stream management. Over WebSocket the resource comes from a
/// Bind 2 tag, in the same round trip; over TCP the resource asked for is bound the RFC
/// 6120 way after SASL2 (Bind 2 cannot ask for one): both paths are covered.
fn config(user: &str, managed: bool, ws: bool) -> ClientConfig {
    let mut cfg = sdk_support::config(user, "phone");
    if managed {
        cfg.wake = Wake {
            manage: true,
            device_id: Some(DEVICE.into()),
            tag: ws.then(|| "phone".into()),
            ..Wake::default()
        };
    }
    cfg
}

fn endpoint(s: &TestServer, ws: bool) -> Endpoint {
    if ws {
        Endpoint::WebSocket(s.ws_url())
    } else {
        Endpoint::Tcp(s.c2s_addr().to_string())
    }
}

async fn subscribed(c: &mut NativeClient<MemoryStore>, nick: &str) {
    let r = c.command(Command::subscribe(ROOM, nick)).await.unwrap();
    assert!(matches!(r, Ok(CommandResult::Subscribed { .. })), "{r:?}");
    c.wait_synced().await.unwrap();
}

/// Bob signs in with his password (managed), alice (a plain client) posts; both subscribed.
/// Returns bob, his full JID and alice.
async fn pair(
    s: &TestServer,
    ws: bool,
    bob_store: MemoryStore,
) -> (NativeClient<MemoryStore>, String, NativeClient<MemoryStore>) {
    let mut bob = NativeClient::new(config("bob", true, ws), endpoint(s, ws), bob_store)
        .await
        .unwrap();
    bob.connect().await.unwrap();
    let events = bob.take_events();
    let jid = events
        .iter()
        .find_map(|e| match e {
            AppEvent::Connected { jid } => Some(jid.clone()),
            _ => None,
        })
        .expect("connected");
    let token = events
        .iter()
        .find_map(|e| match e {
            AppEvent::Token(t) => Some(t.clone()),
            _ => None,
        })
        .expect("the first sign-in is issued a FAST token");
    assert_eq!(bob.core().wake().token.as_ref(), Some(&token));
    bob.wait_synced().await.unwrap();
    let stream = bob.core().wake().stream.clone().expect("SM enabled");
    assert!(stream.resumable());
    subscribed(&mut bob, "bob").await;
    let mut alice = NativeClient::new(
        config("alice", false, true),
        endpoint(s, true),
        MemoryStore::new(),
    )
    .await
    .unwrap();
    alice.connect().await.unwrap();
    alice.wait_synced().await.unwrap();
    subscribed(&mut alice, "alice").await;
    (bob, jid, alice)
}

async fn post(alice: &mut NativeClient<MemoryStore>, bodies: &[String]) {
    for (i, b) in bodies.iter().enumerate() {
        alice
            .command(Command::send(ROOM, b.clone(), format!("{b}-{i}")))
            .await
            .unwrap()
            .unwrap();
    }
}

async fn stored_bodies(store: &MemoryStore) -> Vec<String> {
    store
        .events(ROOM, 10_000)
        .await
        .unwrap()
        .iter()
        .filter_map(body)
        .map(str::to_owned)
        .collect()
}

/// The traffic of the last connection in `traffic`.
fn last_connection(traffic: &[Traffic]) -> &[Traffic] {
    let start = traffic
        .iter()
        .rposition(|t| *t == Traffic::Connected)
        .expect("a connection");
    &traffic[start + 1..]
}

/// Round trips from the socket's opening to the SASL2 `<success/>`: each run of writes
/// followed by a read counts once (how long the client waited in sequence).
fn round_trips_to_success(traffic: &[Traffic]) -> usize {
    let (mut trips, mut sent) = (0, false);
    for t in traffic {
        match t {
            Traffic::Sent(_) => sent = true,
            Traffic::Received(f) => {
                trips += usize::from(sent);
                sent = false;
                if matches!(f, Frame::Element(e) if e.name() == "success") {
                    return trips;
                }
            }
            Traffic::Connected => {}
        }
    }
    panic!("no <success/>: {traffic:?}")
}

async fn dropped_socket_is_resumed_with_the_token(ws: bool) {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let store = MemoryStore::new();
    let (mut bob, jid, mut alice) = pair(&s, ws, store.clone()).await;
    let before: Vec<String> = (0..3).map(|i| format!("before {i}")).collect();
    post(&mut alice, &before).await;
    bob.wait_for(|e| matches!(e, AppEvent::Room(r) if body(r) == Some("before 2")))
        .await
        .unwrap();
    // From here on the token is the only way in.
    bob.set_credentials(String::new(), false);
    bob.record_traffic();
    bob.drop_connection().await.unwrap();
    let away: Vec<String> = (0..20).map(|i| format!("away {i}")).collect();
    post(&mut alice, &away).await;
    // The backoff timer reconnects; the stream is resumed, not bound anew.
    let ev = bob
        .wait_for(|e| {
            matches!(
                e,
                AppEvent::Resumed { .. }
                    | AppEvent::Connected { .. }
                    | AppEvent::Disconnected { .. }
            )
        })
        .await
        .unwrap();
    let ev = match ev {
        AppEvent::Disconnected { .. } => bob
            .wait_for(|e| matches!(e, AppEvent::Resumed { .. } | AppEvent::Connected { .. }))
            .await
            .unwrap(),
        other => other,
    };
    assert_eq!(ev, AppEvent::Resumed { jid: jid.clone() }, "same full JID");
    // One round trip: the token sign-in with the inline resumption went out with the
    // stream header (one write on TCP), before anything came back, and only once.
    let traffic = bob.take_traffic();
    let wake = last_connection(&traffic);
    let sent: Vec<&str> = wake
        .iter()
        .filter_map(|t| match t {
            Traffic::Sent(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    let before_reply: Vec<&str> = wake
        .iter()
        .map_while(|t| match t {
            Traffic::Sent(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    if ws {
        assert_eq!(before_reply.len(), 2, "{wake:?}");
        assert!(before_reply[0].starts_with("<open "), "{wake:?}");
    } else {
        assert_eq!(before_reply.len(), 1, "{wake:?}");
        assert!(before_reply[0].contains("<stream:stream"), "{wake:?}");
    }
    let auth = before_reply.last().unwrap();
    assert!(
        auth.contains("<authenticate") && auth.contains("HT-SHA-256-NONE"),
        "{auth}"
    );
    assert!(auth.contains("<resume "), "{auth}");
    assert_eq!(
        sent.iter().filter(|w| w.contains("<authenticate")).count(),
        1,
        "{sent:?}"
    );
    assert_eq!(round_trips_to_success(wake), 1, "{wake:?}");
    bob.wait_for(|e| matches!(e, AppEvent::Room(r) if body(r) == Some("away 19")))
        .await
        .unwrap();
    // Each message was reported once and stored once, in order.
    let reported: Vec<String> = bob
        .take_events()
        .iter()
        .filter_map(|e| match e {
            AppEvent::Room(r) => body(r).map(str::to_owned),
            _ => None,
        })
        .collect();
    let mut expected = before.clone();
    expected.extend(away.iter().cloned());
    assert_eq!(stored_bodies(&store).await, expected);
    let mut seen = reported.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), reported.len(), "reported twice: {reported:?}");
    assert!(bob.is_connected());
    assert!(bob.core().is_synced(), "a resumed stream needs no resync");
    // The stream still works both ways.
    let r = bob.command(Command::ListSubscriptions).await.unwrap();
    assert!(
        matches!(r, Ok(CommandResult::Subscriptions { .. })),
        "{r:?}"
    );
}

#[tokio::test]
async fn dropped_tcp_socket_is_resumed_with_the_token_each_stanza_once() {
    bounded(dropped_socket_is_resumed_with_the_token(false)).await;
}

#[tokio::test]
async fn dropped_websocket_is_resumed_with_the_token_each_stanza_once() {
    bounded(dropped_socket_is_resumed_with_the_token(true)).await;
}

#[tokio::test]
async fn a_revoked_token_makes_the_client_ask_for_credentials() {
    bounded(async {
        let s = TestServer::start().await;
        s.add_user("bob", "pw").await;
        let mut bob = NativeClient::new(
            config("bob", true, true),
            endpoint(&s, true),
            MemoryStore::new(),
        )
        .await
        .unwrap();
        bob.connect().await.unwrap();
        assert!(bob.core().wake().token.is_some());
        bob.disconnect().await.unwrap();
        assert!(
            bob.core().wake().stream.is_none(),
            "a polite close ends the stream"
        );
        // The token alone signs in again.
        bob.set_credentials(String::new(), false);
        bob.connect().await.expect("token sign-in");
        bob.disconnect().await.unwrap();
        assert_eq!(s.ctx().fast.revoke("bob", Some(DEVICE)).await.unwrap(), 1);
        let err = bob.connect().await.unwrap_err();
        assert!(err.to_string().contains("not-authorized"), "{err}");
        let events = bob.take_events();
        assert!(
            events.contains(&AppEvent::CredentialsNeeded {
                reason: "not-authorized".into()
            }),
            "{events:?}"
        );
        assert!(
            bob.core().wake().token.is_none(),
            "the dead token is dropped"
        );
        // No retry loop: nothing to sign in with until the app says so.
        assert!(bob.drive_once().await.is_err(), "no reconnect scheduled");
        // With the password again: a new token.
        bob.set_credentials("pw".into(), false);
        bob.connect().await.unwrap();
        assert!(bob.core().wake().token.is_some());
    })
    .await;
}

#[tokio::test]
async fn a_refused_resumption_binds_afresh_and_the_resync_stores_nothing_twice() {
    bounded(async {
        let s = TestServer::start().await;
        s.add_user("alice", "pw").await;
        s.add_user("bob", "pw").await;
        let store = MemoryStore::new();
        let (mut bob, _jid, mut alice) = pair(&s, false, store.clone()).await;
        let before: Vec<String> = (0..3).map(|i| format!("before {i}")).collect();
        post(&mut alice, &before).await;
        bob.wait_for(|e| matches!(e, AppEvent::Room(r) if body(r) == Some("before 2")))
            .await
            .unwrap();
        bob.drop_connection().await.unwrap();
        // The server does not know this stream: `item-not-found`, then Bind 2.
        let mut wake = bob.core().wake().clone();
        wake.stream.as_mut().unwrap().id = Some("unknown-previd".into());
        bob.set_wake(wake);
        bob.set_credentials(String::new(), false);
        let away: Vec<String> = (0..10).map(|i| format!("away {i}")).collect();
        post(&mut alice, &away).await;
        alice
            .wait_for(|e| matches!(e, AppEvent::Room(r) if body(r) == Some("away 9")))
            .await
            .unwrap();
        bob.wait_for(|e| matches!(e, AppEvent::Resumed { .. } | AppEvent::Connected { .. }))
            .await
            .map(|e| assert!(matches!(e, AppEvent::Connected { .. }), "{e:?}"))
            .unwrap();
        bob.wait_synced().await.unwrap();
        let stream = bob
            .core()
            .wake()
            .stream
            .clone()
            .expect("a new managed stream");
        assert_ne!(stream.id.as_deref(), Some("unknown-previd"));
        let mut expected = before.clone();
        expected.extend(away.iter().cloned());
        assert_eq!(stored_bodies(&store).await, expected);
    })
    .await;
}

/// Commands whose answers had not been read when the socket died wait for the resumption
/// and are answered on the resumed stream, once each: a subscribe the server carried out is
/// reported as done (not "disconnected"), a history page is stored once, and no archive
/// result arrives for a query the client forgot.
#[tokio::test]
async fn commands_in_flight_when_the_socket_dies_are_answered_on_the_resumed_stream() {
    bounded(async {
        let s = TestServer::start().await;
        s.add_user("alice", "pw").await;
        s.add_user("bob", "pw").await;
        let store = MemoryStore::new();
        let (mut bob, jid, mut alice) = pair(&s, false, store.clone()).await;
        let before: Vec<String> = (0..3).map(|i| format!("before {i}")).collect();
        post(&mut alice, &before).await;
        bob.wait_for(|e| matches!(e, AppEvent::Room(r) if body(r) == Some("before 2")))
            .await
            .unwrap();
        const OTHER: &str = "other@conference.localhost";
        // Both go out; the socket dies before either answer is read. Whether the server
        // handled them before it saw the socket go (their answers wait in its queue) or
        // not (the client writes them again), each is answered once on the resumed stream.
        let sub = bob
            .start_command(Command::subscribe(OTHER, "bob"))
            .await
            .unwrap();
        let hist = bob
            .start_command(Command::History {
                room: ROOM.into(),
                before: None,
                max: 10,
            })
            .await
            .unwrap();
        bob.drop_connection().await.unwrap();
        let r = bob.result_of(sub).await.unwrap();
        assert!(
            matches!(&r, Ok(CommandResult::Subscribed { room, .. }) if room == OTHER),
            "{r:?}"
        );
        let r = bob.result_of(hist).await.unwrap();
        assert!(matches!(r, Ok(CommandResult::History { .. })), "{r:?}");
        let events = bob.take_events();
        assert!(
            events.contains(&AppEvent::Resumed { jid: jid.clone() }),
            "{events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, AppEvent::Connected { .. } | AppEvent::Warning(_))),
            "{events:?}"
        );
        assert_eq!(stored_bodies(&store).await, before, "each stored once");
        let r = bob.command(Command::ListSubscriptions).await.unwrap();
        let Ok(CommandResult::Subscriptions { items }) = r else {
            panic!("{r:?}");
        };
        let mut rooms: Vec<_> = items.into_iter().filter_map(|i| i.jid).collect();
        rooms.sort();
        assert_eq!(rooms, vec![OTHER.to_owned(), ROOM.to_owned()]);
    })
    .await;
}

/// A device whose server no longer offers FAST (here: another server answering for the
/// domain, with `[fast] enabled = false`): the `<authenticate/>` sent with the stream header
/// meets features without the token's mechanism, so the client closes that stream and
/// signs in again at once, waiting for the features — quietly (`connect` succeeds, no
/// `Disconnected`), with the credentials it has, and it does not pipeline there again.
async fn a_server_that_stopped_offering_fast_gets_a_fresh_sign_in(ws: bool) {
    let first = TestServer::start().await;
    first.add_user("bob", "pw").await;
    let mut bob = NativeClient::new(
        config("bob", true, ws),
        endpoint(&first, ws),
        MemoryStore::new(),
    )
    .await
    .unwrap();
    bob.connect().await.unwrap();
    bob.disconnect().await.unwrap();
    let wake = bob.core().wake().clone();
    assert!(wake.token.is_some() && wake.sasl2.is_some(), "{wake:?}");
    let second = TestServer::start_with(|c| c.fast.enabled = false).await;
    second.add_user("bob", "pw").await;
    let mut cfg = config("bob", true, ws);
    cfg.wake = wake;
    let mut bob = NativeClient::new(cfg, endpoint(&second, ws), MemoryStore::new())
        .await
        .unwrap();
    bob.record_traffic();
    bob.connect().await.expect("signed in on the second try");
    let events = bob.take_events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, AppEvent::Disconnected { .. })),
        "{events:?}"
    );
    let traffic = bob.take_traffic();
    let connections: Vec<&[Traffic]> = traffic
        .split(|t| *t == Traffic::Connected)
        .skip(1)
        .collect();
    assert_eq!(connections.len(), 2, "{traffic:?}");
    let sent = |c: &[Traffic]| -> Vec<String> {
        c.iter()
            .filter_map(|t| match t {
                Traffic::Sent(w) => Some(w.clone()),
                _ => None,
            })
            .collect()
    };
    let tried = sent(connections[0]);
    assert!(
        tried[tried.len() - 2].contains("HT-SHA-256-NONE"),
        "{tried:?}"
    );
    assert!(
        tried.last().unwrap().contains("close")
            || tried.last().unwrap().contains("</stream:stream>"),
        "{tried:?}"
    );
    // The second connection opened alone and signed in with what the features offer.
    let again = sent(connections[1]);
    assert!(!again[0].contains("<authenticate"), "{again:?}");
    assert!(
        again[1].contains("<authenticate") && !again[1].contains("HT-SHA-256-NONE"),
        "{again:?}"
    );
    let offer = bob
        .core()
        .wake()
        .sasl2
        .clone()
        .expect("SASL2 is still offered");
    assert!(offer.fast.is_empty(), "{offer:?}");
}

#[tokio::test]
async fn a_server_that_stopped_offering_fast_over_tcp_gets_a_fresh_sign_in_at_once() {
    bounded(a_server_that_stopped_offering_fast_gets_a_fresh_sign_in(
        false,
    ))
    .await;
}

#[tokio::test]
async fn a_server_that_stopped_offering_fast_over_websocket_gets_a_fresh_sign_in_at_once() {
    bounded(a_server_that_stopped_offering_fast_gets_a_fresh_sign_in(
        true,
    ))
    .await;
}
