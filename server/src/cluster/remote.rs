//! The other nodes' sessions, for the router ([`crate::router::Remote`]): the session
//! directory in PostgreSQL says which live incarnation holds a resource, NATS carries the
//! stanza there. A node that does not answer counts as offline (the router then stores
//! the stanza offline and pushes), so nothing waits on a dead node.
//!
//! Directory writes go through one task in order, so a quick bind and unbind of one
//! resource never land reversed.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::bus::{Answer, Bus, Envelope};
use super::Membership;
use crate::router::{Remote, RemoteFuture, Router};
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
}

impl NodeRemote {
    pub fn start(
        membership: Arc<Membership>,
        bus: Arc<Bus>,
        directory: Arc<dyn SessionDirectory>,
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
        })
    }

    /// The live incarnations (other than this one) with a session of `user`.
    async fn holders(&self, user: &str, resource: Option<&str>) -> Vec<i64> {
        let me = self.membership.incarnation();
        match self.directory.nodes_of(user, resource, me).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "session directory lookup failed");
                Vec::new()
            }
        }
    }

    async fn ask(&self, to: i64, env: &Envelope) -> bool {
        match self.bus.request(to, env).await {
            Ok(a) => a.taken,
            Err(e) => {
                tracing::debug!(error = %e, "forwarding to another node failed");
                false
            }
        }
    }
}

impl Remote for NodeRemote {
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
}

/// Takes what other nodes forward to this one: room stanzas go to the MUC service as if
/// a local client had sent them (their `from` was stamped by the sender's node), session
/// stanzas to the local sessions only.
pub fn handler(router: Router) -> super::bus::Handler {
    Arc::new(move |env| {
        let router = router.clone();
        Box::pin(async move {
            let taken = match env {
                Envelope::Room { xml } => match xml.parse::<minidom::Element>() {
                    Ok(el) => {
                        router.route(el).await;
                        true
                    }
                    Err(_) => false,
                },
                Envelope::Full { xml } => match xml.parse::<minidom::Element>() {
                    Ok(el) => router.deliver_here_full(el),
                    Err(_) => false,
                },
                Envelope::Bare { user, xml, skip } => {
                    router.deliver_here_bare(&user, Arc::from(xml), &skip)
                }
            };
            Answer { taken }
        })
    })
}
