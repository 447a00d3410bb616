//! The session directory of a cluster: which node incarnation holds each bound resource,
//! so a stanza for a user connected to another node is forwarded there instead of being
//! stored offline. PostgreSQL only (`postgres/directory.rs`); a single node on SQLite has
//! every session in its own router.
//!
//! A binding also says whether it is *reachable*: available with a priority that a
//! bare-JID stanza reaches. Marking one reachable and storing offline for its account
//! take the same per-account transaction lock, so a node never stores offline for an
//! account that became reachable on another node meanwhile (it would sit there unseen).
//!
//! Only live incarnations count: a row of an incarnation whose lease has expired is
//! ignored by every lookup (the node is gone, its users are offline), so a dead node's
//! users get offline storage as soon as its lease ends.

use super::types::BoxFuture;

pub trait SessionDirectory: Send + Sync {
    /// Records that `resource` of account `user` is bound on `incarnation`.
    fn bind<'a>(
        &'a self,
        user: &'a str,
        resource: &'a str,
        incarnation: i64,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Forgets that binding, if it is still `incarnation`'s.
    fn unbind<'a>(
        &'a self,
        user: &'a str,
        resource: &'a str,
        incarnation: i64,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Marks the binding of `resource` (on `incarnation`) reachable or not, under the
    /// account's transaction lock.
    fn set_reachable<'a>(
        &'a self,
        user: &'a str,
        resource: &'a str,
        incarnation: i64,
        reachable: bool,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Stores `stanza` offline for `user` under the account's transaction lock, unless a
    /// live incarnation other than `me` holds a reachable binding of it.
    fn store_offline<'a>(
        &'a self,
        user: &'a str,
        me: i64,
        stanza: String,
    ) -> BoxFuture<'a, anyhow::Result<Offline>>;
    /// The sessions of incarnations whose lease has expired (their node is gone), as
    /// (account, resource); rows expired longer than `keep` ago are deleted (every node
    /// has seen them by then: each looks every lease period).
    fn dead<'a>(
        &'a self,
        keep: std::time::Duration,
    ) -> BoxFuture<'a, anyhow::Result<Vec<(String, String)>>>;
    /// The live incarnations other than `me` with a resource of `user` bound, and which
    /// one holds `resource` when one is given.
    fn nodes_of<'a>(
        &'a self,
        user: &'a str,
        resource: Option<&'a str>,
        me: i64,
    ) -> BoxFuture<'a, anyhow::Result<Vec<i64>>>;
    /// [`SessionDirectory::nodes_of`] for several accounts in one lookup (a room's
    /// fanout): (account, incarnation) for every live incarnation other than `me` with a
    /// resource of one of `users` bound.
    fn nodes_of_many<'a>(
        &'a self,
        users: &'a [String],
        me: i64,
    ) -> BoxFuture<'a, anyhow::Result<Vec<(String, i64)>>>;
}

/// What [`SessionDirectory::store_offline`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    Stored,
    /// The account's offline queue is full.
    Full,
    /// Nothing stored: the account is reachable on another node.
    Reachable,
}
