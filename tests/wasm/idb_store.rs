//! The IndexedDB store in headless Chromium: the shared store suite (the same one the
//! memory store passes natively, one test per case), then what only IndexedDB has: history paging by archive
//! id and the re-keying of a live event once its archive id is known.

use mucsub::protocol::time::Timestamp;
use mucsub::store::{Cursor, Page, Store};
use mucsub::store_tests::message;
use mucsub::wasm::idb_schema::CURRENT_VERSION;
use mucsub::wasm::IdbStore;
use wasm_bindgen_test::*;

const ROOM: &str = "room@conference.localhost";

/// A database name no earlier run used (IndexedDB persists across test runs in a profile).
fn fresh_name(tag: &str) -> String {
    format!(
        "mucsub-test-{tag}-{}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

/// Opens `<prefix>-<name>`, the prefix fresh per test: names repeat within a test (a
/// "reload"), never across tests or runs.
fn opener(
) -> impl Fn(&'static str) -> std::pin::Pin<Box<dyn std::future::Future<Output = IdbStore>>> {
    let prefix = fresh_name("suite");
    move |name| {
        let full = format!("{prefix}-{name}");
        Box::pin(async move { IdbStore::open(&full).await.expect("open IndexedDB store") })
    }
}

/// The shared store suite, one test per case (the memory store runs the same natively).
mod shared_suite {
    use wasm_bindgen_test::wasm_bindgen_test;

    mucsub::store_suite!(wasm_bindgen_test, super::opener());
}

#[wasm_bindgen_test]
async fn opens_at_the_current_schema_version() {
    let store = IdbStore::open(&fresh_name("version")).await.unwrap();
    assert_eq!(store.version().unwrap(), CURRENT_VERSION);
}

#[wasm_bindgen_test]
async fn history_pages_backwards_by_archive_id() {
    let store = IdbStore::open(&fresh_name("history")).await.unwrap();
    let page: Vec<_> = (1..=7)
        .map(|i| message(ROOM, Some(&format!("s{i}")), "a", &format!("m{i}"), i * 10))
        .collect();
    store
        .apply_page(&Page::new(ROOM, page.clone()))
        .await
        .unwrap();

    let (newest, more) = store.events_before(ROOM, None, 3).await.unwrap();
    assert_eq!(ids(&newest), ["m5", "m6", "m7"]);
    assert!(more);
    let (older, more) = store.events_before(ROOM, Some("s5"), 3).await.unwrap();
    assert_eq!(ids(&older), ["m2", "m3", "m4"]);
    assert!(more);
    let (oldest, more) = store.events_before(ROOM, Some("s2"), 3).await.unwrap();
    assert_eq!(ids(&oldest), ["m1"]);
    assert!(!more);

    let err = store
        .events_before(ROOM, Some("nope"), 3)
        .await
        .unwrap_err();
    assert_eq!(err.code.as_str(), "item-not-found");
}

#[wasm_bindgen_test]
async fn live_event_is_rekeyed_by_its_archive_id() {
    let store = IdbStore::open(&fresh_name("rekey")).await.unwrap();
    let live = message(ROOM, None, "a", "m1", 1_000);
    store
        .apply_page(&Page::new(ROOM, vec![live]))
        .await
        .unwrap();
    let archived = message(ROOM, Some("s1"), "a", "m1", 900);
    let cursor = Cursor {
        id: "s1".into(),
        stamp: Timestamp(900),
    };
    let fresh = store
        .apply_page(&Page::new(ROOM, vec![archived]).with_cursor(cursor.clone()))
        .await
        .unwrap();
    assert!(fresh.fresh.is_empty(), "the archive copy is the same event");
    // Now reachable by its archive id, and only once.
    let (page, _) = store.events_before(ROOM, None, 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].stanza_id.as_deref(), Some("s1"));
    let newer = message(ROOM, Some("s2"), "b", "m2", 2_000);
    store
        .apply_page(&Page::new(ROOM, vec![newer]))
        .await
        .unwrap();
    let (before_s2, more) = store.events_before(ROOM, Some("s2"), 10).await.unwrap();
    assert_eq!(ids(&before_s2), ["m1"]);
    assert!(!more);
    assert_eq!(
        store.room_state(ROOM).await.unwrap().cursor,
        Some(cursor),
        "the cursor written with the page"
    );
}

#[wasm_bindgen_test]
async fn history_pages_start_on_an_archived_event() {
    let store = IdbStore::open(&fresh_name("edge")).await.unwrap();
    // s1 s2 [live x] [live y] s3 s4, by time.
    let mut page = vec![
        message(ROOM, Some("s1"), "a", "m1", 10),
        message(ROOM, Some("s2"), "a", "m2", 20),
    ];
    let mut x = message(ROOM, None, "p", "x", 30);
    x.kind = mucsub::event::EventKind::Subscribers { subscribed: true };
    let mut y = message(ROOM, None, "q", "y", 40);
    y.kind = mucsub::event::EventKind::Subscribers { subscribed: true };
    page.extend([x, y]);
    page.push(message(ROOM, Some("s3"), "a", "m3", 50));
    page.push(message(ROOM, Some("s4"), "a", "m4", 60));
    store
        .apply_page(&Page::new(ROOM, page.clone()))
        .await
        .unwrap();

    // The newest 3 would start with live event y; the page gives it up to the next one.
    let (newest, more) = store.events_before(ROOM, None, 3).await.unwrap();
    assert_eq!(ids(&newest), ["m3", "m4"]);
    assert!(more);
    let (next, more) = store.events_before(ROOM, Some("s3"), 3).await.unwrap();
    assert_eq!(ids(&next), ["m2", "x", "y"]);
    assert!(more);
    let (last, more) = store.events_before(ROOM, Some("s2"), 3).await.unwrap();
    assert_eq!(ids(&last), ["m1"]);
    assert!(!more);
}

#[wasm_bindgen_test]
async fn records_the_account_it_belongs_to() {
    let name = fresh_name("account");
    {
        let store = IdbStore::open(&name).await.unwrap();
        assert_eq!(store.account().await.unwrap(), None);
        store.set_account("bob@localhost").await.unwrap();
    }
    let store = IdbStore::open(&name).await.unwrap();
    assert_eq!(
        store.account().await.unwrap().as_deref(),
        Some("bob@localhost")
    );
}

#[wasm_bindgen_test]
async fn empty_store_name_is_refused() {
    let err = IdbStore::open("").await.unwrap_err();
    assert_eq!(err.code.as_str(), "bad-request");
}

fn ids(events: &[mucsub::event::RoomEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.message_id.clone().unwrap_or_default())
        .collect()
}
