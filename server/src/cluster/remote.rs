//! The other nodes' sessions, for the router ([`crate::router::Remote`]): the session
//! directory in PostgreSQL says which live incarnation holds a resource, NATS carries the
//! stanza there. A node that does not answer counts as offline (the router then stores
//! the stanza offline and pushes), so nothing waits on a dead node.
//!
//! Directory writes go through one task in order, so a quick bind and unbind of one
//! resource never land reversed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use super::bus::{Answer, Bus, Envelope, FanoutItem};
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
    /// Directory lookups (`mucsub_cluster_directory_lookups_total`).
    lookups: Counter,
}

impl NodeRemote {
    pub fn start(
        membership: Arc<Membership>,
        bus: Arc<Bus>,
        directory: Arc<dyn SessionDirectory>,
        lookups: Counter,
    ) -> Arc<NodeRemote> {
        let (writes, mut rx) = mpsc::unbounded_channel::<DirOp>();
        {
            let (membership, directory) = (membership.clone(), directory.clone());
            tokio::spawn(async move {
                while let Some(op) = rx.recv().await {
                    let me = membership.incarnation();
                    let r = match op {
                        DirOp::Bind(u, r) => directory.bind(&u, &r, me).await,
                        DirOp::Unbind(u, r) => directory.unbind(&u, &r, me).await,
                        DirOp::Reachable(u, r, yes, done) => {
                            let res = directory.set_reachable(&u, &r, me, yes).await;
                            let _ = done.send(());
                            res
                        }
                        DirOp::Flush(done) => {
                            let _ = done.send(());
                            Ok(())
                        }
                    };
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "updating the session directory failed");
                    }
                }
            });
        }
        Arc::new(NodeRemote {
            membership,
            bus,
            directory,
            writes,
            lookups,
        })
    }

    /// The live incarnations (other than this one) with a session of `user`.
    async fn holders(&self, user: &str, resource: Option<&str>) -> Vec<i64> {
        let me = self.membership.incarnation();
        self.lookups.inc();
        match self.directory.nodes_of(user, resource, me).await {
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

    /// [`Remote::locate`].
    async fn locate_users(&self, users: &[String]) -> Option<Located> {
        let me = self.membership.incarnation();
        self.lookups.inc();
        match self.directory.nodes_of_many(users, me).await {
            Ok(v) => Some(Located(v)),
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
        for (at, got) in futures_util::future::join_all(asks).await {
            for (n, yes) in at.into_iter().zip(got) {
                reached[n] |= yes;
            }
        }
        reached
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
        resource: &'a str,
        xml: String,
    ) -> RemoteFuture<'a, bool> {
        Box::pin(async move {
            let env = Envelope::Full { xml };
            for to in self.holders(user, Some(resource)).await {
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
            let holders = self.holders(user, None).await;
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
pub fn handler(router: Router, membership: Arc<Membership>) -> super::bus::Handler {
    Arc::new(move |env| {
        let router = router.clone();
        let membership = membership.clone();
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
