//! Server startup and shutdown, in one place for `main.rs` and the tests.

use crate::c2s::{conn::post_auth_limits, connection, tcp::TcpTransport};
use crate::config::Config;
use crate::router::Router;
use crate::storage::Storage;
use crate::ServerContext;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Server;

/// A running server.
pub struct ServerHandle {
    /// Where the TCP c2s listener is bound.
    pub c2s_addr: SocketAddr,
    /// Where the HTTP listener (`/ws`, `/health`, the app) is bound.
    pub http_addr: SocketAddr,
    pub ctx: ServerContext,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Opens the configured storage (SQLite in the data directory, or `[cluster] postgres`)
/// with every component migrated.
pub async fn open_storage(config: &Config) -> anyhow::Result<Storage> {
    crate::storage::open(config).await
}

impl Server {
    /// Opens storage, starts the modules (`builtin.rs`: push, MUC), binds the
    /// listeners and accepts clients.
    pub async fn start(mut config: Config) -> anyhow::Result<ServerHandle> {
        config.normalize()?;
        let config = Arc::new(config);
        let auth = Arc::new(
            crate::auth::plain::Authenticator::new(&config.domain, &config.auth)
                .map_err(|e| anyhow::anyhow!("{}{e}", config.origin()))?,
        );
        if config.registration && !auth.passwords() {
            anyhow::bail!(
                "{}registration = true needs \"password\" in [auth] methods (in-band registration sets a password)",
                config.origin()
            );
        }
        let storage = open_storage(&config).await?;
        tracing::info!(engine = storage.engine.name(), "storage open");
        let metrics = crate::metrics::Metrics::new();
        let cluster = match &storage.ownership {
            Some(o) => Some(
                crate::cluster::Membership::join(
                    &config.cluster,
                    o.clone(),
                    metrics.cluster_claims.clone(),
                )
                .await?,
            ),
            None => None,
        };
        let (accounts, offline) = (storage.accounts.clone(), storage.offline.clone());
        let fast = crate::fast::Fast::open(&config, storage.fast.clone())?;
        {
            let commits = metrics.commit_seconds.clone();
            storage
                .engine
                .observe_commits(Box::new(move |d| commits.observe(d.as_secs_f64())));
        }
        let router = Router::new(&config.domain, accounts.clone(), offline.clone());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        if let Some(c) = &cluster {
            c.spawn_renewal(shutdown_rx.clone());
            start_bus(&config, c, &storage, &router, &metrics, shutdown_rx.clone()).await?;
        }
        let ctx = ServerContext {
            config: config.clone(),
            storage,
            cluster,
            router,
            accounts,
            offline,
            fast,
            resumable: Arc::new(crate::sm::Registry::default()),
            auth,
            metrics,
            shutdown: shutdown_rx,
            connections: Arc::new(AtomicUsize::new(0)),
            per_ip: crate::limits::PerIp::new(config.limits.max_connections_per_ip),
            extensions: Arc::new(OnceLock::new()),
        };
        let module_routes = crate::module::start_all(&ctx, crate::builtin::MODULES).await?;

        let acceptor = crate::tls::acceptor(&config)?;
        let c2s = config.listeners.c2s.bind("c2s").await?;
        let c2s_addr = c2s.local_addr()?;
        let http = config.listeners.http.bind("http").await?;
        let http_addr = http.local_addr()?;

        let mut tasks = Vec::new();
        {
            let ctx = ctx.clone();
            let mut stop = ctx.shutdown.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let (sock, peer) = tokio::select! {
                        r = c2s.accept() => match r {
                            Ok(x) => x,
                            Err(e) => {
                                tracing::warn!(error = %e, "accept failed");
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            }
                        },
                        _ = stop.changed() => break,
                    };
                    tracing::debug!(%peer, "TCP connection");
                    let admission = connection::admit(&ctx, peer.ip());
                    let t = TcpTransport::new(
                        sock,
                        peer,
                        post_auth_limits(&ctx),
                        Some(acceptor.clone()),
                    );
                    tokio::spawn(admission.serve(ctx.clone(), t));
                }
            }));
        }
        {
            let app = crate::http::app(ctx.clone(), module_routes)
                .into_make_service_with_connect_info::<SocketAddr>();
            let mut stop = ctx.shutdown.clone();
            tasks.push(tokio::spawn(async move {
                let r = axum::serve(crate::http::nodelay(http), app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "HTTP listener failed");
                }
            }));
        }
        tracing::info!(
            domain = config.domain,
            muc = config.muc_service,
            %c2s_addr,
            %http_addr,
            "mucsub-server started"
        );
        Ok(ServerHandle {
            c2s_addr,
            http_addr,
            ctx,
            shutdown_tx,
            tasks,
        })
    }
}

/// Connects a cluster node to the others over NATS (`[cluster] nats`): its inbox, the
/// router's way to sessions on other nodes, and the registry's to rooms they own. Without
/// `nats` the node serves only the rooms it owns and its own sessions.
async fn start_bus(
    config: &Config,
    cluster: &Arc<crate::cluster::Membership>,
    storage: &Storage,
    router: &Router,
    metrics: &crate::metrics::Metrics,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (Some(url), Some(directory)) = (&config.cluster.nats, &storage.directory) else {
        return Ok(());
    };
    let (requests, bytes) = (
        metrics.cluster_requests.clone(),
        metrics.cluster_request_bytes.clone(),
    );
    let bus = crate::cluster::bus::Bus::connect(url, cluster.node(), requests, bytes).await?;
    let locations = Arc::new(crate::cluster::locations::Locations::new(
        Duration::from_millis(config.cluster.locations_ttl_ms),
    ));
    let handler = crate::cluster::handler(router.clone(), cluster.clone(), locations.clone());
    let greeted = cluster.clone();
    let listening = bus.serve(
        cluster.incarnations(),
        // Any request from another node says it is live (`cluster/peers.rs`).
        Arc::new(move |env| {
            greeted.greeted();
            handler(env)
        }),
        shutdown,
    );
    cluster.set_bus(bus.clone());
    // Listening before the count, so a node that starts meanwhile and finds this one
    // live reaches it with its greeting; the others greeted before this node takes
    // clients, so they look for its sessions.
    let _ = tokio::time::timeout(Duration::from_secs(5), listening).await;
    cluster.meet(crate::cluster::Greet::Wait).await;
    router.set_remote(crate::cluster::NodeRemote::start(
        cluster.clone(),
        bus,
        directory.clone(),
        locations,
        metrics.cluster_lookups.clone(),
    ));
    // A new incarnation (the lease was lost while this node was paused or cut off) has
    // no sessions in the directory: this node's live ones are published again under it.
    let (mut incarnations, router) = (cluster.incarnations(), router.clone());
    tokio::spawn(async move {
        while incarnations.changed().await.is_ok() {
            router.republish_sessions();
        }
    });
    Ok(())
}

impl ServerHandle {
    /// Closes every stream properly (`</stream:stream>` / `<close/>`), stops the
    /// listeners and waits (a few seconds at most) for connections to finish.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        let _ = self.shutdown_tx.send(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.ctx.connections.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        // Another node may take this node's rooms at once instead of after the lease.
        if let Some(c) = &self.ctx.cluster {
            c.leave().await;
        }
    }
}
