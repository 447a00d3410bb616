//! What a browser device wakes with, in IndexedDB (schema v5 `device`): a database an
//! older SDK (v4) left gains the store and keeps its data; the wake state — device id, FAST
//! token, stream-management state, the server's SASL2 offer — is saved, read back as it
//! was, and cleared on sign-out.

use jid::FullJid;
use mucsub::session::{FastToken, Sasl2Offer, StreamState, Wake};
use mucsub::wasm::idb_schema::{self, stores, CURRENT_VERSION};
use mucsub::wasm::IdbStore;
use wasm_bindgen_test::*;

fn fresh_name(tag: &str) -> String {
    format!(
        "mucsub-wake-{tag}-{}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

fn wake() -> Wake {
    let mut stream = StreamState::enabling(FullJid::new("bob@localhost/web-1").unwrap());
    stream.enabled = true;
    stream.id = Some("sm-1".into());
    stream.inbound = 7;
    stream.on_sent("<message xmlns='jabber:client' id='m1'/>");
    Wake {
        manage: true,
        device_id: Some("dev-1".into()),
        token: Some(FastToken {
            token: "secret-token".into(),
            expiry: "2027-01-01T00:00:00Z".into(),
            mechanism: "HT-SHA-256-NONE".into(),
        }),
        stream: Some(stream),
        // What lets the next wake send its sign-in with the stream header.
        sasl2: Some(Sasl2Offer {
            inline_sm: true,
            bind: Some(vec!["urn:xmpp:sm:3".into(), "urn:xmpp:csi:0".into()]),
            fast: vec!["HT-SHA-256-NONE".into()],
        }),
        invalidate: false,
        tag: None,
    }
}

#[wasm_bindgen_test]
async fn a_v4_database_gains_the_device_store_and_keeps_its_account() {
    let name = fresh_name("v4");
    let db = idb_schema::open_at(&name, 4).await.expect("open at v4");
    assert!(!db.store_names().contains(&stores::DEVICE.to_string()));
    db.close();
    {
        let store = IdbStore::open(&name).await.expect("open with this SDK");
        store.set_account("bob@localhost").await.unwrap();
    }
    let db = idb_schema::open_at(&name, CURRENT_VERSION).await.unwrap();
    assert_eq!(db.version().unwrap(), CURRENT_VERSION);
    assert!(db.store_names().contains(&stores::DEVICE.to_string()));
    db.close();
    let store = IdbStore::open(&name).await.unwrap();
    assert_eq!(
        store.account().await.unwrap().as_deref(),
        Some("bob@localhost")
    );
    assert_eq!(store.load_wake().await.unwrap(), None, "nothing saved yet");
}

#[wasm_bindgen_test]
async fn the_wake_state_is_saved_read_back_and_cleared() {
    let store = IdbStore::open(&fresh_name("rw")).await.unwrap();
    assert_eq!(store.load_wake().await.unwrap(), None);
    let w = wake();
    store.save_wake(&w).await.unwrap();
    assert_eq!(store.load_wake().await.unwrap(), Some(w.clone()));
    // A later state replaces it (a rotated token, a new `h`).
    let mut later = w;
    later.stream.as_mut().unwrap().inbound = 9;
    store.save_wake(&later).await.unwrap();
    assert_eq!(store.load_wake().await.unwrap(), Some(later));
    store.clear_wake().await.unwrap();
    assert_eq!(store.load_wake().await.unwrap(), None, "signed out");
}
