//! A reload in the middle of a resync loses nothing and duplicates nothing: the client is
//! dropped (as a closing tab drops it: no `<close/>`) while it pages through the archive,
//! a new client opens the same IndexedDB database, and its resync completes with exactly
//! the archive's messages, once each, in order.

use std::cell::RefCell;
use std::rc::Rc;

use crate::support::*;
use js_sys::{Function, Object};
use mucsub::wasm::socket::sleep;
use mucsub::wasm::MucSubClient;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

const TOTAL_AFTER: usize = 60;

#[wasm_bindgen_test]
async fn drop_mid_resync_then_reload_completes_without_duplicates_or_holes() {
    let room = fresh_room("reload");
    // bob subscribes and sees the first message, so his store has a cursor.
    let bob = Peer::with_options("bob", Some(5)).await;
    bob.connect().await;
    bob.subscribe(&room, "bob").await;
    let alice = Peer::subscribed("alice", &room).await;
    alice.send(&room, "m000").await;
    bob.wait_event(|e| prop_str(e, "body").as_deref() == Some("m000"))
        .await;
    let store = bob.store.clone();
    bob.close().await;
    drop(bob);

    // While bob is away, the room moves on.
    for i in 1..=TOTAL_AFTER {
        alice.send(&room, &format!("m{i:03}")).await;
    }
    alice
        .wait_event(|e| prop_str(e, "body").as_deref() == Some(&format!("m{TOTAL_AFTER:03}")))
        .await;

    // bob comes back with 5-item pages. The server kept only 5 of the 60 messages offline
    // (the suite's offline bound), so the rest must come from the archive; the client is
    // dropped from inside its first resync progress callback, i.e. right after the first
    // archive page was written and before the next one.
    let seen_before_drop = run_until_first_page(&store, &room).await;
    assert!(
        seen_before_drop.len() < TOTAL_AFTER,
        "the drop must happen mid-resync (saw {})",
        seen_before_drop.len()
    );

    // The reload: a new client on the same database.
    let second = Peer::reopen_with("bob", &store, Some(5)).await;
    second.connect().await;
    let summary = call(second.client.resync()).await.unwrap();
    assert!(prop_f64(&summary, "rooms").is_some());

    // Every message exactly once across both lives of the page, and the store agrees.
    let mut all = seen_before_drop.clone();
    all.extend(second.bodies_in(&room));
    let expected: Vec<String> = (1..=TOTAL_AFTER).map(|i| format!("m{i:03}")).collect();
    assert_eq!(all, expected, "callbacks: no duplicate, no hole, in order");

    let opts = js_sys::Object::new();
    set(&opts, "limit", &200.into());
    let page = call(
        second
            .client
            .history(room.clone(), Some(opts.unchecked_into())),
    )
    .await
    .unwrap();
    let stored: Vec<String> = array(&prop(&page, "events"))
        .iter()
        .filter_map(|e| prop_str(e, "body"))
        .collect();
    let mut want = vec!["m000".to_string()];
    want.extend(expected);
    assert_eq!(stored, want, "the store: every message once, in order");
    second.close().await;
    alice.close().await;
}

/// Connect bob's client on `store` and drop it (without `close()`) inside its first `sync`
/// callback; returns the message bodies its `event` callback saw.
async fn run_until_first_page(store: &str, room: &str) -> Vec<String> {
    let o = Object::new();
    set(&o, "url", &ws_url().into());
    set(&o, "jid", &"bob@localhost".into());
    set(&o, "password", &"pw".into());
    set(&o, "store", &store.into());
    set(&o, "pageSize", &5.into());
    let slot: Rc<RefCell<Option<MucSubClient>>> =
        Rc::new(RefCell::new(Some(MucSubClient::new(o.into()).unwrap())));
    let bodies: Rc<RefCell<Vec<String>>> = Rc::default();
    let b = bodies.clone();
    let in_room = room.to_owned();
    let on_event: Closure<dyn FnMut(JsValue)> = Closure::new(move |e: JsValue| {
        if prop_str(&e, "room").as_deref() != Some(in_room.as_str()) {
            return; // offline leftovers of other tests' rooms
        }
        if let Some(body) = prop_str(&e, "body") {
            b.borrow_mut().push(body);
        }
    });
    let s = slot.clone();
    let on_sync: Closure<dyn FnMut(JsValue)> = Closure::new(move |_: JsValue| {
        // The reload: the client object goes away mid-resync.
        drop(s.borrow_mut().take());
    });
    let connect = {
        let guard = slot.borrow();
        let client = guard.as_ref().unwrap();
        client
            .on(
                "event",
                on_event.as_ref().unchecked_ref::<Function>().clone(),
            )
            .unwrap();
        client
            .on("sync", on_sync.as_ref().unchecked_ref::<Function>().clone())
            .unwrap();
        client.connect()
    };
    call(connect).await.expect("connect");
    for _ in 0..600 {
        if slot.borrow().is_none() {
            break;
        }
        sleep(50.0).await;
    }
    assert!(
        slot.borrow().is_none(),
        "no resync page within 30 s; events seen: {:?}",
        bodies.borrow()
    );
    // Let the abandoned driver finish the job it was in and release the database.
    sleep(200.0).await;
    let out = bodies.borrow().clone();
    out
}
