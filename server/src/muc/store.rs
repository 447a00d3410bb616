//! The MUC service's durable vocabulary, as the room logic uses it: a room turns a stanza
//! into [`StoreOp`]s, its task commits them through [`crate::storage::MucStore`] (SQLite
//! or PostgreSQL, `storage/`) before any reply or broadcast leaves (docs/protocol.md S16).

pub use crate::storage::muc::{
    AccountSubscription, ArchivedMsg, StoreOp, StoredRoom, StoredSubscription,
};
