//! XEP-0160 offline storage: the [`OfflineStore`] contract both engines implement.

use super::types::BoxFuture;

/// One stored offline message.
#[derive(Debug, Clone)]
pub struct OfflineMessage {
    pub id: i64,
    /// The serialised stanza, as it will be delivered (without `<delay/>`).
    pub stanza: String,
    /// When it was stored, milliseconds since the Unix epoch.
    pub stamp_millis: i64,
}

/// XEP-0160 offline storage, bounded per account (`[limits] offline_max_per_account`).
pub trait OfflineStore: Send + Sync {
    /// Stores a stanza for `user`, durably; `Ok(false)` when the account's queue is full.
    fn push<'a>(&'a self, user: &'a str, stanza: String) -> BoxFuture<'a, anyhow::Result<bool>>;
    /// All queued messages of `user`, oldest first (not removed).
    fn peek<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<OfflineMessage>>>;
    /// Removes the given messages (after they were handed to a session); ids of other
    /// accounts or already removed ones are ignored.
    fn remove<'a>(&'a self, user: &'a str, ids: Vec<i64>) -> BoxFuture<'a, anyhow::Result<()>>;
    fn count<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<u64>>;
    /// Messages queued for all accounts together (`mucsub_offline_messages`).
    fn total(&self) -> BoxFuture<'_, anyhow::Result<u64>>;
}
