//! The real binary as an operator starts it: host names in listener addresses, startup
//! errors that name the listener or the config file and key, logs without ANSI colours
//! when stderr is not a terminal, `--log-format json`, and `token mint` whose token signs
//! in.

use mucsub_server::testkit::{ChildServer, Mech, RawClient, TIMEOUT};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_mucsub-server");

/// Runs the binary to its end (it must end by itself); returns (success, stdout, stderr).
async fn run_to_end(args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(BIN)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the binary ended in time")
    .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(dir: &Path, text: &str) -> String {
    let p = dir.join("mucsub.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn a_taken_port_names_the_listener_and_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for (listener, other) in [("c2s", "http"), ("http", "c2s")] {
        let cfg = write_config(
            dir.path(),
            &format!(
                "data_dir = '{}'\n[listeners]\n{listener} = '127.0.0.1:{port}'\n{other} = '127.0.0.1:0'\n",
                dir.path().display()
            ),
        );
        let (ok, _, err) = run_to_end(&["run", "--config", &cfg]).await;
        assert!(!ok, "the server must not start");
        assert!(
            err.contains(&format!(
                "listener {listener} (127.0.0.1:{port}): cannot bind:"
            )) && err.contains("in use"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_bad_config_file_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "domain = 'localhost'\n\n[limits]\nmax_stanza = 'big'\n",
    );
    let (ok, _, err) = run_to_end(&["run", "--config", &cfg]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!("config file {cfg}: key `limits.max_stanza`")),
        "{err}"
    );
    assert!(err.contains("line 4"), "{err}");

    // A module's table is checked at startup too, and named.
    let cfg = write_config(
        dir.path(),
        &format!("data_dir = '{}'\n[listeners]\nc2s = '127.0.0.1:0'\nhttp = '127.0.0.1:0'\n[push]\nurgency = 'asap'\n", dir.path().display()),
    );
    let (ok, _, err) = run_to_end(&["run", "--config", &cfg]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!("config file {cfg}: [push] urgency")),
        "{err}"
    );

    // A token key that cannot be read.
    let cfg = write_config(
        dir.path(),
        "[auth]\nmethods = ['jwt']\n[auth.jwt]\nalgorithm = 'ES256'\nkey_file = '/nonexistent/app.pem'\n",
    );
    let (ok, _, err) = run_to_end(&["run", "--config", &cfg]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "config file {cfg}: [auth.jwt] key_file: cannot read /nonexistent/app.pem"
        )),
        "{err}"
    );
}

/// The server's log up to its last complete line, once a complete line holds `until` (its
/// stderr goes to `server.log` in the data dir). The server writes the log while the test
/// reads it: a read can end inside a line, and a loaded machine can take seconds to reach
/// the line, so this reads again until the line is whole, within the testkit's TIMEOUT.
async fn log_of(srv: &ChildServer, until: &str) -> String {
    let path = srv.data_dir.join("server.log");
    let complete = || {
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
        text
    };
    let found = tokio::time::timeout(TIMEOUT, async {
        loop {
            let text = complete();
            if text.contains(until) {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {until:?} in the log: {}", complete()))
}

#[tokio::test]
async fn host_names_listen_plain_logs_go_to_files_and_a_minted_token_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "data_dir = '{}'\n[listeners]\nc2s = 'localhost:0'\nhttp = 'localhost:0'\n\
         [auth]\nmethods = ['password', 'jwt']\n[auth.jwt]\nsecret = 'a secret shared with the app, 32+ bytes'\n\
         provision = true\n",
        dir.path().display()
    );
    let srv = ChildServer::spawn_with(Path::new(BIN), dir.path(), &config, &[]).await;
    assert!(srv.c2s_addr.ip().is_loopback(), "{}", srv.c2s_addr);
    let log = log_of(&srv, "mucsub-server started").await;
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file: {log:?}"
    );

    let cfg = dir.path().join("test-config.toml").display().to_string();
    let (ok, token, err) =
        run_to_end(&["token", "mint", "dora", "--config", &cfg, "--ttl", "300"]).await;
    assert!(ok, "{err}");
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "{token}");
    // The account does not exist yet: provisioning creates it at the first sign-in.
    let c = RawClient::login_tcp(srv.c2s_addr, "dora", token, Mech::Plain, None, None)
        .await
        .expect("the minted token signs in");
    assert!(c.jid.starts_with("dora@localhost/"));
    let (ok, expired, _) =
        run_to_end(&["token", "mint", "dora", "--config", &cfg, "--ttl", "-60"]).await;
    assert!(ok);
    let e = RawClient::login_tcp(
        srv.c2s_addr,
        "dora",
        expired.trim(),
        Mech::Plain,
        None,
        None,
    )
    .await
    .err();
    assert_eq!(e.as_deref(), Some("not-authorized"));
    assert!(srv.terminate().await);
}

#[tokio::test]
async fn log_format_json_writes_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "data_dir = '{}'\n[listeners]\nc2s = '127.0.0.1:0'\nhttp = '127.0.0.1:0'\n",
        dir.path().display()
    );
    let srv = ChildServer::spawn_with(
        Path::new(BIN),
        dir.path(),
        &config,
        &["--log-format", "json"],
    )
    .await;
    let log = log_of(&srv, "mucsub-server started").await;
    let mut started = false;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        if v["fields"]["message"] == "mucsub-server started" {
            started = true;
            assert_eq!(v["level"], "INFO");
            assert_eq!(v["fields"]["domain"], "localhost");
        }
    }
    assert!(started, "{log}");
    assert!(srv.terminate().await);
}
