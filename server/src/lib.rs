//! mucsub-server: an XMPP server with MUC (XEP-0045), MucSub, MAM (XEP-0313),
//! offline delivery and push, on an embedded SQLite database or on PostgreSQL.
//!
//! Start reading at [`server::Server::start`]; the shared state every part of the server
//! receives is [`ServerContext`]. Parts beyond the core (MUC, push, the HTTP API) plug in through
//! `module.rs` and are listed in `builtin.rs`.

pub mod api;
pub mod auth;
pub mod builtin;
pub(crate) mod c2s;
pub mod cluster;
pub mod config;
pub mod extensions;
pub mod fast;
pub(crate) mod http;
pub mod limits;
pub mod metrics;
pub(crate) mod module;
pub mod muc;
pub mod ns;
pub mod pep;
pub mod push;
pub mod router;
pub mod server;
pub mod sm;
pub mod stanza;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod time;
pub(crate) mod tls;
pub mod xmlstream;

use std::sync::{Arc, OnceLock};

/// Everything a part of the server (c2s sessions, the MUC service, the HTTP listener) shares.
#[derive(Clone)]
pub struct ServerContext {
    pub config: Arc<config::Config>,
    /// Every durable component's store (SQLite or PostgreSQL: `storage/`).
    pub storage: storage::Storage,
    /// This node's cluster membership (lease, room claims); `None` on SQLite.
    pub cluster: Option<Arc<cluster::Membership>>,
    pub router: router::Router,
    /// Account storage (SCRAM credentials).
    pub accounts: Arc<dyn storage::AccountStore>,
    /// Offline message storage, bounded per account.
    pub offline: Arc<dyn storage::OfflineStore>,
    /// XEP-0484 FAST tokens.
    pub fast: Arc<fast::Fast>,
    /// XEP-0198 resumable sessions, by SM-ID.
    pub resumable: Arc<sm::Registry>,
    /// Which sign-ins `[auth]` accepts; SASL PLAIN is checked through
    /// [`auth::plain::verify_plain`] with it.
    pub auth: Arc<auth::plain::Authenticator>,
    /// The series `/metrics` serves; every part updates its own.
    pub metrics: metrics::Metrics,
    /// Fires when the whole server shuts down; long-running tasks select on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Open client connections (TCP and WebSocket), for graceful shutdown.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Open connections per IP address (`[limits] max_connections_per_ip`).
    pub per_ip: Arc<limits::PerIp>,
    /// What the modules registered; set once they have all started.
    extensions: Arc<OnceLock<extensions::Extensions>>,
}

impl ServerContext {
    /// What the modules registered (nothing until they have all started).
    pub fn extensions(&self) -> &extensions::Extensions {
        self.extensions.get().unwrap_or(&extensions::NONE)
    }

    /// Installs what the modules registered; once per server.
    pub(crate) fn install_extensions(&self, ext: extensions::Extensions) -> anyhow::Result<()> {
        self.extensions
            .set(ext)
            .map_err(|_| anyhow::anyhow!("the modules were started twice"))
    }
}
