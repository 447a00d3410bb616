//! Push: XEP-0357 on the XMPP server and a built-in Web Push app server (`push.<domain>`).
//!
//! How it fits the rest of the server: `module::PushModule` starts [`Push`] and registers
//! it with the core —
//! - the `urn:xmpp:push:0` feature of the server domain, and the `<enable/>`/`<disable/>`
//!   IQ handlers ([`Push::handle_iq`]);
//! - the router's offline hook: when a storable event (a MucSub `messages`/`subject`
//!   wrapper, or a direct message with a body) goes to an account with no available
//!   resource, or whose sessions are all inactive per XEP-0352, the router calls
//!   [`Push::notify`] (never blocks, never fails);
//! - the `push.<domain>` component: stanzas addressed to it go to
//!   [`Push::handle_component`];
//! - the HTTP routes [`Push::routes`] (`GET /push/vapid`).
//!
//! One Web Push is sent per event and per registered device. Each carries an RFC 8030
//! `Topic` derived from the room, so a push service that holds several undelivered messages
//! for a sleeping device keeps only the newest per room: coalescing happens at the push
//! service, never by delaying a notification here. Deliveries for one account go through
//! one worker in order; accounts are spread over several workers.

pub mod appserver;
mod config;
pub mod http_client;
pub(crate) mod module;
pub mod publish;
pub mod webpush;
pub mod xep0357;

use crate::config::Config;
use crate::ns;
use crate::stanza::{error_reply, iq_result, ErrorType, Refusal};
use crate::storage::{OfflineStore, PushStore};
use appserver::{AppServer, Outcome};
pub use config::PushConfig;
use minidom::Element;
use mucsub_protocol::push::publish::Publish;
use publish::Event;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::{broadcast, mpsc};
use xep0357::{Command, Registration};

/// What became of one notification for one registration (observable for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub user: String,
    pub node: String,
    pub outcome: Outcome,
    /// Whether the registration was removed (the push service said the subscription is gone).
    pub removed: bool,
}

struct Core {
    cfg: PushConfig,
    domain: String,
    store: Arc<dyn PushStore>,
    app: AppServer,
    offline: Option<Arc<dyn OfflineStore>>,
    reports: broadcast::Sender<Report>,
    /// Every account's registrations, written through after each commit, so the router's
    /// synchronous hook sees the registrations of the moment the event was stored.
    cache: RwLock<HashMap<String, Vec<Registration>>>,
    /// Serialises "commit a change, then refresh the cache" so refreshes land in order.
    changes: tokio::sync::Mutex<()>,
    /// `mucsub_push_notifications_total`.
    metrics: crate::metrics::Metrics,
}

struct Job {
    user: String,
    event: Event,
    /// The registrations when the event was stored.
    registrations: Vec<Registration>,
}

struct Shared {
    core: Arc<Core>,
    workers: Vec<mpsc::Sender<Job>>,
}

/// The push subsystem. Cheap to clone; workers stop when the last clone is dropped.
#[derive(Clone)]
pub struct Push {
    shared: Arc<Shared>,
}

impl Push {
    /// Loads or creates the VAPID key, loads the registrations from `store` and starts
    /// the delivery workers. `offline` gives the pending-message count of the summary;
    /// without it the count is 1. Deliveries are counted in `metrics`.
    pub async fn start(
        store: Arc<dyn PushStore>,
        config: &Config,
        offline: Option<Arc<dyn OfflineStore>>,
        metrics: crate::metrics::Metrics,
    ) -> anyhow::Result<Push> {
        let cfg = PushConfig::from_config(config)?;
        // Generated here and stored unless a key is stored already: subscriptions browsers
        // made against it stay valid across restarts, and every node uses the same one.
        let candidate = webpush::VapidKey::generate().private_bytes();
        let vapid = webpush::VapidKey::from_private_bytes(&store.vapid_key(candidate).await?)
            .map_err(|e| anyhow::anyhow!("stored VAPID key: {e}"))?;
        let app = AppServer::new(vapid, cfg.delivery());
        let mut cache: HashMap<String, Vec<Registration>> = HashMap::new();
        for reg in store.all().await? {
            cache.entry(reg.user.clone()).or_default().push(reg);
        }
        let (reports, _) = broadcast::channel(256);
        let core = Arc::new(Core {
            domain: config.domain.clone(),
            store,
            app,
            offline,
            reports,
            cache: RwLock::new(cache),
            changes: tokio::sync::Mutex::new(()),
            cfg,
            metrics,
        });
        let mut workers = Vec::new();
        for _ in 0..core.cfg.workers {
            let (tx, mut rx) = mpsc::channel::<Job>(core.cfg.queue);
            let core = core.clone();
            tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    core.process(job).await;
                }
            });
            workers.push(tx);
        }
        Ok(Push {
            shared: Arc::new(Shared { core, workers }),
        })
    }

    fn core(&self) -> &Core {
        &self.shared.core
    }

    /// The JID of the built-in app server (`push.<domain>`).
    pub fn service_jid(&self) -> &str {
        &self.core().cfg.service
    }

    /// The VAPID public key (base64url, uncompressed point): the browser's
    /// `applicationServerKey`.
    pub fn vapid_public_key(&self) -> &str {
        self.core().app.vapid().public_b64()
    }

    /// Delivery reports, for tests and monitoring.
    pub fn reports(&self) -> broadcast::Receiver<Report> {
        self.core().reports.subscribe()
    }

    /// The account's registrations.
    pub async fn registrations(&self, user: &str) -> anyhow::Result<Vec<Registration>> {
        self.core().store.registrations(user).await
    }

    /// Answers an `<enable/>`/`<disable/>` IQ from account `user` (its local part). The
    /// registration is on disk before the result is returned.
    pub async fn handle_iq(&self, user: &str, iq: &Element) -> Element {
        match self.apply(user, iq).await {
            Ok(()) => iq_result(iq, None),
            Err(r) => r.reply_to(iq),
        }
    }

    async fn apply(&self, user: &str, iq: &Element) -> Result<(), Refusal> {
        let core = self.core();
        let internal = |e: anyhow::Error| {
            tracing::error!(error = %e, "push registration storage");
            Refusal::new(ErrorType::Wait, "internal-server-error", "storage failed")
        };
        match xep0357::parse(iq)? {
            Command::Enable(mucsub_protocol::push::Enable {
                jid: service,
                node,
                options,
                include_body,
            }) => {
                if !core.cfg.enabled {
                    return Err(Refusal::new(
                        ErrorType::Cancel,
                        "service-unavailable",
                        "push is disabled on this server",
                    ));
                }
                if service != core.cfg.service {
                    // No server-to-server here: only the built-in app server is reachable.
                    return Err(Refusal::new(
                        ErrorType::Cancel,
                        "remote-server-not-found",
                        format!("only the app server {} is reachable", core.cfg.service),
                    ));
                }
                appserver::validate_options(&options, core.cfg.allow_http_endpoints)?;
                let _g = core.changes.lock().await;
                core.store
                    .enable(Registration {
                        user: user.to_string(),
                        service,
                        node,
                        options,
                        include_body,
                    })
                    .await
                    .map_err(internal)?;
                core.refresh(user).await.map_err(internal)
            }
            Command::Disable(mucsub_protocol::push::PushDisable { service, node }) => {
                let _g = core.changes.lock().await;
                core.store
                    .disable(user, &service, node.as_deref())
                    .await
                    .map_err(internal)?;
                core.refresh(user).await.map_err(internal)
            }
        }
    }

    /// The hook for a stanza that went to offline storage for `user` (or reached only
    /// inactive sessions); call it after the stanza is stored. It takes the account's
    /// registrations of this moment and queues the deliveries; it never blocks and never
    /// waits for the push service. A stanza that deserves no notification (presence-type
    /// events, no body) is ignored.
    pub fn notify(&self, user: &str, stanza: &Element) {
        let core = self.core();
        if !core.cfg.enabled {
            return;
        }
        let registrations = core.cached(user);
        if registrations.is_empty() {
            return;
        }
        let Some(event) = publish::summarize(stanza) else {
            return;
        };
        let shard = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            user.hash(&mut h);
            (h.finish() % self.shared.workers.len() as u64) as usize
        };
        let job = Job {
            user: user.to_string(),
            event,
            registrations,
        };
        if let Err(e) = self.shared.workers[shard].try_send(job) {
            tracing::warn!(user, error = %e, "push queue full, notification dropped");
        }
    }

    /// Handles a stanza addressed to the app server's JID. Returns the reply, if any.
    /// Publishes are accepted only from the server itself (a bare JID of the local domain,
    /// which clients cannot forge since c2s stamps their full JID).
    pub async fn handle_component(&self, stanza: &Element) -> Option<Element> {
        let core = self.core();
        if stanza.name() != "iq" {
            return None;
        }
        let ty = stanza.attr("type").unwrap_or("");
        if ty != "get" && ty != "set" {
            return None;
        }
        if ty == "get" && stanza.get_child("query", ns::DISCO_INFO).is_some() {
            return Some(core.app.disco_info(stanza, &core.cfg.service));
        }
        if ty == "get" && stanza.get_child("query", ns::DISCO_ITEMS).is_some() {
            return Some(iq_result(
                stanza,
                Some(Element::bare("query", ns::DISCO_ITEMS)),
            ));
        }
        if ty == "set" && stanza.get_child("pubsub", ns::PUBSUB).is_some() {
            let from = stanza.attr("from").unwrap_or("");
            let user = match jid::Jid::new(from) {
                Ok(j) if j.resource().is_none() && j.domain().as_str() == core.domain => {
                    j.node().map(|n| n.to_string())
                }
                _ => None,
            };
            let Some(user) = user else {
                return Some(error_reply(
                    stanza,
                    ErrorType::Auth,
                    "forbidden",
                    Some("only the local server publishes to this app server"),
                ));
            };
            let publish = stanza
                .get_child("pubsub", ns::PUBSUB)
                .map(Publish::try_from)
                .transpose()
                .map_err(|e| Refusal::bad_request(e.to_string()))
                .and_then(|p| p.ok_or_else(|| Refusal::bad_request("not a pubsub publish")));
            let accepted = publish.and_then(|p| Ok((core.app.accept_publish(&p)?, p.node)));
            return Some(match accepted {
                Ok((delivery, node)) => {
                    let core = self.shared.core.clone();
                    tokio::spawn(async move {
                        let outcome = core.app.deliver(&delivery).await;
                        core.settle(&user, &node, outcome).await;
                    });
                    iq_result(stanza, None)
                }
                Err(r) => r.reply_to(stanza),
            });
        }
        Some(error_reply(
            stanza,
            ErrorType::Cancel,
            "service-unavailable",
            Some("not supported by the push app server"),
        ))
    }

    /// `GET /push/vapid`: `{"publicKey": "<base64url>", "service": "push.<domain>"}`.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        let body = serde_json::json!({
            "publicKey": self.vapid_public_key(),
            "service": self.service_jid(),
        })
        .to_string();
        axum::Router::new().route(
            "/push/vapid",
            axum::routing::get(move || {
                let body = body.clone();
                async move {
                    (
                        [
                            (axum::http::header::CONTENT_TYPE, "application/json"),
                            (axum::http::header::CACHE_CONTROL, "no-cache"),
                        ],
                        body,
                    )
                }
            }),
        )
    }
}

impl Core {
    fn cached(&self, user: &str) -> Vec<Registration> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// Re-reads the account's registrations after a change was committed.
    async fn refresh(&self, user: &str) -> anyhow::Result<()> {
        let regs = self.store.registrations(user).await?;
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if regs.is_empty() {
            cache.remove(user);
        } else {
            cache.insert(user.to_string(), regs);
        }
        Ok(())
    }

    async fn process(&self, job: Job) {
        // Registrations removed since the event (disabled, expired, account deleted) get
        // nothing; the stored ones are authoritative.
        let current = match self.store.registrations(&job.user).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(user = job.user, error = %e, "loading push registrations");
                return;
            }
        };
        let registrations: Vec<Registration> = job
            .registrations
            .into_iter()
            .filter(|r| {
                current
                    .iter()
                    .any(|c| c.service == r.service && c.node == r.node)
            })
            .collect();
        if registrations.is_empty() {
            return;
        }
        // XEP-0357 message-count: what waits in offline storage when the push goes out.
        let count = match &self.offline {
            Some(o) => o.count(&job.user).await.unwrap_or(1).max(1),
            None => 1,
        };
        for reg in registrations {
            if reg.service != self.cfg.service {
                // Registrations are only accepted for the built-in app server.
                continue;
            }
            // The built-in app server takes the publish as it is, without a round trip
            // through XML.
            let outcome = match self
                .app
                .accept_publish(&publish::publish(&reg, &job.event, count))
            {
                Ok(delivery) => self.app.deliver(&delivery).await,
                Err(r) => Outcome::Failed {
                    reason: r.text,
                    attempts: 0,
                },
            };
            self.settle(&job.user, &reg.node, outcome).await;
        }
    }

    /// Logs an outcome, removes the registration of an expired subscription, and reports.
    async fn settle(&self, user: &str, node: &str, outcome: Outcome) {
        self.metrics
            .push_result(matches!(outcome, Outcome::Delivered { .. }));
        let mut removed = false;
        match &outcome {
            Outcome::Delivered { .. } => tracing::debug!(user, node, "push delivered"),
            Outcome::Gone { status } => {
                tracing::info!(user, node, status, "push subscription expired, removing");
                let _g = self.changes.lock().await;
                match self
                    .store
                    .disable(user, &self.cfg.service, Some(node))
                    .await
                {
                    Ok(n) => removed = n > 0,
                    Err(e) => tracing::error!(user, error = %e, "removing push registration"),
                }
                if let Err(e) = self.refresh(user).await {
                    tracing::error!(user, error = %e, "reloading push registrations");
                }
            }
            Outcome::Failed { reason, attempts } => {
                tracing::warn!(user, node, attempts, reason, "push not delivered")
            }
        }
        let _ = self.reports.send(Report {
            user: user.to_string(),
            node: node.to_string(),
            outcome,
            removed,
        });
    }
}
