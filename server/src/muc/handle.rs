//! How other parts of the server (the HTTP API, and the CLI through it) ask the MUC
//! service for something: a typed [`RoomRequest`] goes to the room's own task through the
//! registry, as a stanza would, and the task applies it with the room's rules
//! (`request.rs`), commits its writes in the same batch transaction and sends the same
//! notifications before the answer comes back. So nothing an API call changes is
//! acknowledged before it is on disk (docs/protocol.md S16), and there is no second
//! implementation of any room rule.
//!
//! The module provides a [`MucHandle`] (`ctx.extensions().get::<MucHandle>()`).

use std::sync::Arc;

use jid::{BareJid, FullJid};
use minidom::Element;
use mucsub_protocol::Node;
use tokio::sync::{mpsc, oneshot, watch};

use super::affiliation::{Affiliation, Role};
use super::config_form::RoomConfig;
use super::store::AccountSubscription;
use crate::stanza::Refusal;
use crate::storage::MucStore;

/// What a room is asked to do or tell.
#[derive(Debug)]
pub enum RoomRequest {
    /// Its configuration.
    Options,
    /// Who is in it.
    Occupants,
    /// Its affiliation list (`none` is not listed).
    Affiliations,
    /// Its subscribers with their nicks and nodes.
    Subscribers,
    /// A submitted `muc#roomconfig` form, applied as the owner's form is (XEP-0045 §10.2),
    /// announced to occupants and subscribers the same way.
    Configure(Element),
    /// An affiliation set by the service's administrator: no actor rules, but the room
    /// keeps at least one owner when it has any.
    SetAffiliation {
        jid: BareJid,
        affiliation: Affiliation,
    },
    /// Subscribes an account as a moderator subscribes someone else (docs/protocol.md S4):
    /// subscriptions must be allowed, bans and nicks apply, membership and the password
    /// are not asked.
    Subscribe {
        jid: BareJid,
        nick: String,
        nodes: Vec<Node>,
    },
    /// Removes a subscription (nothing when there is none).
    Unsubscribe { jid: BareJid },
    /// Sessions that are gone with their node (a cluster node died): those of them in
    /// the room leave it with status 333 (XEP-0045 §9.2, removed for a technical reason).
    Gone { jids: Vec<FullJid> },
    /// Destroys the room as its owner would (XEP-0045 §10.9).
    Destroy { reason: Option<String> },
    /// A stanza sent by `from`, handled exactly as if it came from that session (a
    /// groupchat message obeys the room's rules). Its `id` must be set: the room's error
    /// answer to it comes back as the refusal instead of being sent.
    Stanza { from: FullJid, stanza: Element },
    /// Creates the room, which must not exist: the service's defaults, then `form`, then
    /// the affiliations and subscriptions; all or nothing. Open at once (S22).
    Create(NewRoom),
}

/// What a new room starts with.
#[derive(Debug, Default)]
pub struct NewRoom {
    /// A submitted `muc#roomconfig` form over the service's defaults.
    pub form: Option<Element>,
    pub affiliations: Vec<(BareJid, Affiliation)>,
    /// Accounts subscribed from the start: (account, nick, nodes).
    pub subscribers: Vec<(BareJid, String, Vec<Node>)>,
}

/// One occupant as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccupantInfo {
    pub jid: FullJid,
    pub nick: String,
    pub role: Role,
}

/// One subscription as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberInfo {
    pub jid: BareJid,
    pub nick: String,
    pub nodes: Vec<Node>,
}

/// A room's answer.
#[derive(Debug)]
pub enum Answer {
    Done,
    Config(RoomConfig),
    Occupants(Vec<OccupantInfo>),
    Affiliations(Vec<(BareJid, Affiliation)>),
    Subscribers(Vec<SubscriberInfo>),
    /// The nodes a subscription was accepted with.
    Nodes(Vec<Node>),
}

/// Why a request did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The room does not exist.
    NoRoom,
    /// `Create`: the room exists already.
    Exists,
    /// The room's rules refused it, with the XMPP error condition and text it would have
    /// answered a client with.
    Refused { condition: String, text: String },
    /// Storage failed, or the MUC service is not running.
    Failed,
}

impl From<Refusal> for RequestError {
    fn from(r: Refusal) -> Self {
        RequestError::Refused {
            condition: r.condition.to_owned(),
            text: r.text,
        }
    }
}

/// Where a room task sends its answer.
pub(super) type Reply = oneshot::Sender<Result<Answer, RequestError>>;

/// A request on its way to a room's task.
pub(super) struct ServiceRequest {
    /// The room's name (the node of its JID, as normalised by [`MucHandle::room_jid`]).
    pub room: String,
    pub req: RoomRequest,
    pub reply: Reply,
}

/// Queue between the handles and the service loop.
pub(super) const REQUESTS: usize = 256;

/// Whether the service's storage is prepared: `None` while its migrations run, then
/// whether they succeeded.
pub(super) type Readiness = watch::Receiver<Option<bool>>;

/// The MUC service as other parts of the server reach it.
#[derive(Clone)]
pub struct MucHandle {
    domain: String,
    store: Arc<dyn MucStore>,
    tx: mpsc::Sender<ServiceRequest>,
    ready: Readiness,
}

impl MucHandle {
    pub(super) fn new(
        domain: String,
        store: Arc<dyn MucStore>,
        tx: mpsc::Sender<ServiceRequest>,
        ready: Readiness,
    ) -> MucHandle {
        MucHandle {
            domain,
            store,
            tx,
            ready,
        }
    }

    /// Waits until the service has prepared its storage (id floor, stale temporary rooms
    /// removed). Requests wait in the service's queue anyway; the reads below go to the
    /// store directly, and a call that comes in while the server is starting must not see
    /// what the preparation is about to remove, nor a service that failed to start.
    async fn storage_ready(&self) -> anyhow::Result<()> {
        let mut ready = self.ready.clone();
        match ready.wait_for(Option::is_some).await.map(|r| *r) {
            Ok(Some(true)) => Ok(()),
            _ => anyhow::bail!("the MUC service's storage is not available"),
        }
    }

    /// The service's domain (`conference.<domain>`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The JID of room `name` (normalised as JIDs are), or `None` when `name` cannot be a
    /// room's name.
    pub fn room_jid(&self, name: &str) -> Option<BareJid> {
        if name.is_empty() {
            return None;
        }
        BareJid::new(&format!("{name}@{}", self.domain))
            .ok()
            .filter(|j| j.node().is_some())
    }

    /// Asks room `room` (a JID of this service) and waits until its task has applied the
    /// request, committed what it changed and sent the notifications.
    pub async fn request(&self, room: &BareJid, req: RoomRequest) -> Result<Answer, RequestError> {
        let Some(name) = room.node().map(|n| n.as_str().to_owned()) else {
            return Err(RequestError::NoRoom);
        };
        if room.domain().as_str() != self.domain {
            return Err(RequestError::NoRoom);
        }
        let (reply, answer) = oneshot::channel();
        let sent = self.tx.send(ServiceRequest {
            room: name,
            req,
            reply,
        });
        if sent.await.is_err() {
            return Err(RequestError::Failed);
        }
        // A room task that ends without answering (it panicked) drops the sender.
        answer.await.unwrap_or(Err(RequestError::Failed))
    }

    /// Every room of the service, loaded or not, by JID.
    pub async fn rooms(&self) -> anyhow::Result<Vec<BareJid>> {
        self.storage_ready().await?;
        let names = self.store.room_names().await?;
        Ok(names.iter().filter_map(|n| self.room_jid(n)).collect())
    }

    /// The rooms `account` is subscribed to, from storage (as the service's own
    /// subscription list, docs/protocol.md S8).
    pub async fn subscriptions_of(
        &self,
        account: &BareJid,
    ) -> anyhow::Result<Vec<AccountSubscription>> {
        self.storage_ready().await?;
        self.store.subscriptions_of(&account.to_string()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreOp;

    /// A call that comes in while the service still prepares its storage waits for it
    /// (the API answered `internal_error` to a `muc_online_rooms` sent right after the
    /// server started, when the tables were migrated by the service): here it must not
    /// list a temporary room the preparation removes.
    #[tokio::test]
    async fn storage_reads_wait_until_the_service_has_prepared_storage() {
        let storage = crate::storage::sqlite::open_in_memory(10).await.unwrap();
        let temporary = RoomConfig {
            persistent: false,
            ..RoomConfig::default()
        };
        let room = |name: &str, config: &RoomConfig| StoreOp::SaveRoom {
            name: name.into(),
            config: config.clone(),
        };
        storage
            .muc
            .commit(vec![
                room("left-over", &temporary),
                room("lab", &RoomConfig::default()),
            ])
            .await
            .unwrap();
        let (tx, _requests) = mpsc::channel(1);
        let (ready_tx, ready) = watch::channel(None);
        let domain = "conference.localhost";
        let handle = MucHandle::new(domain.into(), storage.muc.clone(), tx, ready);
        let early = tokio::spawn({
            let h = handle.clone();
            async move { h.rooms().await }
        });
        tokio::task::yield_now().await;
        assert!(!early.is_finished(), "answered before storage was ready");
        storage.muc.drop_stale_temporary_rooms().await.unwrap();
        ready_tx.send_replace(Some(true));
        let lab = BareJid::new("lab@conference.localhost").unwrap();
        assert_eq!(early.await.unwrap().unwrap(), vec![lab]);
        let bob = BareJid::new("bob@localhost").unwrap();
        assert!(handle.subscriptions_of(&bob).await.unwrap().is_empty());

        // A service whose storage failed answers with an error, and one that is gone too.
        let (tx, _requests) = mpsc::channel(1);
        let (failed_tx, ready) = watch::channel(None);
        let failed = MucHandle::new(domain.into(), storage.muc, tx, ready);
        failed_tx.send_replace(Some(false));
        assert!(failed.rooms().await.is_err());
        drop(failed_tx);
        assert!(failed.subscriptions_of(&bob).await.is_err());
    }
}
