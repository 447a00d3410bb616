//! Schema v6 (issue 22): a database as SDK schema v5 left it (chunks without the `shown`
//! and `fk` fields, a read marker, the device's wake state) opens with the current SDK;
//! every record is kept, listing and unread counts walk the new `by_shown` index, and a
//! correction and a reaction arriving after the upgrade find their target among the
//! migrated events through the new `fold` index.

use idb::TransactionMode;
use js_sys::JSON;
use mucsub::event::{Change, EventKind, RoomEvent};
use mucsub::session::Wake;
use mucsub::store::{Own, Page, Store};
use mucsub::store_tests::message;
use mucsub::wasm::idb_schema::{self, stores, CURRENT_VERSION};
use mucsub::wasm::IdbStore;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use crate::idb_support::raw_chunks;

const ROOM: &str = "room@conference.localhost";

fn fresh_name() -> String {
    format!(
        "mucsub-migration-v6-{}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

fn json(text: &str) -> JsValue {
    JSON::parse(text).expect("test JSON")
}

/// A chunk record exactly as schema v5 wrote it: `{room, pos, dk, evs}`, no `shown`/`fk`.
fn v5_chunk(events: &[RoomEvent]) -> JsValue {
    let pos: Vec<(&str, i64, f64)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (ROOM, e.timestamp.0, i as f64))
        .collect();
    let dk: Vec<String> = events
        .iter()
        .flat_map(|e| e.dedup_keys())
        .map(|k| format!("{ROOM}\u{0}{k}"))
        .collect();
    let head = serde_json::json!({ "room": ROOM, "pos": pos, "dk": dk });
    let record = json(&head.to_string());
    let slots: Vec<serde_json::Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| serde_json::json!({ "seq": i + 1, "ord": i as f64, "ev": e }))
        .collect();
    let evs = serde_json::to_string(&slots).unwrap();
    js_sys::Reflect::set(&record, &"evs".into(), &JsValue::from_str(&evs)).unwrap();
    record
}

/// A change event of `nick` naming `target`.
fn change(sid: &str, nick: &str, ts: i64, target: &str, c: Change) -> RoomEvent {
    let mut e = message(ROOM, Some(sid), nick, &format!("id-{sid}"), ts);
    e.kind = EventKind::Change {
        target: target.into(),
        change: c,
    };
    e
}

#[wasm_bindgen_test]
async fn v5_database_gains_the_fold_indexes_and_keeps_its_data() {
    let name = fresh_name();
    let db = idb_schema::open_at(&name, 5).await.expect("open at v5");
    let tx = db
        .transaction(
            &[
                stores::ACCOUNT,
                stores::CHUNKS,
                stores::READS,
                stores::DEVICE,
            ],
            TransactionMode::ReadWrite,
        )
        .unwrap();
    let events: Vec<RoomEvent> = (1..=3)
        .map(|i| {
            message(
                ROOM,
                Some(&format!("s{i}")),
                "alice",
                &format!("m{i}"),
                i * 10,
            )
        })
        .collect();
    let put =
        |store: &str, record: JsValue| tx.object_store(store).unwrap().put(&record, None).unwrap();
    put(stores::CHUNKS, v5_chunk(&events)).await.unwrap();
    put(stores::ACCOUNT, json(r#"{"key":"seq","value":3}"#))
        .await
        .unwrap();
    let marker = format!(r#"{{"room":"{ROOM}","marker":{{"key":"sid:s1","stamp":10}}}}"#);
    put(stores::READS, json(&marker)).await.unwrap();
    let wake = Wake {
        device_id: Some("device-1".into()),
        ..Wake::default()
    };
    let text = serde_json::to_string(&wake).unwrap();
    let device = json(r#"{"key":"wake"}"#);
    js_sys::Reflect::set(&device, &"value".into(), &JsValue::from_str(&text)).unwrap();
    put(stores::DEVICE, device).await.unwrap();
    assert!(tx.commit().unwrap().await.unwrap().is_committed());
    db.close();

    let store = IdbStore::open(&name).await.expect("open migrates");
    assert_eq!(store.version().unwrap(), CURRENT_VERSION);
    // Kept: the events in their order, the read marker (two unread after s1), the wake state.
    let listed = store.events(ROOM, 10).await.unwrap();
    assert_eq!(listed, events);
    assert_eq!(store.unread(ROOM, Own::default()).await.unwrap(), 2);
    let (page, more) = store.events_before(ROOM, Some("s3"), 1).await.unwrap();
    assert_eq!((page.len(), more), (1, true));
    assert_eq!(page[0].stanza_id.as_deref(), Some("s2"));
    assert_eq!(store.load_wake().await.unwrap(), Some(wake));

    // The migrated chunk carries the new fields, computed from its events.
    let (_, chunks) = raw_chunks(&name).await;
    assert_eq!(chunks.len(), 1);
    let fk = js_sys::Array::from(&js_sys::Reflect::get(&chunks[0], &"fk".into()).unwrap());
    assert!(fk.includes(&JsValue::from_str(&format!("{ROOM}\u{0}m:m2")), 0));
    let shown = js_sys::Array::from(&js_sys::Reflect::get(&chunks[0], &"shown".into()).unwrap());
    assert_eq!(shown.length(), 3);

    // A correction (naming the message id) and a reaction (naming the stanza-id) of a
    // migrated message are folded into it; neither is listed nor counted.
    let edit = change(
        "s4",
        "alice",
        40,
        "m2",
        Change::Edit {
            body: "fixed".into(),
        },
    );
    let react = change(
        "s5",
        "bob",
        50,
        "s2",
        Change::React {
            emojis: vec!["👍".into()],
        },
    );
    store
        .apply_page(&Page::new(ROOM, vec![edit, react]))
        .await
        .unwrap();
    let listed = store.events(ROOM, 10).await.unwrap();
    assert_eq!(listed.len(), 3);
    let m2 = &listed[1];
    assert_eq!(
        m2.kind,
        EventKind::Message {
            body: "fixed".into()
        }
    );
    assert_eq!(m2.edited, ["body m2"]);
    assert_eq!(m2.reactions.get("👍"), Some(&vec!["bob".to_string()]));
    assert_eq!(store.unread(ROOM, Own::default()).await.unwrap(), 2);
}
