//! [`Pg`]: the connection pool to the PostgreSQL server (`[cluster] postgres`), and
//! per-component schema versions.
//!
//! Connections come from a `deadpool-postgres` pool. A connection the server closed (the
//! database restarted, or went away) is noticed when it is taken from the pool and
//! replaced, so service comes back by itself when the database does; meanwhile every
//! query fails fast with an error the callers turn into `wait`-type stanza errors.
//! Every connection runs with `synchronous_commit=on`, whatever the server's default:
//! a commit has reached the database's disk when it returns, as with SQLite's
//! `synchronous=FULL`.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::storage::types::CommitObserver;

/// Connections per node. Enough for a room task per core and the readers besides; three
/// nodes stay far below PostgreSQL's default `max_connections` (100).
const POOL_SIZE: usize = 16;
/// How long a new connection may take (a database that is down fails at once anyway).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a free connection before its request fails.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Key of the transaction-level advisory lock that serialises schema migrations, so
/// several nodes starting at once migrate one after the other.
const MIGRATION_LOCK: i64 = 0x6d75_6373_7562_0001;

/// Handle to the PostgreSQL pool. Cheap to clone.
#[derive(Clone)]
pub struct Pg {
    pool: Pool,
    /// The URL without its password, for messages.
    target: std::sync::Arc<str>,
    /// Told how long each write transaction took ([`Pg::observe_commits`]).
    observer: std::sync::Arc<std::sync::Mutex<Option<CommitObserver>>>,
}

/// `url` with any password replaced by `***` (URL or `key=value` form).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url
            .split_whitespace()
            .map(|kv| match kv.split_once('=') {
                Some(("password", _)) => "password=***".to_owned(),
                _ => kv.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (a, h),
        None => return url.to_owned(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl Pg {
    /// Builds the pool for `url` and opens a first connection, so a bad URL or a database
    /// that is down fails the start with a message naming it.
    pub async fn connect(url: &str) -> anyhow::Result<Pg> {
        let target: std::sync::Arc<str> = redact(url).into();
        let mut cfg: tokio_postgres::Config = url.parse().map_err(|e| {
            anyhow::anyhow!("[cluster] postgres = {target:?} is not a PostgreSQL URL: {e}")
        })?;
        // A transaction left open by a process that stopped mid-way (SIGSTOP, a stalled
        // host) would hold its row locks, and so block another node's claim of its rooms,
        // for as long as it stays stopped: the database ends such a session instead.
        cfg.options("-c synchronous_commit=on -c idle_in_transaction_session_timeout=5000")
            .application_name("mucsub-server")
            .connect_timeout(CONNECT_TIMEOUT);
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                // A closed connection is replaced when taken; an open one is trusted.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| anyhow::anyhow!("PostgreSQL pool for {target}: {e}"))?;
        let pg = Pg {
            pool,
            target,
            observer: Default::default(),
        };
        let first = pg.client().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach PostgreSQL at {} ([cluster] postgres): {e:#}",
                pg.target
            )
        })?;
        drop(first);
        Ok(pg)
    }

    /// A connection from the pool.
    pub async fn client(&self) -> anyhow::Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => anyhow::Error::new(e),
            e => anyhow::anyhow!("{e}"),
        })
    }

    /// Calls `f` with the duration of every later write transaction of the stores (a
    /// room batch, an offline message), from `BEGIN` until the commit returned.
    pub fn observe_commits(&self, f: CommitObserver) {
        *self.observer.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// Reports a write transaction that committed after `took`.
    pub(crate) fn committed(&self, took: Duration) {
        if let Some(f) = &*self.observer.lock().unwrap_or_else(|e| e.into_inner()) {
            f(took);
        }
    }

    /// Readiness: a connection of the pool answers.
    pub async fn check(&self) -> anyhow::Result<()> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Where the pool connects (password redacted).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Applies the migrations of `component` that were not applied yet, all in one
    /// transaction under an advisory lock (DDL is transactional in PostgreSQL, and nodes
    /// starting together migrate one at a time). `migrations[i]` brings the component
    /// from version `i` to `i + 1`; append only.
    pub async fn migrate(&self, component: &str, migrations: &[&str]) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_versions(
                component TEXT PRIMARY KEY, version BIGINT NOT NULL)",
        )
        .await?;
        let current: i64 = tx
            .query_opt(
                "SELECT version FROM schema_versions WHERE component = $1",
                &[&component],
            )
            .await?
            .map(|r| r.get(0))
            .unwrap_or(0);
        if current as usize > migrations.len() {
            anyhow::bail!(
                "database has {component} schema version {current}, newer than this build knows ({})",
                migrations.len()
            );
        }
        for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
            tx.batch_execute(sql)
                .await
                .map_err(|e| anyhow::anyhow!("{component} schema migration {}: {e:#}", i + 1))?;
            tracing::info!(component, version = i + 1, "applied schema migration");
        }
        if (current as usize) < migrations.len() {
            tx.execute(
                "INSERT INTO schema_versions(component, version) VALUES ($1, $2)
                 ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                &[&component, &(migrations.len() as i64)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://mucsub:s3cret@db.example:5432/chat"),
            "postgres://mucsub:***@db.example:5432/chat"
        );
        assert_eq!(
            redact("postgres://mucsub@127.0.0.1/chat"),
            "postgres://mucsub@127.0.0.1/chat"
        );
        assert_eq!(
            redact("host=/tmp user=x password=y"),
            "host=/tmp user=x password=***"
        );
    }
}
