//! The PostgreSQL engine (`[cluster] postgres = "postgres://…"`): every store on one
//! PostgreSQL database, shared by every node of a cluster. [`Pg`] is the pool
//! (`pool.rs`: reconnection, `synchronous_commit=on`, schema versions under an advisory
//! lock); each component's tables and queries are in the file named for it.
//!
//! Why `tokio-postgres` + `deadpool-postgres` rather than `sqlx`: the archive's MAM
//! queries are built at run time (`storage::archive::ArchiveSql`), which sqlx's checked
//! macros cannot cover, and tokio-postgres pipelines the statements of a batch on one
//! connection (a room's batch costs one round trip, not one per write) with statements
//! prepared once per connection (`prepare_cached`).

mod accounts;
mod archive;
mod directory;
mod edits;
mod fast;
mod muc;
mod muc_apply;
mod offline;
mod ownership;
mod pep;
pub mod pool;
mod push;

use std::sync::Arc;

pub use pool::{redact, Pg};

use super::stores::{Engine, Storage};

/// Every component's migrations, in the order they must run (push registrations and FAST
/// tokens refer to accounts).
const COMPONENTS: &[(&str, &[&str])] = &[
    ("accounts", accounts::MIGRATIONS),
    ("offline", offline::MIGRATIONS),
    ("muc", muc::MIGRATIONS),
    ("push", push::MIGRATIONS),
    ("fast", fast::MIGRATIONS),
    ("pep", pep::MIGRATIONS),
    // Room ownership (its fence function reads nothing else; `muc_apply.rs` calls it).
    ("cluster", ownership::MIGRATIONS),
];

/// Connects to the database at `url`, brings every component's tables to this build's
/// version and returns the stores.
pub async fn open(url: &str, offline_max_per_account: u32) -> anyhow::Result<Storage> {
    let pg = Pg::connect(url).await?;
    for (component, migrations) in COMPONENTS {
        pg.migrate(component, migrations).await.map_err(|e| {
            anyhow::anyhow!(
                "migrating the {component} tables on PostgreSQL at {}: {e:#}",
                pg.target()
            )
        })?;
    }
    Ok(Storage {
        accounts: Arc::new(accounts::PgAccounts::new(pg.clone())),
        offline: Arc::new(offline::PgOffline::new(pg.clone(), offline_max_per_account)),
        muc: Arc::new(muc::PgMuc::new(pg.clone())),
        push: Arc::new(push::PgPush::new(pg.clone())),
        fast: Arc::new(fast::PgFast::new(pg.clone())),
        pep: Arc::new(pep::PgPep::new(pg.clone())),
        ownership: Some(Arc::new(ownership::PgOwnership::new(pg.clone()))),
        directory: Some(Arc::new(directory::PgDirectory::new(
            pg.clone(),
            offline_max_per_account,
        ))),
        engine: Engine::Postgres(pg),
    })
}
