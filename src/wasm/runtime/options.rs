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
    // `IpAddr`'s parser tries these two in turn; called apart, they are the instances
    // JID validation (vendor/jid) already brings (issue 24, package size).
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    /// The check as it was written before, through `IpAddr`'s parser.
    fn before(url: &str) -> bool {
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
                .is_ok_and(|ip| ip.is_loopback())
    }

    #[wasm_bindgen_test]
    fn loopback_and_tls_are_told_as_before() {
        let hosts = [
            "localhost",
            "LocalHost",
            "127.0.0.1",
            "127.255.3.4",
            "127.1",
            "0127.0.0.1",
            "128.0.0.1",
            "10.0.0.1",
            "[::1]",
            "[0:0:0:0:0:0:0:1]",
            "[0::1]",
            "[::0.0.0.1]",
            "[::ffff:127.0.0.1]",
            "[::2]",
            "[::1",
            "::1",
            "example.org",
            "",
            "[]",
            "1.2.3",
        ];
        let mut secure = 0;
        for h in hosts {
            for url in [
                format!("ws://{h}"),
                format!("ws://{h}:5280/ws"),
                format!("WS://{h}/x?y#z"),
                format!("wss://{h}"),
                format!("http:{h}"),
            ] {
                assert_eq!(super::is_secure(&url), before(&url), "{url}");
                secure += usize::from(before(&url));
            }
        }
        assert!(secure > 40, "{secure}");
    }
}
