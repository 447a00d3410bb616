//! Schema migrations of the IndexedDB store: a database as SDK schema v1 (v2, v3) left it,
//! with data in it, opens with the current SDK; its data is intact and works with what v2
//! (dedup index), v3 (archive order, read markers) and v4 (events in chunks) added.
//! A migration that fails leaves the old version and its data untouched.

use idb::{Query, TransactionMode};
use js_sys::{Array, JSON};
use mucsub::protocol::time::Timestamp;
use mucsub::protocol::Node;
use mucsub::store::{Cursor, Own, Page, Store};
use mucsub::store_tests::message;
use mucsub::wasm::idb_schema::{self, stores, CURRENT_VERSION};
use mucsub::wasm::IdbStore;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use crate::idb_support::raw_chunks;

const ROOM: &str = "room@conference.localhost";

fn fresh_name(tag: &str) -> String {
    format!(
        "mucsub-migration-{tag}-{}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

fn json(text: &str) -> JsValue {
    JSON::parse(text).expect("test JSON")
}

/// Put `record` into `store` as an older SDK wrote it.
async fn put_json(tx: &idb::Transaction, store: &str, record: JsValue) {
    tx.object_store(store)
        .unwrap()
        .put(&record, None)
        .unwrap()
        .await
        .unwrap();
}

/// A v1 message record exactly as schema v1 wrote it: no `dk` field.
fn v1_message(key: JsValue, seq: u32, ts: i64, ev_json: &str) -> JsValue {
    let rec = json(&format!(r#"{{"room":"{ROOM}","ts":{ts},"seq":{seq}}}"#));
    js_sys::Reflect::set(&rec, &"k".into(), &key).unwrap();
    js_sys::Reflect::set(&rec, &"ev".into(), &json(ev_json)).unwrap();
    rec
}

/// Build a schema-v1 database holding: two archived messages, one live message that has no
/// archive id yet, a subscription, a cursor, a gap and the insertion counter.
async fn write_v1_database(name: &str, extra_bad_record: bool) {
    let db = idb_schema::open_at(name, 1).await.expect("open at v1");
    assert_eq!(db.version().unwrap(), 1);
    let tx = db
        .transaction(
            &[
                stores::ACCOUNT,
                stores::SUBSCRIPTIONS,
                stores::MESSAGES,
                stores::CURSORS,
                stores::GAPS,
            ],
            TransactionMode::ReadWrite,
        )
        .unwrap();
    let messages = tx.object_store(stores::MESSAGES).unwrap();
    let k = |id: JsValue| -> JsValue { Array::of2(&ROOM.into(), &id).into() };
    let records = [
        v1_message(
            k("s1".into()),
            1,
            10,
            r#"{"room":"room@conference.localhost","kind":{"type":"message","body":"first"},
                "stanza_id":"s1","origin_id":null,"message_id":"m1","item_id":null,
                "nick":"alice","real_jid":null,"timestamp":10,"source":"archive"}"#,
        ),
        v1_message(
            k("s2".into()),
            2,
            20,
            r#"{"room":"room@conference.localhost","kind":{"type":"subject","subject":"topic"},
                "stanza_id":"s2","origin_id":null,"message_id":"m2","item_id":null,
                "nick":"alice","real_jid":null,"timestamp":20,"source":"archive"}"#,
        ),
        v1_message(
            k(JsValue::from_f64(3.0)),
            3,
            30,
            r#"{"room":"room@conference.localhost","kind":{"type":"message","body":"live one"},
                "stanza_id":null,"origin_id":null,"message_id":"m3","item_id":null,
                "nick":"bob","real_jid":null,"timestamp":30,"source":"live"}"#,
        ),
    ];
    for r in &records {
        messages.put(r, None).unwrap().await.unwrap();
    }
    if extra_bad_record {
        // Something no SDK version can read: the migration must refuse, not guess.
        let bad = v1_message(k("s9".into()), 9, 90, r#"{"kind":"garbage"}"#);
        messages.put(&bad, None).unwrap().await.unwrap();
    }
    put_json(&tx, stores::ACCOUNT, json(r#"{"key":"seq","value":3}"#)).await;
    let subscription = format!(
        r#"{{"room":"{ROOM}","rec":{{"room":"{ROOM}","nick":"bob","nodes":["messages","subject"]}}}}"#
    );
    put_json(&tx, stores::SUBSCRIPTIONS, json(&subscription)).await;
    put_json(
        &tx,
        stores::CURSORS,
        json(&format!(
            r#"{{"room":"{ROOM}","cursor":{{"id":"s2","stamp":20}}}}"#
        )),
    )
    .await;
    let gap = format!(
        r#"{{"room":"{ROOM}","gap":{{"after_id":null,"after_stamp":null,"before_id":"s1","before_stamp":10}}}}"#
    );
    put_json(&tx, stores::GAPS, json(&gap)).await;
    assert!(tx.commit().unwrap().await.unwrap().is_committed());
    db.close();
}

#[wasm_bindgen_test]
async fn v1_database_with_data_migrates_to_current() {
    let name = fresh_name("v1");
    write_v1_database(&name, false).await;

    let store = IdbStore::open(&name).await.expect("open migrates");
    assert_eq!(store.version().unwrap(), CURRENT_VERSION);

    // Everything v1 held is readable.
    let snap = store.load().await.unwrap();
    assert_eq!(snap.subscriptions.len(), 1);
    assert_eq!(snap.subscriptions[0].nick.as_deref(), Some("bob"));
    assert_eq!(
        snap.subscriptions[0].nodes,
        vec![Node::Messages, Node::Subject]
    );
    let state = snap.rooms.iter().find(|r| r.room == ROOM).unwrap();
    assert_eq!(
        state.cursor,
        Some(Cursor {
            id: "s2".into(),
            stamp: Timestamp(20)
        })
    );
    assert_eq!(state.gaps.len(), 1);
    assert_eq!(state.gaps[0].before_id.as_deref(), Some("s1"));
    let events = store.events(ROOM, 10).await.unwrap();
    let ids: Vec<_> = events
        .iter()
        .map(|e| e.message_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["m1", "m2", "m3"]);

    // v2's dedup index covers the migrated records: the archived copy of the live event
    // (found by sender + message id, which v1 could not index) is not a new event...
    let archived = message(ROOM, Some("s3"), "bob", "m3", 30);
    let fresh = store
        .apply_page(&Page::new(ROOM, vec![archived]))
        .await
        .unwrap();
    assert!(
        fresh.fresh.is_empty(),
        "migrated live event recognised by its message id"
    );
    let (page, _) = store.events_before(ROOM, Some("s3"), 10).await.unwrap();
    assert_eq!(page.len(), 2, "the live event now carries archive id s3");

    // ...and a resync page's event of the same millisecond goes after the migrated one.
    let newer = message(ROOM, Some("s4"), "carol", "m4", 30);
    let cursor = Cursor {
        id: "s4".into(),
        stamp: Timestamp(30),
    };
    assert_eq!(
        store
            .apply_page(&Page::new(ROOM, vec![newer]).with_cursor(cursor.clone()))
            .await
            .unwrap()
            .fresh
            .len(),
        1
    );
    let last = store.events(ROOM, 1).await.unwrap();
    assert_eq!(
        last[0].message_id.as_deref(),
        Some("m4"),
        "same timestamp as m3, newer in the archive"
    );
    // v3's read markers work on migrated data.
    assert!(store.mark_read(ROOM, Some("s1")).await.unwrap());
    assert_eq!(store.unread(ROOM, Own::default()).await.unwrap(), 2);
}

/// A v2 message record exactly as schema v2 wrote it: `dk` but no `ord`.
fn v2_message(id: &str, seq: u32, ts: i64, nick: &str) -> JsValue {
    let ev = format!(
        r#"{{"room":"{ROOM}","kind":{{"type":"message","body":"b {id}"}},
            "stanza_id":"{id}","origin_id":null,"message_id":"m-{id}","item_id":null,
            "nick":"{nick}","real_jid":null,"timestamp":{ts},"source":"archive"}}"#
    );
    let rec = v1_message(Array::of2(&ROOM.into(), &id.into()).into(), seq, ts, &ev);
    let dk: Array = [format!("sid:{id}"), format!("mid:{nick}\u{0}m-{id}")]
        .iter()
        .map(|k| JsValue::from_str(&format!("{ROOM}\u{0}{k}")))
        .collect();
    js_sys::Reflect::set(&rec, &"dk".into(), &dk).unwrap();
    rec
}

/// A v2 database (insertion order within a millisecond) becomes v3 (archive order, read
/// markers) keeping the order it had; from then on older pages go before newer events of
/// the same millisecond.
#[wasm_bindgen_test]
async fn v2_database_keeps_its_order_and_gains_archive_order_and_read_markers() {
    let name = fresh_name("v2");
    let db = idb_schema::open_at(&name, 2).await.expect("open at v2");
    let tx = db
        .transaction(
            &[stores::ACCOUNT, stores::MESSAGES],
            TransactionMode::ReadWrite,
        )
        .unwrap();
    let messages = tx.object_store(stores::MESSAGES).unwrap();
    // Three events of one millisecond, inserted c, d, e; then f a millisecond later.
    for (i, id) in ["c", "d", "e"].iter().enumerate() {
        messages
            .put(&v2_message(id, i as u32 + 1, 50, "a"), None)
            .unwrap()
            .await
            .unwrap();
    }
    messages
        .put(&v2_message("f", 4, 51, "a"), None)
        .unwrap()
        .await
        .unwrap();
    put_json(&tx, stores::ACCOUNT, json(r#"{"key":"seq","value":4}"#)).await;
    assert!(tx.commit().unwrap().await.unwrap().is_committed());
    db.close();

    let store = IdbStore::open(&name).await.expect("open migrates");
    assert_eq!(store.version().unwrap(), CURRENT_VERSION);
    let ids = |evs: &[mucsub::event::RoomEvent]| -> Vec<String> {
        evs.iter().map(|e| e.stanza_id.clone().unwrap()).collect()
    };
    assert_eq!(
        ids(&store.events(ROOM, 10).await.unwrap()),
        ["c", "d", "e", "f"]
    );
    // An older history page of the same millisecond, fetched now: before c.
    let older = [
        message(ROOM, Some("a"), "a", "m-a", 50),
        message(ROOM, Some("b"), "a", "m-b", 50),
    ];
    store
        .apply_page(&Page::new(ROOM, older.to_vec()))
        .await
        .unwrap();
    assert_eq!(
        ids(&store.events(ROOM, 10).await.unwrap()),
        ["a", "b", "c", "d", "e", "f"]
    );
    // Paging backwards by archive id follows the same order.
    let (page, more) = store.events_before(ROOM, Some("d"), 2).await.unwrap();
    assert_eq!(ids(&page), ["b", "c"]);
    assert!(more);
    // Read markers are new in v3.
    assert_eq!(store.read_marker(ROOM).await.unwrap(), None);
    assert!(store.mark_read(ROOM, Some("d")).await.unwrap());
    assert_eq!(store.unread(ROOM, Own::default()).await.unwrap(), 2);
    let me = Own {
        nick: Some("a"),
        jid: None,
    };
    assert_eq!(store.unread(ROOM, me).await.unwrap(), 0, "all sent by us");
}

/// A v3 database (one record per event) becomes v4 (chunks): every event keeps its order
/// and insertion number, the per-event store is gone, and read markers, dedup of a live
/// copy by its message id and paging by archive id work on the moved events.
#[wasm_bindgen_test]
async fn v3_database_moves_its_events_into_chunks() {
    let name = fresh_name("v3");
    let db = idb_schema::open_at(&name, 3).await.expect("open at v3");
    let tx = db
        .transaction(
            &[stores::ACCOUNT, stores::MESSAGES, stores::READS],
            TransactionMode::ReadWrite,
        )
        .unwrap();
    let messages = tx.object_store(stores::MESSAGES).unwrap();
    // 250 archived events (more than one migrated chunk holds), then a live one without an
    // archive id, keyed by its insertion number; two of them share a millisecond in an
    // order (ord) that insertion order would get wrong.
    for i in 1..=250u32 {
        let ts = if i == 11 { 10 } else { i as i64 };
        let rec = v2_message(&format!("s{i:03}"), i, ts, "a");
        let ord = if i == 10 { 1.0 } else { 0.0 };
        js_sys::Reflect::set(&rec, &"ord".into(), &JsValue::from_f64(ord)).unwrap();
        messages.put(&rec, None).unwrap().await.unwrap();
    }
    let live = v1_message(
        Array::of2(&ROOM.into(), &JsValue::from_f64(251.0)).into(),
        251,
        300,
        r#"{"room":"room@conference.localhost","kind":{"type":"message","body":"live one"},
            "stanza_id":null,"origin_id":null,"message_id":"m-live","item_id":null,
            "nick":"bob","real_jid":null,"timestamp":300,"source":"live"}"#,
    );
    let dk: Array = [JsValue::from_str(&format!("{ROOM}\u{0}mid:bob\u{0}m-live"))]
        .into_iter()
        .collect();
    js_sys::Reflect::set(&live, &"dk".into(), &dk).unwrap();
    js_sys::Reflect::set(&live, &"ord".into(), &JsValue::from_f64(0.0)).unwrap();
    messages.put(&live, None).unwrap().await.unwrap();
    put_json(&tx, stores::ACCOUNT, json(r#"{"key":"seq","value":251}"#)).await;
    put_json(
        &tx,
        stores::READS,
        json(&format!(
            r#"{{"room":"{ROOM}","marker":{{"key":"sid:s240","stamp":240}}}}"#
        )),
    )
    .await;
    assert!(tx.commit().unwrap().await.unwrap().is_committed());
    db.close();

    let store = IdbStore::open(&name).await.expect("open migrates");
    assert_eq!(store.version().unwrap(), CURRENT_VERSION);
    let ids = |evs: &[mucsub::event::RoomEvent]| -> Vec<String> {
        evs.iter()
            .map(|e| e.stanza_id.clone().unwrap_or_else(|| "live".into()))
            .collect()
    };
    let all = store.events(ROOM, 1_000).await.unwrap();
    assert_eq!(all.len(), 251);
    assert_eq!(
        ids(&all[8..11]),
        ["s009", "s011", "s010"],
        "v3's order kept"
    );
    assert_eq!(ids(&all[248..]), ["s249", "s250", "live"]);

    // Straight from IndexedDB: `messages` is gone, the events sit in chunks of one room.
    let (names, chunks) = raw_chunks(&name).await;
    assert!(!names.contains(&stores::MESSAGES.to_owned()));
    assert_eq!(chunks.len(), 3, "251 events, 100 to a migrated chunk");

    // The read marker still finds its event: 10 archived events and the live one follow.
    assert_eq!(store.unread(ROOM, Own::default()).await.unwrap(), 11);
    // The archive copy of the live event is the same event, found by its message id.
    let archived = message(ROOM, Some("s251"), "bob", "m-live", 300);
    assert!(store
        .apply_page(&Page::new(ROOM, vec![archived]))
        .await
        .unwrap()
        .fresh
        .is_empty());
    let (page, more) = store.events_before(ROOM, Some("s251"), 3).await.unwrap();
    assert_eq!(ids(&page), ["s248", "s249", "s250"]);
    assert!(more);
    // New events get insertion numbers after the migrated ones: none is taken twice.
    let newer = message(ROOM, Some("s252"), "carol", "m252", 400);
    assert_eq!(
        store
            .apply_page(&Page::new(ROOM, vec![newer]))
            .await
            .unwrap()
            .fresh
            .len(),
        1
    );
    assert_eq!(store.events(ROOM, 1_000).await.unwrap().len(), 252);
}

#[wasm_bindgen_test]
async fn failed_migration_keeps_the_old_version_and_data() {
    let name = fresh_name("bad");
    write_v1_database(&name, true).await;

    let err = IdbStore::open(&name).await.unwrap_err();
    assert_eq!(err.code.as_str(), "store", "{err}");

    // Still v1, every record still there.
    let db = idb_schema::open_at(&name, 1).await.expect("reopen at v1");
    assert_eq!(db.version().unwrap(), 1);
    let tx = db
        .transaction(&[stores::MESSAGES], TransactionMode::ReadOnly)
        .unwrap();
    let n = tx
        .object_store(stores::MESSAGES)
        .unwrap()
        .count(None)
        .unwrap()
        .await
        .unwrap();
    assert_eq!(n, 4);
    let live_key: JsValue = Array::of2(&ROOM.into(), &JsValue::from_f64(3.0)).into();
    assert!(tx
        .object_store(stores::MESSAGES)
        .unwrap()
        .get(Query::Key(live_key))
        .unwrap()
        .await
        .unwrap()
        .is_some());
    db.close();
}

#[wasm_bindgen_test]
async fn unknown_schema_versions_are_refused() {
    let err = idb_schema::open_at(&fresh_name("v0"), 0).await.unwrap_err();
    assert_eq!(err.code.as_str(), "bad-request");
    let err = idb_schema::open_at(&fresh_name("vnext"), CURRENT_VERSION + 1)
        .await
        .unwrap_err();
    assert_eq!(err.code.as_str(), "bad-request");
}
