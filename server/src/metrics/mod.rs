//! What the server counts, for `/metrics` (Prometheus / OpenMetrics text, through the
//! Prometheus project's `prometheus-client`). One [`Metrics`] per server, in
//! [`crate::ServerContext::metrics`]: every part updates its own series there, and the
//! metrics module (`module.rs`) serves them at `/metrics` through the module seam. No global
//! registry, so servers in one process (the tests) never mix their numbers.
//!
//! | series | type | what |
//! |---|---|---|
//! | `mucsub_sessions{transport}` | gauge | bound sessions, `tcp` or `websocket` |
//! | `mucsub_stanzas_received_total{transport}` | counter | stanzas read from bound sessions |
//! | `mucsub_stanzas_sent_total{transport}` | counter | stanzas written to bound sessions |
//! | `mucsub_rooms_loaded` | gauge | rooms held in memory by the MUC service |
//! | `mucsub_events_fanned_out_total` | counter | MucSub events handed to one subscriber each |
//! | `mucsub_archive_writes_total` | counter | messages written to room archives |
//! | `mucsub_db_commit_seconds` | histogram | database group commits, begin to durable |
//! | `mucsub_offline_messages` | gauge | messages waiting in offline storage (read at scrape time) |
//! | `mucsub_push_notifications_total{result}` | counter | Web Push deliveries, `sent` or `failed` |
//! | `mucsub_api_requests_total{command,status}` | counter | HTTP API calls ([`Metrics::api_request`]) |
//! | `mucsub_sessions_waiting` | gauge | XEP-0198 sessions whose connection was lost, waiting to be resumed |
//! | `mucsub_resumptions_total{result}` | counter | XEP-0198 resumptions (legacy or inline in SASL2), `resumed` or `failed` |
//! | `mucsub_fast_sign_ins_total{result}` | counter | XEP-0484 token sign-ins, `accepted` or `refused` |
//! | `mucsub_cluster_requests_total` | counter | requests sent to other nodes over NATS (a cluster) |
//! | `mucsub_cluster_request_bytes_total` | counter | bytes of those requests (a cluster) |
//! | `mucsub_cluster_directory_lookups_total` | counter | session directory lookups (a cluster) |
//! | `mucsub_cluster_claims_total` | counter | room ownership claim queries (a cluster) |

pub mod module;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The transport of a client session.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabel {
    /// `tcp` or `websocket`.
    pub transport: &'static str,
}

/// How something ended: a push delivery (`sent`, `failed`), a resumption (`resumed`,
/// `failed`), a FAST sign-in (`accepted`, `refused`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// One HTTP API call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub command: String,
    pub status: u16,
}

/// The server's series; cheap to clone (every series is shared).
#[derive(Clone)]
pub struct Metrics(Arc<Series>);

/// The series themselves, updated by the part each one names.
pub struct Series {
    registry: Registry,
    pub sessions: Family<TransportLabel, Gauge>,
    pub stanzas_received: Family<TransportLabel, Counter>,
    pub stanzas_sent: Family<TransportLabel, Counter>,
    pub rooms_loaded: Gauge,
    pub events_fanned_out: Counter,
    pub archive_writes: Counter,
    pub commit_seconds: Histogram,
    pub offline_messages: Gauge,
    pub push: Family<ResultLabel, Counter>,
    pub api_requests: Family<ApiLabels, Counter>,
    pub sessions_waiting: Gauge,
    pub resumptions: Family<ResultLabel, Counter>,
    pub fast_sign_ins: Family<ResultLabel, Counter>,
    pub cluster_requests: Counter,
    pub cluster_request_bytes: Counter,
    pub cluster_lookups: Counter,
    pub cluster_claims: Counter,
}

impl std::ops::Deref for Metrics {
    type Target = Series;

    fn deref(&self) -> &Series {
        &self.0
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every series at zero, registered under the `mucsub_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("mucsub");
        let s = Series {
            sessions: Family::default(),
            stanzas_received: Family::default(),
            stanzas_sent: Family::default(),
            rooms_loaded: Gauge::default(),
            events_fanned_out: Counter::default(),
            archive_writes: Counter::default(),
            // 0.5 ms … 4 s: an fsync on an SSD is around a millisecond, a slow disk or a
            // large batch tens of milliseconds.
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            offline_messages: Gauge::default(),
            push: Family::default(),
            api_requests: Family::default(),
            sessions_waiting: Gauge::default(),
            resumptions: Family::default(),
            fast_sign_ins: Family::default(),
            cluster_requests: Counter::default(),
            cluster_request_bytes: Counter::default(),
            cluster_lookups: Counter::default(),
            cluster_claims: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("sessions", "Bound client sessions", s.sessions.clone());
        registry.register(
            "stanzas_received",
            "Stanzas read from bound client sessions",
            s.stanzas_received.clone(),
        );
        registry.register(
            "stanzas_sent",
            "Stanzas written to bound client sessions",
            s.stanzas_sent.clone(),
        );
        registry.register(
            "rooms_loaded",
            "Rooms held in memory by the MUC service",
            s.rooms_loaded.clone(),
        );
        registry.register(
            "events_fanned_out",
            "MucSub events handed to one subscriber each (live or offline)",
            s.events_fanned_out.clone(),
        );
        registry.register(
            "archive_writes",
            "Messages written to room archives",
            s.archive_writes.clone(),
        );
        registry.register(
            "db_commit_seconds",
            "Database group commits, from BEGIN until the commit is durable",
            s.commit_seconds.clone(),
        );
        registry.register(
            "offline_messages",
            "Messages waiting in offline storage, all accounts",
            s.offline_messages.clone(),
        );
        registry.register(
            "push_notifications",
            "Web Push deliveries by result (sent, failed)",
            s.push.clone(),
        );
        registry.register(
            "api_requests",
            "HTTP API calls by command and HTTP status",
            s.api_requests.clone(),
        );
        registry.register(
            "sessions_waiting",
            "XEP-0198 sessions whose connection was lost, waiting to be resumed",
            s.sessions_waiting.clone(),
        );
        registry.register(
            "resumptions",
            "XEP-0198 stream resumptions by result (resumed, failed)",
            s.resumptions.clone(),
        );
        registry.register(
            "fast_sign_ins",
            "XEP-0484 FAST token sign-ins by result (accepted, refused)",
            s.fast_sign_ins.clone(),
        );
        registry.register(
            "cluster_requests",
            "Requests sent to other nodes of the cluster over NATS",
            s.cluster_requests.clone(),
        );
        registry.register(
            "cluster_request_bytes",
            "Bytes of the requests sent to other nodes of the cluster over NATS",
            s.cluster_request_bytes.clone(),
        );
        registry.register(
            "cluster_directory_lookups",
            "Lookups in the cluster's session directory",
            s.cluster_lookups.clone(),
        );
        registry.register(
            "cluster_claims",
            "Room ownership claim queries",
            s.cluster_claims.clone(),
        );
        // The known label values exist from the start, at 0: a dashboard sees a series
        // before its first event.
        for transport in ["tcp", "websocket"] {
            let label = TransportLabel { transport };
            let _ = s.sessions.get_or_create(&label);
            let _ = s.stanzas_received.get_or_create(&label);
            let _ = s.stanzas_sent.get_or_create(&label);
        }
        for result in ["sent", "failed"] {
            let _ = s.push.get_or_create(&ResultLabel { result });
        }
        for result in ["resumed", "failed"] {
            let _ = s.resumptions.get_or_create(&ResultLabel { result });
        }
        for result in ["accepted", "refused"] {
            let _ = s.fast_sign_ins.get_or_create(&ResultLabel { result });
        }
        Metrics(Arc::new(Series { registry, ..s }))
    }

    /// Counts one HTTP API call. `command` must be a command the API knows (an unknown
    /// one is counted as `unknown`, so a client cannot make up series), `status` the HTTP
    /// status of the answer. The API module calls this once per request.
    pub fn api_request(&self, command: &str, known: bool, status: u16) {
        let command = if known { command } else { "unknown" };
        self.api_requests
            .get_or_create(&ApiLabels {
                command: command.to_owned(),
                status,
            })
            .inc();
    }

    /// A session bound on `transport`: counted in `mucsub_sessions` until the guard drops.
    pub fn session(&self, transport: &'static str) -> SessionGauge {
        let label = TransportLabel { transport };
        self.sessions.get_or_create(&label).inc();
        SessionGauge {
            metrics: self.clone(),
            label,
        }
    }

    /// `n` stanzas read from a session on `transport`.
    pub fn received(&self, transport: &'static str, n: u64) {
        self.stanzas_received
            .get_or_create(&TransportLabel { transport })
            .inc_by(n);
    }

    /// `n` stanzas written to a session on `transport`.
    pub fn sent(&self, transport: &'static str, n: u64) {
        self.stanzas_sent
            .get_or_create(&TransportLabel { transport })
            .inc_by(n);
    }

    /// A Web Push delivery ended: `sent` when the push service took it.
    pub fn push_result(&self, sent: bool) {
        let result = if sent { "sent" } else { "failed" };
        self.push.get_or_create(&ResultLabel { result }).inc();
    }

    /// An XEP-0198 resumption ended: `resumed` when the session was taken over.
    pub fn resumption(&self, resumed: bool) {
        let result = if resumed { "resumed" } else { "failed" };
        self.resumptions
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// A FAST token sign-in ended: `accepted` when the token was good.
    pub fn fast_sign_in(&self, accepted: bool) {
        let result = if accepted { "accepted" } else { "refused" };
        self.fast_sign_ins
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// A session waits to be resumed: counted in `mucsub_sessions_waiting` until the guard
    /// drops.
    pub fn waiting(&self) -> WaitingGauge {
        self.sessions_waiting.inc();
        WaitingGauge(self.clone())
    }

    /// Every series in the OpenMetrics text format (which Prometheus scrapes), ending in
    /// `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Keeps a session counted in `mucsub_sessions` while alive.
pub struct SessionGauge {
    metrics: Metrics,
    label: TransportLabel,
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.metrics.sessions.get_or_create(&self.label).dec();
    }
}

/// Keeps a session counted in `mucsub_sessions_waiting` while alive.
pub struct WaitingGauge(Metrics);

impl Drop for WaitingGauge {
    fn drop(&mut self) {
        self.0.sessions_waiting.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_encoded_with_their_labels() {
        let m = Metrics::new();
        let g = m.session("tcp");
        m.received("tcp", 3);
        m.api_request("register", true, 200);
        m.api_request("../../etc/passwd", false, 404);
        m.commit_seconds.observe(0.002);
        let text = m.encode();
        assert!(
            text.contains("mucsub_sessions{transport=\"tcp\"} 1"),
            "{text}"
        );
        assert!(text.contains("mucsub_stanzas_received_total{transport=\"tcp\"} 3"));
        assert!(text.contains("mucsub_api_requests_total{command=\"register\",status=\"200\"} 1"));
        assert!(text.contains("mucsub_api_requests_total{command=\"unknown\",status=\"404\"} 1"));
        assert!(text.contains("mucsub_db_commit_seconds_count 1"));
        assert!(text.ends_with("# EOF\n"));
        drop(g);
        assert!(m.encode().contains("mucsub_sessions{transport=\"tcp\"} 0"));
        let w = m.waiting();
        m.resumption(true);
        m.fast_sign_in(false);
        let text = m.encode();
        assert!(text.contains("mucsub_sessions_waiting 1"), "{text}");
        assert!(text.contains("mucsub_resumptions_total{result=\"resumed\"} 1"));
        assert!(text.contains("mucsub_resumptions_total{result=\"failed\"} 0"));
        assert!(text.contains("mucsub_fast_sign_ins_total{result=\"refused\"} 1"));
        drop(w);
        assert!(m.encode().contains("mucsub_sessions_waiting 0"));
    }
}
