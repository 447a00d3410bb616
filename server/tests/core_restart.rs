//! The real binary: accounts and offline messages survive `kill -9`; SIGTERM closes
//! streams properly; the `user` CLI manages accounts in the same data dir.

use mucsub_server::ns;
use mucsub_server::testkit::{ChildServer, Mech, RawClient};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_mucsub-server");

/// Runs the CLI with the config the child servers on `data_dir` use (the same storage).
async fn cli(args: &[&str], data_dir: &Path) -> (bool, String) {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(ChildServer::config_file(data_dir).await)
        .output()
        .await
        .expect("run CLI");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn offline_message_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(BIN);
    ChildServer::add_user(bin, dir.path(), "alice", "pw").await;
    ChildServer::add_user(bin, dir.path(), "bob", "pw").await;
    let server = ChildServer::spawn(bin, dir.path()).await;
    let mut a = RawClient::login_tcp(
        server.c2s_addr,
        "alice",
        "pw",
        Mech::ScramSha256,
        None,
        None,
    )
    .await
    .unwrap();
    a.send("<presence/>").await;
    a.send("<message to='bob@localhost' type='chat' id='k9'><body>durable</body></message>")
        .await;
    // Stanzas are handled in order: once the ping is answered the message is committed.
    let r = a
        .iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    server.kill9().await;

    let server = ChildServer::spawn(bin, dir.path()).await;
    let mut b = RawClient::login_tcp(server.c2s_addr, "bob", "pw", Mech::ScramSha1, None, None)
        .await
        .expect("bob's account survived");
    b.send("<presence/>").await;
    let m = b.expect_message().await;
    assert_eq!(m.attr("id"), Some("k9"));
    assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "durable");
    assert!(m.has_child("delay", ns::DELAY));
    assert!(server.terminate().await, "graceful exit on SIGTERM");
}

#[tokio::test]
async fn sigterm_closes_streams_properly() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(BIN);
    ChildServer::add_user(bin, dir.path(), "alice", "pw").await;
    let server = ChildServer::spawn(bin, dir.path()).await;
    let mut tcp = RawClient::login_tcp(
        server.c2s_addr,
        "alice",
        "pw",
        Mech::Plain,
        None,
        Some("tcp"),
    )
    .await
    .unwrap();
    let url = format!("ws://{}/ws", server.http_addr);
    let mut ws = RawClient::login_ws(&url, "alice", "pw", Mech::ScramSha256, Some("ws"))
        .await
        .unwrap();
    assert!(server.terminate().await, "graceful exit on SIGTERM");
    tcp.expect_stream_end().await;
    ws.expect_stream_end().await;
}

#[tokio::test]
async fn user_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        cli(&["user", "add", "Carol", "--password", "one"], d)
            .await
            .0
    );
    assert!(
        !cli(&["user", "add", "carol", "--password", "two"], d)
            .await
            .0,
        "duplicate"
    );
    assert!(
        !cli(&["user", "add", "bad name", "--password", "x"], d)
            .await
            .0
    );
    assert!(cli(&["user", "add", "dave", "--password", "d"], d).await.0);
    let (ok, list) = cli(&["user", "list"], d).await;
    assert!(ok);
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        vec!["carol@localhost", "dave@localhost"]
    );
    assert!(
        cli(
            &["user", "passwd", "carol", "--password", "correct-horse-42"],
            d
        )
        .await
        .0
    );
    assert!(cli(&["user", "remove", "dave"], d).await.0);
    assert!(!cli(&["user", "remove", "dave"], d).await.0);
    // The database holds no plaintext password (read on SQLite's files; PostgreSQL stores
    // the same `Credentials`).
    if !mucsub_server::testkit::postgres::storage_is_postgres() {
        let db = std::fs::read(d.join("mucsub.sqlite3")).unwrap();
        let wal = std::fs::read(d.join("mucsub.sqlite3-wal")).unwrap_or_default();
        for hay in [&db, &wal] {
            assert!(
                !hay.windows(16).any(|w| w == b"correct-horse-42"),
                "plaintext password on disk"
            );
        }
    }

    let server = ChildServer::spawn(Path::new(BIN), d).await;
    assert!(RawClient::login_tcp(
        server.c2s_addr,
        "carol",
        "correct-horse-42",
        Mech::ScramSha256,
        None,
        None
    )
    .await
    .is_ok());
    let mut c = RawClient::connect_tcp(server.c2s_addr).await;
    c.open().await;
    c.read_features().await;
    assert_eq!(
        c.authenticate("carol", "one", Mech::ScramSha256).await,
        Err("not-authorized".into())
    );
    assert_eq!(
        c.authenticate("dave", "d", Mech::Plain).await,
        Err("not-authorized".into())
    );
    assert!(server.terminate().await);
}
