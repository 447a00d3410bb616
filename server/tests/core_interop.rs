//! A real third-party client (slixmpp, from PyPI) logs in with STARTTLS and SCRAM and
//! exchanges messages with an account driven by the test kit. This test fails, never
//! skips, when python3 or slixmpp is missing.

use mucsub_server::ns;
use mucsub_server::testkit::TestServer;
use std::path::PathBuf;

#[tokio::test]
async fn slixmpp_logs_in_and_chats() {
    let s = TestServer::start().await;
    s.add_user("slix", "slixpw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.login("bob", "pw").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/slixmpp_chat.py");
    let ca = s.data_dir().join("dev-cert.pem");
    let child = tokio::process::Command::new("python3")
        .arg(&script)
        .arg("127.0.0.1")
        .arg(s.c2s_addr().port().to_string())
        .arg("slix@localhost/interop")
        .arg("slixpw")
        .arg("bob@localhost")
        .arg(&ca)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 must be installed to run the slixmpp interop test");
    let m = bob.expect_message().await;
    assert_eq!(m.attr("from"), Some("slix@localhost/interop"));
    assert_eq!(
        m.get_child("body", ns::CLIENT).map(|b| b.text()).as_deref(),
        Some("hello from slixmpp")
    );
    bob.send(
        "<message to='slix@localhost/interop' type='chat'><body>hello slixmpp</body></message>",
    )
    .await;
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("slixmpp script finished")
        .expect("slixmpp script ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "slixmpp script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("reply=hello slixmpp"), "{stdout}");
    assert!(stdout.contains("mechanism=SCRAM-"), "{stdout}");
}
