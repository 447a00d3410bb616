//! The store's one future over IndexedDB requests (src/wasm/idb_req.rs): a request that
//! succeeds resolves with its result, one that fails with its error (the `DOMException` the
//! `idb` crate's futures gave), and a request issued before another is awaited misses none
//! of its events.

use idb::{Query, TransactionMode};
use js_sys::{Object, Reflect};
use mucsub::wasm::idb_req::{found, listed, req};
use mucsub::wasm::idb_schema::{open_at, stores, CURRENT_VERSION};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

fn fresh_name() -> String {
    format!("mucsub-test-req-{}", (js_sys::Math::random() * 1e12) as u64)
}

fn record(key: &str, value: &str) -> JsValue {
    let r = Object::new();
    Reflect::set(&r, &"key".into(), &key.into()).unwrap();
    Reflect::set(&r, &"value".into(), &value.into()).unwrap();
    r.into()
}

fn value_of(record: &JsValue) -> Option<String> {
    Reflect::get(record, &"value".into()).unwrap().as_string()
}

#[wasm_bindgen_test]
async fn a_request_resolves_with_its_result_and_fails_with_its_error() {
    let name = fresh_name();
    let db = open_at(&name, CURRENT_VERSION).await.unwrap();

    let tx = db
        .transaction(&[stores::ACCOUNT], TransactionMode::ReadWrite)
        .unwrap();
    let account = tx.object_store(stores::ACCOUNT).unwrap();
    // Issued together, awaited in the other order: the second finishes first, and the
    // first's events, fired before anything awaits it, are not missed.
    let put_a = req(account.put(&record("a", "1"), None).unwrap());
    let put_b = req(account.put(&record("b", "2"), None).unwrap());
    assert_eq!(put_b.await.unwrap().as_string().as_deref(), Some("b"));
    assert_eq!(put_a.await.unwrap().as_string().as_deref(), Some("a"));

    let got = req(account.get(Query::Key("a".into())).unwrap())
        .await
        .unwrap();
    assert_eq!(found(got).as_ref().and_then(value_of).as_deref(), Some("1"));
    let missing = req(account.get(Query::Key("z".into())).unwrap())
        .await
        .unwrap();
    assert!(found(missing).is_none());
    let all = listed(req(account.get_all(None, None).unwrap()).await.unwrap());
    let values: Vec<Option<String>> = all.iter().map(value_of).collect();
    assert_eq!(values, [Some("1".into()), Some("2".into())]);

    // `add` of a key already there fails with a ConstraintError (and aborts the
    // transaction, as any unhandled request error does).
    let dup = req(account.add(&record("a", "3"), None).unwrap()).await;
    match dup {
        Err(idb::Error::DomException(e)) => assert_eq!(e.name(), "ConstraintError"),
        other => panic!("expected the request's DOMException, got {other:?}"),
    }
    drop(tx);

    // Nothing of the aborted transaction was kept (this transaction starts after it ended).
    let tx = db
        .transaction(&[stores::ACCOUNT], TransactionMode::ReadOnly)
        .unwrap();
    let all = listed(
        req(tx
            .object_store(stores::ACCOUNT)
            .unwrap()
            .get_all(None, None)
            .unwrap())
        .await
        .unwrap(),
    );
    assert!(all.is_empty());
    db.close();
    idb::Factory::new()
        .unwrap()
        .delete(&name)
        .unwrap()
        .await
        .unwrap();
}
