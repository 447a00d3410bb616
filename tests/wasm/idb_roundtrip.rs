//! Foundation check that the browser test rig is real: in headless Chromium, write a record
//! to IndexedDB in one transaction, close and reopen the database, read the record back.

use idb::{DatabaseEvent, Factory, KeyPath, ObjectStoreParams, TransactionMode};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

async fn open(name: &str) -> idb::Database {
    let factory = Factory::new().expect("indexedDB factory");
    let mut req = factory.open(name, Some(1)).expect("open request");
    req.on_upgrade_needed(|event| {
        let db = event.database().expect("db in upgrade");
        let mut params = ObjectStoreParams::new();
        params.key_path(Some(KeyPath::new_single("id")));
        db.create_object_store("records", params)
            .expect("create store");
    });
    req.await.expect("open database")
}

#[wasm_bindgen_test]
async fn indexeddb_record_survives_reopen() {
    let name = format!("roundtrip-{}", js_sys::Math::random());
    {
        let db = open(&name).await;
        let tx = db
            .transaction(&["records"], TransactionMode::ReadWrite)
            .expect("rw transaction");
        let store = tx.object_store("records").unwrap();
        let rec = js_sys::Object::new();
        js_sys::Reflect::set(&rec, &"id".into(), &"r1".into()).unwrap();
        js_sys::Reflect::set(&rec, &"body".into(), &"hello".into()).unwrap();
        store.put(&rec, None).unwrap().await.unwrap();
        tx.commit().unwrap().await.unwrap();
        db.close();
    }
    let db = open(&name).await;
    let tx = db
        .transaction(&["records"], TransactionMode::ReadOnly)
        .unwrap();
    let got = tx
        .object_store("records")
        .unwrap()
        .get(JsValue::from_str("r1"))
        .unwrap()
        .await
        .unwrap()
        .expect("record r1 present after reopen");
    let body = js_sys::Reflect::get(&got, &"body".into()).unwrap();
    assert_eq!(body.as_string().as_deref(), Some("hello"));
    db.close();
}
