//! The `fold` index entries a chunk gets (issue 24): a message's stanza-id is found through
//! its `dedup` entry, so only its message id and origin-id (once when equal) are written
//! under `fk`; lookups by each of its ids still find it, in chunks written so and in
//! chunks written before, which also carry `m:` entries for stanza-ids.

use idb::TransactionMode;
use js_sys::{Array, Reflect};
use mucsub::event::{Change, EventKind, RoomEvent};
use mucsub::store::{Page, Store};
use mucsub::store_tests::message;
use mucsub::wasm::IdbStore;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use crate::idb_support::raw_chunks;

const ROOM: &str = "room@conference.localhost";

fn fresh_name() -> String {
    format!(
        "mucsub-fold-keys-{}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

fn key(id: &str) -> JsValue {
    JsValue::from_str(&format!("{ROOM}\u{0}{id}"))
}

fn fold_keys(chunk: &JsValue) -> Array {
    Array::from(&Reflect::get(chunk, &"fk".into()).unwrap())
}

/// Message `m1` (stanza-id `s1`) and `m2` (stanza-id `s2`, origin-id equal to its id).
fn messages() -> Vec<RoomEvent> {
    let m1 = message(ROOM, Some("s1"), "alice", "m1", 10);
    let mut m2 = message(ROOM, Some("s2"), "bob", "m2", 20);
    m2.origin_id = Some("m2".into());
    vec![m1, m2]
}

/// A reaction of `nick` naming `target`.
fn reaction(sid: &str, nick: &str, ts: i64, target: &str) -> RoomEvent {
    let mut e = message(ROOM, Some(sid), nick, &format!("id-{sid}"), ts);
    e.kind = EventKind::Change {
        target: target.into(),
        change: Change::React {
            emojis: vec!["👍".into()],
        },
    };
    e
}

#[wasm_bindgen_test]
async fn a_chunk_indexes_the_ids_dedup_does_not_find_and_each_id_finds_its_message() {
    let name = fresh_name();
    let store = IdbStore::open(&name).await.unwrap();
    store
        .apply_page(&Page::new(ROOM, messages()))
        .await
        .unwrap();
    let (_, chunks) = raw_chunks(&name).await;
    assert_eq!(chunks.len(), 1);
    let fk = fold_keys(&chunks[0]);
    assert_eq!(fk.length(), 2, "one entry per message: {fk:?}");
    assert!(fk.includes(&key("m:m1"), 0));
    assert!(fk.includes(&key("m:m2"), 0));
    assert!(!fk.includes(&key("m:s1"), 0));

    for (id, want) in [("s1", "m1"), ("m1", "m1"), ("s2", "m2"), ("m2", "m2")] {
        let found = store.message_by_id(ROOM, id).await.unwrap();
        assert_eq!(
            found.and_then(|m| m.message_id).as_deref(),
            Some(want),
            "{id}"
        );
    }
    assert_eq!(store.message_by_id(ROOM, "nope").await.unwrap(), None);

    // A reaction naming the stanza-id, in a later batch, finds its message.
    store
        .apply_page(&Page::new(ROOM, vec![reaction("s3", "bob", 30, "s1")]))
        .await
        .unwrap();
    let listed = store.events(ROOM, 10).await.unwrap();
    assert_eq!(
        listed[0].reactions.get("👍"),
        Some(&vec!["bob".to_string()])
    );
}

#[wasm_bindgen_test]
async fn a_chunk_written_with_stanza_id_fold_keys_still_reads() {
    let name = fresh_name();
    let store = IdbStore::open(&name).await.unwrap();
    store
        .apply_page(&Page::new(ROOM, messages()))
        .await
        .unwrap();
    drop(store);
    // Give the chunk the `m:` entries of the stanza-ids, as the SDK wrote them before.
    let db = idb::Factory::new()
        .unwrap()
        .open(&name, None)
        .unwrap()
        .await
        .unwrap();
    let tx = db
        .transaction(&["chunks"], TransactionMode::ReadWrite)
        .unwrap();
    let chunks = tx.object_store("chunks").unwrap();
    let chunk = chunks.get_all(None, None).unwrap().await.unwrap().remove(0);
    // `Array::from` is JS `Array.from`, a copy: set it back.
    let fk = fold_keys(&chunk);
    fk.push(&key("m:s1"));
    fk.push(&key("m:s2"));
    Reflect::set(&chunk, &"fk".into(), &fk).unwrap();
    chunks.put(&chunk, None).unwrap().await.unwrap();
    assert!(tx.commit().unwrap().await.unwrap().is_committed());
    db.close();

    let (_, stored) = raw_chunks(&name).await;
    assert!(fold_keys(&stored[0]).includes(&key("m:s1"), 0));
    let store = IdbStore::open(&name).await.unwrap();
    for (id, want) in [("s1", "m1"), ("m2", "m2")] {
        let found = store.message_by_id(ROOM, id).await.unwrap();
        assert_eq!(
            found.and_then(|m| m.message_id).as_deref(),
            Some(want),
            "{id}"
        );
    }
    store
        .apply_page(&Page::new(ROOM, vec![reaction("s3", "carol", 30, "s2")]))
        .await
        .unwrap();
    let listed = store.events(ROOM, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[1].reactions.get("👍"),
        Some(&vec!["carol".to_string()])
    );
}
