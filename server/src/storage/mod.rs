//! Storage: the [`Db`] handle over an embedded SQLite database (one writer thread, group
//! commit, WAL with `synchronous=FULL`: see `db.rs`), per-component schema versions
//! ([`migrate`]), and the storage traits next to their SQLite implementations
//! (`accounts.rs`, `offline.rs`, `fast.rs`).

pub mod accounts;
mod db;
mod fast;
mod offline;

pub use accounts::{AccountStore, Credentials, SqliteAccounts};
pub use db::{migrate, BoxFuture, Db};
pub use fast::{FastStore, FastToken, Slot, SqliteFast, Use};
pub use offline::{OfflineMessage, OfflineStore, SqliteOffline};
