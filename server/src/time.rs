//! The server clock, and XEP-0082 timestamps from the shared protocol crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// XEP-0082 DateTime (`2024-01-02T03:04:05.678Z`) for milliseconds since the epoch; the
/// protocol crate (shared with the SDK) already formats these, so the server uses its code.
pub fn xep82(millis: i64) -> String {
    mucsub_protocol::time::Timestamp(millis).to_xep0082()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(xep82(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(xep82(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(xep82(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }
}
