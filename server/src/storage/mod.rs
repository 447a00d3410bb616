//! Storage: the [`Db`] handle over an embedded SQLite database (one writer thread, group
//! commit, WAL with `synchronous=FULL`: see `db.rs`), per-component schema versions
//! ([`migrate`]), and the storage traits next to their SQLite implementations
//! (`accounts.rs`, `offline.rs`).

pub mod accounts;
mod db;
mod offline;

pub use accounts::{AccountStore, Credentials, SqliteAccounts};
pub use db::{migrate, BoxFuture, Db};
pub use offline::{OfflineMessage, OfflineStore, SqliteOffline};
