//! The SDK's native client against the bundled server: subscribe, receive live, go away
//! while 200 messages are posted, come back, resync → exactly those messages stored, in
//! order, once each. Lives here because only this crate depends on both.

mod sdk_support;
use sdk_support::{body, bounded, config};
use std::time::Duration;

use mucsub::client::{AppEvent, ClientWarning, Command, CommandResult};

use mucsub::native::{Endpoint, NativeClient};
use mucsub::protocol::Node;
use mucsub::store::{MemoryStore, Store};
use mucsub_server::testkit::TestServer;

const ROOM: &str = "coven@conference.localhost";

async fn client(
    server: &TestServer,
    user: &str,
    ws: bool,
    store: MemoryStore,
) -> NativeClient<MemoryStore> {
    let endpoint = if ws {
        Endpoint::WebSocket(server.ws_url())
    } else {
        Endpoint::Tcp(server.c2s_addr().to_string())
    };
    let mut c = NativeClient::new(config(user, "sdk"), endpoint, store)
        .await
        .expect("client");
    c.connect().await.expect("connect");
    c.wait_synced().await.expect("initial sync");
    c
}

#[tokio::test]
async fn native_client_resyncs_messages_posted_while_away() {
    bounded(async {
        let server = TestServer::start().await;
        server.add_user("alice", "pw").await;
        server.add_user("bob", "pw").await;
        let bob_store = MemoryStore::new();
        let mut bob = client(&server, "bob", false, bob_store.clone()).await;
        let mut alice = client(&server, "alice", true, MemoryStore::new()).await;

        let r = bob.command(Command::subscribe(ROOM, "bob")).await.unwrap();
        assert!(matches!(r, Ok(CommandResult::Subscribed { .. })), "{r:?}");
        let r = alice
            .command(Command::Subscribe {
                room: ROOM.into(),
                nick: "alice".into(),
                nodes: vec![Node::Messages, Node::Subject],
                password: None,
            })
            .await
            .unwrap();
        assert!(matches!(r, Ok(CommandResult::Subscribed { .. })), "{r:?}");
        bob.wait_synced().await.unwrap();
        alice.wait_synced().await.unwrap();

        alice
            .command(Command::send(ROOM, "hello", "hello-1"))
            .await
            .unwrap()
            .unwrap();
        let live = bob
            .wait_for(|e| matches!(e, AppEvent::Room(r) if body(r) == Some("hello")))
            .await
            .unwrap();
        let AppEvent::Room(live) = live else {
            unreachable!()
        };
        assert_eq!(live.nick.as_deref(), Some("alice"));
        assert!(
            live.stanza_id.is_some(),
            "archived messages carry the room's stanza-id"
        );

        bob.disconnect().await.unwrap();
        for i in 0..200 {
            alice
                .command(Command::send(ROOM, format!("msg {i}"), format!("m-{i}")))
                .await
                .unwrap()
                .unwrap();
        }
        // Alice's own copies come back once the room has archived each message.
        alice
            .wait_for(|e| matches!(e, AppEvent::Room(r) if body(r) == Some("msg 199")))
            .await
            .unwrap();

        bob.connect().await.unwrap();
        bob.wait_synced().await.unwrap();

        let stored = bob_store.events(ROOM, 10_000).await.unwrap();
        let bodies: Vec<&str> = stored.iter().filter_map(body).collect();
        let mut expected = vec!["hello".to_owned()];
        expected.extend((0..200).map(|i| format!("msg {i}")));
        assert_eq!(bodies, expected);
        let mut ids: Vec<&str> = stored
            .iter()
            .filter(|e| body(e).is_some())
            .map(|e| e.stanza_id.as_deref().expect("stanza-id"))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 201, "one stored event per archived message");
        let state = bob_store.room_state(ROOM).await.unwrap();
        let warnings: Vec<AppEvent> = bob
            .take_events()
            .into_iter()
            .filter(|e| matches!(e, AppEvent::Warning(_)))
            .collect();
        assert!(state.gaps.is_empty(), "{:?} {warnings:?}", state.gaps);

        let last = stored.iter().rev().find(|e| body(e).is_some()).unwrap();
        assert_eq!(
            state.cursor.as_ref().map(|c| c.id.as_str()),
            last.stanza_id.as_deref(),
            "the cursor is the newest archived message"
        );

        // A new subscriber gets the newest page only; older history comes on demand.
        server.add_user("carol", "pw").await;
        let carol_store = MemoryStore::new();
        let mut carol = client(&server, "carol", false, carol_store.clone()).await;
        carol
            .command(Command::subscribe(ROOM, "carol"))
            .await
            .unwrap()
            .unwrap();
        carol.wait_synced().await.unwrap();
        let first = carol_store.events(ROOM, 10_000).await.unwrap();
        let first_bodies: Vec<&str> = first.iter().filter_map(body).collect();
        assert_eq!(first_bodies.len(), 100);
        assert_eq!(first_bodies[0], "msg 100");
        let gaps = carol_store.room_state(ROOM).await.unwrap().gaps;
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].after_id, None);
        let mut complete = false;
        let mut rounds = 0;
        while !complete {
            rounds += 1;
            assert!(rounds <= 3, "history does not end");
            let oldest = carol_store.events(ROOM, 10_000).await.unwrap();
            let oldest = oldest.iter().find_map(|e| e.stanza_id.clone()).unwrap();
            let r = carol
                .command(Command::History {
                    room: ROOM.into(),
                    before: Some(oldest.clone()),
                    max: 100,
                })
                .await
                .unwrap()
                .unwrap();
            let CommandResult::History { complete: c, .. } = r else {
                panic!("{r:?}")
            };
            complete = c;
        }
        let all = carol_store.events(ROOM, 10_000).await.unwrap();
        let all_bodies: Vec<&str> = all.iter().filter_map(body).collect();
        assert_eq!(all_bodies, expected);

        // Reconnecting again finds nothing new and stores nothing twice.
        bob.disconnect().await.unwrap();
        bob.connect().await.unwrap();
        bob.wait_synced().await.unwrap();
        assert_eq!(
            bob_store.events(ROOM, 10_000).await.unwrap().len(),
            stored.len()
        );
    })
    .await;
}

#[tokio::test]
async fn wrappers_from_a_non_room_are_dropped_with_a_warning() {
    bounded(async {
        let server = TestServer::start().await;
        server.add_user("bob", "pw").await;
        server.add_user("mallory", "pw").await;
        let store = MemoryStore::new();
        let mut bob = client(&server, "bob", false, store.clone()).await;
        bob.command(Command::subscribe(ROOM, "bob")).await.unwrap().unwrap();
        bob.wait_synced().await.unwrap();
        let before = store.events(ROOM, 1000).await.unwrap().len();

        let mut mallory = server.login("mallory", "pw").await;
        mallory
            .send(&format!(
                "<message to='bob@localhost'><event xmlns='http://jabber.org/protocol/pubsub#event'>\
                 <items node='urn:xmpp:mucsub:nodes:messages'><item id='1'>\
                 <message xmlns='jabber:client' from='{ROOM}/alice' type='groupchat'>\
                 <stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='forged'/><body>phish</body>\
                 </message></item></items></event></message>"
            ))
            .await;
        let w = bob
            .wait_for(|e| {
                matches!(e, AppEvent::Warning(ClientWarning::NotSubscribed { from })
                    if from.starts_with("mallory@"))
            })
            .await
            .unwrap();
        let AppEvent::Warning(ClientWarning::NotSubscribed { from }) = w else {
            unreachable!()
        };
        assert!(from.starts_with("mallory@localhost"), "{from}");
        // Give any stray processing a moment, then check nothing was stored.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = store.events(ROOM, 1000).await.unwrap();
        assert_eq!(after.len(), before);
        assert!(after.iter().all(|e| body(e) != Some("phish")));
    })
    .await;
}

#[tokio::test]
async fn native_client_reconnects_by_itself_and_catches_up() {
    bounded(async {
        let server = TestServer::start().await;
        server.add_user("alice", "pw").await;
        server.add_user("bob", "pw").await;
        let store = MemoryStore::new();
        let mut bob = client(&server, "bob", true, store.clone()).await;
        let mut alice = client(&server, "alice", false, MemoryStore::new()).await;
        bob.command(Command::subscribe(ROOM, "bob"))
            .await
            .unwrap()
            .unwrap();
        alice
            .command(Command::Subscribe {
                room: ROOM.into(),
                nick: "alice".into(),
                nodes: vec![Node::Messages],
                password: None,
            })
            .await
            .unwrap()
            .unwrap();
        bob.wait_synced().await.unwrap();
        alice.wait_synced().await.unwrap();
        bob.take_events();

        // Another session binding the same resource kicks bob's (stream conflict).
        let _intruder = server.login_bound("bob", "pw", Some("sdk")).await;
        let gone = bob
            .wait_for(|e| matches!(e, AppEvent::Disconnected { .. }))
            .await
            .unwrap();
        assert!(
            matches!(&gone, AppEvent::Disconnected { error: Some(e) } if e.contains("conflict")),
            "{gone:?}"
        );
        for i in 0..5 {
            alice
                .command(Command::send(
                    ROOM,
                    format!("while away {i}"),
                    format!("w{i}"),
                ))
                .await
                .unwrap()
                .unwrap();
        }
        alice
            .wait_for(|e| matches!(e, AppEvent::Room(r) if body(r) == Some("while away 4")))
            .await
            .unwrap();
        // No call from the app: the backoff timer reconnects and the resync follows.
        bob.wait_for(|e| matches!(e, AppEvent::Connected { .. }))
            .await
            .unwrap();
        bob.wait_synced().await.unwrap();
        let bodies: Vec<String> = store
            .events(ROOM, 100)
            .await
            .unwrap()
            .iter()
            .filter_map(body)
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = (0..5).map(|i| format!("while away {i}")).collect();
        assert_eq!(bodies, expected);
    })
    .await;
}
