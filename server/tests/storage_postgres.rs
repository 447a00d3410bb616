//! The server on PostgreSQL storage where PostgreSQL itself is what is tested: the real
//! binary refuses to start, naming what failed, when the database is down or the URL is
//! bad; and a database lost at run time gives `wait` errors, loses nothing acknowledged
//! and serves again once it is back. Each test has a private PostgreSQL server of its own
//! (it stops it), never the system cluster.

#[path = "scenarios/support.rs"]
mod support;

use std::time::Duration;

use mucsub_server::testkit::postgres::PgServer;
use mucsub_server::testkit::{http_get, Mech, RawClient, TestServer};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mucsub-server");

/// Runs `mucsub-server run` with `[cluster] postgres = url`; its exit status and stderr.
async fn run_binary(url: &str) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = '{}'\n[listeners]\nc2s = '127.0.0.1:0'\nhttp = '127.0.0.1:0'\n[cluster]\npostgres = '{url}'\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(BIN)
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the server gives up instead of waiting forever")
    .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_binary_refuses_to_start_without_its_database_and_says_why() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, err) =
        run_binary(&format!("postgres://mucsub:hunter2@127.0.0.1:{port}/chat")).await;
    assert!(!status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "cannot reach PostgreSQL at postgres://mucsub:***@127.0.0.1:{port}/chat ([cluster] postgres)"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let (status, err) = run_binary("postgres://[::1").await;
    assert!(!status.success());
    assert!(err.contains("is not a PostgreSQL URL"), "{err}");

    // A server that is up, but no such database.
    let pg = PgServer::start_private();
    let missing = pg.admin_url().replace("/postgres", "/no_such_db");
    let (status, err) = run_binary(&missing).await;
    assert!(!status.success());
    assert!(err.contains("no_such_db"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
}

/// Posts and waits for the echo, or for the error the room answers instead.
async fn post_outcome(
    c: &mut RawClient,
    room_jid: &str,
    body: &str,
) -> Result<String, (String, String)> {
    post(c, room_jid, body).await;
    let el = c
        .expect("echo or error", |e| {
            e.name() == "message"
                && (e.attr("type") == Some("error")
                    || e.get_child("body", CLIENT)
                        .is_some_and(|b| b.text() == body))
        })
        .await;
    match error_of(&el) {
        Some(e) => Err(e),
        None => Ok(stanza_id(&el).expect("stanza-id")),
    }
}

async fn mam_bodies(c: &mut RawClient, room_jid: &str) -> Result<Vec<String>, (String, String)> {
    let id = c.next_id();
    let (reply, results) = iq_collect(
        c,
        &format!("<iq type='set' id='{id}' to='{room_jid}'><query xmlns='{MAM}'/></iq>"),
    )
    .await;
    if let Some(e) = error_of(&reply) {
        return Err(e);
    }
    Ok(results
        .iter()
        .filter_map(|m| {
            let fwd = m
                .get_child("result", MAM)?
                .get_child("forwarded", "urn:xmpp:forward:0")?;
            Some(
                fwd.get_child("message", CLIENT)?
                    .get_child("body", CLIENT)?
                    .text(),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_database_gives_wait_errors_and_loses_nothing_acknowledged() {
    let pg = PgServer::start_private();
    let db = pg.fresh_database().await;
    let url = db.url.clone();
    let s = TestServer::start_with(|c| c.cluster.postgres = Some(url)).await;
    for u in ["alice", "bob"] {
        s.add_user(u, "pw").await;
    }
    let r = room("outage");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    {
        let mut b = login(&s, "bob", "b").await;
        subscribe(&mut b, &r, "bob").await;
        go_offline(&s, b, "bob@localhost").await;
    }
    let before = post_outcome(&mut a, &r, "before").await.expect("echo");
    assert_eq!(http_get(s.http_addr(), "/health", &[]).await.status, 200);

    pg.stop();
    let health = http_get(s.http_addr(), "/health", &[]).await;
    assert_eq!(health.status, 503, "{}", health.body);
    // Every stanza that needs the database is refused for now, with a `wait` error.
    let refused = post_outcome(&mut a, &r, "during")
        .await
        .expect_err("no echo");
    assert_eq!(
        refused,
        ("wait".to_string(), "internal-server-error".to_string())
    );
    let e = mam_bodies(&mut a, &r).await.expect_err("no archive");
    assert_eq!(e.0, "wait");
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    c.read_features().await;
    assert_eq!(
        c.authenticate("bob", "pw", Mech::Plain).await,
        Err("temporary-auth-failure".into())
    );

    pg.start();
    // Service comes back by itself: the pool replaces the connections the restart closed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        match post_outcome(&mut a, &r, "after").await {
            Ok(id) => break id,
            Err(e) => {
                assert_eq!(e.0, "wait", "{e:?}");
                assert!(tokio::time::Instant::now() < deadline, "never came back");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(after.parse::<i64>().unwrap() > before.parse::<i64>().unwrap());
    assert_eq!(http_get(s.http_addr(), "/health", &[]).await.status, 200);
    // What was acknowledged is there, what was refused is not.
    assert_eq!(mam_bodies(&mut a, &r).await.unwrap(), ["before", "after"]);
    let mut b = s.login_bound("bob", "pw", Some("b2")).await;
    b.send("<presence/>").await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let el = b.recv().await;
        if let Some((node, _, inner)) = unwrap_event(&el) {
            if node.ends_with("messages") {
                got.push(inner.get_child("body", CLIENT).unwrap().text());
            }
        }
    }
    assert_eq!(got, ["before", "after"]);
    expect_no_event(&mut b).await;
    assert_eq!(mucsub_server::testkit::panics(), 0);
    s.stop().await;
}
