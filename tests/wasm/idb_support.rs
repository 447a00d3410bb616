//! Helpers shared by the IndexedDB store tests: what a database holds, read straight from
//! IndexedDB rather than through the store under test.

use idb::TransactionMode;
use wasm_bindgen::JsValue;

/// The object store names of database `name` and every record of its `chunks` store.
pub async fn raw_chunks(name: &str) -> (Vec<String>, Vec<JsValue>) {
    let db = idb::Factory::new()
        .unwrap()
        .open(name, None)
        .unwrap()
        .await
        .unwrap();
    let stores = db.store_names();
    let chunks = db
        .transaction(&["chunks"], TransactionMode::ReadOnly)
        .unwrap()
        .object_store("chunks")
        .unwrap()
        .get_all(None, None)
        .unwrap()
        .await
        .unwrap();
    db.close();
    (stores, chunks)
}
