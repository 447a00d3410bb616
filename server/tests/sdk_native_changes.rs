//! Issue 22 end to end through the SDK's native client and the bundled server: a
//! correction and a reaction made while a subscriber is away reach its store folded into
//! the message (once), a retraction and a moderation retract it live, and a late
//! subscriber's resync across them (MAM tombstones and the retractions) stores the
//! messages retracted, their content gone.

mod sdk_support;
use mucsub::client::{Command, CommandResult};
use mucsub::event::{Change, EventKind, RoomEvent};
use mucsub::native::{Endpoint, NativeClient};
use mucsub::store::{MemoryStore, Store};
use mucsub_server::testkit::{TestServer, TIMEOUT};
use sdk_support::{body, room_event};

const ROOM: &str = "edits@conference.localhost";

async fn client(server: &TestServer, user: &str, store: MemoryStore) -> NativeClient<MemoryStore> {
    let config = sdk_support::config(user, "sdk");
    let endpoint = Endpoint::Tcp(server.c2s_addr().to_string());
    let mut c = NativeClient::new(config, endpoint, store)
        .await
        .expect("client");
    c.connect().await.expect("connect");
    c.wait_synced().await.expect("initial sync");
    c.command(Command::subscribe(ROOM, user))
        .await
        .unwrap()
        .unwrap();
    c.wait_synced().await.unwrap();
    c
}

fn is_change(e: &RoomEvent, id: &str) -> bool {
    matches!(e.kind, EventKind::Change { .. }) && e.message_id.as_deref() == Some(id)
}

/// The stored message with archive id `sid`.
async fn stored(store: &MemoryStore, sid: &str) -> RoomEvent {
    let all = store.events(ROOM, 1_000).await.unwrap();
    assert!(all
        .iter()
        .all(|e| !matches!(e.kind, EventKind::Change { .. })));
    let mut found: Vec<RoomEvent> = all
        .into_iter()
        .filter(|e| e.stanza_id.as_deref() == Some(sid))
        .collect();
    assert_eq!(found.len(), 1, "stored once: {found:?}");
    found.remove(0)
}

fn cmd_ok(r: Result<CommandResult, mucsub::client::CommandError>) -> CommandResult {
    r.unwrap_or_else(|e| panic!("{e:?}"))
}

#[tokio::test]
async fn changes_reach_the_store_folded_whatever_the_route() {
    tokio::time::timeout(TIMEOUT * 6, async {
        let server = TestServer::start().await;
        for user in ["alice", "bob", "carol"] {
            server.add_user(user, "pw").await;
        }
        // Alice subscribes first: she creates the room and owns it (she may moderate).
        let mut alice = client(&server, "alice", MemoryStore::new()).await;
        let bob_store = MemoryStore::new();
        let mut bob = client(&server, "bob", bob_store.clone()).await;

        alice.command(Command::send(ROOM, "hello", "h1")).await.unwrap().unwrap();
        let echo = room_event(&mut alice, |r| body(r) == Some("hello")).await;
        let hello = echo.stanza_id.clone().expect("archived");
        let alice_occ = echo.occupant_id.clone().expect("the room's occupant-id");
        room_event(&mut bob, |r| body(r) == Some("hello")).await;

        // Bob away: Alice corrects her message and reacts to it.
        bob.disconnect().await.unwrap();
        let edit = Command::Edit {
            room: ROOM.into(),
            id: "e1".into(),
            target: "h1".into(),
            body: "hello!".into(),
        };
        cmd_ok(alice.command(edit).await.unwrap());
        let react = Command::React {
            room: ROOM.into(),
            id: "x1".into(),
            stanza_id: hello.clone(),
            emojis: vec!["👍".into()],
        };
        cmd_ok(alice.command(react).await.unwrap());
        room_event(&mut alice, |r| is_change(r, "x1")).await;

        bob.connect().await.unwrap();
        bob.wait_synced().await.unwrap();
        let m = stored(&bob_store, &hello).await;
        assert_eq!(body(&m), Some("hello!"));
        assert_eq!(m.edited, ["hello"], "corrected once, whatever the routes");
        assert_eq!(m.occupant_id.as_deref(), Some(alice_occ.as_str()));
        let reacted: Vec<_> = m.reactions.iter().collect();
        assert_eq!(reacted, [(&"👍".to_string(), &vec![alice_occ.clone()])]);

        // Live: Alice retracts hers and moderates Bob's.
        bob.command(Command::send(ROOM, "spam", "sp1")).await.unwrap().unwrap();
        let spam = room_event(&mut alice, |r| body(r) == Some("spam")).await;
        let spam = spam.stanza_id.expect("archived");
        // Named by the id Alice gave it, as Converse.js needs (the stores and our room
        // take either id).
        let retract = Command::Retract {
            room: ROOM.into(),
            id: "r1".into(),
            target: "h1".into(),
        };
        cmd_ok(alice.command(retract).await.unwrap());
        let moderate = Command::Moderate {
            room: ROOM.into(),
            stanza_id: spam.clone(),
            reason: Some("off topic".into()),
        };
        let done = cmd_ok(alice.command(moderate).await.unwrap());
        assert!(matches!(done, CommandResult::Moderated { .. }), "{done:?}");
        let is_retraction_of = |r: &RoomEvent, sid: &str| {
            matches!(&r.kind, EventKind::Change { target, change: Change::Retract(_) } if target == sid)
        };
        room_event(&mut bob, |r| is_retraction_of(r, "h1")).await;
        room_event(&mut bob, |r| is_retraction_of(r, &spam)).await;
        let gone = stored(&bob_store, &hello).await;
        assert_eq!((body(&gone), gone.retracted.is_some()), (Some(""), true));
        let moderated = stored(&bob_store, &spam).await.retracted.expect("moderated");
        assert_eq!(moderated.reason.as_deref(), Some("off topic"));
        assert!(moderated.moderated.is_some());

        // A late subscriber resyncs across both: tombstones, nothing of the content.
        let carol_store = MemoryStore::new();
        let _carol = client(&server, "carol", carol_store.clone()).await;
        for sid in [&hello, &spam] {
            let m = stored(&carol_store, sid).await;
            assert_eq!(body(&m), Some(""), "{m:?}");
            assert!(m.retracted.is_some() && m.edited.is_empty() && m.reactions.is_empty());
        }
        assert_eq!(
            stored(&carol_store, &spam).await.retracted.unwrap().reason.as_deref(),
            Some("off topic")
        );
    })
    .await
    .expect("test took far too long (hang)");
}
