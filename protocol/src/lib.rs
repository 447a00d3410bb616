//! # mucsub-protocol — the wire vocabulary of MucSub for the web
//!
//! One typed struct per wire element, defined once for both ends of the wire: the SDK
//! (`mucsub`, which re-exports this crate as `mucsub::protocol`, in the browser and
//! natively) and the server (`mucsub-server`). Each parses with `TryFrom<&Element>` /
//! `TryFrom<Element>` (errors that name the element and attribute at fault,
//! [`ParseError`]) and builds with `From<T> for Element`. Plain Rust over minidom: no
//! I/O, no clock, no async runtime.
//!
//! MucSub (`urn:xmpp:mucsub:0`) is an ejabberd invention: no crate ships parsers for it
//! (xmpp-parsers 0.23 has none), so [`Node`], [`Subscribe`], [`Unsubscribe`],
//! [`Subscriptions`], [`SyncEnd`], [`MucSubEvent`] and [`SubscriptionNotice`] are written by hand here, in the
//! xmpp-rs style. Everything that xmpp-parsers already covers (data forms, RSM, stanza-id,
//! delay, disco, stanza errors, MUC) is used or re-exported from it rather than rewritten;
//! where this crate still builds such an element by hand, the module says why.
//!
//! Where things are: [`ns`] (every namespace), [`stanza`] (error replies, IQ results),
//! [`forms`] (data forms), the MucSub elements (`node`, `subscribe`, `subscriptions`,
//! `wrapper`, `notice`), [`retract`] (XEP-0424/0425, which xmpp-parsers lacks), [`mam`]
//! (archive queries, results, `<fin/>`, metadata), [`mds`] (XEP-0490 read markers on PEP), [`push`] (XEP-0357 enable/disable and the
//! publish), [`time`] (XEP-0082 timestamps), and the stream layer of a fast reconnect: [`sm`]
//! (XEP-0198 stream management), [`sasl2`] (XEP-0388), [`bind2`] (XEP-0386) and [`fast`]
//! (XEP-0484 tokens, HT-SHA-256-NONE).

pub mod bind2;
mod error;
pub mod fast;
pub mod forms;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod jid_rules_tests;
pub mod mam;
pub mod mds;
mod node;
mod notice;
pub mod ns;
pub mod push;
pub mod retract;
pub mod sasl2;
pub mod sm;
pub mod stanza;
mod subscribe;
mod subscriptions;
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod test_support;
pub mod time;
mod wrapper;
#[doc(hidden)]
pub mod xml;

pub use error::ParseError;
pub use node::Node;
pub use notice::{SubscriptionChange, SubscriptionNotice};
pub use subscribe::{Subscribe, Unsubscribe};
pub use subscriptions::{Subscription, Subscriptions, SyncEnd};
pub use wrapper::MucSubEvent;

pub use xmpp_parsers::{
    data_forms, delay, disco, iq, jid, mam as xmpp_mam, message, message_correct,
    message_displayed, minidom, muc, occupant_id, presence, pubsub, reactions, rsm, stanza_error,
    stanza_id,
};
