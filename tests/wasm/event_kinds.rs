//! Every event kind survives IndexedDB: stored in a chunk and read back (through
//! `JSON.parse` and serde-wasm-bindgen, the browser's path, which `src/event/kind_serde.rs`
//! reads with a hand-written visitor) equal to what was written.

use mucsub::event::EventKind;
use mucsub::store::{Page, Store};
use mucsub::store_tests::message;
use mucsub::wasm::IdbStore;
use wasm_bindgen_test::*;

const ROOM: &str = "kinds@conference.localhost";

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// One value of every listed variant, optional fields both set and unset. `Change` events
/// are never listed: the store suite's change cases read them back (a change stored before
/// its target is folded into it when the target arrives).
fn every_kind() -> Vec<EventKind> {
    vec![
        EventKind::Message {
            body: "hi \"there\" ✓".into(),
        },
        EventKind::Subject {
            subject: String::new(),
        },
        EventKind::Presence {
            available: false,
            role: s("none"),
            affiliation: None,
            codes: vec![110, 307],
        },
        EventKind::Participants {
            joined: true,
            role: None,
            affiliation: s("member"),
        },
        EventKind::Affiliation {
            affiliation: s("outcast"),
            role: None,
            codes: vec![301],
            reason: s("spam"),
            actor: None,
        },
        EventKind::Config {
            codes: vec![],
            destroyed: true,
            reason: None,
        },
        EventKind::Subscribers { subscribed: false },
        EventKind::System { body: None },
        EventKind::System { body: s("notice") },
    ]
}

#[wasm_bindgen_test]
async fn every_kind_reads_back_as_written() {
    let name = format!(
        "mucsub-test-kinds-{}",
        (js_sys::Math::random() * 1e12) as u64
    );
    let written: Vec<_> = every_kind()
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let mut ev = message(
                ROOM,
                Some(&format!("s{i}")),
                "a",
                &format!("m{i}"),
                1_000 + i as i64,
            );
            ev.kind = kind;
            ev
        })
        .collect();
    IdbStore::open(&name)
        .await
        .unwrap()
        .apply_page(&Page::new(ROOM, written.clone()))
        .await
        .unwrap();
    // A new connection to the database reads what the first one stored.
    let store = IdbStore::open(&name).await.unwrap();
    let mut read = store.events(ROOM, 100).await.unwrap();
    read.sort_by_key(|e| e.timestamp);
    assert_eq!(read, written);
}
