//! The `[push]` table of the server configuration, with the values derived from the domain.

use super::appserver::DeliveryConfig;
use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `[push]` table of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Accept XEP-0357 `<enable/>` and send notifications; off: registrations are refused
    /// and nothing is sent.
    pub enabled: bool,
    /// JID of the built-in app server; `push.<domain>` when empty.
    pub service: String,
    /// VAPID contact (`mailto:` or `https:`); `mailto:admin@<domain>` when empty.
    pub subject: String,
    /// Accept `http://` push endpoints. Real push services are HTTPS; this exists for the
    /// loopback push service of tests and must stay off in production (it would let
    /// accounts make the server POST to internal plain-HTTP services).
    pub allow_http_endpoints: bool,
    /// How long a push service keeps an undelivered notification (Web Push `TTL`).
    pub ttl_secs: u32,
    /// Web Push `Urgency`: `very-low`, `low`, `normal` or `high`.
    pub urgency: String,
    /// Tries per notification before it is given up (retried on 429, 5xx, network errors).
    pub max_attempts: u32,
    /// First delay between tries; doubles each time.
    pub retry_base_ms: u64,
    /// Longest delay between tries (a `Retry-After` is honoured up to this).
    pub retry_max_ms: u64,
    /// Timeout of one request to a push service.
    pub request_timeout_secs: u64,
    /// Lifetime of the VAPID JWT sent with each request (at most 24 h, RFC 8292).
    pub vapid_validity_secs: i64,
    /// Notifications queued per worker before new ones are dropped.
    pub queue: usize,
    /// Delivery workers (1–64).
    pub workers: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            enabled: true,
            service: String::new(),
            subject: String::new(),
            allow_http_endpoints: false,
            ttl_secs: 24 * 3600,
            urgency: "normal".into(),
            max_attempts: 4,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            request_timeout_secs: 15,
            vapid_validity_secs: 12 * 3600,
            queue: 1024,
            workers: 4,
        }
    }
}

impl PushConfig {
    /// Reads the `[push]` table, filling the values derived from the domain.
    pub fn from_config(config: &Config) -> anyhow::Result<PushConfig> {
        let mut c: PushConfig = config.module_table("push", &config.push)?;
        if c.service.trim().is_empty() {
            c.service = format!("push.{}", config.domain);
        }
        c.service = c.service.trim().to_ascii_lowercase();
        if c.subject.trim().is_empty() {
            c.subject = format!("mailto:admin@{}", config.domain);
        }
        let origin = config.origin();
        if !(c.subject.starts_with("mailto:") || c.subject.starts_with("https:")) {
            anyhow::bail!("{origin}[push] subject must be a mailto: or https: URI");
        }
        if !(1..=24 * 3600).contains(&c.vapid_validity_secs) {
            anyhow::bail!("{origin}[push] vapid_validity_secs must be between 1 and 86400");
        }
        if !matches!(c.urgency.as_str(), "very-low" | "low" | "normal" | "high") {
            anyhow::bail!("{origin}[push] urgency must be very-low, low, normal or high");
        }
        c.workers = c.workers.clamp(1, 64);
        c.queue = c.queue.max(1);
        Ok(c)
    }

    pub(super) fn delivery(&self) -> DeliveryConfig {
        DeliveryConfig {
            subject: self.subject.clone(),
            allow_http_endpoints: self.allow_http_endpoints,
            ttl_secs: self.ttl_secs,
            urgency: self.urgency.clone(),
            max_attempts: self.max_attempts,
            retry_base: Duration::from_millis(self.retry_base_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            vapid_validity_secs: self.vapid_validity_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_follow_the_domain() {
        let c = PushConfig::from_config(&Config::parse("domain = 'example.org'").unwrap()).unwrap();
        assert!(c.enabled);
        assert_eq!(c.service, "push.example.org");
        assert_eq!(c.subject, "mailto:admin@example.org");
        assert!(!c.allow_http_endpoints);
        assert_eq!(c.max_attempts, 4);
    }

    #[test]
    fn config_rejects_bad_values() {
        for bad in [
            "[push]\nsubject = 'admin@example.org'",
            "[push]\nurgency = 'asap'",
            "[push]\nvapid_validity_secs = 90000",
            "[push]\nbogus = 1",
            "[push]\nmax_attempts = 'three'",
        ] {
            let config = Config::parse(bad).unwrap();
            assert!(PushConfig::from_config(&config).is_err(), "{bad}");
        }
        let c = PushConfig::from_config(
            &Config::parse("[push]\nservice = 'Notify.Localhost'\nworkers = 0").unwrap(),
        )
        .unwrap();
        assert_eq!(c.service, "notify.localhost");
        assert_eq!(c.workers, 1);
    }
}
