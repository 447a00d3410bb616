//! Who is online, and where stanzas go (RFC 6121 section 8).
//!
//! The router owns the session table (`sessions.rs`: full JID → bounded channel to the
//! session task, with availability and priority), delivery to bare JIDs with offline
//! storage (`delivery.rs`), and the components (the MUC service registers its domain and
//! receives every stanza addressed to it or to JIDs under it); this file routes. Stanzas
//! reaching the router already carry the sender's real full JID in `from`: the c2s layer
//! stamps it.
//!
//! Hooks for other parts:
//! - [`Router::register_component`]: the MUC service's inbox;
//! - [`Router::route`]: send any stanza (to users, or to components);
//! - [`Router::deliver_to_account`]: MucSub events to a bare JID (every available resource
//!   with priority >= 0, else offline storage when storable);
//!   [`Router::deliver_xml_to_account_except`] leaves out the resources joined to the room;
//! - [`Router::send_template`]: MUC fan-out of one pre-serialised stanza;
//! - [`Router::is_available`];
//! - [`Router::set_offline_hook`]: called whenever a stanza is stored offline (push), and
//!   when one reached only sessions that are inactive per XEP-0352 ([`Router::set_inactive`]).

mod delivery;
mod port;
mod remote;
mod sessions;

pub use delivery::{Delivery, OfflineHook};
pub use port::{BareItem, Located, Remote, RemoteFuture};

/// One item of [`Router::deliver_templates_to_accounts`]: (bare JID, template, storable,
/// resources to skip).
pub type TemplateItem = (String, Arc<Template>, bool, Vec<String>);
pub use sessions::{Registered, SessionControl};

use crate::stanza::{self, ErrorType, Outgoing, Template};
use crate::storage::{AccountStore, OfflineStore};
use delivery::{send_all, Item, Offline, Payload};
use minidom::Element;
use sessions::SessionTable;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use tokio::sync::mpsc;

struct Inner {
    domain: String,
    sessions: SessionTable,
    offline: Offline,
    components: RwLock<HashMap<String, mpsc::Sender<Element>>>,
    /// The other nodes' sessions (`remote.rs`), in a cluster with NATS.
    remote: OnceLock<Arc<dyn Remote>>,
}

/// Cheap-to-clone handle.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

impl Router {
    pub fn new(
        domain: &str,
        accounts: Arc<dyn AccountStore>,
        offline: Arc<dyn OfflineStore>,
    ) -> Router {
        Router {
            inner: Arc::new(Inner {
                domain: domain.to_owned(),
                sessions: SessionTable::default(),
                offline: Offline::new(domain, accounts, offline),
                components: RwLock::new(HashMap::new()),
                remote: OnceLock::new(),
            }),
        }
    }

    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// Installs the hook called when something is stored offline (push).
    pub fn set_offline_hook(&self, hook: Arc<dyn OfflineHook>) {
        self.inner.offline.set_hook(hook);
    }

    /// Registers a component domain; every stanza to it or to a JID under it arrives on
    /// the returned channel.
    pub fn register_component(&self, domain: &str, capacity: usize) -> mpsc::Receiver<Element> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.inner
            .components
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_ascii_lowercase(), tx);
        rx
    }

    fn component(&self, domain: &str) -> Option<mpsc::Sender<Element>> {
        self.inner
            .components
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(domain)
            .cloned()
    }

    /// Adds a bound session. A session already holding that resource is kicked with a
    /// `conflict` stream error (RFC 6120 7.7.2.2, the "override" policy).
    pub fn register_session(
        &self,
        user: &str,
        resource: &str,
        tx: mpsc::Sender<Outgoing>,
    ) -> Registered {
        self.try_register_session(user, resource, tx, 0)
            .expect("no session limit")
    }

    /// [`Router::register_session`] unless the account already has `max` other resources
    /// bound (`max` 0: no limit). Taking over a bound resource is always allowed.
    pub fn try_register_session(
        &self,
        user: &str,
        resource: &str,
        tx: mpsc::Sender<Outgoing>,
        max: usize,
    ) -> Option<Registered> {
        let r = self.inner.sessions.register(user, resource, tx, max)?;
        if let Some(remote) = self.remote() {
            remote.bound(user, &r.resource);
        }
        Some(r)
    }

    pub fn unregister_session(&self, user: &str, id: u64) {
        if let Some(resource) = self.inner.sessions.unregister(user, id) {
            if let Some(remote) = self.remote() {
                remote.unbound(user, &resource);
            }
        }
    }

    /// Ends every session of `user` with the stream error `condition` (its account was
    /// removed); answers how many there were.
    pub fn end_sessions(&self, user: &str, condition: &'static str) -> usize {
        self.inner.sessions.kick_all(user, condition)
    }

    /// Whether `resource` of `user` is bound.
    pub fn has_resource(&self, user: &str, resource: &str) -> bool {
        self.inner.sessions.full_target(user, resource).is_some()
    }

    /// Records a session's broadcast presence.
    pub fn set_presence(&self, user: &str, id: u64, available: bool, priority: i32) {
        let mut resource = None;
        self.inner.sessions.update(user, id, |e| {
            e.available = available;
            e.priority = priority;
            resource = Some(e.resource().to_owned());
        });
        if let (Some(remote), Some(resource)) = (self.remote(), resource) {
            // Queued now, in order; nobody needs to wait for it.
            drop(remote.reachable(user, &resource, available && priority >= 0));
        }
    }

    /// Records that a session lost its connection and waits to be resumed (`true`), or
    /// was resumed (`false`): at the account's session limit a waiting one gives way.
    pub fn set_waiting(&self, user: &str, id: u64, waiting: bool) {
        self.inner
            .sessions
            .update(user, id, |e| e.waiting = waiting);
    }

    /// Records a session's XEP-0352 state (`<inactive/>` / `<active/>`).
    pub fn set_inactive(&self, user: &str, id: u64, inactive: bool) {
        self.inner
            .sessions
            .update(user, id, |e| e.inactive = inactive);
    }

    /// Whether the account (`user` localpart, or a bare JID on this domain) has an
    /// available resource.
    pub fn is_available(&self, bare: &str) -> bool {
        let user = localpart(bare);
        self.inner
            .sessions
            .check(&user, |l| l.iter().any(|e| e.available))
    }

    /// Whether a stanza to the account's bare JID would reach a session now (an available
    /// resource with a non-negative priority).
    pub fn receives_bare(&self, bare: &str) -> bool {
        let user = localpart(bare);
        self.inner
            .sessions
            .check(&user, |l| l.iter().any(|e| e.receives_bare()))
    }

    /// Marks a session available (atomically with respect to offline storage) and returns
    /// the account's offline queue, oldest first, each with `<delay/>` added. The session
    /// writes them and then calls [`Router::offline_delivered`] with the ids, so a
    /// connection lost in between loses nothing.
    pub async fn become_available(
        &self,
        user: &str,
        id: u64,
        priority: i32,
    ) -> anyhow::Result<Vec<(i64, Element)>> {
        let inner = &self.inner;
        inner
            .offline
            .become_available(&inner.sessions, self.remote(), user, id, priority)
            .await
    }

    /// Removes offline messages once they were written to a session.
    pub async fn offline_delivered(&self, user: &str, ids: Vec<i64>) -> anyhow::Result<()> {
        self.inner.offline.delivered(user, ids).await
    }

    /// Sends a stanza to an account's bare JID: every available resource with a
    /// non-negative priority; when there is none, storage offline if `storable` (the
    /// MucSub `messages` and `subject` nodes, and chat/normal messages), else dropped.
    /// `to` should already be the bare JID.
    pub async fn deliver_to_account(&self, bare: &str, el: Element, storable: bool) -> Delivery {
        self.deliver(bare, Payload::Element(el), storable, &[])
            .await
    }

    /// What a session that ended never delivered ([`Router::deliver_to_account`], always
    /// storable); `push` false stores it without firing the offline hook, for a stanza
    /// that already fired it while the session was inactive or waiting to be resumed.
    pub async fn salvage_to_account(&self, bare: &str, el: Element, push: bool) -> Delivery {
        let inner = &self.inner;
        let user = localpart(bare);
        inner
            .offline
            .deliver_hooked(
                &inner.sessions,
                self.remote(),
                &user,
                Payload::Element(el),
                true,
                &[],
                push,
            )
            .await
    }

    /// [`Router::deliver_to_account`] for a stanza already serialised (with
    /// `xmlns='jabber:client'`): MUC fanout prepares each event once and only splices the
    /// recipient in, so thousands of subscribers never cost thousands of XML builds.
    pub async fn deliver_xml_to_account(
        &self,
        bare: &str,
        xml: Arc<str>,
        storable: bool,
    ) -> Delivery {
        self.deliver(bare, Payload::Xml(xml), storable, &[]).await
    }

    /// [`Router::deliver_xml_to_account`] except to the account's resources in `skip`,
    /// which get the same content another way: a MucSub event skips the resources joined
    /// to its room, which have the plain MUC stanza (docs/protocol.md S11). While one of
    /// them is bound, nothing is stored offline (the account is online).
    pub async fn deliver_xml_to_account_except(
        &self,
        bare: &str,
        xml: Arc<str>,
        storable: bool,
        skip: &[String],
    ) -> Delivery {
        self.deliver(bare, Payload::Xml(xml), storable, skip).await
    }

    /// [`Router::deliver_xml_to_account_except`] for several accounts at once, each
    /// `(bare JID, stanza, storable, skip)`, the stanza a template rendered with the bare
    /// JID: a room's fanout, which in a cluster looks up the accounts online on other
    /// nodes together and forwards them one request per node, each template once. The
    /// parts go one after the other (each part's offline copies are stored before the
    /// next part goes out), on one directory lookup.
    pub async fn deliver_templates_to_accounts(
        &self,
        parts: Vec<Vec<TemplateItem>>,
    ) -> Vec<Vec<Delivery>> {
        let parts = parts
            .into_iter()
            .map(|items| {
                items
                    .into_iter()
                    .map(|(bare, template, storable, skip)| Item {
                        user: localpart(&bare),
                        payload: Payload::Template(template, Arc::from(bare)),
                        storable,
                        skip,
                    })
                    .collect()
            })
            .collect();
        let inner = &self.inner;
        inner
            .offline
            .deliver_parts(&inner.sessions, self.remote(), parts)
            .await
    }

    async fn deliver(
        &self,
        bare: &str,
        payload: Payload,
        storable: bool,
        skip: &[String],
    ) -> Delivery {
        let inner = &self.inner;
        let user = localpart(bare);
        inner
            .offline
            .deliver(
                &inner.sessions,
                self.remote(),
                &user,
                payload,
                storable,
                skip,
            )
            .await
    }

    /// Sends a pre-serialised stanza to one full JID on this domain; false when there is
    /// no such session (or its queue is full).
    pub fn send_template(&self, full: &str, template: &Arc<Template>) -> bool {
        let Some((user, resource)) = split_full(full) else {
            return false;
        };
        match self.inner.sessions.full_target(&user, resource) {
            Some(t) => t.offer(Outgoing::Template(template.clone(), Arc::from(full))),
            None => false,
        }
    }

    /// Sends a serialised stanza (whose `to` is `full`) to one full JID on this domain;
    /// false when there is no such session (or its queue is full).
    pub fn send_xml(&self, full: &str, xml: Arc<str>) -> bool {
        let Some((user, resource)) = split_full(full) else {
            return false;
        };
        match self.inner.sessions.full_target(&user, resource) {
            Some(t) => t.offer(Outgoing::Xml(xml)),
            None => false,
        }
    }

    /// Routes a stanza whose `from` is trustworthy (stamped by c2s or set by a component).
    pub async fn route(&self, el: Element) {
        let Some(to) = el.attr("to").map(str::to_owned) else {
            tracing::debug!("dropping a routed stanza without 'to'");
            return;
        };
        let jid = match jid::Jid::new(&to) {
            Ok(j) => j,
            Err(_) => {
                self.bounce(&el, ErrorType::Modify, "jid-malformed").await;
                return;
            }
        };
        let domain = jid.domain().as_str().to_ascii_lowercase();
        if let Some(c) = self.component(&domain) {
            if c.send(el).await.is_err() {
                tracing::warn!(domain, "component has stopped");
            }
            return;
        }
        if domain != self.inner.domain {
            // No server-to-server: every other domain is unreachable.
            self.bounce(&el, ErrorType::Cancel, "remote-server-not-found")
                .await;
            return;
        }
        let Some(node) = jid.node() else {
            // Addressed to the server itself by someone other than a local client session
            // (those answer server IQs themselves).
            if el.name() == "iq" && stanza::may_bounce(&el) {
                self.bounce(&el, ErrorType::Cancel, "service-unavailable")
                    .await;
            }
            return;
        };
        let user = node.as_str().to_lowercase();
        let kind = el.name().to_owned();
        let stype = el.attr("type").unwrap_or("").to_owned();
        if let Some(resource) = jid.resource() {
            if let Some(t) = self.inner.sessions.full_target(&user, resource.as_str()) {
                t.offer(Outgoing::Stanza(el));
                return;
            }
            // Bound on another node of the cluster?
            if let Some(remote) = self.remote() {
                let xml = stanza::to_xml(&el);
                if remote.to_full(&user, resource.as_str(), xml).await {
                    return;
                }
            }
            // A MAM result belongs to the query of the session that asked (XEP-0313 §4):
            // no other resource asked for it, and offline storage must not fill with pages
            // of an archive a reloaded client will query again.
            if kind == "message" && is_mam_result(&el) {
                return;
            }
            // RFC 6121 8.5.3.2: no such resource.
            match (kind.as_str(), stype.as_str()) {
                ("message", "groupchat") | ("message", "error") | ("presence", _) => {}
                ("message", _) => self.to_bare_message(&user, el, &stype).await,
                ("iq", _) if stanza::may_bounce(&el) => {
                    self.bounce(&el, ErrorType::Cancel, "service-unavailable")
                        .await
                }
                _ => {}
            }
            return;
        }
        match kind.as_str() {
            "message" => self.to_bare_message(&user, el, &stype).await,
            "presence" => {
                if matches!(stype.as_str(), "" | "unavailable") {
                    send_all(
                        &self.inner.sessions.targets(&user, |e| e.available),
                        Outgoing::Stanza(el),
                    );
                }
            }
            _ => {
                if stanza::may_bounce(&el) {
                    self.bounce(&el, ErrorType::Cancel, "service-unavailable")
                        .await;
                }
            }
        }
    }

    async fn to_bare_message(&self, user: &str, el: Element, stype: &str) {
        match stype {
            "groupchat" => {
                self.bounce(&el, ErrorType::Cancel, "service-unavailable")
                    .await
            }
            "error" => {
                self.deliver_to_account(user, el, false).await;
            }
            "headline" => {
                self.deliver_to_account(user, el, false).await;
            }
            _ => {
                let copy = el.clone();
                match self.deliver_to_account(user, el, true).await {
                    Delivery::Online(_) | Delivery::Stored => {}
                    Delivery::QueueFull => {
                        self.bounce(&copy, ErrorType::Wait, "resource-constraint")
                            .await
                    }
                    Delivery::Dropped => {
                        self.bounce(&copy, ErrorType::Cancel, "service-unavailable")
                            .await
                    }
                }
            }
        }
    }

    /// Returns an error for `el` to its sender (never for errors and results).
    pub async fn bounce(&self, el: &Element, etype: ErrorType, condition: &str) {
        if !stanza::may_bounce(el) || el.attr("from").is_none() {
            return;
        }
        let reply = stanza::error_reply(el, etype, condition, None);
        // Boxed: route and bounce recurse into each other.
        Box::pin(self.route(reply)).await;
    }
}

/// The localpart of a bare JID (or a localpart already), lower-cased.
fn localpart(bare_or_user: &str) -> String {
    match bare_or_user.split_once('@') {
        Some((node, _)) => node.to_lowercase(),
        None => bare_or_user.to_lowercase(),
    }
}

/// `user@domain/resource` → (lower-cased user, resource).
fn split_full(full: &str) -> Option<(String, &str)> {
    let (bare, resource) = full.split_once('/')?;
    let (node, _) = bare.split_once('@')?;
    Some((node.to_lowercase(), resource))
}

/// Whether a message carries a MAM result (`<result xmlns='urn:xmpp:mam:2'/>`).
fn is_mam_result(el: &Element) -> bool {
    el.children()
        .any(|c| c.name() == "result" && c.ns() == crate::ns::MAM)
}
