//! The other nodes' sessions, for the router ([`crate::router::Remote`]): the session
//! directory in PostgreSQL says which live incarnation holds a resource, NATS carries the
//! stanza there. A node that does not answer counts as offline (the router then stores
//! the stanza offline and pushes), so nothing waits on a dead node.
//!
//! Directory writes go through one task in order, so a quick bind and unbind of one
//! resource never land reversed. A room's fanout uses the directory's answers for a short
//! while (`locations.rs`); the writing task keeps them from hiding a new session.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use super::bus::{Answer, Bus, BusError, Envelope, FanoutItem};
use super::locations::Locations;
use super::Membership;
use crate::router::{BareItem, Located, Remote, RemoteFuture, Router};
use crate::stanza::Template;
use crate::storage::{DirectoryOffline, SessionDirectory};

enum DirOp {
    Bind(String, String),
    Unbind(String, String),
    Reachable(String, String, bool, tokio::sync::oneshot::Sender<()>),
    /// Answers once every write queued before it is done.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// [`Remote`] over the session directory and NATS.
pub struct NodeRemote {
    membership: Arc<Membership>,
    bus: Arc<Bus>,
    directory: Arc<dyn SessionDirectory>,
    writes: mpsc::UnboundedSender<DirOp>,
    /// The directory's recent answers for room fanouts (`locations.rs`).
    locations: Arc<Locations>,
    /// Directory lookups (`mucsub_cluster_directory_lookups_total`).
    lookups: Counter,
}

impl NodeRemote {
    pub fn start(
        membership: Arc<Membership>,
        bus: Arc<Bus>,
        directory: Arc<dyn SessionDirectory>,
        locations: Arc<Locations>,
        lookups: Counter,
    ) -> Arc<NodeRemote> {
        let (writes, rx) = mpsc::unbounded_channel::<DirOp>();
        tokio::spawn(write_directory(
            rx,
            membership.clone(),
            bus.clone(),
            directory.clone(),
            locations.ttl(),
        ));
        Arc::new(NodeRemote {
            membership,
            bus,
            directory,
            writes,
            locations,
            lookups,
        })
    }

    /// The live incarnations (other than this one) with a session of `user`, asked of the
    /// directory now (for a stanza the offline path found reachable elsewhere: a kept
    /// answer may be from before that session became reachable).
    async fn holders(&self, user: &str) -> Vec<i64> {
        let me = self.membership.incarnation();
        self.lookups.inc();
        match self.directory.nodes_of(user, None, me).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "session directory lookup failed");
                Vec::new()
            }
        }
    }

    async fn ask(&self, to: i64, env: &Envelope) -> bool {
        self.answer(to, env).await.is_some_and(|a| a.taken)
    }

    async fn answer(&self, to: i64, env: &Envelope) -> Option<Answer> {
        match self.bus.request(to, env).await {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::debug!(error = %e, "forwarding to another node failed");
                None
            }
        }
    }

    /// [`Remote::locate`]: the answer kept from a recent lookup, else a lookup.
    async fn locate_users(&self, users: &[String]) -> Option<Located> {
        let me = self.membership.incarnation();
        let epoch = (me, self.bus.breaks());
        let ticket = match self.locations.get(users, epoch, Instant::now()) {
            Ok(kept) => return Some(Located(kept)),
            Err(ticket) => ticket,
        };
        self.lookups.inc();
        match self.directory.nodes_of_many(users, me).await {
            Ok(v) => {
                self.locations.keep(ticket, users, &v);
                Some(Located(v))
            }
            Err(e) => {
                tracing::warn!(error = %e, "session directory lookup failed");
                None
            }
        }
    }

    /// [`Remote::to_bare_many`]: one directory lookup (unless `located` answers), then
    /// one request per node with every item for its accounts; a node that does not
    /// answer reached none of them.
    async fn batch(&self, items: &[BareItem], located: Option<&Located>) -> Vec<bool> {
        let mut reached = vec![false; items.len()];
        if items.is_empty() {
            return reached;
        }
        // account → the indexes of its items (an account may have several)
        let mut of_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (n, i) in items.iter().enumerate() {
            of_user.entry(i.user.as_str()).or_default().push(n);
        }
        let looked_up;
        let holders = match located {
            Some(l) => l,
            None => {
                let users: Vec<String> = of_user.keys().map(|u| (*u).to_owned()).collect();
                let Some(l) = self.locate_users(&users).await else {
                    return reached;
                };
                looked_up = l;
                &looked_up
            }
        };
        // incarnation → the indexes of the items for its accounts
        let mut per_node: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (user, node) in &holders.0 {
            if let Some(at) = of_user.get(user.as_str()) {
                per_node.entry(*node).or_default().extend(at);
            }
        }
        // In the items' order (the events of a batch one after the other), so that a
        // request cut in parts carries each event's template in one or two of them.
        for at in per_node.values_mut() {
            at.sort_unstable();
        }
        let asks = per_node.into_iter().map(|(node, at)| async move {
            // In order, one after the other: a node takes its requests in order.
            let mut got = Vec::with_capacity(at.len());
            for part in parts(items, &at) {
                let Some(answer) = self.answer(node, &fanout(items, part)).await else {
                    break; // the node is gone or cut off: the rest would fail as well
                };
                let mut reached = answer.reached;
                reached.resize(part.len(), false);
                got.extend(reached);
            }
            (at, got)
        });
        // The nodes are asked at once: a dead one costs its timeout once, not per node.
        let mut missed = Vec::new();
        for (at, got) in futures_util::future::join_all(asks).await {
            if got.len() < at.len() {
                // The node did not answer: its accounts are looked up again next time.
                missed.extend(at.iter().map(|n| items[*n].user.as_str()));
            }
            for (n, yes) in at.into_iter().zip(got) {
                reached[n] |= yes;
            }
        }
        if !missed.is_empty() {
            self.locations.forget(&missed);
        }
        reached
    }
}

/// Writes the directory in order. After each run of writes queued together, tells the
/// other live nodes which accounts moved ([`Envelope::Moved`]) before answering the
/// flushes queued among them: a login is told it is bound only once no node can still
/// use a location looked up before its row was written (`locations.rs`). A node that
/// does not confirm is waited out: `ttl` after the writes, no answer from before them is
/// used any more.
async fn write_directory(
    mut rx: mpsc::UnboundedReceiver<DirOp>,
    membership: Arc<Membership>,
    bus: Arc<Bus>,
    directory: Arc<dyn SessionDirectory>,
    ttl: Duration,
) {
    let mut ops = Vec::new();
    while rx.recv_many(&mut ops, 256).await > 0 {
        let me = membership.incarnation();
        let mut moved = Vec::new();
        let mut flushes = Vec::new();
        for op in ops.drain(..) {
            let r = match op {
                DirOp::Bind(u, r) => {
                    let res = directory.bind(&u, &r, me).await;
                    moved.push(u);
                    res
                }
                DirOp::Unbind(u, r) => {
                    let res = directory.unbind(&u, &r, me).await;
                    moved.push(u);
                    res
                }
                DirOp::Reachable(u, r, yes, done) => {
                    let res = directory.set_reachable(&u, &r, me, yes).await;
                    let _ = done.send(());
                    moved.push(u);
                    res
                }
                DirOp::Flush(done) => {
                    flushes.push(done);
                    Ok(())
                }
            };
            if let Err(e) = r {
                tracing::warn!(error = %e, "updating the session directory failed");
            }
        }
        if !moved.is_empty() && membership.others_live() {
            moved.sort_unstable();
            moved.dedup();
            tell_moved(&membership, &bus, moved, ttl).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// [`Envelope::Moved`] to every other live node; returns once each confirmed (a node
/// gone from NATS keeps nothing: it lost its subject with its incarnation, or its
/// connection, and drops its answers at either) or `ttl` after the call.
async fn tell_moved(membership: &Membership, bus: &Bus, accounts: Vec<String>, ttl: Duration) {
    let until = tokio::time::Instant::now() + ttl;
    let told = async {
        let others = match membership.live_others().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "listing the live nodes to tell of moved sessions failed");
                return false;
            }
        };
        let env = Envelope::Moved { accounts };
        let asks = others.iter().map(|n| bus.request(*n, &env));
        futures_util::future::join_all(asks)
            .await
            .iter()
            .all(|a| matches!(a, Ok(_) | Err(BusError::Gone(_))))
    };
    if !matches!(tokio::time::timeout_at(until, told).await, Ok(true)) {
        tokio::time::sleep_until(until).await;
    }
}

/// Most bytes of items and templates in one request (NATS refuses messages over its
/// `max_payload`, 1 MiB by default): a room's task sends a whole batch of events at once.
const REQUEST_BYTES: usize = 256 * 1024;

/// `at` (in the order of `items`) cut into runs whose request stays under about
/// [`REQUEST_BYTES`]; an item alone may exceed it.
fn parts<'a>(items: &[BareItem], at: &'a [usize]) -> Vec<&'a [usize]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    // The templates in the current run: each crosses once per request.
    let mut sent: HashSet<*const Template> = HashSet::new();
    for (k, n) in at.iter().enumerate() {
        let item = &items[*n];
        let own = item.user.len() + item.to.len() + 32;
        let own = own + item.skip.iter().map(|s| s.len() + 3).sum::<usize>();
        let template: usize = item.template.parts().iter().map(|p| p.len() + 3).sum();
        let new = !sent.contains(&Arc::as_ptr(&item.template));
        let size = own + if new { template } else { 0 };
        if k > start && bytes + size > REQUEST_BYTES {
            out.push(&at[start..k]);
            (start, bytes) = (k, own + template);
            sent.clear();
        } else {
            bytes += size;
        }
        sent.insert(Arc::as_ptr(&item.template));
    }
    if start < at.len() {
        out.push(&at[start..]);
    }
    out
}

/// The request for one node: `items[at]`, each distinct template (by identity: a room
/// event's recipients share its) once.
fn fanout(items: &[BareItem], at: &[usize]) -> Envelope {
    let mut sent: HashMap<*const Template, usize> = HashMap::new();
    let mut templates = Vec::new();
    let items = at
        .iter()
        .map(|n| {
            let item = &items[*n];
            let template = *sent.entry(Arc::as_ptr(&item.template)).or_insert_with(|| {
                templates.push(item.template.parts().to_vec());
                templates.len() - 1
            });
            FanoutItem {
                user: item.user.clone(),
                to: item.to.to_string(),
                template,
                skip: item.skip.clone(),
            }
        })
        .collect();
    Envelope::Fanout { templates, items }
}

impl Remote for NodeRemote {
    fn others_live(&self) -> bool {
        self.membership.others_live()
    }

    fn bound(&self, user: &str, resource: &str) {
        let _ = self.writes.send(DirOp::Bind(user.into(), resource.into()));
    }

    fn unbound(&self, user: &str, resource: &str) {
        let _ = self
            .writes
            .send(DirOp::Unbind(user.into(), resource.into()));
    }

    fn reachable(&self, user: &str, resource: &str, reachable: bool) -> RemoteFuture<'static, ()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let _ = self.writes.send(DirOp::Reachable(
            user.into(),
            resource.into(),
            reachable,
            done,
        ));
        Box::pin(async move {
            let _ = wait.await;
        })
    }

    fn store_offline<'a>(
        &'a self,
        user: &'a str,
        xml: String,
    ) -> RemoteFuture<'a, anyhow::Result<DirectoryOffline>> {
        Box::pin(async move {
            let me = self.membership.incarnation();
            self.directory.store_offline(user, me, xml).await
        })
    }

    fn published(&self) -> RemoteFuture<'_, ()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let _ = self.writes.send(DirOp::Flush(done));
        Box::pin(async move {
            let _ = wait.await;
        })
    }

    fn to_full<'a>(
        &'a self,
        user: &'a str,
        // In the stanza's `to`: the node holding it takes it, the others do not.
        _resource: &'a str,
        xml: String,
    ) -> RemoteFuture<'a, bool> {
        Box::pin(async move {
            let env = Envelope::Full { xml };
            // Every node with a session of the account, in turn, until one takes it: the
            // one with `resource` is among them. From the kept answers (`locations.rs`):
            // a room's echoes and presence to an occupant on another node cost no lookup
            // each.
            let users = [user.to_owned()];
            let holders = match self.locate_users(&users).await {
                Some(Located(v)) => v.into_iter().map(|(_, n)| n).collect(),
                None => Vec::new(),
            };
            for to in holders {
                if self.ask(to, &env).await {
                    return true;
                }
            }
            false
        })
    }

    fn to_bare<'a>(
        &'a self,
        user: &'a str,
        xml: String,
        skip: &'a [String],
    ) -> RemoteFuture<'a, bool> {
        Box::pin(async move {
            let holders = self.holders(user).await;
            if holders.is_empty() {
                return false;
            }
            let env = Envelope::Bare {
                user: user.to_owned(),
                xml,
                skip: skip.to_vec(),
            };
            let mut reached = false;
            for to in holders {
                reached |= self.ask(to, &env).await;
            }
            reached
        })
    }

    fn to_bare_many<'a>(
        &'a self,
        items: &'a [BareItem],
        located: Option<&'a Located>,
    ) -> RemoteFuture<'a, Vec<bool>> {
        Box::pin(self.batch(items, located))
    }

    fn locate<'a>(&'a self, users: &'a [String]) -> RemoteFuture<'a, Option<Located>> {
        Box::pin(self.locate_users(users))
    }
}

/// Takes what other nodes forward to this one: room stanzas go to the MUC service as if
/// a local client had sent them (their `from` was stamped by the sender's node), session
/// stanzas to the local sessions only.
///
/// A room stanza for a room this node does not hold goes through its own claim, never
/// through its cache of owners (`Membership::known_owner`): two nodes each remembering
/// the other as the owner would otherwise pass it back and forth.
pub fn handler(
    router: Router,
    membership: Arc<Membership>,
    locations: Arc<Locations>,
) -> super::bus::Handler {
    Arc::new(move |env| {
        let router = router.clone();
        let membership = membership.clone();
        let locations = locations.clone();
        Box::pin(async move {
            let mut moved = false;
            let mut reached = Vec::new();
            let mut moved_each = Vec::new();
            let taken = match env {
                Envelope::Room { xml } => {
                    let (taken, left) = to_room(&router, &membership, &xml).await;
                    moved = left;
                    taken
                }
                Envelope::Rooms { xmls } => {
                    // In order, each handed to the MUC service before the next one.
                    for xml in xmls {
                        let (taken, left) = to_room(&router, &membership, &xml).await;
                        reached.push(taken);
                        moved_each.push(left);
                    }
                    true
                }
                Envelope::Full { xml } => match xml.parse::<minidom::Element>() {
                    Ok(el) => router.deliver_here_full(el),
                    Err(_) => false,
                },
                Envelope::Bare { user, xml, skip } => {
                    router.deliver_here_bare(&user, Arc::from(xml), &skip)
                }
                Envelope::Ping => true,
                Envelope::Moved { accounts } => {
                    locations.forget(&accounts);
                    true
                }
                Envelope::Fanout { templates, items } => {
                    let templates: Vec<Arc<Template>> = templates
                        .into_iter()
                        .map(|parts| Arc::new(Template::from_parts(parts)))
                        .collect();
                    // Account by account, each one's items in their order: its sessions
                    // then find all of them queued at once and write them in one go.
                    let mut order: Vec<usize> = (0..items.len()).collect();
                    order.sort_by(|x, y| items[*x].user.cmp(&items[*y].user));
                    reached = vec![false; items.len()];
                    for n in order {
                        let i = &items[n];
                        reached[n] = match templates.get(i.template) {
                            Some(t) => router.deliver_here_template(&i.user, t, &i.to, &i.skip),
                            None => false,
                        };
                    }
                    true
                }
                Envelope::Batch { items } => {
                    reached = items
                        .into_iter()
                        .map(|i| router.deliver_here_bare(&i.user, Arc::from(i.xml), &i.skip))
                        .collect();
                    true
                }
            };
            Answer {
                taken,
                reached,
                moved,
                moved_each,
            }
        })
    })
}

/// A room stanza another node forwarded, handed to the MUC service here: whether it was
/// taken (it parsed), and whether this node does not hold its room (the MUC service
/// claims it, or passes the stanza on to its owner).
async fn to_room(router: &Router, membership: &Membership, xml: &str) -> (bool, bool) {
    let Ok(el) = xml.parse::<minidom::Element>() else {
        return (false, false);
    };
    let mut moved = false;
    if let Some(room) = room_of(&el) {
        moved = !membership.holds(&room);
        membership.forget_owner(&room);
    }
    router.route(el).await;
    (true, moved)
}

/// The room (localpart) a room stanza is addressed to.
fn room_of(el: &minidom::Element) -> Option<String> {
    let to = jid::Jid::new(el.attr("to")?).ok()?;
    to.node().map(|n| n.as_str().to_owned())
}
