//! The [`Remote`] port: what the router asks when a stanza finds no local session in a
//! cluster (`cluster/remote.rs` implements it over the session directory and NATS).

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use crate::stanza::Template;

/// One bare-JID stanza for an account's sessions on another node, except its `skip`
/// resources (see [`Remote::to_bare`]): `template` rendered with `to`, the account's bare
/// JID. The items of a room's fanout share their event's template, so that it crosses the
/// bus once per node rather than once per recipient.
#[derive(Debug, Clone)]
pub struct BareItem {
    /// The account's localpart.
    pub user: String,
    pub to: Arc<str>,
    pub template: Arc<Template>,
    pub skip: Vec<String>,
}

/// Which other nodes hold sessions of a fanout's accounts: (account, incarnation) pairs
/// from one directory lookup ([`Remote::locate`]), for several [`Remote::to_bare_many`]
/// calls of one room's run, whose items' accounts it must all cover.
#[derive(Debug, Clone, Default)]
pub struct Located(pub Vec<(String, i64)>);

pub type RemoteFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The other nodes' sessions.
pub trait Remote: Send + Sync {
    /// Whether another node may be live: while it is, an account reached here may also
    /// have sessions there that a bare-JID stanza is owed to; when not, a local delivery
    /// is final and costs no directory lookup.
    fn others_live(&self) -> bool;
    /// A resource of `user` was bound here.
    fn bound(&self, user: &str, resource: &str);
    /// It was unbound (no session holds it here any more).
    fn unbound(&self, user: &str, resource: &str);
    /// Marks `resource` of `user` reachable by bare-JID stanzas here, or not. The change
    /// is queued at once (in order with `bound`/`unbound`); the future resolves once it
    /// is in the directory.
    fn reachable(&self, user: &str, resource: &str, reachable: bool) -> RemoteFuture<'static, ()>;
    /// Stores `xml` offline for `user` unless the account is reachable on another node,
    /// deciding under the account's cluster-wide lock.
    fn store_offline<'a>(
        &'a self,
        user: &'a str,
        xml: String,
    ) -> RemoteFuture<'a, anyhow::Result<crate::storage::DirectoryOffline>>;
    /// Resolves once the bindings and unbindings reported so far are in the directory.
    fn published(&self) -> RemoteFuture<'_, ()>;
    /// Hands a stanza for `user`'s full JID to the node holding `resource`; false when no
    /// live node holds it or that node did not answer.
    fn to_full<'a>(
        &'a self,
        user: &'a str,
        resource: &'a str,
        xml: String,
    ) -> RemoteFuture<'a, bool>;
    /// Hands a bare-JID stanza (serialised) to every other node with a session of
    /// `user`; true when one of them reached a session, or holds one of the `skip`
    /// resources (the account is online there).
    fn to_bare<'a>(
        &'a self,
        user: &'a str,
        xml: String,
        skip: &'a [String],
    ) -> RemoteFuture<'a, bool>;
    /// [`Remote::to_bare`] for several accounts at once (a room's fanout): one directory
    /// lookup for all, one request per node holding some of them, each template once. `reached[i]` says
    /// whether `items[i]` reached a session (or a `skip` resource) on another node.
    /// With `located`, the lookup is not made again: `located` answers for the items'
    /// accounts.
    fn to_bare_many<'a>(
        &'a self,
        items: &'a [BareItem],
        located: Option<&'a Located>,
    ) -> RemoteFuture<'a, Vec<bool>>;
    /// The directory lookup of [`Remote::to_bare_many`] alone, for `users`; `None` when it
    /// failed (each call then looks up for itself).
    fn locate<'a>(&'a self, users: &'a [String]) -> RemoteFuture<'a, Option<Located>>;
}
