//! The [`Db`] handle over an embedded SQLite database, and per-component schema versions.
//!
//! Every query runs on one dedicated thread that owns the connection ([`Db::call`]), so
//! async code never blocks on SQLite and writes are serialised without lock contention.
//! The database is in WAL mode with `synchronous=FULL`: a commit has reached the disk when
//! `call` returns, which is what "durable before the IQ result goes out" needs across
//! `kill -9` and power loss (NORMAL may lose the last commits on power loss).
//!
//! An fsync costs milliseconds, so writes that may share one go through [`Db::write`]: the
//! writer thread takes every such request waiting in its queue, runs each in its own
//! savepoint inside one transaction, commits once, and only then answers them all (group
//! commit). Nobody hears "done" before the commit that holds their change.

use crate::storage::types::CommitObserver;
use rusqlite::Connection;
use std::path::Path;

type GroupJob = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;

enum Job {
    /// Runs alone, managing its own transactions ([`Db::call`]).
    Plain(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Runs inside the group's transaction ([`Db::write`]); `None`: the group could not
    /// start, fail without running.
    Grouped(GroupJob),
    /// From now on, tell this how long each group commit took ([`Db::observe_commits`]).
    Observe(CommitObserver),
}

/// What a grouped job leaves behind: whether its changes stand, and how to answer its
/// caller once the group's commit is known (`Some(error)` when the commit failed).
struct Finish {
    ok: bool,
    answer: Box<dyn FnOnce(Option<String>) + Send>,
}

/// Most grouped writes committed together: bounds a group's latency and memory.
const MAX_GROUP: usize = 512;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Reader connections for [`Db::read`] (file databases only).
const READERS: usize = 2;

/// Handle to the database threads. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    tx: std::sync::mpsc::Sender<Job>,
    readers: Option<std::sync::mpsc::Sender<ReadJob>>,
}

impl Db {
    /// Opens (creating if needed) the database file and starts its threads.
    pub fn open(path: &Path) -> anyhow::Result<Db> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let conn = Connection::open(path)?;
        let mut db = Self::start(conn)?;
        // Readers open after the writer switched the file to WAL mode.
        let (rtx, rrx) = std::sync::mpsc::channel::<ReadJob>();
        let rrx = std::sync::Arc::new(std::sync::Mutex::new(rrx));
        for i in 0..READERS {
            let conn = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            let rrx = rrx.clone();
            std::thread::Builder::new()
                .name(format!("sqlite-read-{i}"))
                .spawn(move || loop {
                    let job = match rrx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn)))
                        .is_err()
                    {
                        tracing::error!("a database read job panicked");
                    }
                })?;
        }
        db.readers = Some(rtx);
        Ok(db)
    }

    /// An in-memory database (unit tests).
    pub fn open_in_memory() -> anyhow::Result<Db> {
        Self::start(Connection::open_in_memory()?)
    }

    fn start(conn: Connection) -> anyhow::Result<Db> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_versions(
                component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
        )?;
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || writer_loop(conn, rx))?;
        Ok(Db { tx, readers: None })
    }

    /// Runs `f` on the writer thread (reads and writes; the only place that writes) and
    /// returns its result. Commits made here are on disk when it returns.
    pub async fn call<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Plain(Box::new(move |conn| {
                let _ = tx.send(f(conn));
            })))
            .map_err(|_| anyhow::anyhow!("database thread has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("database thread dropped the query"))?
    }

    /// Runs `f` on the writer thread inside a transaction shared with the other writes
    /// waiting at the same time (group commit), and returns its result once that
    /// transaction is on disk. `f` must not open transactions of its own. When `f` fails
    /// its changes are rolled back (a savepoint) and the others' still commit; when the
    /// commit fails every member gets the error.
    pub async fn write<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Grouped(Box::new(move |conn| {
                let Some(conn) = conn else {
                    let _ = tx.send(Err(anyhow::anyhow!("database transaction failed")));
                    return Finish {
                        ok: false,
                        answer: Box::new(|_| {}),
                    };
                };
                let r = f(conn);
                Finish {
                    ok: r.is_ok(),
                    answer: Box::new(move |commit_error| {
                        let _ = tx.send(match commit_error {
                            None => r,
                            Some(e) => Err(anyhow::anyhow!("database commit failed: {e}")),
                        });
                    }),
                }
            })))
            .map_err(|_| anyhow::anyhow!("database thread has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("database thread dropped the query"))?
    }

    /// Runs a read-only `f` on one of the reader connections, so long queries (archive
    /// pages) do not wait behind writes. Sees every commit made by [`Db::call`] before it
    /// was issued. In-memory databases run it on the writer.
    pub async fn read<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let Some(readers) = &self.readers else {
            return self.call(move |c| f(c)).await;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        readers
            .send(Box::new(move |conn| {
                let _ = tx.send(f(conn));
            }))
            .map_err(|_| anyhow::anyhow!("database reader threads have stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("database reader dropped the query"))?
    }

    /// Calls `f` with the duration of every later group commit ([`Db::write`]), from
    /// `BEGIN` until the commit is on disk (the metrics' commit latency). One observer per
    /// database; a later call replaces it.
    pub fn observe_commits(&self, f: CommitObserver) {
        let _ = self.tx.send(Job::Observe(f));
    }

    /// Readiness: a reader answers, and the writer thread can take the write lock (a
    /// stuck disk, a full queue or another process holding the database all fail it).
    pub async fn check(&self) -> anyhow::Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await?;
        self.call(|c| Ok(c.execute_batch("BEGIN IMMEDIATE; ROLLBACK")?))
            .await
    }

    /// Brings `component`'s tables to the newest version (see [`migrate`]).
    pub async fn migrate(
        &self,
        component: &'static str,
        migrations: &'static [&'static str],
    ) -> anyhow::Result<()> {
        self.call(move |c| migrate(c, component, migrations)).await
    }
}

/// The writer thread: runs jobs in arrival order, grouping consecutive [`Job::Grouped`]
/// ones into one transaction. Ends when the last [`Db`] handle is dropped; the connection
/// then closes cleanly.
fn writer_loop(mut conn: Connection, rx: std::sync::mpsc::Receiver<Job>) {
    let mut next: Option<Job> = None;
    let mut observer: Option<CommitObserver> = None;
    loop {
        let job = match next.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        match job {
            Job::Plain(f) => {
                // A panicking query must not take the database away from everyone else;
                // its caller sees the dropped reply as an error.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut conn)));
                if r.is_err() {
                    tracing::error!("a database job panicked");
                }
            }
            Job::Grouped(first) => {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(Job::Grouped(g)) => group.push(g),
                        // Order is kept: a plain job waits until the group is committed.
                        Ok(plain) => {
                            next = Some(plain);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let started = std::time::Instant::now();
                if run_group(&mut conn, group) {
                    if let Some(f) = &observer {
                        f(started.elapsed());
                    }
                }
            }
            Job::Observe(f) => observer = Some(f),
        }
    }
}

/// Runs a group in one transaction; `true` when it committed.
fn run_group(conn: &mut Connection, group: Vec<GroupJob>) -> bool {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not begin a write transaction");
        for g in group {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g(None)));
        }
        return false;
    }
    let mut answers = Vec::with_capacity(group.len());
    let mut group = group.into_iter();
    let mut lost = false;
    for g in group.by_ref() {
        let sp = conn.execute_batch("SAVEPOINT grouped_write");
        let done = match &sp {
            Ok(()) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g(Some(conn)))),
            Err(e) => {
                tracing::error!(error = %e, "could not open a savepoint");
                Ok(g(None))
            }
        };
        let ok = matches!(&done, Ok(f) if f.ok);
        if sp.is_ok() {
            // A failed (or panicked) member leaves nothing behind; the others still commit.
            let end = if ok {
                "RELEASE grouped_write"
            } else {
                "ROLLBACK TO grouped_write; RELEASE grouped_write"
            };
            if let Err(e) = conn.execute_batch(end) {
                tracing::error!(error = %e, "could not close a savepoint");
            }
        }
        match done {
            Ok(f) => answers.push(f.answer),
            // Its reply channel is gone with it: the caller sees the dropped reply.
            Err(_) => tracing::error!("a database write panicked"),
        }
        // Some errors (disk full, I/O) make SQLite roll the whole transaction back.
        if conn.is_autocommit() {
            lost = true;
            break;
        }
    }
    for g in group {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g(None)));
    }
    let commit_error = if lost {
        tracing::error!("a write transaction was rolled back by the database");
        Some("the transaction was rolled back".to_owned())
    } else {
        match conn.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                let _ = conn.execute_batch("ROLLBACK");
                Some(e.to_string())
            }
        }
    };
    let committed = commit_error.is_none();
    for answer in answers {
        answer(commit_error.clone());
    }
    committed
}

/// Applies, in order and each in its own transaction, the migrations of `component` that
/// were not applied yet. `migrations[i]` brings the component from version `i` to `i + 1`;
/// never edit or reorder a released migration, append a new one.
pub fn migrate(conn: &mut Connection, component: &str, migrations: &[&str]) -> anyhow::Result<()> {
    let current: i64 = conn
        .query_row(
            "SELECT version FROM schema_versions WHERE component = ?1",
            [component],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(0),
            e => Err(e),
        })?;
    if current as usize > migrations.len() {
        anyhow::bail!(
            "database has {component} schema version {current}, newer than this build knows ({})",
            migrations.len()
        );
    }
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_versions(component, version) VALUES (?1, ?2)
             ON CONFLICT(component) DO UPDATE SET version = excluded.version",
            rusqlite::params![component, (i + 1) as i64],
        )?;
        tx.commit()?;
        tracing::info!(component, version = i + 1, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
#[path = "group_commit_tests.rs"]
mod group_commit_tests;
