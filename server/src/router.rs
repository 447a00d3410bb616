//! Who is online, and where stanzas go (RFC 6121 section 8).
//!
//! The router owns the session registry (full JID → bounded channel to the session task,
//! with availability and priority) and the components (the MUC service registers its
//! domain and receives every stanza addressed to it or to JIDs under it). Stanzas reaching
//! the router already carry the sender's real full JID in `from`: the c2s layer stamps it.
//!
//! Hooks for other parts:
//! - [`Router::register_component`]: the MUC service's inbox;
//! - [`Router::route`]: send any stanza (to users, or to components);
//! - [`Router::deliver_to_account`]: MucSub events to a bare JID (every available resource
//!   with priority >= 0, else offline storage when storable);
//! - [`Router::send_template`]: MUC fan-out of one pre-serialised stanza;
//! - [`Router::is_available`];
//! - [`Router::set_offline_hook`]: called whenever a stanza is stored offline (push), and
//!   when one reached only sessions that are inactive per XEP-0352 ([`Router::set_inactive`]).

use crate::ns;
use crate::stanza::{self, ErrorType, Outgoing, Template};
use crate::storage::{AccountStore, OfflineStore};
use minidom::Element;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

/// Called when a stanza was stored offline for an account with no available resource —
/// the point where push notifications (XEP-0357) fire.
pub trait OfflineHook: Send + Sync {
    /// `user` is the account's localpart; `stanza` what was stored.
    fn stored(&self, user: &str, stanza: &Element);

    /// Called when a storable stanza reached only sessions that told the server they are
    /// inactive (XEP-0352): the user is not looking, so push treats it like offline.
    fn inactive(&self, _user: &str, _stanza: &Element) {}
}

/// Lets the router end a session whatever the state of its queue: a newer session took
/// its resource, or it does not read fast enough for its queue.
#[derive(Default)]
pub struct SessionControl {
    notify: tokio::sync::Notify,
    reason: std::sync::Mutex<Option<&'static str>>,
}

impl SessionControl {
    /// Asks the session to end with this stream error condition (the first reason wins).
    pub fn kick(&self, condition: &'static str) {
        {
            let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_none() {
                *r = Some(condition);
            }
        }
        self.notify.notify_one();
    }

    /// The condition, if [`SessionControl::kick`] was called.
    pub fn reason(&self) -> Option<&'static str> {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves with the condition once [`SessionControl::kick`] was called.
    pub async fn kicked(&self) -> &'static str {
        loop {
            if let Some(r) = *self.reason.lock().unwrap_or_else(|e| e.into_inner()) {
                return r;
            }
            self.notify.notified().await;
        }
    }
}

/// Where a session's stanzas go.
#[derive(Clone)]
struct Target {
    tx: mpsc::Sender<Outgoing>,
    control: Arc<SessionControl>,
}

impl Target {
    /// Queues without waiting. A full queue means the client does not read what it is sent:
    /// it is disconnected (it resyncs from the archives when it comes back) rather than
    /// silently missing stanzas such as IQ results.
    fn offer(&self, out: Outgoing) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("session queue full; disconnecting the slow client");
                self.control.kick("policy-violation");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// A session as the router sees it.
#[derive(Clone)]
struct Entry {
    id: u64,
    resource: String,
    target: Target,
    available: bool,
    priority: i32,
    /// XEP-0352: the client said it is in the background.
    inactive: bool,
}

/// What happened to a stanza sent to an account's bare JID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to this many sessions.
    Online(usize),
    /// Stored offline.
    Stored,
    /// Offline storage is full for that account.
    QueueFull,
    /// Not delivered (not storable, or no such account).
    Dropped,
}

struct Inner {
    domain: String,
    sessions: RwLock<HashMap<String, Vec<Entry>>>,
    components: RwLock<HashMap<String, mpsc::Sender<Element>>>,
    accounts: Arc<dyn AccountStore>,
    offline: Arc<dyn OfflineStore>,
    hook: RwLock<Option<Arc<dyn OfflineHook>>>,
    /// Serialises "is anyone available? else store" against "become available and flush
    /// the offline queue", so no message is stored just after the queue was flushed.
    offline_locks: Vec<tokio::sync::Mutex<()>>,
    next_id: AtomicU64,
}

/// Cheap-to-clone handle.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

/// Returned by [`Router::register_session`].
pub struct Registered {
    pub id: u64,
    pub resource: String,
    /// Resolves when the router wants the session to end.
    pub control: Arc<SessionControl>,
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
                sessions: RwLock::new(HashMap::new()),
                components: RwLock::new(HashMap::new()),
                accounts,
                offline,
                hook: RwLock::new(None),
                offline_locks: (0..16).map(|_| tokio::sync::Mutex::new(())).collect(),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// Installs the hook called when something is stored offline (push).
    pub fn set_offline_hook(&self, hook: Arc<dyn OfflineHook>) {
        *self.inner.hook.write().unwrap_or_else(|e| e.into_inner()) = Some(hook);
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

    /// Whether `domain` is served here (the server or a component).
    pub fn is_local_domain(&self, domain: &str) -> bool {
        domain == self.inner.domain || self.component(domain).is_some()
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
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut sessions = self
            .inner
            .sessions
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let list = sessions.entry(user.to_owned()).or_default();
        let replaces = list.iter().any(|e| e.resource == resource);
        if max > 0 && !replaces && list.len() >= max {
            if list.is_empty() {
                sessions.remove(user);
            }
            return None;
        }
        if let Some(pos) = list.iter().position(|e| e.resource == resource) {
            let old = list.remove(pos);
            old.target.control.kick("conflict");
        }
        let control = Arc::new(SessionControl::default());
        list.push(Entry {
            id,
            resource: resource.to_owned(),
            target: Target {
                tx,
                control: control.clone(),
            },
            available: false,
            priority: 0,
            inactive: false,
        });
        Some(Registered {
            id,
            resource: resource.to_owned(),
            control,
        })
    }

    pub fn unregister_session(&self, user: &str, id: u64) {
        let mut sessions = self
            .inner
            .sessions
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(list) = sessions.get_mut(user) {
            list.retain(|e| e.id != id);
            if list.is_empty() {
                sessions.remove(user);
            }
        }
    }

    /// Whether `resource` of `user` is bound.
    pub fn has_resource(&self, user: &str, resource: &str) -> bool {
        self.inner
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .is_some_and(|l| l.iter().any(|e| e.resource == resource))
    }

    /// Records a session's broadcast presence.
    pub fn set_presence(&self, user: &str, id: u64, available: bool, priority: i32) {
        self.update_session(user, id, |e| {
            e.available = available;
            e.priority = priority;
        });
    }

    /// Records a session's XEP-0352 state (`<inactive/>` / `<active/>`).
    pub fn set_inactive(&self, user: &str, id: u64, inactive: bool) {
        self.update_session(user, id, |e| e.inactive = inactive);
    }

    /// Changes session `id` of `user`, if it is still registered.
    fn update_session(&self, user: &str, id: u64, change: impl FnOnce(&mut Entry)) {
        let mut sessions = self
            .inner
            .sessions
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(e) = sessions
            .get_mut(user)
            .and_then(|l| l.iter_mut().find(|e| e.id == id))
        {
            change(e);
        }
    }

    /// Whether every session a bare-JID stanza would reach said it is inactive (false
    /// when none would).
    fn all_inactive(&self, user: &str) -> bool {
        self.inner
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .is_some_and(|l| {
                let mut reached = l.iter().filter(|e| e.available && e.priority >= 0);
                reached.clone().next().is_some() && reached.all(|e| e.inactive)
            })
    }

    /// Whether the account (`user` localpart, or a bare JID on this domain) has an
    /// available resource.
    pub fn is_available(&self, bare: &str) -> bool {
        let user = self.localpart(bare);
        self.inner
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
            .is_some_and(|l| l.iter().any(|e| e.available))
    }

    /// Whether a stanza to the account's bare JID would reach a session now (an available
    /// resource with a non-negative priority).
    pub fn receives_bare(&self, bare: &str) -> bool {
        !self.bare_targets(&self.localpart(bare)).is_empty()
    }

    fn localpart(&self, bare_or_user: &str) -> String {
        match bare_or_user.split_once('@') {
            Some((node, _)) => node.to_lowercase(),
            None => bare_or_user.to_lowercase(),
        }
    }

    /// The available resources with priority >= 0.
    fn bare_targets(&self, user: &str) -> Vec<Target> {
        self.inner
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .map(|l| {
                l.iter()
                    .filter(|e| e.available && e.priority >= 0)
                    .map(|e| e.target.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn full_target(&self, user: &str, resource: &str) -> Option<Target> {
        self.inner
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .and_then(|l| l.iter().find(|e| e.resource == resource))
            .map(|e| e.target.clone())
    }

    fn all_available(&self, user: &str) -> Vec<Target> {
        self.inner
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .map(|l| {
                l.iter()
                    .filter(|e| e.available)
                    .map(|e| e.target.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn offline_lock(&self, user: &str) -> &tokio::sync::Mutex<()> {
        let h = user
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        &self.inner.offline_locks[h % self.inner.offline_locks.len()]
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
        let _g = self.offline_lock(user).lock().await;
        self.set_presence(user, id, true, priority);
        if priority < 0 {
            return Ok(Vec::new());
        }
        let msgs = self.inner.offline.peek(user).await?;
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            let limits = crate::xmlstream::Limits {
                max_stanza: usize::MAX,
                max_depth: 256,
            };
            match crate::xmlstream::parse_element(&m.stanza, limits) {
                Ok(mut el) => {
                    el.append_child(
                        Element::builder("delay", ns::DELAY)
                            .attr(
                                rxml::NcName::try_from("from").expect("static"),
                                self.domain(),
                            )
                            .attr(
                                rxml::NcName::try_from("stamp").expect("static"),
                                crate::time::xep82(m.stamp_millis),
                            )
                            .append("Offline Storage")
                            .build(),
                    );
                    out.push((m.id, el));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "dropping unparsable offline message");
                    self.inner.offline.remove(user, vec![m.id]).await?;
                }
            }
        }
        Ok(out)
    }

    /// Removes offline messages once they were written to a session.
    pub async fn offline_delivered(&self, user: &str, ids: Vec<i64>) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.inner.offline.remove(user, ids).await
    }

    /// Sends a stanza to an account's bare JID: every available resource with a
    /// non-negative priority; when there is none, storage offline if `storable` (the
    /// MucSub `messages` and `subject` nodes, and chat/normal messages), else dropped.
    /// `to` should already be the bare JID.
    pub async fn deliver_to_account(&self, bare: &str, el: Element, storable: bool) -> Delivery {
        self.deliver(bare, Payload::Element(el), storable).await
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
        self.deliver(bare, Payload::Xml(xml), storable).await
    }

    async fn deliver(&self, bare: &str, payload: Payload, storable: bool) -> Delivery {
        let user = self.localpart(bare);
        let targets = self.bare_targets(&user);
        if !targets.is_empty() {
            return self.send_online(&user, &targets, payload, storable);
        }
        if !storable {
            return Delivery::Dropped;
        }
        let _g = self.offline_lock(&user).lock().await;
        // Re-check under the lock: the account may have come online meanwhile.
        let targets = self.bare_targets(&user);
        if !targets.is_empty() {
            return self.send_online(&user, &targets, payload, storable);
        }
        match self.inner.accounts.credentials(&user).await {
            Ok(Some(_)) => {}
            Ok(None) => return Delivery::Dropped,
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                return Delivery::Dropped;
            }
        }
        match self.inner.offline.push(&user, payload.text()).await {
            Ok(true) => {
                let hook = self
                    .inner
                    .hook
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                if let Some(h) = hook {
                    // Only the offline path needs a tree again (push summarises it).
                    if let Some(el) = payload.element() {
                        h.stored(&user, &el);
                    }
                }
                Delivery::Stored
            }
            Ok(false) => Delivery::QueueFull,
            Err(e) => {
                tracing::error!(error = %e, "offline storage failed");
                Delivery::Dropped
            }
        }
    }

    /// Delivers to the account's sessions; when they are all inactive (XEP-0352), the
    /// stanza also goes to the hook (push), as the user would not see it otherwise.
    fn send_online(
        &self,
        user: &str,
        targets: &[Target],
        payload: Payload,
        storable: bool,
    ) -> Delivery {
        let hook = if storable && self.all_inactive(user) {
            self.inner
                .hook
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        } else {
            None
        };
        let Some(hook) = hook else {
            return self.send_all(targets, payload.into_outgoing());
        };
        let copy = payload.clone();
        let delivery = self.send_all(targets, payload.into_outgoing());
        if let Some(el) = copy.element() {
            hook.inactive(user, &el);
        }
        delivery
    }

    fn send_all(&self, targets: &[Target], out: Outgoing) -> Delivery {
        let n = targets.iter().filter(|t| t.offer(out.clone())).count();
        Delivery::Online(n)
    }

    /// Sends a pre-serialised stanza to one full JID on this domain; false when there is
    /// no such session (or its queue is full).
    pub fn send_template(&self, full: &str, template: &Arc<Template>) -> bool {
        let Some((user, resource)) = split_full(full) else {
            return false;
        };
        match self.full_target(&user, resource) {
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
        match self.full_target(&user, resource) {
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
            if let Some(t) = self.full_target(&user, resource.as_str()) {
                t.offer(Outgoing::Stanza(el));
                return;
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
                    self.send_all(&self.all_available(&user), Outgoing::Stanza(el));
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

/// `user@domain/resource` → (lower-cased user, resource).
fn split_full(full: &str) -> Option<(String, &str)> {
    let (bare, resource) = full.split_once('/')?;
    let (node, _) = bare.split_once('@')?;
    Some((node.to_lowercase(), resource))
}

/// A stanza for [`Router::deliver`], as a tree or already serialised.
#[derive(Clone)]
enum Payload {
    Element(Element),
    Xml(Arc<str>),
}

impl Payload {
    fn into_outgoing(self) -> Outgoing {
        match self {
            Payload::Element(el) => Outgoing::Stanza(el),
            Payload::Xml(x) => Outgoing::Xml(x),
        }
    }

    fn text(&self) -> String {
        match self {
            Payload::Element(el) => stanza::to_xml(el),
            Payload::Xml(x) => x.to_string(),
        }
    }

    fn element(self) -> Option<Element> {
        match self {
            Payload::Element(el) => Some(el),
            Payload::Xml(x) => x.parse().ok(),
        }
    }
}

/// Whether a message carries a MAM result (`<result xmlns='urn:xmpp:mam:2'/>`).
fn is_mam_result(el: &Element) -> bool {
    el.children()
        .any(|c| c.name() == "result" && c.ns() == crate::ns::MAM)
}
