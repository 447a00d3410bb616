//! The store's one future over IndexedDB requests (src/wasm/idb_req.rs): a request that
//! succeeds resolves with its result, one that fails with its error (the `DOMException` the
//! `idb` crate's futures gave), and a request issued before another is awaited misses none
//! of its events. And the end of a transaction: committed, aborted, or failed by the error
//! of a request nobody awaited (as the crate's `TransactionFuture` reported each).

use idb::{Query, TransactionMode};
use js_sys::{Object, Reflect};
use mucsub::wasm::idb_req::{ended, found, listed, req};
use mucsub::wasm::idb_schema::{open_at, stores, CURRENT_VERSION};
use wasm_bindgen::{JsCast, JsValue};
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

/// Close `db` and delete it: each test leaves no database behind.
/// The value stored under `key` in the account store, read in a transaction of its own.
async fn stored(db: &idb::Database, key: &str) -> Option<String> {
    let tx = db
        .transaction(&[stores::ACCOUNT], TransactionMode::ReadOnly)
        .unwrap();
    let got = req(tx
        .object_store(stores::ACCOUNT)
        .unwrap()
        .get(Query::Key(key.into()))
        .unwrap())
    .await
    .unwrap();
    found(got).as_ref().and_then(value_of)
}

async fn drop_database(db: idb::Database, name: &str) {
    db.close();
    idb::Factory::new()
        .unwrap()
        .delete(name)
        .unwrap()
        .await
        .unwrap();
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
    drop_database(db, &name).await;
}

#[wasm_bindgen_test]
async fn a_transaction_ends_committed_aborted_or_with_a_requests_error() {
    let name = fresh_name();
    let db = open_at(&name, CURRENT_VERSION).await.unwrap();
    let readwrite = || {
        db.transaction(&[stores::ACCOUNT], TransactionMode::ReadWrite)
            .unwrap()
    };

    let tx = readwrite();
    tx.object_store(stores::ACCOUNT)
        .unwrap()
        .put(&record("a", "1"), None)
        .unwrap();
    assert_eq!(ended(tx.commit().unwrap()).await, Ok(true));

    let tx: web_sys::IdbTransaction = readwrite().into();
    let end = ended(tx.clone());
    tx.abort().unwrap();
    assert_eq!(end.await, Ok(false));

    // A request failing after the commit was asked for: its error event reaches the
    // transaction first (the abort it causes comes after), reported as the crate did.
    let tx = readwrite();
    tx.object_store(stores::ACCOUNT)
        .unwrap()
        .add(&record("a", "2"), None)
        .unwrap();
    match ended(tx.commit().unwrap()).await {
        Err(idb::Error::UnexpectedJsType("IdbTransaction", target)) => {
            assert!(target.is_instance_of::<web_sys::IdbRequest>())
        }
        other => panic!("expected the request's error event, got {other:?}"),
    }

    assert_eq!(stored(&db, "a").await.as_deref(), Some("1"));
    drop_database(db, &name).await;
}

#[wasm_bindgen_test]
async fn a_request_whose_future_was_dropped_still_commits_with_its_transaction() {
    let name = fresh_name();
    let db = open_at(&name, CURRENT_VERSION).await.unwrap();
    let tx = db
        .transaction(&[stores::ACCOUNT], TransactionMode::ReadWrite)
        .unwrap();
    let account = tx.object_store(stores::ACCOUNT).unwrap();
    // Given up before it finished (as a lookup is after an earlier one failed): its
    // success event still comes, and must find a handler that does not throw, or the
    // exception aborts the transaction.
    drop(req(account.put(&record("gone", "1"), None).unwrap()));
    let kept = req(account.put(&record("kept", "2"), None).unwrap());
    assert_eq!(kept.await.unwrap().as_string().as_deref(), Some("kept"));
    assert_eq!(ended(tx.commit().unwrap()).await, Ok(true));

    assert_eq!(stored(&db, "gone").await.as_deref(), Some("1"));
    drop_database(db, &name).await;
}
