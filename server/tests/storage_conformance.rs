//! The storage conformance suite (`mucsub_server::storage::conformance`) on both engines:
//! SQLite in memory and on a file, and PostgreSQL (a fresh database of a private server per
//! case, never the system cluster); then what is PostgreSQL's own: schema versions from an
//! empty database, several nodes migrating at once, a database newer than this build.

use mucsub_server::storage::{self, postgres, Storage};
use mucsub_server::testkit::postgres::{shared, PgDatabase};

mod sqlite_memory {
    mucsub_server::storage_suite!(tokio::test, |max| async move {
        mucsub_server::storage::sqlite::open_in_memory(max)
            .await
            .expect("in-memory SQLite")
    });
}

/// SQLite on a file: the reader connections and the group commit are in play.
mod sqlite_file {
    mucsub_server::storage_suite!(tokio::test, |max| async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = mucsub_server::storage::sqlite::open(&dir.path().join("t.sqlite3"), max)
            .await
            .expect("SQLite file");
        // Kept until the process ends: the store's threads outlive the case's scope.
        std::mem::forget(dir);
        s
    });
}

/// A fresh database per case; the guard lives as long as the process (dropped databases
/// go with the private server).
async fn pg_storage(max: u32) -> Storage {
    let db = shared().fresh_database().await;
    let s = postgres::open(&db.url, max)
        .await
        .expect("PostgreSQL storage");
    std::mem::forget(db);
    s
}

mod postgresql {
    mucsub_server::storage_suite!(tokio::test, super::pg_storage);
}

async fn query_i64(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

fn database() -> impl std::future::Future<Output = PgDatabase> {
    shared().fresh_database()
}

#[tokio::test]
async fn postgres_migrates_an_empty_database_and_reopens_without_migrating_again() {
    let db = database().await;
    let s = postgres::open(&db.url, 10).await.unwrap();
    for (component, version) in [
        ("accounts", 1),
        ("offline", 1),
        ("muc", 3),
        ("push", 1),
        ("fast", 1),
        ("pep", 1),
        ("cluster", 3),
    ] {
        let v = query_i64(
            &db.url,
            &format!("SELECT version FROM schema_versions WHERE component = '{component}'"),
        )
        .await;
        assert_eq!(v, version, "{component}");
    }
    s.offline.push("bob", "<a/>".into()).await.unwrap();
    drop(s);
    // Reopened: the data is there and nothing ran twice.
    let s = postgres::open(&db.url, 10).await.unwrap();
    assert_eq!(s.offline.count("bob").await.unwrap(), 1);
    assert_eq!(
        query_i64(&db.url, "SELECT COUNT(*) FROM schema_versions").await,
        7
    );
}

#[tokio::test]
async fn postgres_nodes_starting_together_migrate_once() {
    let db = database().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { postgres::open(&url, 10).await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await.unwrap().expect("every node opens");
    }
    assert_eq!(
        query_i64(&db.url, "SELECT COUNT(*) FROM schema_versions").await,
        7
    );
}

#[tokio::test]
async fn postgres_database_newer_than_this_build_is_refused() {
    let db = database().await;
    postgres::open(&db.url, 10).await.unwrap();
    query_i64(
        &db.url,
        "WITH u AS (UPDATE schema_versions SET version = 7 WHERE component = 'muc' RETURNING 1) SELECT COUNT(*) FROM u",
    )
    .await;
    let e = postgres::open(&db.url, 10).await.err().unwrap();
    let text = format!("{e:#}");
    assert!(text.contains("muc schema version 7"), "{text}");
}

#[tokio::test]
async fn unreachable_or_malformed_postgres_names_what_failed() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://mucsub:secret@127.0.0.1:{port}/chat");
    let e = format!("{:#}", postgres::open(&url, 10).await.err().unwrap());
    assert!(e.contains("cannot reach PostgreSQL"), "{e}");
    assert!(e.contains("[cluster] postgres"), "{e}");
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(
        !e.contains("secret"),
        "the password stays out of messages: {e}"
    );
    let e = format!(
        "{:#}",
        postgres::open("postgres://[::1", 10).await.err().unwrap()
    );
    assert!(e.contains("is not a PostgreSQL URL"), "{e}");
    // The same through the configuration, whichever engine it names.
    let mut config = mucsub_server::config::Config::default();
    config.cluster.postgres = Some(url);
    assert!(storage::open(&config).await.is_err());
}
