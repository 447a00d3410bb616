//! The wire vocabulary shared by the SDK and the bundled server.
//!
//! MucSub (`urn:xmpp:mucsub:0`) is an ejabberd invention: no crate ships parsers for it
//! (xmpp-parsers 0.23 has none), so `node`, `subscribe`, `subscriptions` and `wrapper` are
//! written by hand here, in the xmpp-rs style (`TryFrom<Element>` with errors that name the
//! offending element or attribute, `From<T> for Element`). Everything that xmpp-parsers
//! already covers (MAM, RSM, stanza-id, delay, disco, data forms, stanza errors, MUC) is
//! re-exported from it rather than rewritten.

mod error;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod jid_rules_tests;
pub mod mam;
mod node;
pub mod push;
mod subscribe;
mod subscriptions;
pub mod time;
mod wrapper;
#[doc(hidden)]
pub mod xml;

pub use error::ParseError;
pub use node::Node;
pub use subscribe::{Subscribe, Unsubscribe};
pub use subscriptions::{Subscription, Subscriptions, SyncEnd};
pub use wrapper::MucSubEvent;

pub use xmpp_parsers::{
    data_forms, delay, disco, iq, jid, mam as xmpp_mam, message, minidom, muc, presence, rsm,
    stanza_error, stanza_id,
};

/// Namespaces used across the project.
pub mod ns {
    /// MucSub itself (subscribe, unsubscribe, subscriptions).
    pub const MUCSUB: &str = "urn:xmpp:mucsub:0";
    /// Prefix of every MucSub event node.
    pub const MUCSUB_NODES_PREFIX: &str = "urn:xmpp:mucsub:nodes:";
    /// Our sync hint extension (`<end/>` inside `<subscription/>`), also its disco feature.
    pub const MUCSUB_SYNC: &str = "urn:xmpp:mucsub:sync:0";
    /// Pubsub events, the envelope of every wrapped MucSub event.
    pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
    /// Client stanzas.
    pub const JABBER_CLIENT: &str = "jabber:client";
    /// Message Archive Management v2.
    pub const MAM: &str = "urn:xmpp:mam:2";
    /// MAM extended (before-id / after-id / ids / metadata).
    pub const MAM_EXTENDED: &str = "urn:xmpp:mam:2#extended";
    /// Result Set Management.
    pub const RSM: &str = "http://jabber.org/protocol/rsm";
    /// Unique and stable stanza ids.
    pub const SID: &str = "urn:xmpp:sid:0";
    /// Delayed delivery.
    pub const DELAY: &str = "urn:xmpp:delay";
    /// Forwarded stanzas (MAM results).
    pub const FORWARD: &str = "urn:xmpp:forward:0";
    /// Service discovery, info.
    pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
    /// MUC.
    pub const MUC: &str = "http://jabber.org/protocol/muc";
    /// MUC user extension (status codes, items).
    pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
    /// MUC owner extension (config forms, destroy).
    pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
    /// MUC admin extension (affiliation and role changes).
    pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
    /// Stanza error conditions.
    pub const XMPP_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
    /// Data forms.
    pub const DATA_FORMS: &str = "jabber:x:data";
}
