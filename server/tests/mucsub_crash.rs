//! docs/protocol.md S16: subscriptions, the room archive, configuration and the offline
//! queue survive `kill -9` of the server process, and the room works on afterwards without
//! anyone rejoining.

#[path = "scenarios/support.rs"]
mod support;

use std::path::Path;

use mucsub_server::testkit::{ChildServer, Mech, RawClient};
use support::*;

async fn connect(srv: &ChildServer, user: &str, resource: &str) -> RawClient {
    let mut c = RawClient::login_tcp(srv.c2s_addr, user, "pw", Mech::Plain, None, Some(resource))
        .await
        .expect("login");
    c.send("<presence/>").await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s16_kill9_keeps_subscriptions_archive_config_and_offline_queue() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mucsub-server"));
    let dir = tempfile::tempdir().expect("temp dir");
    for u in ["alice", "bob", "carol"] {
        ChildServer::add_user(bin, dir.path(), u, "pw").await;
    }
    let srv = ChildServer::spawn(bin, dir.path()).await;
    let r = room("crash");
    let mut a = connect(&srv, "alice", "a").await;
    let mut b = connect(&srv, "bob", "b").await;
    let mut c = connect(&srv, "carol", "c").await;
    a.drain().await;
    join(&mut a, &r, "alice").await;
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_roomname", "Crash Test")]).await);
    subscribe(&mut b, &r, "bob").await;
    subscribe(&mut c, &r, "carol").await;
    c.close().await;
    let mut posted = Vec::new();
    for i in 0..3 {
        post(&mut a, &r, &format!("before crash {i}")).await;
        let m = a.expect_message().await;
        posted.push(stanza_id(&m).expect("stanza-id"));
    }
    // Bob saw them live, so they were on disk before they went out.
    for _ in 0..3 {
        expect_event(&mut b, "messages").await;
    }
    srv.kill9().await;

    let srv = ChildServer::spawn(bin, dir.path()).await;
    // Subscriptions: listed from storage.
    let mut b = connect(&srv, "bob", "b").await;
    b.drain().await;
    let id = b.next_id();
    let list = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{MUC}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    let subs = list.get_child("subscriptions", MUCSUB).expect("list");
    assert_eq!(
        subs.children()
            .filter_map(|s| s.attr("jid"))
            .collect::<Vec<_>>(),
        vec![r.as_str()]
    );
    // Configuration.
    let id = b.next_id();
    let info = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert!(
        String::from(&info).contains("Crash Test"),
        "room name survived"
    );
    // Archive.
    let id = b.next_id();
    b.send(&format!(
        "<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}'/></iq>"
    ))
    .await;
    let mut archived = Vec::new();
    loop {
        let el = b.recv().await;
        if el.name() == "iq" {
            assert_result(&el);
            break;
        }
        if let Some(res) = el.get_child("result", MAM) {
            archived.push(res.attr("id").unwrap().to_owned());
        }
    }
    assert_eq!(archived, posted);
    // Offline queue: carol gets the three wrapped messages on coming back.
    let mut c = connect(&srv, "carol", "c").await;
    // Read until the three arrive (recv fails the test on its own timeout) rather than for a
    // fixed window, which two busy cores can outlast.
    let mut offline: Vec<String> = Vec::new();
    while offline.len() < posted.len() {
        let el = c.recv().await;
        if let Some((n, id, _)) = unwrap_event(&el) {
            if n == "messages" {
                offline.push(id);
            }
        }
    }
    assert_eq!(offline, posted);
    // The room works on without anyone rejoining: bob posts as a subscriber, carol gets it.
    post(&mut b, &r, "after the crash").await;
    let (_, id, inner) = expect_event(&mut c, "messages").await;
    assert_eq!(
        inner.get_child("body", CLIENT).unwrap().text(),
        "after the crash"
    );
    assert!(
        id.parse::<i64>().unwrap() > posted[2].parse::<i64>().unwrap(),
        "ids keep increasing"
    );
    srv.kill9().await;
}
