//! The embedded engine: every store on one SQLite file in the data directory (the
//! default, and exactly what a single node needs). [`Db`] is the handle (one writer
//! thread with group commit, two readers, WAL with `synchronous=FULL`: see `db.rs`);
//! each component's tables are versioned in `schema_versions` ([`migrate`]).
//!
//! This is the only place in the server that names `rusqlite`.

mod accounts;
mod archive;
pub mod db;
mod edits;
mod fast;
mod muc;
mod offline;
mod pep;
mod push;

use std::path::Path;
use std::sync::Arc;

pub use db::{migrate, Db};

use super::stores::{Engine, Storage};

/// Every component's migrations, in the order they must run (push registrations and FAST
/// tokens refer to accounts; the `limits` index to the MUC tables).
const COMPONENTS: &[(&str, &[&str])] = &[
    ("accounts", accounts::MIGRATIONS),
    ("offline", offline::MIGRATIONS),
    ("muc", muc::MIGRATIONS),
    ("limits", muc::LIMITS_MIGRATIONS),
    ("push", push::MIGRATIONS),
    ("fast", fast::MIGRATIONS),
    ("pep", pep::MIGRATIONS),
];

/// Opens (creating if needed) the database file at `path`, brings every component's
/// tables to this build's version and returns the stores.
pub async fn open(path: &Path, offline_max_per_account: u32) -> anyhow::Result<Storage> {
    let db = Db::open(path)
        .map_err(|e| anyhow::anyhow!("opening the database {}: {e}", path.display()))?;
    stores(db, offline_max_per_account).await
}

/// Every store on a fresh in-memory database (unit tests).
pub async fn open_in_memory(offline_max_per_account: u32) -> anyhow::Result<Storage> {
    stores(Db::open_in_memory()?, offline_max_per_account).await
}

#[cfg(test)]
pub(crate) async fn open_in_memory_db(offline_max: u32) -> anyhow::Result<(Db, Storage)> {
    let db = Db::open_in_memory()?;
    Ok((db.clone(), stores(db, offline_max).await?))
}

async fn stores(db: Db, offline_max_per_account: u32) -> anyhow::Result<Storage> {
    for (component, migrations) in COMPONENTS {
        db.migrate(component, migrations).await?;
    }
    Ok(Storage {
        accounts: Arc::new(accounts::SqliteAccounts::new(db.clone())),
        offline: Arc::new(offline::SqliteOffline::new(
            db.clone(),
            offline_max_per_account,
        )),
        muc: Arc::new(muc::SqliteMuc::new(db.clone())),
        push: Arc::new(push::SqlitePush::new(db.clone())),
        fast: Arc::new(fast::SqliteFast::new(db.clone())),
        pep: Arc::new(pep::SqlitePep::new(db.clone())),
        // One node, owning every room it loads.
        ownership: None,
        directory: None,
        engine: Engine::Sqlite(db),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_see_committed_writes_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(&dir.path().join("t.sqlite3"), 10).await.unwrap();
        let Engine::Sqlite(db) = &s.engine else {
            unreachable!()
        };
        assert!(s.offline.push("bob", "<a/>".into()).await.unwrap());
        let n: i64 = db
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM offline", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert!(db
            .read(|c| Ok(c.execute("DELETE FROM offline", [])?))
            .await
            .is_err());
    }

    /// A database whose archive was written under an older `muc` schema version: opened,
    /// it is migrated with its rows (the counters from version 2 count them), and takes
    /// deduplicated messages afterwards (version 3).
    async fn migrated_from_muc_version(old: usize) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let db = Db::open(&path).unwrap();
            for (component, migrations) in COMPONENTS {
                let n = if *component == "muc" {
                    old
                } else {
                    migrations.len()
                };
                let migrations: &'static [&'static str] = &migrations[..n];
                db.migrate(component, migrations).await.unwrap();
            }
            db.call(|c| {
                for i in 1..=3 {
                    c.execute(
                        "INSERT INTO muc_archive(id, room, stamp_us, nick, sender, stanza)
                         VALUES (?1, 'r', ?1, 'n', 'a@localhost', '<message/>')",
                        [i],
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
        }
        let s = open(&path, 10).await.unwrap();
        let Engine::Sqlite(db) = &s.engine else {
            unreachable!()
        };
        let version: i64 = db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT version FROM schema_versions WHERE component = 'muc'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(version, muc::MIGRATIONS.len() as i64);
        let all = crate::muc::mam::query::ArchiveQuery {
            max: 10,
            ..Default::default()
        };
        let page = s.muc.archive_page("r", &all).await.unwrap().unwrap();
        assert_eq!(page.count, Some(3));
        assert_eq!(
            s.muc.archive_bounds("r").await.unwrap().end.unwrap().id,
            "3"
        );
        crate::storage::conformance::muc::dedup_by_origin_id_on(&*s.muc, 100).await;
    }

    #[tokio::test]
    async fn a_database_at_muc_version_1_is_migrated_with_its_archive() {
        migrated_from_muc_version(1).await;
    }

    #[tokio::test]
    async fn a_database_at_the_previous_muc_version_is_migrated_with_its_archive() {
        migrated_from_muc_version(muc::MIGRATIONS.len() - 1).await;
    }

    #[tokio::test]
    async fn a_database_newer_than_this_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite3");
        {
            let db = Db::open(&path).unwrap();
            db.call(|c| {
                c.execute(
                    "INSERT INTO schema_versions(component, version) VALUES ('muc', 99)",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        }
        let e = open(&path, 10).await.err().unwrap().to_string();
        assert!(e.contains("muc schema version 99"), "{e}");
    }
}
