//! Room creation and the per-account quotas: who may create a room (`[muc] create`), how
//! many rooms an account may own (`[limits] max_rooms_per_account`, counted in the same
//! transaction that writes the new room) and how many subscriptions it may hold
//! (`[limits] max_subscriptions_per_account`, counted from storage so it holds across
//! restarts).

use jid::{BareJid, FullJid};
use minidom::Element;
use mucsub_protocol::Subscribe;

use super::config_form::RoomConfig;
use super::handle::RoomRequest;
use super::room::{Action, Room};
use super::shared::Shared;
use super::store::StoreOp;
use super::xml::first_child;
use crate::ns;
use crate::stanza::{ErrorType, Refusal};
use crate::storage::Fence;

/// Whether `stanza`, sent to a room that does not exist, creates it: a join (available
/// presence to `room/nick`) or a subscription.
fn creates(stanza: &Element) -> bool {
    match (stanza.name(), stanza.attr("type")) {
        ("presence", None) => stanza.attr("to").is_some_and(|t| t.contains('/')),
        ("iq", Some("set")) => stanza.get_child("subscribe", ns::MUCSUB).is_some(),
        _ => false,
    }
}

/// `[muc] create`: `local` (accounts of this server), `anyone` or `nobody`.
fn may_create(shared: &Shared, from: &FullJid) -> bool {
    match shared.settings.create.as_str() {
        "anyone" => true,
        "nobody" => false,
        _ => from.domain().as_str() == shared.server_domain,
    }
}

/// Creates room `name` for the sender of `stanza` when the stanza creates rooms and the
/// policies allow it; its storage is written here (under the room's `fence` in a cluster)
/// when the room quota applies. `Err` is the refusal to send (`None`: already answered).
pub(super) async fn create_room(
    shared: &Shared,
    fence: Option<&Fence>,
    name: &str,
    room_jid: BareJid,
    from: &FullJid,
    stanza: &Element,
) -> Result<(Room, Vec<Action>), Option<Refusal>> {
    let refuse = |kind, cond, text: &str| Err(Some(Refusal::new(kind, cond, text)));
    if !creates(stanza) {
        return refuse(
            ErrorType::Cancel,
            "item-not-found",
            "Conference room does not exist",
        );
    }
    if !may_create(shared, from) {
        // XEP-0045 §10.1.1 refuses a join with not-allowed; docs/protocol.md S5 answers a
        // subscription to a room that does not exist with item-not-found.
        return if stanza.name() == "presence" {
            refuse(
                ErrorType::Cancel,
                "not-allowed",
                "Room creation is denied by service policy",
            )
        } else {
            refuse(
                ErrorType::Cancel,
                "item-not-found",
                "Conference room does not exist",
            )
        };
    }
    // docs/protocol.md S22: a room made by a join waits for its owner to open it (XEP-0045
    // §10.1); one made by a subscription is open at once (S5).
    let config = RoomConfig {
        locked: stanza.name() == "presence",
        ..new_room_config(shared)
    };
    let (room, initial) = Room::create(name, room_jid, from.to_bare(), config);
    // A subscription over the limit must not leave a new, empty room behind.
    // (Checked again, exactly, by the room task.)
    if let Some(target) = new_subscription(shared, &room, from, stanza) {
        if let Some(r) = over_subscription_limit(shared, &target).await {
            return Err(Some(r));
        }
    }
    match create_within_quota(shared, fence, from, initial).await {
        Ok(Ok(initial)) => Ok((room, initial)),
        // XEP-0045 §10.1.1: room creation refused by service policy.
        Ok(Err(owned)) => Err(Some(Refusal::new(
            ErrorType::Cancel,
            "not-allowed",
            format!("Room limit reached: this account already owns {owned} rooms"),
        ))),
        Err(e) => {
            tracing::error!(room = name, error = %e, "creating room failed");
            Err(Some(Refusal::new(
                ErrorType::Wait,
                "internal-server-error",
                "",
            )))
        }
    }
}

/// A new room's configuration: the defaults with `[muc] default_persistent`.
pub(super) fn new_room_config(shared: &Shared) -> RoomConfig {
    RoomConfig {
        persistent: shared.settings.default_persistent,
        ..RoomConfig::default()
    }
}

/// What the subscription quota says about a stanza.
pub(super) enum Quota<'a> {
    /// Not a new subscription, or no limit.
    Free,
    /// A new subscription within the limit: hold this until it is committed.
    Held(tokio::sync::MutexGuard<'a, ()>),
    /// Over the limit (or the count failed): answer with this instead.
    Refused(Refusal),
}

/// `[limits] max_subscriptions_per_account`: a subscribe that would add a subscription for
/// an account already holding the maximum (as stored, so across restarts) is refused with
/// `policy-violation`. Changing an existing subscription is always allowed.
pub(super) async fn subscribe_quota<'a>(
    shared: &'a Shared,
    room: &Room,
    from: &FullJid,
    stanza: &Element,
) -> Quota<'a> {
    let Some(target) = new_subscription(shared, room, from, stanza) else {
        return Quota::Free;
    };
    accounts_quota(shared, room, &[target]).await
}

/// The subscription quota for a typed request (`handle.rs`): the accounts it would
/// subscribe, or for a stanza what [`subscribe_quota`] says.
pub(super) async fn request_quota<'a>(
    shared: &'a Shared,
    room: &Room,
    req: &RoomRequest,
) -> Quota<'a> {
    match req {
        RoomRequest::Subscribe { jid, .. } => {
            accounts_quota(shared, room, std::slice::from_ref(jid)).await
        }
        RoomRequest::Create(new) => {
            let targets: Vec<BareJid> = new.subscribers.iter().map(|s| s.0.clone()).collect();
            accounts_quota(shared, room, &targets).await
        }
        RoomRequest::Stanza { from, stanza } => subscribe_quota(shared, room, from, stanza).await,
        _ => Quota::Free,
    }
}

/// The quota for subscribing `targets` (those not subscribed yet) at once.
async fn accounts_quota<'a>(shared: &'a Shared, room: &Room, targets: &[BareJid]) -> Quota<'a> {
    let new: Vec<&BareJid> = targets
        .iter()
        .filter(|t| !room.subscribers.contains_key(*t))
        .collect();
    if shared.quotas.max_subscriptions == 0 || new.is_empty() {
        return Quota::Free;
    }
    let guard = shared.quotas.subscribe_lock.lock().await;
    for target in new {
        if let Some(r) = over_subscription_limit(shared, target).await {
            return Quota::Refused(r);
        }
    }
    Quota::Held(guard)
}

/// The account a subscribe would add a subscription for, when the limit applies.
fn new_subscription(
    shared: &Shared,
    room: &Room,
    from: &FullJid,
    stanza: &Element,
) -> Option<BareJid> {
    if shared.quotas.max_subscriptions == 0
        || stanza.name() != "iq"
        || stanza.attr("type") != Some("set")
        || stanza.attr("to").is_some_and(|t| t.contains('/'))
    {
        return None;
    }
    let sub = first_child(stanza).filter(|c| c.is("subscribe", ns::MUCSUB))?;
    // A malformed `jid=` is the room's to answer (jid-malformed).
    let target = Subscribe::try_from(sub)
        .ok()?
        .jid
        .unwrap_or_else(|| from.to_bare());
    (!room.subscribers.contains_key(&target)).then_some(target)
}

/// The refusal when `target` already holds the maximum of subscriptions.
async fn over_subscription_limit(shared: &Shared, target: &BareJid) -> Option<Refusal> {
    let max = shared.quotas.max_subscriptions;
    let bare = target.to_string();
    let count = shared.store.subscription_count(&bare).await;
    match count {
        Ok(n) if n >= max => Some(Refusal::new(
            ErrorType::Modify,
            "policy-violation",
            format!("Subscription limit reached: at most {max} per account"),
        )),
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "counting subscriptions failed");
            Some(Refusal::new(ErrorType::Wait, "internal-server-error", ""))
        }
    }
}

/// With `[limits] max_rooms_per_account`, a new room's storage is written here, in the
/// same transaction as counting the rooms its creator owns (the service creates rooms one
/// at a time, so the count cannot go stale). `Ok(Err(owned))` when over the limit; the
/// actions still to run otherwise.
async fn create_within_quota(
    shared: &Shared,
    fence: Option<&Fence>,
    creator: &FullJid,
    initial: Vec<Action>,
) -> anyhow::Result<Result<Vec<Action>, usize>> {
    let max = shared.quotas.max_rooms;
    if max == 0 {
        return Ok(Ok(initial));
    }
    let mut ops: Vec<StoreOp> = Vec::new();
    let mut rest = Vec::new();
    for a in initial {
        match a {
            Action::Store(op) => ops.push(op),
            other => rest.push(other),
        }
    }
    let bare = creator.to_bare().to_string();
    Ok(shared
        .store
        .commit_within_room_quota(fence, &bare, max, ops)
        .await?
        .map(|()| rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn only_joins_and_subscriptions_create_rooms() {
        assert!(creates(&el(
            "<presence xmlns='jabber:client' to='r@conference.localhost/nick'/>"
        )));
        assert!(creates(&el(
            "<iq xmlns='jabber:client' type='set' to='r@conference.localhost'>\
             <subscribe xmlns='urn:xmpp:mucsub:0' nick='n'/></iq>"
        )));
        for other in [
            // No nick: a presence to the bare room creates nothing.
            "<presence xmlns='jabber:client' to='r@conference.localhost'/>",
            "<presence xmlns='jabber:client' type='unavailable' to='r@conference.localhost/n'/>",
            "<iq xmlns='jabber:client' type='get' to='r@conference.localhost'>\
             <subscribe xmlns='urn:xmpp:mucsub:0' nick='n'/></iq>",
            "<message xmlns='jabber:client' type='groupchat' to='r@conference.localhost'/>",
        ] {
            assert!(!creates(&el(other)), "{other}");
        }
    }
}
