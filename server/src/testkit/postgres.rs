//! PostgreSQL for tests: a private server (never the system cluster) through
//! `scripts/pg-private.sh`, and a fresh database per test server.
//!
//! - [`shared`]: the server this test process uses, started on first use and destroyed
//!   when the process ends (a detached watchdog waits for the process, then removes it);
//!   or, when `MUCSUB_TEST_PG_URL` names an admin URL, the server a suite script started
//!   (`tests/suites/server-postgres.sh`), so one server serves every test binary.
//! - [`PgServer::start_private`]: a server of the test's own, which the test may stop and
//!   start again (a database lost at run time).
//! - [`storage_is_postgres`]: `MUCSUB_TEST_STORAGE=postgres` puts every [`super::TestServer`]
//!   and [`super::ChildServer`] on a fresh PostgreSQL database instead of SQLite.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Whether the test servers run on PostgreSQL (`MUCSUB_TEST_STORAGE=postgres`).
pub fn storage_is_postgres() -> bool {
    std::env::var("MUCSUB_TEST_STORAGE").is_ok_and(|v| v == "postgres")
}

/// With `MUCSUB_TEST_STORAGE=postgres`, a fresh database of [`shared`], with `config`'s
/// `[cluster] postgres` pointing at it (keep the guard as long as the storage is used);
/// otherwise nothing, and `config` stays on SQLite.
pub async fn database_for(config: &mut crate::config::Config) -> Option<PgDatabase> {
    if !storage_is_postgres() {
        return None;
    }
    let db = shared().fresh_database().await;
    config.cluster.postgres = Some(db.url.clone());
    Some(db)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-private.sh")
}

/// Runs `pg-private.sh CMD DIR`; its stdout, or a panic with its stderr.
fn pg_private(cmd: &str, dir: &Path) -> String {
    let out = Command::new("bash")
        .arg(script())
        .arg(cmd)
        .arg(dir)
        .env("PG_PRIVATE_NOSYNC", "1")
        .output()
        .unwrap_or_else(|e| panic!("running pg-private.sh {cmd}: {e}"));
    assert!(
        out.status.success(),
        "pg-private.sh {cmd} {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A PostgreSQL server for tests.
pub struct PgServer {
    admin_url: String,
    /// Our own server's directory (`None`: the suite's server, not ours to stop).
    dir: Option<PathBuf>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl PgServer {
    /// Starts a server of its own (initdb, a free port): ~2 s. Removed when dropped, or
    /// when the process ends.
    pub fn start_private() -> PgServer {
        let dir = std::env::temp_dir().join(format!(
            "mucsub-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let admin_url = pg_private("start", &dir);
        // Removes it even if this process dies without dropping it.
        let watchdog = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; exec bash '{}' destroy '{}'",
            std::process::id(),
            script().display(),
            dir.display()
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &watchdog])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        PgServer {
            admin_url,
            dir: Some(dir),
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Stops the server (fast shutdown: connections are cut); its data stays.
    pub fn stop(&self) {
        pg_private(
            "stop",
            self.dir.as_ref().expect("only our own server stops"),
        );
    }

    /// Starts it again, on the same port.
    pub fn start(&self) {
        pg_private(
            "start",
            self.dir.as_ref().expect("only our own server starts"),
        );
    }

    /// A new, empty database on this server, dropped with the returned guard.
    pub async fn fresh_database(&self) -> PgDatabase {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let (client, conn) = tokio_postgres::connect(&self.admin_url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("connecting to the test PostgreSQL {}: {e}", self.admin_url)
            });
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name} STRATEGY FILE_COPY"))
            .await
            .expect("create test database");
        drop(client);
        let _ = task.await;
        let url = match self.admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("admin URL without a database: {}", self.admin_url),
        };
        PgDatabase {
            url,
            name,
            admin_url: self.admin_url.clone(),
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new("bash")
                .arg(script())
                .arg("destroy")
                .arg(dir)
                .output();
        }
    }
}

/// The PostgreSQL server of this test process: the suite's (`MUCSUB_TEST_PG_URL`) or one
/// started on first use.
pub fn shared() -> &'static PgServer {
    static SHARED: OnceLock<PgServer> = OnceLock::new();
    SHARED.get_or_init(|| match std::env::var("MUCSUB_TEST_PG_URL") {
        Ok(admin_url) if !admin_url.is_empty() => PgServer {
            admin_url,
            dir: None,
        },
        _ => PgServer::start_private(),
    })
}

/// A test database; dropped (connections cut) when this guard is.
pub struct PgDatabase {
    /// `postgres://postgres@127.0.0.1:PORT/NAME`, for `[cluster] postgres`.
    pub url: String,
    name: String,
    admin_url: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // A runtime of its own: drops happen inside and outside async tests alike.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}
