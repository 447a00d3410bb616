//! Read state shared by the account's devices (XEP-0490, protocol.md X14): the read marker
//! the app sets is published to the account's PEP node `urn:xmpp:mds:displayed:0`, and the
//! markers other devices publish (notifications, and every item fetched when a session
//! starts) move the local marker — through [`StoreOp::ReadUpTo`], which never moves it
//! back. A server without PEP (ejabberd's reference configuration) costs one warning:
//! markers stay local.

use minidom::Element;

use super::pending::Pending;
use super::{result, Action, AppEvent, Client, ClientWarning, CommandError, CommandResult};
use super::{RequestId, StoreOp};
use crate::protocol::mds::{self, Marker};
use crate::protocol::ns;
use crate::protocol::time::Timestamp;
use crate::store::{Own, Store, StoreError};

impl Client {
    /// [`super::Command::MarkDisplayed`]: queue the marker and publish it when possible.
    /// Answered at once: a failed publish is not the app's problem (see the module doc).
    pub(super) fn mark_displayed(
        &mut self,
        req: RequestId,
        room: String,
        stanza_id: String,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        self.read_sync.unpublished.insert(room.clone(), stanza_id);
        if self.session.is_ready() {
            self.flush_markers(now, out);
        }
        out.push(result(req, Ok(CommandResult::Displayed { room })));
    }

    /// A session is up: ask for every marker (the resync applies them), publish ours.
    pub(super) fn read_sync_on_ready(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        self.read_sync.refused = false;
        let me = self.cfg.session.jid.to_string();
        self.send_iq("get", &me, mds::request_all(), Pending::Markers, now, out);
        self.flush_markers(now, out);
    }

    /// A resumed session missed nothing, but what was set offline still goes out.
    pub(super) fn flush_markers(&mut self, now: Timestamp, out: &mut Vec<Action>) {
        if self.read_sync.refused {
            return;
        }
        let me = self.cfg.session.jid.to_string();
        for (room, stanza_id) in std::mem::take(&mut self.read_sync.unpublished) {
            let marker = Marker { room, stanza_id };
            let Some(payload) = mds::publish(&marker) else {
                continue;
            };
            self.send_iq("set", &me, payload, Pending::Displayed(marker), now, out);
        }
    }

    /// A publish failed: kept for the next session when it may work then (a timeout, a
    /// lost connection), given up when the server has no such service.
    pub(super) fn displayed_failed(
        &mut self,
        marker: Marker,
        err: &CommandError,
        transient: bool,
        out: &mut Vec<Action>,
    ) {
        if transient || err.condition == "disconnected" {
            let pending = &mut self.read_sync.unpublished;
            pending.get_or_insert_with(&marker.room, || marker.stanza_id);
        } else {
            self.read_sync_refused(err, out);
        }
    }

    /// The server refused the MDS node (no PEP): say so once; markers stay local.
    pub(super) fn read_sync_refused(&mut self, err: &CommandError, out: &mut Vec<Action>) {
        self.read_sync.refused = true;
        self.read_sync.unpublished.clear();
        if !std::mem::replace(&mut self.read_sync.warned, true) {
            out.push(Action::Event(AppEvent::Warning(
                ClientWarning::ReadSyncUnavailable {
                    condition: err.condition.clone(),
                },
            )));
        }
    }

    /// Markers from the server (the connect-time items or a notification): move the
    /// local markers of subscribed rooms.
    pub(super) fn markers_in(&mut self, markers: Vec<Marker>, out: &mut Vec<Action>) {
        for m in markers {
            if !self.subs.contains_key(&m.room) {
                continue;
            }
            self.read_sync
                .remote
                .insert(m.room.clone(), m.stanza_id.clone());
            out.push(self.read_up_to(m.room, m.stanza_id));
        }
    }

    /// The room finished resyncing: the marker another device set may name a message that
    /// only arrived now.
    pub(super) fn markers_after_resync(&mut self, room: &str, out: &mut Vec<Action>) {
        if let Some(id) = self.read_sync.remote.get(room).cloned() {
            out.push(self.read_up_to(room.to_owned(), id));
        }
    }

    fn read_up_to(&self, room: String, stanza_id: String) -> Action {
        let own_nick = self.subs.get(&room).and_then(|s| s.nick.clone());
        Action::Store(StoreOp::ReadUpTo {
            room,
            stanza_id,
            own_nick,
            own_jid: self.cfg.session.jid.to_string(),
        })
    }

    /// A PEP notification (a headline from our own bare JID) with markers in it.
    pub(super) fn pep_event_in(&mut self, e: &Element, out: &mut Vec<Action>) -> bool {
        let Some(event) = e.get_child("event", ns::PUBSUB_EVENT) else {
            return false;
        };
        let markers = mds::from_event(event);
        self.markers_in(markers, out);
        true
    }
}

/// What a driver does for [`StoreOp::ReadUpTo`]: move the marker (never back) and, when it
/// moved, the room's unread count for [`AppEvent::Read`].
pub async fn read_up_to<S: Store + ?Sized>(
    store: &S,
    room: &str,
    stanza_id: &str,
    own: Own<'_>,
) -> Result<Option<usize>, StoreError> {
    let before = store.read_marker(room).await?;
    if !store.mark_read(room, Some(stanza_id)).await? {
        return Ok(None);
    }
    if store.read_marker(room).await? == before {
        return Ok(None);
    }
    store.unread(room, own).await.map(Some)
}

/// What a driver does for the app's `markRead`: move the local marker, and name the archive
/// id to publish ([`super::Command::MarkDisplayed`]) when it moved to a message that has
/// one. `Ok(None)` as the error-free "no stored event answers to `up_to`".
pub async fn mark_read<S: Store + ?Sized>(
    store: &S,
    room: &str,
    up_to: Option<&str>,
) -> Result<Option<MarkedRead>, StoreError> {
    let before = store.read_marker(room).await?;
    if !store.mark_read(room, up_to).await? {
        return Ok(None);
    }
    let after = store.read_marker(room).await?;
    let publish = match &after {
        Some(m) if after != before => m.key.strip_prefix("sid:").map(str::to_owned),
        _ => None,
    };
    Ok(Some(MarkedRead {
        moved: after != before,
        publish,
    }))
}

/// The outcome of [`mark_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedRead {
    /// The marker moved.
    pub moved: bool,
    /// The archive id of the newly marked message, to share with the other devices.
    pub publish: Option<String>,
}
