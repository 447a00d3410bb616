//! What the HTTP API answered is on disk: the real binary is killed with SIGKILL right after
//! each answer, restarted on the same data directory, and everything the answers
//! acknowledged is still there (docs/protocol.md S16 for API calls).

use mucsub_server::testkit::{api_call, ChildServer, RawClient, API_TOKEN};
use serde_json::json;
use std::path::Path;

const MUC: &str = "conference.localhost";

fn config(dir: &Path) -> String {
    format!(
        "data_dir = '{}'\n[listeners]\nc2s = '127.0.0.1:0'\nhttp = '127.0.0.1:0'\n[api]\ntokens = ['{API_TOKEN}']\n",
        dir.display()
    )
}

async fn spawn(bin: &Path, dir: &Path) -> ChildServer {
    ChildServer::spawn_with(bin, dir, &config(dir), &[]).await
}

#[tokio::test]
async fn every_acknowledged_change_survives_kill_9() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let call = |s: &ChildServer, command: &'static str, args: serde_json::Value| {
        let addr = s.http_addr;
        async move {
            let r = api_call(addr, Some(API_TOKEN), command, args).await;
            assert_eq!(r.status, 200, "{command}: {r:?}");
            r
        }
    };

    let s = spawn(bin, dir).await;
    call(
        &s,
        "register",
        json!({"user": "bob", "host": "localhost", "password": "pw"}),
    )
    .await;
    s.kill9().await;

    let s = spawn(bin, dir).await;
    call(
        &s,
        "create_room_with_opts",
        json!({"name": "lab", "service": MUC, "host": "localhost", "options": [
            {"name": "title", "value": "Durable"},
            {"name": "subscribers", "value": "bob@localhost:Bob:messages"}]}),
    )
    .await;
    s.kill9().await;

    let s = spawn(bin, dir).await;
    call(
        &s,
        "set_room_affiliation",
        json!({"name": "lab", "service": MUC, "jid": "bob@localhost", "affiliation": "member"}),
    )
    .await;
    s.kill9().await;

    let s = spawn(bin, dir).await;
    call(
        &s,
        "send_message",
        json!({"type": "groupchat", "from": "bob@localhost", "to": format!("lab@{MUC}"), "subject": "", "body": "kept"}),
    )
    .await;
    s.kill9().await;

    let s = spawn(bin, dir).await;
    let options = call(
        &s,
        "get_room_options",
        json!({"name": "lab", "service": MUC}),
    )
    .await;
    assert_eq!(options.body["title"], "Durable");
    let subs = call(
        &s,
        "get_subscribers",
        json!({"name": "lab", "service": MUC}),
    )
    .await;
    assert_eq!(subs.body, json!(["bob@localhost"]));
    let affs = call(
        &s,
        "get_room_affiliations",
        json!({"name": "lab", "service": MUC}),
    )
    .await;
    assert_eq!(affs.body[0]["affiliation"], "member");
    // The message is in the room's archive, read over XMPP by bob (registered by the API).
    let mut b = RawClient::login_tcp(
        s.c2s_addr,
        "bob",
        "pw",
        mucsub_server::testkit::Mech::Plain,
        None,
        None,
    )
    .await
    .expect("bob signs in with the password the API set");
    b.send(&format!(
        "<iq type='set' id='q' to='lab@{MUC}'><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>"
    ))
    .await;
    let m = b
        .expect("the archived message", |m| {
            m.get_child("result", "urn:xmpp:mam:2").is_some()
        })
        .await;
    assert!(String::from(&m).contains("kept"), "{m:?}");
    let destroyed = call(&s, "destroy_room", json!({"name": "lab", "service": MUC})).await;
    assert_eq!(destroyed.body, json!(0));
    s.kill9().await;

    let s = spawn(bin, dir).await;
    let rooms = call(&s, "muc_online_rooms", json!({"service": MUC})).await;
    assert_eq!(rooms.body, json!([]));
    s.kill9().await;
}
