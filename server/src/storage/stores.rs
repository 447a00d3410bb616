//! [`Storage`]: every durable component's store on one engine.

use std::sync::Arc;

use super::{
    AccountStore, CommitObserver, FastStore, MucStore, OfflineStore, PepStore, PushStore,
    RoomOwnership, SessionDirectory,
};

/// Every durable component's store, all on one engine. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    pub accounts: Arc<dyn AccountStore>,
    pub offline: Arc<dyn OfflineStore>,
    pub muc: Arc<dyn MucStore>,
    pub push: Arc<dyn PushStore>,
    pub fast: Arc<dyn FastStore>,
    pub pep: Arc<dyn PepStore>,
    /// Room ownership among the nodes sharing the database (`ownership.rs`); `None` on
    /// SQLite, where the one node owns every room.
    pub ownership: Option<Arc<dyn RoomOwnership>>,
    /// Which node holds each bound resource (`directory.rs`); `None` on SQLite.
    pub directory: Option<Arc<dyn SessionDirectory>>,
    /// The engine underneath, for what is engine-specific by nature (a cluster's
    /// ownership tables live beside the stores on the same PostgreSQL).
    pub engine: Engine,
}

/// The engine the stores run on.
#[derive(Clone)]
pub enum Engine {
    Sqlite(super::sqlite::db::Db),
    Postgres(super::postgres::pool::Pg),
}

impl Engine {
    /// `"sqlite"` or `"postgres"`, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Calls `f` with the duration of every later write transaction, from its start until
    /// it is durable (the metrics' commit latency).
    pub fn observe_commits(&self, f: CommitObserver) {
        match self {
            Engine::Sqlite(db) => db.observe_commits(f),
            Engine::Postgres(pg) => pg.observe_commits(f),
        }
    }

    /// Whether the engine can take writes now (readiness, `/health`): SQLite answers a
    /// read and its writer takes the write lock; PostgreSQL answers on a connection of
    /// the pool.
    pub async fn check(&self) -> anyhow::Result<()> {
        match self {
            Engine::Sqlite(db) => db.check().await,
            Engine::Postgres(pg) => pg.check().await,
        }
    }
}

impl Storage {
    /// Replaces an account's credentials and then revokes every FAST token of it: a new
    /// password signs every device out (the CLI's `user passwd`, the HTTP API's
    /// `change_password`). `Ok(None)` when there is no such account, else how many tokens
    /// went.
    pub async fn change_credentials(
        &self,
        user: &str,
        creds: super::Credentials,
    ) -> anyhow::Result<Option<u64>> {
        if !self.accounts.set_credentials(user, creds).await? {
            return Ok(None);
        }
        Ok(Some(self.fast.revoke(user, None).await?))
    }
}
