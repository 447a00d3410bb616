//! The message bus between the nodes of a cluster: core NATS (`[cluster] nats`), no
//! JetStream. Each node incarnation listens on its own inbox subject
//! (`mucsub.node.<incarnation>`) and answers every request there; a sender learns at once
//! that an incarnation is gone from NATS's "no responders" (nobody subscribes to a dead
//! incarnation's subject). Nothing durable lives here: a request that fails leaves the
//! sender to fall back on PostgreSQL (offline storage) or to tell its client to wait.
//!
//! `async-nats` does not leak past this file: the rest of the cluster code sees
//! [`Envelope`], [`Answer`] and [`BusError`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use futures_util::StreamExt;
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// How long a request waits for its answer. The answering node only hands the stanza to
/// a local queue, so a slow answer means a node in trouble.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a request waits before it checks, and then how often, that the node it asked
/// still listens. NATS answers "no responders" at once only to a request sent after the
/// node is gone: one sent just before it died would wait for its whole timeout, and
/// every stanza queued behind it for that node with it (a room's failover would wait for
/// it too).
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// What one node asks of another.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Envelope {
    /// A stanza for a room this node does not own (its `from` is the sender's full JID,
    /// stamped by the forwarding node's c2s layer).
    Room { xml: String },
    /// Stanzas for rooms this node does not own, in the order they were sent: what
    /// queued for the receiving node while the last request to it was out.
    Rooms { xmls: Vec<String> },
    /// A stanza to a full JID bound on the receiving node.
    Full { xml: String },
    /// A bare-JID stanza for the receiving node's sessions of `user`.
    Bare {
        user: String,
        xml: String,
        skip: Vec<String>,
    },
    /// Bare-JID stanzas for several of the receiving node's accounts, each serialised
    /// for its recipient: what a node before [`Envelope::Fanout`] sends for a room's
    /// fanout, still taken from it.
    Batch { items: Vec<BatchItem> },
    /// Bare-JID stanzas for several of the receiving node's accounts, as templates sent
    /// once each and rendered here for every recipient: a room's fanout sends one of
    /// these per node and event, whatever the number of its recipients there.
    Fanout {
        /// Each template's parts (`crate::stanza::Template::parts`).
        templates: Vec<Vec<String>>,
        items: Vec<FanoutItem>,
    },
    /// Whether the node still listens (see [`PROBE_EVERY`]); always taken.
    Ping,
    /// Sessions of these accounts were bound, unbound or changed on the sending node:
    /// the receiving node drops what it kept of their locations (`locations.rs`) before
    /// it answers. A node that does not know this kind does not answer; the sender then
    /// waits out the answers' lifetime instead.
    Moved { accounts: Vec<String> },
}

/// One item of an [`Envelope::Batch`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchItem {
    pub user: String,
    pub xml: String,
    pub skip: Vec<String>,
}

/// One recipient of an [`Envelope::Fanout`]: the account `user` (a localpart), its
/// stanza template number `template` rendered with `to`, except on its `skip` resources.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutItem {
    pub user: String,
    pub to: String,
    #[serde(default, rename = "t", skip_serializing_if = "is_zero")]
    pub template: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The answer: whether the receiving node took the stanza (a room queued it, a session
/// got it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Answer {
    pub taken: bool,
    /// For a [`Envelope::Batch`] or [`Envelope::Fanout`]: which of its items reached a
    /// session there; for a [`Envelope::Rooms`], which of its stanzas it took.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reached: Vec<bool>,
    /// For a [`Envelope::Room`]: the receiving node does not hold the room (it passed
    /// the stanza on), so the sender forgets it as the room's owner.
    #[serde(default)]
    pub moved: bool,
    /// For a [`Envelope::Rooms`]: `moved` for each of its stanzas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved_each: Vec<bool>,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Not connected to NATS now (it reconnects by itself).
    #[error("not connected to NATS")]
    Disconnected,
    /// Nobody listens on that incarnation's subject: the node is gone.
    #[error("node incarnation {0} is gone (no responders)")]
    Gone(i64),
    #[error("NATS request failed: {0}")]
    Failed(String),
}

/// Handles the requests that arrive on this node's subject.
pub type Handler = Arc<
    dyn Fn(Envelope) -> std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send>>
        + Send
        + Sync,
>;

/// A connection to NATS. Cheap to share (`Arc`).
pub struct Bus {
    client: async_nats::Client,
    /// How many times the connection broke or came back, or NATS dropped messages for a
    /// slow subscriber: a [`Envelope::Moved`] may have been lost at each.
    breaks: Arc<AtomicU64>,
    /// Requests sent (`mucsub_cluster_requests_total`).
    requests: Counter,
    /// Their bytes (`mucsub_cluster_request_bytes_total`).
    bytes: Counter,
}

fn subject(incarnation: i64) -> String {
    format!("mucsub.node.{incarnation}")
}

impl Bus {
    /// Connects to `url`; an error names what failed. Once connected, a lost connection
    /// is retried for ever (requests fail with [`BusError::Disconnected`] meanwhile).
    pub async fn connect(
        url: &str,
        node: &str,
        requests: Counter,
        bytes: Counter,
    ) -> anyhow::Result<Arc<Bus>> {
        let breaks = Arc::new(AtomicU64::new(0));
        let counted = breaks.clone();
        let client = async_nats::ConnectOptions::new()
            .event_callback(move |event| {
                use async_nats::Event;
                if matches!(
                    event,
                    Event::Connected | Event::Disconnected | Event::SlowConsumer(_) | Event::Closed
                ) {
                    counted.fetch_add(1, Ordering::AcqRel);
                }
                async {}
            })
            .name(format!("mucsub-{node}"))
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * attempts as u64).min(1000))
            })
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("[cluster] nats = {url:?}: connecting: {e}"))?;
        Ok(Arc::new(Bus {
            client,
            breaks,
            requests,
            bytes,
        }))
    }

    /// [`Bus::breaks`] so far.
    pub fn breaks(&self) -> u64 {
        self.breaks.load(Ordering::Acquire)
    }

    /// Asks incarnation `to` to take `env`.
    pub async fn request(&self, to: i64, env: &Envelope) -> Result<Answer, BusError> {
        if self.client.connection_state() != State::Connected {
            return Err(BusError::Disconnected);
        }
        let body = serde_json::to_vec(env).map_err(|e| BusError::Failed(e.to_string()))?;
        self.requests.inc();
        self.bytes.inc_by(body.len() as u64);
        let probe = async {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if self.gone(to).await {
                    return;
                }
            }
        };
        let answer = tokio::select! {
            r = self.client.request(subject(to), body.into()) => r,
            _ = probe => return Err(BusError::Gone(to)),
        };
        match answer {
            Ok(msg) => serde_json::from_slice(&msg.payload)
                .map_err(|e| BusError::Failed(format!("bad answer: {e}"))),
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                Err(BusError::Gone(to))
            }
            Err(e) => Err(BusError::Failed(e.to_string())),
        }
    }

    /// Whether NATS says nobody listens on incarnation `to`'s subject any more.
    async fn gone(&self, to: i64) -> bool {
        let ping = serde_json::to_vec(&Envelope::Ping).unwrap_or_default();
        match self.client.request(subject(to), ping.into()).await {
            Err(e) => e.kind() == async_nats::RequestErrorKind::NoResponders,
            Ok(_) => false,
        }
    }

    /// Answers requests to the current incarnation (`incarnation`; a new one after the
    /// lease was lost listens on its new subject) with `handler`, until `shutdown`. The
    /// receiver resolves once the first subscription is in place on the NATS server.
    pub fn serve(
        self: &Arc<Self>,
        mut incarnation: watch::Receiver<i64>,
        handler: Handler,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::sync::oneshot::Receiver<()> {
        let bus = self.clone();
        let (ready, listening) = tokio::sync::oneshot::channel();
        let mut ready = Some(ready);
        tokio::spawn(async move {
            loop {
                let current = *incarnation.borrow_and_update();
                let mut sub = match bus.client.subscribe(subject(current)).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "subscribing to this node's NATS subject failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                tracing::info!(incarnation = current, "listening on NATS");
                if let Some(ready) = ready.take() {
                    // The server has the subscription once it answered a flush.
                    let _ = bus.client.flush().await;
                    let _ = ready.send(());
                }
                loop {
                    tokio::select! {
                        msg = sub.next() => {
                            let Some(msg) = msg else { break };
                            bus.answer(msg, &handler).await;
                        }
                        r = incarnation.changed() => {
                            if r.is_err() {
                                return;
                            }
                            break;
                        }
                        _ = shutdown.changed() => {
                            let _ = sub.unsubscribe().await;
                            return;
                        }
                    }
                }
                let _ = sub.unsubscribe().await;
            }
        });
        listening
    }

    /// Handles one request, in order: stanzas from one node to a room or a session keep
    /// their order (the handler only hands them to local queues).
    async fn answer(&self, msg: async_nats::Message, handler: &Handler) {
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        let env: Envelope = match serde_json::from_slice(&msg.payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable request on NATS dropped");
                return;
            }
        };
        let answer = handler(env).await;
        let body = serde_json::to_vec(&answer).unwrap_or_default();
        if let Err(e) = self.client.publish(reply, body.into()).await {
            tracing::debug!(error = %e, "answering on NATS failed");
        }
    }
}
