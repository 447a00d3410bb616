//! Tabs of one store, as two clients of one page on one store (the second follows the first
//! over the same Web Lock and BroadcastChannel two tabs use): a leader that stored a change
//! but died before broadcasting it.

use crate::support::*;
use mucsub::event::{Change, EventKind};
use mucsub::protocol::time::Timestamp;
use mucsub::store::{Page, Store};
use mucsub::wasm::IdbStore;
use wasm_bindgen_test::*;

fn has_id(e: &wasm_bindgen::JsValue, id: &str) -> bool {
    prop_str(e, "id").as_deref() == Some(id)
}

#[wasm_bindgen_test]
async fn a_tab_taking_over_fires_the_update_the_old_leader_stored_but_never_broadcast() {
    let room = fresh_room("takeover");
    let bob = Peer::subscribed("bob", &room).await;
    let leader = Peer::subscribed("alice", &room).await;
    let follower = Peer::reopen("alice", &leader.store).await;
    follower
        .wait_until("the second client to follow", |p| {
            p.client.role().as_string().as_deref() == Some("follower")
        })
        .await;

    // The follower shows two messages, relayed by the leader.
    let kept = prop_str(&bob.send(&room, "stays as shown").await, "id").unwrap();
    let changed = prop_str(&bob.send(&room, "gets a reaction").await, "id").unwrap();
    follower.wait_event(|e| has_id(e, &kept)).await;
    let shown = follower.wait_event(|e| has_id(e, &changed)).await;
    let target = prop_str(&shown, "stanzaId").expect("archived");

    // The leader commits a reaction to the second and dies before its broadcast: the
    // reaction is written into its database behind the tabs' back, then it goes.
    let db = IdbStore::open(&leader.store).await.expect("open the store");
    let message = db
        .events(&room, 50)
        .await
        .expect("stored events")
        .into_iter()
        .find(|e| e.message_id.as_deref() == Some(changed.as_str()))
        .expect("the message is stored");
    let mut reaction = message.clone();
    reaction.stanza_id = Some(format!("{target}-reaction"));
    reaction.message_id = Some(format!("{changed}-reaction"));
    reaction.nick = Some("carol".into());
    reaction.occupant_id = Some("occ-carol".into());
    reaction.timestamp = Timestamp(message.timestamp.0 + 1);
    reaction.kind = EventKind::Change {
        target: target.clone(),
        change: Change::React {
            emojis: vec!["👍".into()],
        },
    };
    let applied = db
        .apply_page(&Page::new(room.clone(), vec![reaction]))
        .await
        .expect("the reaction is stored");
    assert_eq!(applied.updated.len(), 1, "the store folds it in");
    drop(db);
    leader.close().await;

    // The follower takes the lead and shows the message as stored.
    let update = follower.wait_update(|m| has_id(m, &changed)).await;
    let thumbs = js_sys::Reflect::get(&prop(&update, "reactions"), &"👍".into()).unwrap();
    assert_eq!(
        array(&thumbs)
            .iter()
            .filter_map(|v| v.as_string())
            .collect::<Vec<_>>(),
        ["occ-carol"]
    );
    // The replay fires every update at once, oldest message first: none for the message
    // whose stored state is what the follower showed.
    let updates = follower.updates.borrow();
    let replayed: Vec<_> = updates
        .iter()
        .take_while(|m| !has_id(m, &changed))
        .filter(|m| prop_str(m, "room").as_deref() == Some(room.as_str()))
        .map(|m| prop_str(m, "id"))
        .collect();
    assert!(replayed.is_empty(), "updates before it: {replayed:?}");
}
