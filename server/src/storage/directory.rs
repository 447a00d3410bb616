//! The session directory of a cluster: which node incarnation holds each bound resource,
//! so a stanza for a user connected to another node is forwarded there instead of being
//! stored offline. PostgreSQL only (`postgres/directory.rs`); a single node on SQLite has
//! every session in its own router.
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
    /// The live incarnations other than `me` with a resource of `user` bound, and which
    /// one holds `resource` when one is given.
    fn nodes_of<'a>(
        &'a self,
        user: &'a str,
        resource: Option<&'a str>,
        me: i64,
    ) -> BoxFuture<'a, anyhow::Result<Vec<i64>>>;
}
