//! A MAM result is addressed to the session that queried. When that session is gone
//! (a reloaded browser tab), the rest of its query's pages must not be rerouted to the
//! account's other resources or into offline storage as if they were chat messages: the
//! new session asks the archive again, and offline storage would otherwise fill with
//! archive pages (and replay them, with `<delay/>`, as new messages).

use mucsub_server::ns;
use mucsub_server::testkit::TestServer;

fn mam_result(to: &str, body: &str) -> minidom::Element {
    format!(
        "<message xmlns='jabber:client' from='room@conference.localhost' to='{to}'>\
           <result xmlns='urn:xmpp:mam:2' queryid='q1' id='1700000000000001'>\
             <forwarded xmlns='urn:xmpp:forward:0'>\
               <delay xmlns='urn:xmpp:delay' stamp='2026-11-23T10:00:00Z'/>\
               <message xmlns='jabber:client' type='groupchat' from='room@conference.localhost/carol'>\
                 <body>{body}</body></message></forwarded></result></message>"
    )
    .parse()
    .unwrap()
}

fn chat(to: &str, body: &str) -> minidom::Element {
    format!(
        "<message xmlns='jabber:client' from='carol@localhost/x' to='{to}' type='chat'>\
           <body>{body}</body></message>"
    )
    .parse()
    .unwrap()
}

#[tokio::test]
async fn results_for_a_gone_resource_reach_neither_other_resources_nor_offline_storage() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;

    // Offline: a result for a gone resource is dropped; a chat message to it is stored.
    s.ctx()
        .router
        .route(mam_result("alice@localhost/tab1", "archived"))
        .await;
    assert_eq!(s.ctx().offline.count("alice").await.unwrap(), 0);
    s.ctx()
        .router
        .route(chat("alice@localhost/tab1", "hello"))
        .await;
    assert_eq!(s.ctx().offline.count("alice").await.unwrap(), 1);

    // Online on another resource: the chat message arrives, the result never does. The
    // router delivers to one session in order, so the first thing seen after the result
    // was routed must be the chat message that followed it.
    let mut a = s.login_bound("alice", "pw", Some("tab2")).await;
    a.send("<presence/>").await;
    let stored = a.expect_message().await;
    assert_eq!(
        stored.get_child("body", ns::CLIENT).map(|b| b.text()),
        Some("hello".into())
    );
    s.ctx()
        .router
        .route(mam_result("alice@localhost/tab1", "archived again"))
        .await;
    s.ctx()
        .router
        .route(chat("alice@localhost/tab1", "after"))
        .await;
    let next = a
        .expect("the next message", |e| e.name() == "message")
        .await;
    assert!(
        next.get_child("result", "urn:xmpp:mam:2").is_none(),
        "a result for another resource was delivered: {next:?}"
    );
    assert_eq!(
        next.get_child("body", ns::CLIENT).map(|b| b.text()),
        Some("after".into())
    );

    // The querying session itself still gets its results.
    s.ctx()
        .router
        .route(mam_result("alice@localhost/tab2", "mine"))
        .await;
    let mine = a
        .expect("the next message", |e| e.name() == "message")
        .await;
    assert!(
        mine.get_child("result", "urn:xmpp:mam:2").is_some(),
        "{mine:?}"
    );
}
