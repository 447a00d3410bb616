//! Storage: one trait per durable component, each with an implementation on the embedded
//! SQLite engine (`sqlite/`, the default: one file in the data directory) and one on
//! PostgreSQL (`postgres/`, `[cluster] postgres`, for several nodes sharing state).
//!
//! | trait | what it keeps |
//! |---|---|
//! | [`AccountStore`] (`accounts.rs`) | accounts and their SCRAM credentials |
//! | [`OfflineStore`] (`offline.rs`) | XEP-0160 offline messages, bounded per account |
//! | [`MucStore`] (`muc.rs`, `archive.rs`) | rooms, configuration, affiliations, subscriptions, the archive and its MAM queries, quota counts |
//! | [`PushStore`] (`push.rs`) | XEP-0357 registrations and the VAPID key |
//! | [`FastStore`] (`fast.rs`) | XEP-0484 FAST tokens per account and device |
//! | [`PepStore`] (`pep.rs`) | XEP-0163 PEP items of accounts (XEP-0490 displayed markers, XEP-0402 bookmarks) |
//! | [`RoomOwnership`] (`ownership.rs`) | PostgreSQL only: node leases, which node owns which room, the epoch fence of room commits |
//! | [`SessionDirectory`] (`directory.rs`) | PostgreSQL only: which node holds each bound resource |
//!
//! [`open`] (`open.rs`) picks the engine from the configuration and returns a [`Storage`]
//! (`stores.rs`) with every store. A store method returns once its change is durable (SQLite
//! `synchronous=FULL`, PostgreSQL `synchronous_commit=on`), so callers may announce it.
//! Both engines pass one conformance suite (`conformance/`).

pub mod accounts;
pub mod archive;
#[cfg(any(test, feature = "testkit"))]
pub mod conformance;
pub mod directory;
pub mod fast;
pub mod muc;
pub mod offline;
mod open;
pub mod ownership;
pub mod pep;
pub mod postgres;
pub mod push;
pub mod sqlite;
mod stores;
mod types;

pub use accounts::{AccountStore, Credentials};
pub use archive::{Item, Page, UnknownId};
pub use directory::{Offline as DirectoryOffline, SessionDirectory};
pub use fast::{FastStore, FastToken, Slot, Use};
pub use muc::{
    AccountSubscription, ArchiveKey, ArchivedMsg, Committed, Duplicate, LoadedRoom, MucStore,
    StoreOp, StoredRoom, StoredSubscription,
};
pub use offline::{OfflineMessage, OfflineStore};
pub use open::open;
pub use ownership::{Claim, Fence, LostOwnership, Owner, Renewal, RoomOwnership};
pub use pep::{PepItem, PepStore};
pub use push::{PushStore, Registration};
pub use stores::{Engine, Storage};
pub use types::{BoxFuture, CommitObserver};
