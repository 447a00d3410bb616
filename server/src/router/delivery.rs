//! Delivery to an account's bare JID (RFC 6121 8.5.2): every session a bare-JID stanza
//! reaches, else offline storage (XEP-0160) when the stanza is storable; the hook that
//! fires after a stanza was stored (push), and the offline queue's replay when a session
//! becomes available. "Is anyone available? else store" and "become available and take
//! the queue" are serialised per account, so nothing is stored just after a flush.

use super::port::{BareItem, Located, Remote};
use super::sessions::{SessionTable, Target};
use crate::ns;
use crate::stanza::{self, Outgoing, Template};
use crate::storage::{AccountStore, DirectoryOffline, OfflineStore};
use minidom::Element;
use std::sync::{Arc, RwLock};

/// Called when a stanza was stored offline for an account with no available resource —
/// the point where push notifications (XEP-0357) fire.
pub trait OfflineHook: Send + Sync {
    /// `user` is the account's localpart; `stanza` what was stored.
    fn stored(&self, user: &str, stanza: &Element);

    /// Called when a storable stanza reached only sessions that told the server they are
    /// inactive (XEP-0352): the user is not looking, so push treats it like offline.
    fn inactive(&self, _user: &str, _stanza: &Element) {}
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

/// A stanza to deliver, as a tree, already serialised, or a template to render with an
/// address (a room event's recipient).
#[derive(Clone)]
pub(super) enum Payload {
    Element(Element),
    Xml(Arc<str>),
    Template(Arc<Template>, Arc<str>),
}

impl Payload {
    fn into_outgoing(self) -> Outgoing {
        match self {
            Payload::Element(el) => Outgoing::Stanza(el),
            Payload::Xml(x) => Outgoing::Xml(x),
            Payload::Template(t, to) => Outgoing::Template(t, to),
        }
    }

    fn text(&self) -> String {
        match self {
            Payload::Element(el) => stanza::to_xml(el),
            Payload::Xml(x) => x.to_string(),
            Payload::Template(t, to) => t.render(to),
        }
    }

    /// The payload as a template and its address, for another node to render: a room
    /// event's is shared by its recipients; any other is a template with no address in it.
    fn shared(&self) -> (Arc<Template>, Arc<str>) {
        match self {
            Payload::Template(t, to) => (t.clone(), to.clone()),
            other => (
                Arc::new(Template::from_parts(vec![other.text()])),
                "".into(),
            ),
        }
    }

    fn element(self) -> Option<Element> {
        match self {
            Payload::Element(el) => Some(el),
            Payload::Xml(x) => x.parse().ok(),
            t @ Payload::Template(..) => t.text().parse().ok(),
        }
    }
}

/// One stanza of [`Offline::deliver_many`]: for `user` (a localpart), except on its
/// `skip` resources, stored offline when it reaches no session and `storable`.
pub(super) struct Item {
    pub(super) user: String,
    pub(super) payload: Payload,
    pub(super) storable: bool,
    pub(super) skip: Vec<String>,
}

/// Hands `out` to every target.
pub(super) fn send_all(targets: &[Target], out: Outgoing) -> Delivery {
    let n = targets.iter().filter(|t| t.offer(out.clone())).count();
    Delivery::Online(n)
}

/// What [`Offline::store`] did.
enum Stored {
    /// Stored offline (`true`), or not as the queue is full (`false`).
    Yes(bool),
    /// Delivered on another node instead.
    Online,
}

pub(super) struct Offline {
    domain: String,
    accounts: Arc<dyn AccountStore>,
    store: Arc<dyn OfflineStore>,
    hook: RwLock<Option<Arc<dyn OfflineHook>>>,
    /// Per-account (hashed) locks: see the module comment.
    locks: Vec<tokio::sync::Mutex<()>>,
}

impl Offline {
    pub(super) fn new(
        domain: &str,
        accounts: Arc<dyn AccountStore>,
        store: Arc<dyn OfflineStore>,
    ) -> Offline {
        Offline {
            domain: domain.to_owned(),
            accounts,
            store,
            hook: RwLock::new(None),
            locks: (0..16).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    pub(super) fn set_hook(&self, hook: Arc<dyn OfflineHook>) {
        *self.hook.write().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    fn hook(&self) -> Option<Arc<dyn OfflineHook>> {
        self.hook.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn lock(&self, user: &str) -> &tokio::sync::Mutex<()> {
        let h = user
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        &self.locks[h % self.locks.len()]
    }

    /// Delivers to every session of `user` a bare-JID stanza reaches, except the resources
    /// in `skip`; when there is none, stores a `storable` stanza offline (if the account
    /// exists), else drops it. A session in `skip` gets the same content another way (a
    /// resource joined to a room gets its plain stanzas, docs/protocol.md S11): while one
    /// is bound the account is online and nothing is stored.
    pub(super) async fn deliver(
        &self,
        sessions: &SessionTable,
        remote: Option<&Arc<dyn Remote>>,
        user: &str,
        payload: Payload,
        storable: bool,
        skip: &[String],
    ) -> Delivery {
        self.deliver_hooked(sessions, remote, user, payload, storable, skip, true)
            .await
    }

    /// [`Offline::deliver`]; `hook` false leaves the offline hook (push) out. In a
    /// cluster, the account's sessions on other nodes (`remote`) get it too (each
    /// session of the account, as on one node), and come before storage.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn deliver_hooked(
        &self,
        sessions: &SessionTable,
        remote: Option<&Arc<dyn Remote>>,
        user: &str,
        payload: Payload,
        storable: bool,
        skip: &[String],
        hook: bool,
    ) -> Delivery {
        // Reached here, the account may have sessions on other nodes too: each gets the
        // stanza, as on one node (module comment of `cluster/peers.rs`).
        let kept = remote.filter(|r| r.others_live()).map(|_| payload.clone());
        let (payload, here) = match self.here(sessions, user, payload, storable && hook, skip) {
            Ok(d) => match kept {
                Some(p) => (p, Some(d)),
                None => return d,
            },
            Err(p) => (p, None),
        };
        // Sessions on other nodes (they deliver to theirs only); one that does not answer
        // counts as offline. Asked before the account's lock, so a slow node never holds
        // up this node's users.
        if let Some(remote) = remote {
            let elsewhere = remote.to_bare(user, payload.text(), skip).await;
            if let Some(d) = here {
                return d;
            }
            if elsewhere {
                return Delivery::Online(1);
            }
        }
        self.store_unless_online(sessions, remote, user, payload, storable, skip, hook)
            .await
    }

    /// [`Offline::deliver_many`] for parts delivered one after the other (a room's run:
    /// first the items owed offline copies or not online here, then the rest). While
    /// other nodes are live every item is asked of them, so one directory lookup made
    /// before the first part serves them all: a room's event costs one lookup, not one
    /// per part. It answers as a lookup made just before each part would for a session
    /// bound before it; one bound after it is not asked either way.
    pub(super) async fn deliver_parts(
        &self,
        sessions: &SessionTable,
        remote: Option<&Arc<dyn Remote>>,
        parts: Vec<Vec<Item>>,
    ) -> Vec<Vec<Delivery>> {
        let mut located = None;
        if let Some(remote) = remote.filter(|r| r.others_live()) {
            if parts.iter().filter(|p| !p.is_empty()).count() > 1 {
                let mut users: Vec<String> =
                    parts.iter().flatten().map(|i| i.user.clone()).collect();
                users.sort_unstable();
                users.dedup();
                located = remote.locate(&users).await;
            }
        }
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            out.push(
                self.deliver_many(sessions, remote, part, located.as_ref())
                    .await,
            );
        }
        out
    }

    /// [`Offline::deliver`] for several accounts (a room's fanout): in a cluster, the
    /// accounts not online here (and, while other nodes are live, those reached here
    /// too) are looked up and forwarded together, one request per node
    /// ([`Remote::to_bare_many`]), before any is stored offline. `located`, when given,
    /// answers the lookup for every item's account.
    async fn deliver_many(
        &self,
        sessions: &SessionTable,
        remote: Option<&Arc<dyn Remote>>,
        items: Vec<Item>,
        located: Option<&Located>,
    ) -> Vec<Delivery> {
        let mut out = vec![Delivery::Dropped; items.len()];
        // The items the lookup asks for, in the items' order, each with whether it reached
        // no session here (then the answer decides its storage). While other nodes are
        // live, those reached here are asked for too (the account may have sessions there
        // as well; their answers are not needed). One order for both, so that an account's
        // sessions elsewhere get its items in the order the room sent them, even when its
        // sessions here changed between two of them.
        let mut asked = Vec::new();
        let others = remote.is_some_and(|r| r.others_live());
        for (at, it) in items.into_iter().enumerate() {
            let kept = others.then(|| it.payload.clone());
            match self.here(sessions, &it.user, it.payload, it.storable, &it.skip) {
                Ok(d) => {
                    out[at] = d;
                    if let Some(payload) = kept {
                        asked.push((at, Item { payload, ..it }, false));
                    }
                }
                Err(payload) => asked.push((at, Item { payload, ..it }, true)),
            }
        }
        let mut reached = Vec::new();
        if let Some(remote) = remote.filter(|_| !asked.is_empty()) {
            let asks: Vec<BareItem> = asked
                .iter()
                .map(|(_, it, _)| {
                    let (template, to) = it.payload.shared();
                    BareItem {
                        user: it.user.clone(),
                        to,
                        template,
                        skip: it.skip.clone(),
                    }
                })
                .collect();
            reached = remote.to_bare_many(&asks, located).await;
        }
        reached.resize(asked.len(), false);
        let mut pending = Vec::new();
        for ((at, it, owed), yes) in asked.into_iter().zip(reached) {
            if owed && yes {
                out[at] = Delivery::Online(1);
            } else if owed {
                pending.push((at, it));
            }
        }
        for (at, it) in pending {
            out[at] = self
                .store_unless_online(
                    sessions,
                    remote,
                    &it.user,
                    it.payload,
                    it.storable,
                    &it.skip,
                    true,
                )
                .await;
        }
        out
    }

    /// Delivers to the account's sessions on this node: `Err` gives the payload back
    /// when none is reached. A `skip` resource bound here does not end the search: the
    /// account's other resources may be on other nodes (docs/protocol.md S11); it only
    /// keeps the stanza out of offline storage ([`Offline::store_unless_online`]).
    fn here(
        &self,
        sessions: &SessionTable,
        user: &str,
        payload: Payload,
        storable_hooked: bool,
        skip: &[String],
    ) -> Result<Delivery, Payload> {
        let targets = sessions.targets(user, |e| e.receives_bare() && !e.is_one_of(skip));
        if !targets.is_empty() {
            return Ok(self.send_online(sessions, user, &targets, payload, storable_hooked));
        }
        Err(payload)
    }

    /// Whether one of the account's `skip` resources is bound here: it has the content
    /// another way, so the account is online.
    fn holds_skipped(sessions: &SessionTable, user: &str, skip: &[String]) -> bool {
        !skip.is_empty() && sessions.check(user, |l| l.iter().any(|e| e.is_one_of(skip)))
    }

    /// What reached no session here nor on another node: stored offline when
    /// `storable` (and the account exists), unless the account came online meanwhile or
    /// holds one of its `skip` resources here (online, with the content another way).
    #[allow(clippy::too_many_arguments)]
    async fn store_unless_online(
        &self,
        sessions: &SessionTable,
        remote: Option<&Arc<dyn Remote>>,
        user: &str,
        payload: Payload,
        storable: bool,
        skip: &[String],
        hook: bool,
    ) -> Delivery {
        if Self::holds_skipped(sessions, user, skip) {
            return Delivery::Online(0);
        }
        if !storable {
            return Delivery::Dropped;
        }
        let _g = self.lock(user).lock().await;
        // Re-check under the lock: the account may have come online meanwhile.
        let payload = match self.here(sessions, user, payload, hook, skip) {
            Ok(d) => return d,
            Err(p) => p,
        };
        if Self::holds_skipped(sessions, user, skip) {
            return Delivery::Online(0);
        }
        match self.accounts.credentials(user).await {
            Ok(Some(_)) => {}
            Ok(None) => return Delivery::Dropped,
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                return Delivery::Dropped;
            }
        }
        match self.store(remote, user, &payload, skip).await {
            Ok(Stored::Online) => Delivery::Online(1),
            Ok(Stored::Yes(true)) => {
                if let Some(h) = self.hook().filter(|_| hook) {
                    // Only the offline path needs a tree again (push summarises it).
                    if let Some(el) = payload.element() {
                        h.stored(user, &el);
                    }
                }
                Delivery::Stored
            }
            Ok(Stored::Yes(false)) => Delivery::QueueFull,
            Err(e) => {
                tracing::error!(error = %e, "offline storage failed");
                Delivery::Dropped
            }
        }
    }

    /// Stores `payload` offline. In a cluster, the directory decides under the account's
    /// lock: an account that became reachable on another node gets it there instead (a
    /// few tries; a node that keeps not taking it gets it stored all the same).
    async fn store(
        &self,
        remote: Option<&Arc<dyn Remote>>,
        user: &str,
        payload: &Payload,
        skip: &[String],
    ) -> anyhow::Result<Stored> {
        let text = payload.text();
        if let Some(remote) = remote {
            for _ in 0..3 {
                match remote.store_offline(user, text.clone()).await? {
                    DirectoryOffline::Stored => return Ok(Stored::Yes(true)),
                    DirectoryOffline::Full => return Ok(Stored::Yes(false)),
                    DirectoryOffline::Reachable => {
                        if remote.to_bare(user, text.clone(), skip).await {
                            return Ok(Stored::Online);
                        }
                    }
                }
            }
        }
        Ok(Stored::Yes(self.store.push(user, text).await?))
    }

    /// Delivers to the account's sessions; when they are all inactive (XEP-0352), the
    /// stanza also goes to the hook (push), as the user would not see it otherwise.
    fn send_online(
        &self,
        sessions: &SessionTable,
        user: &str,
        targets: &[Target],
        payload: Payload,
        storable: bool,
    ) -> Delivery {
        let all_inactive = || {
            sessions.check(user, |l| {
                let mut reached = l.iter().filter(|e| e.receives_bare());
                reached.clone().next().is_some() && reached.all(|e| e.inactive)
            })
        };
        let hook = if storable && all_inactive() {
            self.hook()
        } else {
            None
        };
        let Some(hook) = hook else {
            return send_all(targets, payload.into_outgoing());
        };
        let copy = payload.clone();
        let delivery = send_all(targets, payload.into_outgoing());
        if let Some(el) = copy.element() {
            hook.inactive(user, &el);
        }
        delivery
    }

    /// Marks session `id` available (atomically with respect to offline storage) and
    /// returns the account's offline queue, oldest first, each with `<delay/>` added.
    pub(super) async fn become_available(
        &self,
        sessions: &SessionTable,
        remote: Option<&Arc<dyn Remote>>,
        user: &str,
        id: u64,
        priority: i32,
    ) -> anyhow::Result<Vec<(i64, Element)>> {
        let _g = self.lock(user).lock().await;
        let mut resource = None;
        sessions.update(user, id, |e| {
            e.available = true;
            e.priority = priority;
            resource = Some(e.resource().to_owned());
        });
        // In a cluster, reachable in the directory before the queue is read: a node that
        // stores offline for this account after the read sees it reachable and delivers
        // instead (both under the account's lock in the database).
        if let (Some(remote), Some(resource)) = (remote, resource) {
            remote.reachable(user, &resource, priority >= 0).await;
        }
        if priority < 0 {
            return Ok(Vec::new());
        }
        let msgs = self.store.peek(user).await?;
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
                                &*self.domain,
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
                    self.store.remove(user, vec![m.id]).await?;
                }
            }
        }
        Ok(out)
    }

    /// Removes offline messages once they were written to a session.
    pub(super) async fn delivered(&self, user: &str, ids: Vec<i64>) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.store.remove(user, ids).await
    }
}
