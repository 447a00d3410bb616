//! How `IdbStore` writes pages in headless Chromium: in few chunk records, and with lookups
//! that still find every stored copy when their key ranges name too many chunks to read
//! whole. (That a batch leaves what its pages applied one by one leave is a case of the
//! shared store suite, run on IndexedDB in `wasm_idb_store.rs`.)

use mucsub::event::{RoomEvent, Source};
use mucsub::protocol::time::Timestamp;
use mucsub::store::{Cursor, Page, Store};
use mucsub::store_tests::message;
use mucsub::wasm::IdbStore;
use wasm_bindgen_test::*;

use crate::idb_support::raw_chunks;

const A: &str = "a@conference.localhost";
const B: &str = "b@conference.localhost";

fn fresh_name(tag: &str) -> String {
    format!(
        "mucsub-batch-{tag}-{}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

fn cursor(id: &str, ts: i64) -> Cursor {
    Cursor {
        id: id.into(),
        stamp: Timestamp(ts),
    }
}

fn live_with_id(room: &str, sid: &str, nick: &str, id: &str, ts: i64) -> RoomEvent {
    let mut e = message(room, Some(sid), nick, id, ts);
    e.source = Source::Live;
    e
}

/// Hundreds of stored copies without an archive id, then their archive copies and a page
/// whose ids span all of them: every copy is matched, nothing is stored twice.
#[wasm_bindgen_test]
async fn copies_in_big_chunks_are_all_found() {
    let s = IdbStore::open(&fresh_name("cap")).await.unwrap();
    const N: usize = 600;
    let live: Vec<RoomEvent> = (0..N)
        .map(|i| message(A, None, "x", &format!("m{i:04}"), 1_000 + i as i64))
        .collect();
    assert_eq!(
        s.apply_page(&Page::new(A, live)).await.unwrap().fresh.len(),
        N
    );
    let archived: Vec<RoomEvent> = (0..N)
        .map(|i| {
            message(
                A,
                Some(&format!("s{i:04}")),
                "x",
                &format!("m{i:04}"),
                1_000 + i as i64,
            )
        })
        .collect();
    let c = cursor("s0599", 1_599);
    let fresh = s
        .apply_page(&Page::new(A, archived.clone()).with_cursor(c.clone()))
        .await
        .unwrap();
    assert!(
        fresh.fresh.is_empty(),
        "every archive copy matched its live copy"
    );
    let stored = s.events(A, 2 * N).await.unwrap();
    assert_eq!(stored.len(), N);
    assert!(stored.iter().all(|e| e.stanza_id.is_some()));

    // Archive ids spanning every stored one: the id range names every chunk of the room.
    let page = vec![
        message(A, Some("s0000"), "x", "m0000", 1_000),
        message(A, Some("s0300x"), "x", "new", 1_300),
        message(A, Some("s0599"), "x", "m0599", 1_599),
    ];
    let fresh = s
        .apply_page(&Page::new(A, page.clone()))
        .await
        .unwrap()
        .fresh;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].stanza_id.as_deref(), Some("s0300x"));
    assert_eq!(s.events(A, 2 * N).await.unwrap().len(), N + 1);
}

/// Chunk records of a database, read straight from IndexedDB: `(room, events in it)`.
async fn chunks_of(name: &str) -> Vec<(String, usize)> {
    let (_, chunks) = raw_chunks(name).await;
    chunks
        .iter()
        .map(|c| {
            let room = js_sys::Reflect::get(c, &"room".into()).unwrap();
            let pos = js_sys::Array::from(&js_sys::Reflect::get(c, &"pos".into()).unwrap());
            (room.as_string().unwrap(), pos.length() as usize)
        })
        .collect()
}

/// The point of the chunk layout: a page is one record (one `put`), however many events it
/// holds up to `CHUNK_MAX`; an archive copy rewrites the chunk of its live copy in place.
#[wasm_bindgen_test]
async fn a_page_is_one_chunk_record_and_copies_rewrite_it_in_place() {
    use mucsub::wasm::idb_apply::CHUNK_MAX;
    let name = fresh_name("chunks");
    let s = IdbStore::open(&name).await.unwrap();
    let live: Vec<RoomEvent> = (0..150)
        .map(|i| message(A, None, "x", &format!("m{i:03}"), 1_000 + i))
        .collect();
    assert_eq!(
        s.apply_page(&Page::new(A, live)).await.unwrap().fresh.len(),
        150
    );
    assert_eq!(chunks_of(&name).await, [(A.to_owned(), 150)]);

    // Room A's message i, as the archive has it.
    let archived_a = |i: i64| {
        message(
            A,
            Some(&format!("s{i:03}")),
            "x",
            &format!("m{i:03}"),
            1_000 + i,
        )
    };
    let archived: Vec<RoomEvent> = (0..150).map(archived_a).collect();
    let c = cursor("s149", 1_149);
    assert!(s
        .apply_page(&Page::new(A, archived.clone()).with_cursor(c.clone()))
        .await
        .unwrap()
        .fresh
        .is_empty());
    assert_eq!(
        chunks_of(&name).await,
        [(A.to_owned(), 150)],
        "rewritten in place"
    );

    // More than a chunk holds, over two rooms in one batch: split per room and per size.
    let big: Vec<RoomEvent> = (0..CHUNK_MAX + 10)
        .map(|i| {
            message(
                B,
                Some(&format!("b{i:04}")),
                "y",
                &format!("n{i}"),
                5_000 + i as i64,
            )
        })
        .collect();
    let more: Vec<RoomEvent> = (150..160).map(archived_a).collect();
    let (b_page, a_page) = (Page::new(B, big), Page::new(A, more));
    let fresh: Vec<Vec<RoomEvent>> = s
        .apply_pages(&[&b_page, &a_page])
        .await
        .into_iter()
        .map(|r| r.unwrap().fresh)
        .collect();
    assert_eq!(fresh[0].len(), CHUNK_MAX + 10);
    assert_eq!(fresh[1].len(), 10);
    let mut chunks = chunks_of(&name).await;
    chunks.sort();
    assert_eq!(
        chunks,
        [
            (A.to_owned(), 10),
            (A.to_owned(), 150),
            (B.to_owned(), 10),
            (B.to_owned(), CHUNK_MAX)
        ]
    );
    assert_eq!(s.events(A, 1_000).await.unwrap().len(), 160);
    assert_eq!(s.events(B, 1_000).await.unwrap().len(), CHUNK_MAX + 10);
}

/// A batch whose archive ids span more chunks than a range lookup reads whole: the ids are
/// looked up one by one, and still every stored copy is found.
#[wasm_bindgen_test]
async fn ids_spanning_many_chunks_are_looked_up_one_by_one() {
    use mucsub::wasm::idb_apply::TAIL_MERGE;
    let name = fresh_name("spread");
    let s = IdbStore::open(&name).await.unwrap();
    // Pages of TAIL_MERGE events: each one chunk of its own, 70 chunks.
    let id = |i: usize| format!("s{i:05}");
    let ts = |i: usize| 1_000 + 10 * i as i64;
    for p in 0..70 {
        let page: Vec<RoomEvent> = (p * TAIL_MERGE..(p + 1) * TAIL_MERGE)
            .map(|i| message(A, Some(&id(i)), "x", &format!("m{i}"), ts(i)))
            .collect();
        assert_eq!(
            s.apply_page(&Page::new(A, page.clone()))
                .await
                .unwrap()
                .fresh
                .len(),
            TAIL_MERGE
        );
    }
    assert_eq!(chunks_of(&name).await.len(), 70);
    let last = 70 * TAIL_MERGE - 1;
    let page = vec![
        message(A, Some(&id(0)), "x", "m0", ts(0)),
        message(A, Some("s01000x"), "x", "new", ts(1_000) + 5),
        message(A, Some(&id(last)), "x", &format!("m{last}"), ts(last)),
    ];
    let fresh = s
        .apply_page(&Page::new(A, page.clone()))
        .await
        .unwrap()
        .fresh;
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].stanza_id.as_deref(), Some("s01000x"));
    let ids: Vec<String> = s
        .events(A, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.stanza_id)
        .collect();
    assert_eq!(ids.len(), 70 * TAIL_MERGE + 1);
    assert_eq!(ids[1_000..1_003], [id(1_000), "s01000x".into(), id(1_001)]);
}

/// Live events stored one at a time fill the room's newest chunk while it is small, instead
/// of making one chunk each; history still reads them in order.
#[wasm_bindgen_test]
async fn events_arriving_one_by_one_share_chunks() {
    use mucsub::wasm::idb_apply::TAIL_MERGE;
    let name = fresh_name("trickle");
    let s = IdbStore::open(&name).await.unwrap();
    let n = TAIL_MERGE + 18;
    for i in 0..n {
        let ev = live_with_id(
            A,
            &format!("s{i:03}"),
            "x",
            &format!("m{i}"),
            1_000 + i as i64,
        );
        assert_eq!(
            s.apply_page(&Page::new(A, vec![ev]))
                .await
                .unwrap()
                .fresh
                .len(),
            1
        );
    }
    let mut sizes: Vec<usize> = chunks_of(&name).await.into_iter().map(|(_, n)| n).collect();
    sizes.sort();
    assert_eq!(sizes, [18, TAIL_MERGE]);
    let bodies: Vec<String> = s
        .events(A, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.message_id)
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
    let (page, more) = s.events_before(A, Some("s040"), 5).await.unwrap();
    let ids: Vec<String> = page.into_iter().filter_map(|e| e.stanza_id).collect();
    assert_eq!(ids, ["s035", "s036", "s037", "s038", "s039"]);
    assert!(more);
}
