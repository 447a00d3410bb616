//! mucsub-server: an XMPP server with MUC (XEP-0045), MucSub, MAM (XEP-0313),
//! offline delivery and push, on an embedded SQLite database.
//!
//! Start reading at [`server::Server::start`]; the shared state every part of the server
//! receives is [`ServerContext`].

pub mod auth;
pub mod c2s;
pub mod config;
pub mod http;
pub mod limits;
pub mod muc;
pub mod ns;
pub mod push;
pub mod router;
pub mod server;
pub mod stanza;
pub mod storage;
pub mod testkit;
pub mod time;
pub mod tls;
pub mod xmlstream;

use std::sync::Arc;

/// Everything a part of the server (c2s sessions, the MUC service, the HTTP listener) shares.
#[derive(Clone)]
pub struct ServerContext {
    pub config: Arc<config::Config>,
    pub db: storage::Db,
    pub router: router::Router,
    /// Account storage (SCRAM credentials).
    pub accounts: Arc<dyn storage::AccountStore>,
    /// Offline message storage, bounded per account.
    pub offline: Arc<dyn storage::OfflineStore>,
    /// Fires when the whole server shuts down; long-running tasks select on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Open client connections (TCP and WebSocket), for graceful shutdown.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Open connections per IP address (`[limits] max_connections_per_ip`).
    pub per_ip: Arc<limits::PerIp>,
    /// XEP-0357 registrations and the built-in Web Push app server.
    pub push: push::Push, // push hook
}
