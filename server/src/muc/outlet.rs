//! Where the MUC service's output goes: the [`Outlet`] port, and its implementation over
//! the server's router. Room tasks only ever talk to the port.

use std::sync::Arc;

use jid::{BareJid, FullJid};
use minidom::Element;

use super::event::WrappedEvent;
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
    /// A MucSub event to an account: every available resource with priority >= 0 except
    /// the `joined` ones (they have the plain stanza, docs/protocol.md S11), else offline
    /// storage when `event.storable()` and no resource is online. Resolves to `false` only
    /// when the account turned out not to exist any more (S13: its subscriptions then go).
    fn deliver_event<'a>(
        &'a self,
        to: &'a BareJid,
        joined: &'a [String],
        event: &'a WrappedEvent,
    ) -> BoxFuture<'a, bool>;
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

    fn deliver_event<'a>(
        &'a self,
        to: &'a BareJid,
        joined: &'a [String],
        event: &'a WrappedEvent,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            // The wrapper is serialised once per event (`WrappedEvent`); each account only
            // gets its address spliced into that text.
            let xml = event.text_for(to).into();
            let d = self
                .router
                .deliver_xml_to_account_except(to.as_str(), xml, event.storable(), joined)
                .await;
            // A storable event is dropped only when the account does not exist (or storage
            // failed): ask the account store which.
            if d == Delivery::Dropped && event.storable() {
                let user = to.node().map(|n| n.as_str()).unwrap_or("");
                if let Ok(None) = self.accounts.credentials(user).await {
                    return false;
                }
            }
            true
        })
    }
}
