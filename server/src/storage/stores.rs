//! [`Storage`]: every durable component's store on one engine.

use std::sync::Arc;

use super::{AccountStore, MucStore, OfflineStore, PushStore};

/// Every durable component's store, all on one engine. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    pub accounts: Arc<dyn AccountStore>,
    pub offline: Arc<dyn OfflineStore>,
    pub muc: Arc<dyn MucStore>,
    pub push: Arc<dyn PushStore>,
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
}
