//! A real third-party client: slixmpp's XEP-0045 plugin creates a room, joins, chats and
//! leaves against our server. Fails (never skips) when python3 or slixmpp is missing.

use std::path::Path;
use std::process::Command;

use mucsub_server::testkit::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slixmpp_creates_joins_chats_and_leaves() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/slixmpp_muc.py");
    let port = s.c2s_addr().port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(&script)
            .arg("127.0.0.1")
            .arg(&port)
            .output()
    })
    .await
    .expect("thread")
    .expect("python3 must be installed (the bootstrap installs it with slixmpp)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("OK"),
        "slixmpp scenario failed (is slixmpp installed? `pip install slixmpp`)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    s.stop().await;
}
