//! Minimal personal eventing (XEP-0163) on accounts: enough for XEP-0490 message
//! displayed synchronization (`urn:xmpp:mds:displayed:0`) and XEP-0402 bookmarks
//! (`urn:xmpp:bookmarks:1`), durable through [`crate::storage::PepStore`].
//!
//! A session publishes to, reads and retracts from its own account's nodes (IQs to its
//! bare JID or with no `to`); each change is stored before the IQ result and the
//! notification to every available resource of the account go out. Nodes are private to
//! the account (the `whitelist` access model of both XEPs): nobody else reads them or is
//! notified. A session that becomes available gets the newest item of each node
//! (`on_available`). Node configuration is implicit: the MDS and bookmarks nodes keep
//! [`MANY_ITEMS`] (both XEPs publish with `pubsub#max_items=max`), other nodes as many as
//! `pubsub#max_items` in the publish-options says, else one (XEP-0163's default).
//!
//! The wire is xmpp-parsers' (`pubsub::PubSub`, `pubsub::event::Event`); `wire.rs` turns
//! it into [`Request`]s and builds the notifications.

mod wire;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use minidom::Element;

use crate::extensions::{AvailableHook, Caller, IqHandler, IqType};
use crate::module::{Module, Registrar};
use crate::ns;
use crate::stanza::{error_reply, iq_result, ErrorType};
use crate::storage::PepStore;
use crate::ServerContext;
use wire::Request;
pub use wire::MANY_ITEMS;

/// The PEP service of every account.
#[derive(Clone)]
pub struct Pep {
    store: Arc<dyn PepStore>,
    router: crate::router::Router,
    domain: String,
}

/// Registers PEP's IQ handlers, the account's disco identity and features, and the
/// last-items hook.
pub struct PepModule;

impl Module for PepModule {
    fn name(&self) -> &'static str {
        "pep"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a ServerContext,
        reg: &'a mut Registrar,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let pep = Arc::new(Pep {
                store: ctx.storage.pep.clone(),
                router: ctx.router.clone(),
                domain: ctx.config.domain.clone(),
            });
            reg.iq(IqType::Get, "pubsub", ns::PUBSUB, pep.clone())?;
            reg.iq(IqType::Set, "pubsub", ns::PUBSUB, pep.clone())?;
            reg.account_identity("pubsub", "pep");
            for f in wire::ACCOUNT_FEATURES {
                reg.account_feature(f);
            }
            reg.on_available(pep);
            Ok(())
        })
    }
}

impl IqHandler for Pep {
    fn handle<'a>(&'a self, from: Caller<'a>, iq: &'a Element) -> BoxFuture<'a, Element> {
        Box::pin(async move {
            let bare = format!("{}@{}", from.user, self.domain);
            // Only the account's own nodes: a pubsub IQ to the domain has no service here.
            if iq.attr("to").is_some_and(|to| to != bare) {
                return error_reply(iq, ErrorType::Cancel, "service-unavailable", None);
            }
            let req = match wire::request(iq) {
                Ok(r) => r,
                Err(refusal) => return refusal.reply_to(iq),
            };
            match self.apply(from.user, &bare, req).await {
                Ok(payload) => iq_result(iq, payload),
                Err(e) => {
                    tracing::error!(user = from.user, error = %e, "PEP storage failed");
                    error_reply(iq, ErrorType::Wait, "internal-server-error", None)
                }
            }
        })
    }
}

impl Pep {
    /// Carries out a request: stored first, then the account's resources notified.
    async fn apply(&self, user: &str, bare: &str, req: Request) -> anyhow::Result<Option<Element>> {
        match req {
            Request::Publish { item, max_items } => {
                let reply = wire::published(&item.node, &item.id);
                self.store.publish(user, item.clone(), max_items).await?;
                self.notify(bare, wire::item_event(bare, &item)).await;
                Ok(Some(reply))
            }
            Request::Items { node, ids, max } => {
                let mut items = self.store.items(user, &node).await?;
                if !ids.is_empty() {
                    items.retain(|i| ids.contains(&i.id));
                }
                if let Some(max) = max {
                    let skip = items.len().saturating_sub(max);
                    items.drain(..skip);
                }
                Ok(Some(wire::items_reply(&node, &items)))
            }
            Request::Retract { node, ids, notify } => {
                for id in &ids {
                    let gone = self.store.retract(user, &node, id).await?;
                    if gone && notify {
                        self.notify(bare, wire::retract_event(bare, &node, id))
                            .await;
                    }
                }
                Ok(None)
            }
        }
    }

    /// Every available resource of the account (XEP-0163 §4.3: the owner is always a
    /// subscriber of its own nodes); never stored offline (the items are, and a session
    /// gets them when it becomes available).
    async fn notify(&self, bare: &str, event: Element) {
        self.router.deliver_to_account(bare, event, false).await;
    }
}

impl AvailableHook for Pep {
    fn on_available<'a>(&'a self, from: Caller<'a>) -> BoxFuture<'a, Vec<Element>> {
        Box::pin(async move {
            let bare = format!("{}@{}", from.user, self.domain);
            match self.store.last_items(from.user).await {
                Ok(items) => items
                    .iter()
                    .map(|i| {
                        let mut e = wire::item_event(&bare, i);
                        crate::stanza::set_attr(&mut e, "to", from.jid);
                        e
                    })
                    .collect(),
                Err(e) => {
                    tracing::error!(user = from.user, error = %e, "reading PEP items failed");
                    Vec::new()
                }
            }
        })
    }
}
