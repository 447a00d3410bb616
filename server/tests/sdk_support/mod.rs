//! What the native SDK tests (`sdk_native_*.rs`) share: a client's configuration, reading a
//! message event's body and waiting for a room event, and bounding a whole test so a hang
//! fails it instead of stalling the suite.
#![allow(dead_code)]

use mucsub::client::{AppEvent, ClientConfig};
use mucsub::event::{EventKind, RoomEvent};
use mucsub::native::NativeClient;
use mucsub::session::{Framing, SessionConfig};
use mucsub::store::MemoryStore;
use mucsub_server::testkit::TIMEOUT;

/// The configuration of `user@localhost` (password `pw`) as `resource` over `framing`,
/// without TLS, with initial presence, signing in by password.
pub fn config_over(user: &str, resource: &str, framing: Framing) -> ClientConfig {
    ClientConfig::new(SessionConfig {
        jid: format!("{user}@localhost").parse().expect("jid"),
        password: "pw".into(),
        resource: Some(resource.into()),
        framing,
        secure: false,
        initial_presence: true,
        token: false,
    })
}

/// [`config_over`] plain TCP, the framing of most native tests.
pub fn config(user: &str, resource: &str) -> ClientConfig {
    config_over(user, resource, Framing::Tcp)
}

/// The body of a plain room message; `None` for every other kind of event.
pub fn body(e: &RoomEvent) -> Option<&str> {
    match &e.kind {
        EventKind::Message { body, .. } => Some(body),
        _ => None,
    }
}

/// Runs a whole test under a generous bound (six times the testkit's per-step timeout).
pub async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT * 6, f)
        .await
        .expect("test took far too long (hang)")
}

/// Wait for the room event `pred` accepts; the event.
pub async fn room_event(
    c: &mut NativeClient<MemoryStore>,
    pred: impl Fn(&RoomEvent) -> bool,
) -> RoomEvent {
    match c
        .wait_for(|e| matches!(e, AppEvent::Room(r) if pred(r)))
        .await
    {
        Ok(AppEvent::Room(r)) => r,
        other => panic!("{other:?}"),
    }
}

/// Ends every session `user` has on the reference ejabberd (its HTTP API on
/// 127.0.0.1:15280). A client of an earlier test or run that lost its socket with XEP-0198
/// on stays there for minutes waiting to be resumed: an available resource that would take
/// the events meant for offline storage or for the resumed session.
pub async fn ejabberd_kick(user: &str) {
    let body = format!("{{\"user\":\"{user}\",\"host\":\"localhost\"}}");
    let r = mucsub_server::testkit::http_request(
        "127.0.0.1:15280".parse().unwrap(),
        "POST",
        "/api/kick_user",
        &[],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "kick_user {user}: {r:?}");
}
