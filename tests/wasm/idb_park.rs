//! The parked connection (src/wasm/idb_conn.rs): while the page sits in the back/forward
//! cache the store holds no connection and starts no transaction; a store call made
//! meanwhile waits, and once the page is back it opens the database again and goes on.
//! (What parking prevents, a frozen page's transaction blocking every other tab, is
//! WebKit's and only shows across pages: tests/e2e/back-forward-cache.test.mjs.)

use std::cell::Cell;
use std::rc::Rc;

use mucsub::wasm::socket::sleep;
use mucsub::wasm::IdbStore;
use wasm_bindgen_test::*;

fn fresh_name() -> String {
    format!(
        "mucsub-test-park-{}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

#[wasm_bindgen_test]
async fn a_parked_store_blocks_nobody_and_resumes_when_unparked() {
    let name = fresh_name();
    let store = Rc::new(IdbStore::open(&name).await.unwrap());
    store.set_account("bob@localhost").await.unwrap();

    store.park();
    // A call while parked waits for the page to come back.
    let done = Rc::new(Cell::new(false));
    let (s, d) = (store.clone(), done.clone());
    wasm_bindgen_futures::spawn_local(async move {
        assert_eq!(s.account().await.unwrap().as_deref(), Some("bob@localhost"));
        d.set(true);
    });
    sleep(200.0).await;
    assert!(!done.get(), "a parked store does not touch the database");

    store.unpark();
    for _ in 0..200 {
        if done.get() {
            break;
        }
        sleep(10.0).await;
    }
    assert!(
        done.get(),
        "the call went through once the store was unparked"
    );
    store.set_account("bob@localhost").await.unwrap();
}
