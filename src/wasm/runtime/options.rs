//! What the browser runtime is started with, and what it takes from its environment: the
//! clock and the browser's random source (the sans-IO core draws on neither).

use jid::BareJid;

use crate::protocol::time::Timestamp;
use crate::wasm::credentials::Auth;

/// Client options after validation.
#[derive(Debug, Clone)]
pub struct Options {
    /// WebSocket URL.
    pub url: String,
    /// Account.
    pub jid: BareJid,
    /// The password, or the app's `credentials` callback.
    pub auth: Auth,
    /// IndexedDB database name.
    pub store: String,
    /// Requested resource.
    pub resource: Option<String>,
    /// MAM page size for resync (tests use small pages).
    pub page_size: Option<usize>,
}

/// Connection states as the JS API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected and not trying.
    Disconnected,
    /// First connection attempt in progress.
    Connecting,
    /// Bound and available.
    Online,
    /// Lost; waiting for the backoff or the page to come back.
    Reconnecting,
    /// `close()` was called.
    Closed,
}

impl ConnectionState {
    /// The JS string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Online => "online",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Closed => "closed",
        }
    }
}

/// The time now, from the browser's clock.
pub fn now() -> Timestamp {
    Timestamp(js_sys::Date::now() as i64)
}

/// A fresh random id (message ids, resources of push sessions).
pub fn random_id() -> String {
    random_bytes::<12>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Random bytes from the browser's crypto source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if getrandom::getrandom(&mut buf).is_err() {
        // No crypto source: Math.random is enough for uniqueness of message ids and for
        // spreading reconnects.
        for b in buf.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    buf
}

/// PLAIN is acceptable only over TLS or to loopback (docs/protocol.md C1).
pub fn is_secure(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("wss") {
        return true;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !port.contains(']') => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}
