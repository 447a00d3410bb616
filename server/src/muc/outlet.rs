//! Where the MUC service's output goes: the [`Outlet`] port, and its implementation over
//! the server's router. Room tasks only ever talk to the port.

use std::sync::Arc;

use jid::{BareJid, FullJid};
use minidom::Element;

use super::event::WrappedEvent;
use super::room::Recipient;
use crate::router::{Delivery, Router};
use crate::stanza::Template;
use crate::storage::AccountStore;
use crate::storage::BoxFuture;

/// Where the MUC service's output goes: implemented over the server's router.
pub trait Outlet: Send + Sync + 'static {
    /// A stanza to one session (`to` is a full JID).
    fn send(&self, stanza: Element) -> BoxFuture<'_, ()>;
    /// Whether a stanza to the account's bare JID would reach a session now.
    fn reaches(&self, to: &BareJid) -> bool;
    /// An already serialised stanza to the session `to` (a full JID on this server);
    /// dropped when that session is gone.
    fn send_xml<'a>(&'a self, to: &'a str, xml: String) -> BoxFuture<'a, ()>;
    /// One stanza to many sessions, differing only in `to`.
    fn broadcast<'a>(&'a self, stanza: &'a Element, to: &'a [FullJid]) -> BoxFuture<'a, ()>;
    /// MucSub events, each to an account: every available resource with priority >= 0
    /// except the recipient's `joined` ones (they have the plain stanza, docs/protocol.md
    /// S11), else offline storage when the event is storable and no resource is online.
    /// In a cluster the accounts online on other nodes are reached together, one request
    /// per node. The parts go in turn (a part's offline copies are stored before the next
    /// part goes out), on one directory lookup. Per item, `false` only when the account
    /// turned out not to exist any more (S13: its subscriptions then go).
    fn deliver_events<'a>(
        &'a self,
        parts: &'a [&'a [(&'a Recipient, &'a WrappedEvent)]],
    ) -> BoxFuture<'a, Vec<Vec<bool>>>;
}

pub struct RouterOutlet {
    router: Router,
    accounts: Arc<dyn AccountStore>,
}

impl RouterOutlet {
    pub fn new(router: Router, accounts: Arc<dyn AccountStore>) -> RouterOutlet {
        RouterOutlet { router, accounts }
    }
}

impl Outlet for RouterOutlet {
    fn send(&self, stanza: Element) -> BoxFuture<'_, ()> {
        Box::pin(self.router.route(stanza))
    }

    fn reaches(&self, to: &BareJid) -> bool {
        self.router.receives_bare(to.as_str())
    }

    fn send_xml<'a>(&'a self, to: &'a str, xml: String) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let xml: Arc<str> = xml.into();
            // Bound here, or on another node of the cluster.
            if !self.router.send_xml(to, xml.clone())
                && !self.router.send_xml_elsewhere(to, xml.to_string()).await
            {
                tracing::debug!(to, "archive result for a session that is gone dropped");
            }
        })
    }

    fn broadcast<'a>(&'a self, stanza: &'a Element, to: &'a [FullJid]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Serialised once; each session renders it with its own `to`.
            let t: Arc<Template> = Template::new(stanza);
            for j in to {
                if !self.router.send_template(j.as_str(), &t)
                    && !self
                        .router
                        .send_xml_elsewhere(j.as_str(), t.render(j.as_str()))
                        .await
                {
                    tracing::debug!(to = %j, "occupant session gone; broadcast copy dropped");
                }
            }
        })
    }

    fn deliver_events<'a>(
        &'a self,
        parts: &'a [&'a [(&'a Recipient, &'a WrappedEvent)]],
    ) -> BoxFuture<'a, Vec<Vec<bool>>> {
        Box::pin(async move {
            // The wrapper is serialised once per event (`WrappedEvent`); each account only
            // gets its address spliced into that text, where it is delivered (on another
            // node, by that node: the event crosses the bus once per node, not per account).
            let items = parts
                .iter()
                .map(|to| {
                    to.iter()
                        .map(|(r, ev)| {
                            let (to, t) = (r.account.to_string(), ev.template().clone());
                            (to, t, ev.storable(), r.joined.clone())
                        })
                        .collect()
                })
                .collect();
            let got = self.router.deliver_templates_to_accounts(items).await;
            let mut out = Vec::with_capacity(parts.len());
            for (to, got) in parts.iter().zip(got) {
                let mut part = Vec::with_capacity(to.len());
                for ((r, ev), d) in to.iter().zip(got) {
                    // A storable event is dropped only when the account does not exist
                    // (or storage failed): ask the account store which.
                    let mut exists = true;
                    if d == Delivery::Dropped && ev.storable() {
                        let user = r.account.node().map(|n| n.as_str()).unwrap_or("");
                        exists = !matches!(self.accounts.credentials(user).await, Ok(None));
                    }
                    part.push(exists);
                }
                out.push(part);
            }
            out
        })
    }
}
