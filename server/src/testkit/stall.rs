//! [`ArchiveWritesHeld`]: a database that is slow to commit, for tests of what the server
//! does meanwhile (full room queues, departures that must still arrive).

use crate::storage::Engine;
use crate::ServerContext;
use std::time::Duration;

/// Archive writes held back until [`ArchiveWritesHeld::release`]: on SQLite the single
/// writer thread is kept busy (every write waits), on PostgreSQL the archive table is
/// locked against writes (every room commit that archives waits).
pub struct ArchiveWritesHeld {
    release: std::sync::mpsc::Sender<()>,
    holder: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The database, on PostgreSQL, to see a write waiting ([`ArchiveWritesHeld::waited_on`]).
    pg: Option<crate::storage::postgres::pool::Pg>,
}

impl ArchiveWritesHeld {
    /// Holds the writes; returns once they are held.
    pub async fn start(ctx: &ServerContext) -> ArchiveWritesHeld {
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        let pg = match &ctx.storage.engine {
            Engine::Postgres(pg) => Some(pg.clone()),
            Engine::Sqlite(_) => None,
        };
        let holder = match ctx.storage.engine.clone() {
            Engine::Sqlite(db) => tokio::spawn(async move {
                db.call(move |_| {
                    let _ = held_tx.send(());
                    let _ = release_rx.recv_timeout(Duration::from_secs(60));
                    Ok(())
                })
                .await
            }),
            Engine::Postgres(pg) => tokio::spawn(async move {
                let client = pg.client().await?;
                // The pool's connections end a transaction left idle for 5 s
                // (`idle_in_transaction_session_timeout`, storage/postgres/pool.rs), which
                // would let the writes go early on a slow machine: not this one.
                client
                    .batch_execute(
                        "BEGIN; SET LOCAL idle_in_transaction_session_timeout = 0;
                         LOCK TABLE muc_archive IN EXCLUSIVE MODE",
                    )
                    .await?;
                let _ = held_tx.send(());
                let _ = tokio::task::spawn_blocking(move || {
                    release_rx.recv_timeout(Duration::from_secs(60))
                })
                .await;
                client.batch_execute("ROLLBACK").await?;
                Ok(())
            }),
        };
        held_rx.await.expect("writes held");
        ArchiveWritesHeld {
            release,
            holder,
            pg,
        }
    }

    /// Returns once a write waits on the hold: on PostgreSQL, once a backend waits for the
    /// archive table's lock (the room that made it is inside its commit, past taking
    /// stanzas from its queue). On SQLite at once: the writer thread's queue is not visible.
    pub async fn waited_on(&self) {
        let Some(pg) = &self.pg else {
            return;
        };
        // Like the rest of the testkit, a clear failure after TIMEOUT rather than a hang.
        tokio::time::timeout(super::TIMEOUT, async {
            loop {
                if let Ok(c) = pg.client().await {
                    let waiting = c
                        .query(
                            "SELECT 1 FROM pg_locks
                             WHERE relation = 'muc_archive'::regclass AND NOT granted",
                            &[],
                        )
                        .await;
                    if waiting.is_ok_and(|rows| !rows.is_empty()) {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("no archive write waited on the hold");
    }

    /// Lets the writes go; returns once the hold has ended.
    pub async fn release(self) {
        let _ = self.release.send(());
        self.holder.await.expect("holder").expect("hold");
    }
}
