//! XEP-0484 FAST tokens per account and device: the [`FastStore`] contract both engines
//! implement (`sqlite/fast.rs`, `postgres/fast.rs`). The policy deciding what a token
//! may do is `crate::fast`; this keeps the rows and does the atomic use.

use super::types::BoxFuture;

/// Which of a device's two token places (XEP-0484 §6.1): a freshly issued token waits in
/// `New` until the client first uses it, then replaces the `Current` one. Until then both
/// work, so a client that missed the `<success/>` carrying the new token still gets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Current,
    New,
}

impl Slot {
    /// The stored form (`slot` column).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Slot::Current => "current",
            Slot::New => "new",
        }
    }

    pub(crate) fn parse(s: &str) -> Slot {
        if s == "new" {
            Slot::New
        } else {
            Slot::Current
        }
    }
}

/// One stored FAST token. The token itself is not stored: it is derived from `nonce` with
/// the server's key (`fast/key.rs`), and `token_hash` (its SHA-256) tells a token derived
/// with another key apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastToken {
    pub user: String,
    /// The client installation: the SASL2 `<user-agent id>`.
    pub device: String,
    pub slot: Slot,
    /// The mechanism the token is bound to (`HT-SHA-256-NONE`).
    pub mechanism: String,
    pub nonce: Vec<u8>,
    pub token_hash: Vec<u8>,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// The highest `<fast count/>` accepted with this token (replay protection).
    pub last_count: Option<u32>,
    pub last_used_ms: Option<i64>,
    /// `<user-agent>`'s `<software/>` and `<device/>`, for listings.
    pub software: Option<String>,
    pub device_name: Option<String>,
}

/// What a use of a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Accepted,
    /// The count was not above every count seen with this token: a replay.
    Replayed,
    /// The token is gone (revoked, or replaced) since it was read.
    Gone,
}

/// XEP-0484 tokens, per account and device.
pub trait FastStore: Send + Sync {
    /// The device's tokens (at most one per slot).
    fn tokens<'a>(
        &'a self,
        user: &'a str,
        device: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>>;
    /// Puts `token` in the device's `New` slot, replacing a token issued before and never
    /// used (XEP-0484 §4.4: unused earlier tokens are invalidated).
    fn put_new(&self, token: FastToken) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Records a use of the token in `slot`, atomically: with `count`, refused unless it is
    /// above the last count; a `New` token then replaces the `Current` one (tokens with an
    /// earlier expiry are invalidated by the use of a later one).
    fn record_use<'a>(
        &'a self,
        user: &'a str,
        device: &'a str,
        slot: Slot,
        count: Option<u32>,
        now_ms: i64,
    ) -> BoxFuture<'a, anyhow::Result<Use>>;
    /// Deletes one device's tokens (`Some`) or every token of the account; how many.
    fn revoke<'a>(
        &'a self,
        user: &'a str,
        device: Option<&'a str>,
    ) -> BoxFuture<'a, anyhow::Result<u64>>;
    /// Every token of the account, by device.
    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<FastToken>>>;
}
