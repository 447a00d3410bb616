//! Push (XEP-0357) registrations and the Web Push VAPID key: the [`PushStore`] contract
//! both engines implement.

use super::types::BoxFuture;

/// Registrations kept per account; enabling one more drops the oldest (browsers rotate
/// subscriptions and a device that is gone never disables its own).
pub const MAX_PER_ACCOUNT: usize = 16;

/// One device's registration: where to publish (service JID and node) and the
/// publish-options to send with each notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub user: String,
    pub service: String,
    pub node: String,
    /// Publish-options fields other than FORM_TYPE and `include-body`, in request order.
    pub options: Vec<(String, String)>,
    pub include_body: bool,
}

impl Registration {
    pub fn option(&self, var: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.as_str())
    }
}

/// Push registrations per account and device, and the server's VAPID key.
pub trait PushStore: Send + Sync {
    /// Stores (or replaces, same service and node) a registration, durably, keeping the
    /// account's newest [`MAX_PER_ACCOUNT`]. Fails when the account does not exist.
    fn enable(&self, reg: Registration) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Removes the account's registrations with that service (one node, or all); returns
    /// how many were removed.
    fn disable<'a>(
        &'a self,
        user: &'a str,
        service: &'a str,
        node: Option<&'a str>,
    ) -> BoxFuture<'a, anyhow::Result<usize>>;
    /// Every registration of every account, by account, oldest first.
    fn all(&self) -> BoxFuture<'_, anyhow::Result<Vec<Registration>>>;
    /// The account's registrations, oldest first.
    fn registrations<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<Registration>>>;
    /// The stored VAPID private key; when there is none yet, `candidate` is stored and
    /// returned. The first writer wins, so nodes sharing a database agree on one key.
    fn vapid_key(&self, candidate: Vec<u8>) -> BoxFuture<'_, anyhow::Result<Vec<u8>>>;
}
