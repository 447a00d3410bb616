//! The JavaScript client in headless Chromium against a real mucsub-server on loopback
//! (`tests/suites/browser-sdk.sh` starts it, creates alice/bob/carol/dave with password
//! `pw`, and builds these tests with `MUCSUB_TEST_WS` set to its WebSocket URL).
//!
//! Every test drives `MucSubClient` exactly as JavaScript does: Promises and callbacks.

use crate::support::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
async fn subscribe_receive_live_events_and_send_without_joining() {
    let room = fresh_room("live");
    let bob = Peer::new("bob").await;
    bob.connect().await;
    let sub = bob.subscribe(&room, "bob").await;
    assert_eq!(prop_str(&sub, "room").as_deref(), Some(room.as_str()));
    assert_eq!(prop_str(&sub, "nick").as_deref(), Some("bob"));
    // Every node is asked for by default; the room echoes those it accepts: the bundled
    // server all 8, ejabberd 23.01 the 7 it knows (it has no `system` node).
    let nodes = prop_strings(&sub, "nodes");
    let known_to_both = [
        "messages",
        "presence",
        "affiliations",
        "subject",
        "config",
        "subscribers",
        "participants",
    ];
    for n in known_to_both {
        assert!(nodes.iter().any(|x| x == n), "{n} missing from {nodes:?}");
    }
    assert!(
        nodes
            .iter()
            .all(|n| known_to_both.contains(&n.as_str()) || n == "system"),
        "{nodes:?}"
    );

    let alice = Peer::subscribed("alice", &room).await;
    // Neither account joined the room: posting works for subscribers (docs/protocol.md S14).
    let sent = alice.send(&room, "hello from alice").await;
    let id = prop_str(&sent, "id").expect("send returns the message id");

    let ev = bob
        .wait_event(|e| prop_str(e, "body").as_deref() == Some("hello from alice"))
        .await;
    assert_eq!(prop_str(&ev, "kind").as_deref(), Some("message"));
    assert_eq!(prop_str(&ev, "room").as_deref(), Some(room.as_str()));
    assert_eq!(prop_str(&ev, "nick").as_deref(), Some("alice"));
    assert_eq!(prop_str(&ev, "id").as_deref(), Some(id.as_str()));
    assert!(
        prop_str(&ev, "stanzaId").is_some(),
        "archived messages carry their archive id"
    );
    assert_eq!(prop_str(&ev, "source").as_deref(), Some("live"));
    assert!(prop_f64(&ev, "timestamp").unwrap() > 1.6e12);

    // The subject is an event too.
    call(bob.client.set_subject(room.clone(), "tea time".into()))
        .await
        .unwrap();
    let subj = alice
        .wait_event(|e| prop_str(e, "subject").as_deref() == Some("tea time"))
        .await;
    assert_eq!(prop_str(&subj, "kind").as_deref(), Some("subject"));

    // Connection state callbacks saw the way online.
    assert!(bob.states().contains(&"online".to_string()));
    bob.close().await;
    alice.close().await;
    assert_eq!(bob.states().last().map(String::as_str), Some("closed"));
}

#[wasm_bindgen_test]
async fn lists_subscriptions_and_subscribers() {
    let room = fresh_room("lists");
    let other = fresh_room("lists-other");
    let carol = Peer::subscribed("carol", &room).await;
    carol
        .subscribe_nodes(&other, "carol2", &["messages", "subject"])
        .await;
    let dave = Peer::subscribed("dave", &room).await;

    let subs = call(carol.client.subscriptions()).await.unwrap();
    let subs = array(&subs);
    let rooms: Vec<_> = subs.iter().filter_map(|s| prop_str(s, "room")).collect();
    assert!(rooms.contains(&room) && rooms.contains(&other), "{rooms:?}");
    let o = subs
        .iter()
        .find(|s| prop_str(s, "room").as_deref() == Some(other.as_str()))
        .unwrap();
    assert_eq!(prop_str(o, "nick").as_deref(), Some("carol2"));
    assert_eq!(prop_strings(o, "nodes"), ["messages", "subject"]);
    assert_eq!(prop_f64(o, "unread"), Some(0.0), "nothing was posted there");

    let subscribers = call(carol.client.subscribers(room.clone())).await.unwrap();
    let mut nicks: Vec<_> = array(&subscribers)
        .iter()
        .filter_map(|s| prop_str(s, "nick"))
        .collect();
    nicks.sort();
    assert_eq!(nicks, ["carol", "dave"]);

    // Unsubscribe, and the list follows.
    call(carol.client.unsubscribe(other.clone())).await.unwrap();
    let subs = call(carol.client.subscriptions()).await.unwrap();
    let rooms: Vec<_> = array(&subs)
        .iter()
        .filter_map(|s| prop_str(s, "room"))
        .collect();
    assert!(!rooms.contains(&other), "{rooms:?}");
    carol.close().await;

    // Offline, from the store: a new client on carol's database, never connected. (A
    // server that keeps its state between runs, as the reference ejabberd does, also lists
    // the rooms of earlier runs: only this test's rooms are checked.)
    let offline = Peer::reopen("carol", &carol.store).await;
    call(offline.client.open()).await.unwrap();
    let subs = call(offline.client.subscriptions()).await.unwrap();
    let rooms: Vec<_> = array(&subs)
        .iter()
        .filter_map(|s| prop_str(s, "room"))
        .filter(|r| *r == room || *r == other)
        .collect();
    assert_eq!(rooms, std::slice::from_ref(&room));
    offline.close().await;
    dave.close().await;
}

#[wasm_bindgen_test]
async fn history_pages_from_store_then_archive() {
    let room = fresh_room("history");
    let alice = Peer::subscribed("alice", &room).await;
    for i in 0..12 {
        alice.send(&room, &format!("h{i:02}")).await;
    }
    alice
        .wait_event(|e| prop_str(e, "body").as_deref() == Some("h11"))
        .await;

    // dave subscribes afterwards: a new subscription fetches only the newest page, the
    // rest comes from the archive on demand.
    let dave = Peer::with_options("dave", Some(4)).await;
    dave.connect().await;
    dave.subscribe(&room, "dave").await;
    let mut bodies: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 20, "history never completed");
        let opts = js_sys::Object::new();
        set(&opts, "limit", &5.into());
        if let Some(b) = &before {
            set(&opts, "before", &b.as_str().into());
        }
        let page = call(
            dave.client
                .history(room.clone(), Some(opts.unchecked_into())),
        )
        .await
        .unwrap();
        let events = array(&prop(&page, "events"));
        let mut chunk: Vec<String> = events.iter().filter_map(|e| prop_str(e, "body")).collect();
        chunk.append(&mut bodies);
        bodies = chunk;
        let complete = prop(&page, "complete").as_bool().unwrap();
        if complete || events.is_empty() {
            assert!(complete, "an empty page must be the last one");
            break;
        }
        before = Some(prop_str(&events[0], "stanzaId").unwrap_or_else(|| {
            panic!(
                "archived events have ids: {:?}",
                js_sys::JSON::stringify(&prop(&page, "events")).unwrap()
            )
        }));
    }
    let expected: Vec<String> = (0..12).map(|i| format!("h{i:02}")).collect();
    assert_eq!(bodies, expected, "every message once, oldest first");
    alice.close().await;
    dave.close().await;
}

#[wasm_bindgen_test]
async fn errors_are_js_errors_with_stable_codes() {
    // Bad options: thrown by the constructor.
    let bad = js_sys::Object::new();
    set(&bad, "url", &"http://nope".into());
    let err = match mucsub::wasm::MucSubClient::new(bad.into()) {
        Err(e) => e,
        Ok(_) => panic!("a non-ws URL must be refused"),
    };
    assert_error(&err, "bad-request");

    // Wrong password.
    let wrong = Peer::with_password("bob", "not-the-password").await;
    let err = call(wrong.client.connect()).await.unwrap_err();
    assert_error(&err, "auth-failed");
    wrong.close().await;

    // Offline commands.
    let offline = Peer::new("bob").await;
    let err = call(offline.client.send(fresh_room("x"), "hi".into(), None))
        .await
        .unwrap_err();
    assert_error(&err, "not-connected");
    offline.close().await;

    // A stanza error from the server keeps its condition: carol may not list the
    // subscribers of a room she has nothing to do with (docs/protocol.md S9).
    let room = fresh_room("private");
    let bob = Peer::subscribed("bob", &room).await;
    let carol = Peer::new("carol").await;
    carol.connect().await;
    let err = call(carol.client.subscribers(room.clone()))
        .await
        .unwrap_err();
    assert_error(&err, "forbidden");
    // Nick taken by another subscriber (docs/protocol.md S4).
    let err = call(carol.client.subscribe(room.clone(), nick_opts("bob")))
        .await
        .unwrap_err();
    assert_error(&err, "conflict");
    bob.close().await;
    carol.close().await;
}

#[wasm_bindgen_test]
async fn read_marker_drives_unread_counts() {
    let room = fresh_room("unread");
    let bob = Peer::subscribed("bob", &room).await;
    let alice = Peer::subscribed("alice", &room).await;
    for i in 0..3 {
        alice.send(&room, &format!("u{i}")).await;
    }
    bob.send(&room, "mine").await;
    for body in ["u0", "u1", "u2", "mine"] {
        bob.wait_event(|e| prop_str(e, "body").as_deref() == Some(body))
            .await;
    }
    let unread = |subs: &wasm_bindgen::JsValue| {
        array(subs)
            .iter()
            .find(|s| prop_str(s, "room").as_deref() == Some(room.as_str()))
            .and_then(|s| prop_f64(s, "unread"))
    };
    // alice's three messages; bob's own and the subscriber notices do not count.
    let subs = call(bob.client.subscriptions()).await.unwrap();
    assert_eq!(unread(&subs), Some(3.0));

    let u1 = bob
        .wait_event(|e| prop_str(e, "body").as_deref() == Some("u1"))
        .await;
    let u1_id = prop_str(&u1, "stanzaId").expect("archived messages carry their archive id");
    call(bob.client.mark_read(room.clone(), Some(u1_id)))
        .await
        .unwrap();
    let subs = call(bob.client.subscriptions()).await.unwrap();
    assert_eq!(unread(&subs), Some(1.0));

    let err = call(
        bob.client
            .mark_read(room.clone(), Some("no-such-id".into())),
    )
    .await
    .unwrap_err();
    assert_error(&err, "item-not-found");

    call(bob.client.mark_read(room.clone(), None))
        .await
        .unwrap();
    let subs = call(bob.client.subscriptions()).await.unwrap();
    assert_eq!(unread(&subs), Some(0.0));
    bob.close().await;

    // The marker is in the store: offline, after a reload, nothing is unread.
    let offline = Peer::reopen("bob", &bob.store).await;
    call(offline.client.open()).await.unwrap();
    let subs = call(offline.client.subscriptions()).await.unwrap();
    assert_eq!(unread(&subs), Some(0.0));
    offline.close().await;
    alice.close().await;
}

/// The `event` callback reports an event only once it is stored, and in order, also in a
/// burst: the driver stores pages in the background while it reads on (and asks for the
/// next archive pages), so a callback must still wait for its page's commit. A read of
/// the chunk that stores the event, started inside the callback, has to find it.
#[wasm_bindgen_test]
async fn event_callbacks_come_in_order_after_their_events_are_stored() {
    use std::cell::RefCell;
    use std::future::{Future, IntoFuture};
    use std::pin::Pin;
    use std::rc::Rc;

    use idb::{Query, TransactionMode};
    use wasm_bindgen::prelude::{Closure, JsValue};

    type Read = Pin<Box<dyn Future<Output = Result<Option<JsValue>, idb::Error>>>>;
    const N: usize = 40;

    let room = fresh_room("stored");
    let bob = Peer::subscribed("bob", &room).await;
    let alice = Peer::subscribed("alice", &room).await;

    let db = Rc::new(
        idb::Factory::new()
            .unwrap()
            .open(&bob.store, None)
            .unwrap()
            .await
            .unwrap(),
    );
    let reads: Rc<RefCell<Vec<(String, Read)>>> = Rc::default();
    let (db2, reads2, room2) = (db.clone(), reads.clone(), room.clone());
    let on_event = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        if prop_str(&ev, "room").as_deref() != Some(room2.as_str()) {
            return;
        }
        let id = prop_str(&ev, "stanzaId").expect("live messages carry their archive id");
        // The dedup index names the chunk holding the event by its archive id.
        let key = format!("{room2}\u{0}sid:{id}");
        let read: Read = Box::pin(
            db2.transaction(&["chunks"], TransactionMode::ReadOnly)
                .unwrap()
                .object_store("chunks")
                .unwrap()
                .index("dedup")
                .unwrap()
                .get(Query::Key(key.as_str().into()))
                .unwrap()
                .into_future(),
        );
        reads2
            .borrow_mut()
            .push((prop_str(&ev, "body").unwrap_or_default(), read));
    });
    bob.client
        .on(
            "event",
            on_event
                .as_ref()
                .unchecked_ref::<js_sys::Function>()
                .clone(),
        )
        .unwrap();

    // All sends at once: the frames reach bob back to back.
    let sends: Vec<_> = (0..N)
        .map(|i| call(alice.client.send(room.clone(), format!("burst {i}"), None)))
        .collect();
    for s in sends {
        s.await.expect("send");
    }
    bob.wait_until("every burst event", |p| p.bodies_in(&room).len() >= N)
        .await;

    let expected: Vec<String> = (0..N).map(|i| format!("burst {i}")).collect();
    assert_eq!(bob.bodies_in(&room), expected, "callbacks in archive order");
    let reads = std::mem::take(&mut *reads.borrow_mut());
    assert_eq!(reads.len(), N);
    for (body, read) in reads {
        let record = read.await.expect("read").unwrap_or_else(|| {
            panic!("the callback of {body:?} fired before its record was stored")
        });
        let events = prop_str(&record, "evs").expect("a chunk's events");
        assert!(events.contains(&format!("\"body\":\"{body}\"")), "{events}");
    }
    bob.close().await;
    alice.close().await;
    db.close();
}
