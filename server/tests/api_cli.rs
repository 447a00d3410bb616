//! `mucsub-server room …` against the real binary running: every action goes through the
//! running server's HTTP API (the token read from the same config file), its effect is
//! checked through the API, and errors come back as the server's words with a failing exit
//! status. Without a running server the CLI says so.

use mucsub_server::testkit::{api_call, ChildServer, API_TOKEN};
use serde_json::json;
use std::path::Path;
use std::process::Output;

const MUC: &str = "conference.localhost";

struct Cli<'a> {
    bin: &'a Path,
    config: std::path::PathBuf,
    url: String,
}

impl Cli<'_> {
    async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(self.bin)
            .arg("room")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .arg("--url")
            .arg(&self.url)
            .env_remove("MUCSUB_API_TOKEN")
            .output()
            .await
            .expect("run the CLI")
    }

    /// Runs `args`, asserts success, returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "room {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

#[tokio::test]
async fn room_commands_run_on_the_running_server() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A token limited to the room commands, so the CLI must find the right one.
    let config = format!(
        "data_dir = '{}'\n[listeners]\nc2s = '127.0.0.1:0'\nhttp = '127.0.0.1:0'\n\
         [[api.token]]\nsecret = 'messages-only-0123456789'\ncommands = ['send_message']\n\
         [[api.token]]\nsecret = '{API_TOKEN}'\n",
        dir.display()
    );
    let s = ChildServer::spawn_with(bin, dir, &config, &[]).await;
    let cli = Cli {
        bin,
        config: dir.join("test-config.toml"),
        url: format!("http://{}", s.http_addr),
    };
    let api = |command: &'static str, args: serde_json::Value| {
        let addr = s.http_addr;
        async move { api_call(addr, Some(API_TOKEN), command, args).await.body }
    };

    let out = cli
        .ok(&[
            "create",
            "lab",
            "-o",
            "members_only=true",
            "--option",
            "title=Lab",
            "--subscriber",
            "bob@localhost:Bob:messages:subject",
            "--affiliation",
            "owner:alice@localhost",
        ])
        .await;
    assert_eq!(out, format!("created lab@{MUC}\n"));
    assert_eq!(cli.ok(&["list"]).await, format!("lab@{MUC}\n"));
    let options = cli.ok(&["options", "lab"]).await;
    assert!(options.contains("members_only = true\n"), "{options}");
    assert!(options.contains("title = Lab\n"), "{options}");
    cli.ok(&[
        "options",
        "lab",
        "--set",
        "title=Renamed",
        "--set",
        "public=false",
    ])
    .await;
    let o = api("get_room_options", json!({"name": "lab", "service": MUC})).await;
    assert_eq!(
        (o["title"].as_str(), o["public"].as_str()),
        (Some("Renamed"), Some("false"))
    );

    let nodes = cli
        .ok(&[
            "subscribe",
            "lab",
            "carol@localhost",
            "--nick",
            "Carol",
            "--nodes",
            "messages,config",
        ])
        .await;
    assert_eq!(
        nodes,
        "urn:xmpp:mucsub:nodes:messages\nurn:xmpp:mucsub:nodes:config\n"
    );
    assert_eq!(
        cli.ok(&["subscribers", "lab"]).await,
        "bob@localhost\ncarol@localhost\n"
    );
    cli.ok(&["unsubscribe", "lab", "bob@localhost"]).await;
    assert_eq!(
        api("get_subscribers", json!({"name": "lab", "service": MUC})).await,
        json!(["carol@localhost"])
    );

    cli.ok(&["affiliation", "lab", "dave@localhost", "outcast"])
        .await;
    assert_eq!(
        cli.ok(&["affiliation", "lab"]).await,
        "alice@localhost owner\ndave@localhost outcast\n"
    );
    // The room's rules answer through the CLI.
    let banned = cli
        .run(&["subscribe", "lab", "dave@localhost", "--nick", "Dave"])
        .await;
    assert!(!banned.status.success());
    assert!(
        String::from_utf8_lossy(&banned.stderr).contains("You have been banned from this room"),
        "{}",
        String::from_utf8_lossy(&banned.stderr)
    );

    cli.ok(&["destroy", "lab"]).await;
    assert_eq!(cli.ok(&["list"]).await, "");
    let again = cli.run(&["destroy", "lab"]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("Room doesn't exists (HTTP 400)"));

    // A wrong token is the server's 401, said as such.
    let denied = tokio::process::Command::new(bin)
        .args([
            "room",
            "list",
            "--url",
            &cli.url,
            "--token",
            "not-a-token-we-have",
        ])
        .output()
        .await
        .unwrap();
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("HTTP 401"));
    s.kill9().await;

    // No server: the CLI says where it looked.
    let down = cli.run(&["list"]).await;
    assert!(!down.status.success());
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(err.contains("no server answers at"), "{err}");
}
