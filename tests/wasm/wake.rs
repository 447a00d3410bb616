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

/// `src/wasm/wake_read.rs` reads the saved state by hand; it must accept and refuse what
/// `Wake`'s derived `Deserialize` did through serde-wasm-bindgen, which `load_wake` used
/// before. Every field of a full state (nested ones too) is removed, set to `null` and to a
/// value of each JSON type in turn, and both readers compared on the result.
#[wasm_bindgen_test]
fn the_hand_reader_takes_what_the_derive_took() {
    use mucsub::wasm::wake_read;
    use serde_json::{json, Value};

    let full = serde_json::to_value(wake()).unwrap();
    let mut paths: Vec<Vec<&str>> = Vec::new();
    for (k, v) in full.as_object().unwrap() {
        paths.push(vec![k.as_str()]);
        if let Some(o) = v.as_object() {
            for k2 in o.keys() {
                paths.push(vec![k.as_str(), k2.as_str()]);
            }
        }
    }
    let values = [
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(7),
        json!(-1),
        json!(4294967295u64),
        json!(4294967296u64),
        json!(9007199254740993u64),
        json!(1.5),
        json!(""),
        json!("x"),
        json!("a@b"),
        json!("a@b/c"),
        json!([]),
        json!(["a", "b"]),
        json!(["a", 1]),
        json!({}),
        json!({"token": "t", "expiry": "e", "mechanism": "m"}),
    ];
    let mut texts: Vec<String> = vec![full.to_string()];
    for p in &paths {
        let mut removed = full.clone();
        let parent = p[..p.len() - 1]
            .iter()
            .fold(&mut removed, |v, k| v.get_mut(*k).unwrap());
        parent.as_object_mut().unwrap().remove(p[p.len() - 1]);
        texts.push(removed.to_string());
        for x in &values {
            let mut changed = full.clone();
            *p.iter().fold(&mut changed, |v, k| v.get_mut(*k).unwrap()) = x.clone();
            texts.push(changed.to_string());
        }
    }
    for t in [
        "null",
        "1",
        "\"x\"",
        "true",
        "[]",
        "{}",
        r#"{"x":1}"#,
        r#"{"manage":true}"#,
    ] {
        texts.push(t.to_owned());
    }
    let (mut read, mut refused) = (0, 0);
    for t in &texts {
        let v = js_sys::JSON::parse(t).unwrap();
        let derived: Option<Wake> = serde_wasm_bindgen::from_value(v.clone()).ok();
        let by_hand = wake_read::read(&v);
        assert_eq!(by_hand, derived, "{t}");
        match by_hand {
            Some(_) => read += 1,
            None => refused += 1,
        }
    }
    assert_eq!(
        wake_read::read(&js_sys::JSON::parse(&texts[0]).unwrap()),
        Some(wake())
    );
    // Both outcomes are exercised, many times each.
    assert!(read > 50 && refused > 50, "{read} read, {refused} refused");
}
