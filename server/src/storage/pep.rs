//! Personal eventing (XEP-0163) items of accounts — XEP-0490 displayed markers and
//! XEP-0402 bookmarks among them: the [`PepStore`] contract both engines implement. Items
//! go with their account (foreign key, like push registrations).

use super::types::BoxFuture;

/// One published item of one account's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PepItem {
    pub node: String,
    pub id: String,
    /// The item's payload as XML text.
    pub payload: String,
}

/// PEP nodes and their items, per account.
pub trait PepStore: Send + Sync {
    /// Stores `item` on `user`'s node (replacing an item with its id, which becomes the
    /// newest), durably; the node keeps its newest `max_items`. Fails when the account
    /// does not exist.
    fn publish<'a>(
        &'a self,
        user: &'a str,
        item: PepItem,
        max_items: usize,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// The node's items, oldest first.
    fn items<'a>(
        &'a self,
        user: &'a str,
        node: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<PepItem>>>;
    /// Removes one item; whether it was there.
    fn retract<'a>(
        &'a self,
        user: &'a str,
        node: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<bool>>;
    /// The newest item of each of the account's nodes, by node.
    fn last_items<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<PepItem>>>;
}
