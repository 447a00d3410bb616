//! One account on two devices (two `MucSubClient`s on their own databases), in headless
//! Chromium against a real mucsub-server (`tests/suites/browser-sdk.sh`): a subscription
//! made or dropped on one device reaches the other as a `subscription` callback, and the
//! other device's list, store and live feed follow (docs/protocol.md S20). Not run against
//! ejabberd (`tests/suites/ejabberd-interop.sh`), which tells other devices nothing.

use crate::support::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

/// The `subscription` callbacks `peer` got for `room`.
fn changes(peer: &Peer, room: &str) -> Vec<JsValue> {
    peer.subscriptions
        .borrow()
        .iter()
        .filter(|c| prop_str(c, "room").as_deref() == Some(room))
        .cloned()
        .collect()
}

async fn listed(peer: &Peer) -> Vec<String> {
    let subs = call(peer.client.subscriptions()).await.unwrap();
    array(&subs)
        .iter()
        .filter_map(|s| prop_str(s, "room"))
        .collect()
}

#[wasm_bindgen_test]
async fn a_subscription_made_on_one_device_reaches_the_other() {
    let room = fresh_room("devices");
    let alice = Peer::subscribed("alice", &room).await;
    let phone = Peer::new("bob").await;
    let desktop = Peer::new("bob").await;
    phone.connect().await;
    desktop.connect().await;

    phone
        .subscribe_nodes(&room, "bob", &["messages", "subject"])
        .await;
    desktop
        .wait_until("the desktop hears of the phone's subscription", |p| {
            !changes(p, &room).is_empty()
        })
        .await;
    let c = changes(&desktop, &room).remove(0);
    assert_eq!(prop(&c, "subscribed").as_bool(), Some(true));
    assert_eq!(prop_str(&c, "nick").as_deref(), Some("bob"));
    assert_eq!(prop_strings(&c, "nodes"), ["messages", "subject"]);
    assert!(listed(&desktop).await.contains(&room));
    // The phone's own change is one callback, though the room's notice and the IQ result
    // both say it.
    assert_eq!(changes(&phone, &room).len(), 1);

    // The desktop now takes the room's events (it refused them as "not subscribed" before).
    alice.send(&room, "to both of bob's devices").await;
    for device in [&phone, &desktop] {
        device
            .wait_event(|e| prop_str(e, "body").as_deref() == Some("to both of bob's devices"))
            .await;
    }

    // Dropped on the phone: the desktop forgets it too, as its own unsubscribe() would.
    call(phone.client.unsubscribe(room.clone())).await.unwrap();
    desktop
        .wait_until("the desktop hears of the unsubscribe", |p| {
            changes(p, &room).len() == 2
        })
        .await;
    let c = changes(&desktop, &room).remove(1);
    assert_eq!(prop(&c, "subscribed").as_bool(), Some(false));
    assert!(prop_strings(&c, "nodes").is_empty());
    assert!(!listed(&desktop).await.contains(&room));
    // What it stored stays readable.
    let page = call(desktop.client.history(room.clone(), None))
        .await
        .unwrap();
    let bodies: Vec<String> = array(&prop(&page, "events"))
        .iter()
        .filter_map(|e| prop_str(e, "body"))
        .collect();
    assert!(
        bodies.contains(&"to both of bob's devices".to_string()),
        "{bodies:?}"
    );
    assert!(desktop.errors.borrow().is_empty());
    for p in [alice, phone, desktop] {
        p.close().await;
    }
}
