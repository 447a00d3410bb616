//! [`open`]: the [`Storage`] of the configured engine: PostgreSQL when `[cluster] postgres` is set,
//! otherwise the embedded SQLite file in the data directory.

use super::stores::Storage;
use super::{postgres, sqlite};
use crate::config::Config;

/// Opens the configured engine, brings every component's tables to this build's version
/// and returns the stores. Fails with a message naming what failed (the file, or the
/// database server and the config key) when storage cannot be reached.
pub async fn open(config: &Config) -> anyhow::Result<Storage> {
    let offline_max = config.limits.offline_max_per_account;
    match &config.cluster.postgres {
        Some(url) => postgres::open(url, offline_max).await,
        None => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                anyhow::anyhow!(
                    "creating the data directory {}: {e}",
                    config.data_dir.display()
                )
            })?;
            sqlite::open(&config.db_path(), offline_max).await
        }
    }
}
