//! What the native SDK tests (`sdk_native_*.rs`) share: reading a message event's body and
//! bounding a whole test so a hang fails it instead of stalling the suite.
#![allow(dead_code)]

use mucsub::event::{EventKind, RoomEvent};
use mucsub_server::testkit::TIMEOUT;

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
