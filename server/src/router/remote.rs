//! Sessions on the other nodes of a cluster: the router's use of the [`Remote`] port
//! (`port.rs`), and the local-only entry points the other nodes' forwards arrive at. A
//! single node has no `Remote`: a local miss is final, as it always was.

use super::delivery::send_all;
use super::port::Remote;
use super::{split_full, Router};
use crate::stanza::{Outgoing, Template};
use minidom::Element;
use std::sync::Arc;

impl Router {
    /// Installs the other nodes' sessions (a cluster with NATS).
    pub fn set_remote(&self, remote: Arc<dyn Remote>) {
        let _ = self.inner.remote.set(remote);
    }

    /// Waits until the other nodes can find this node's sessions bound so far (a bound
    /// resource is announced before the client is told it is bound).
    pub async fn sessions_published(&self) {
        if let Some(remote) = self.remote() {
            remote.published().await;
        }
    }

    /// Publishes every session bound here again (this node started a new incarnation
    /// after its lease was lost: the directory ignores the old one's rows), each with
    /// whether a bare-JID stanza reaches it. Queued under the session table's lock, so
    /// an unbinding that follows is queued after it.
    pub fn republish_sessions(&self) {
        let Some(remote) = self.remote() else {
            return;
        };
        let mut n = 0usize;
        self.inner.sessions.each(|user, e| {
            drop(remote.reachable(user, e.resource(), e.receives_bare()));
            n += 1;
        });
        tracing::info!(
            sessions = n,
            "sessions published again under the new incarnation"
        );
    }

    pub(super) fn remote(&self) -> Option<&Arc<dyn Remote>> {
        self.inner.remote.get()
    }

    /// Sends a serialised stanza to the full JID `full` bound on another node (after a
    /// local miss); false when no live node holds it or it did not answer.
    pub async fn send_xml_elsewhere(&self, full: &str, xml: String) -> bool {
        let (Some(remote), Some((user, resource))) = (self.remote(), split_full(full)) else {
            return false;
        };
        remote.to_full(&user, resource, xml).await
    }

    /// A stanza another node forwarded to a full JID bound here; false when it is not.
    pub fn deliver_here_full(&self, el: Element) -> bool {
        let Some((user, resource)) = el.attr("to").and_then(split_full) else {
            return false;
        };
        match self.inner.sessions.full_target(&user, resource) {
            Some(t) => t.offer(Outgoing::Stanza(el)),
            None => false,
        }
    }

    /// A bare-JID stanza another node forwarded: to this node's sessions of `user` it
    /// reaches (never offline storage: the sending node decides that). True when it
    /// reached one, or the account holds one of the `skip` resources here.
    pub fn deliver_here_bare(&self, user: &str, xml: Arc<str>, skip: &[String]) -> bool {
        self.deliver_here(user, Outgoing::Xml(xml), skip)
    }

    /// [`Router::deliver_here_bare`] for a template another node sent once for several
    /// of its recipients here, each session rendering it with `to` (the bare JID).
    pub fn deliver_here_template(
        &self,
        user: &str,
        template: &Arc<Template>,
        to: &str,
        skip: &[String],
    ) -> bool {
        self.deliver_here(user, Outgoing::Template(template.clone(), to.into()), skip)
    }

    fn deliver_here(&self, user: &str, out: Outgoing, skip: &[String]) -> bool {
        let sessions = &self.inner.sessions;
        let targets = sessions.targets(user, |e| e.receives_bare() && !e.is_one_of(skip));
        if !targets.is_empty() {
            send_all(&targets, out);
            return true;
        }
        !skip.is_empty() && sessions.check(user, |l| l.iter().any(|e| e.is_one_of(skip)))
    }
}
