//! `IdbStore::apply_pages` in headless Chromium: a batch of pages in one transaction must
//! leave exactly what applying the same pages one by one leaves, and the lookups that
//! replace per-key requests must still find every stored copy when their key ranges are
//! too broad to read whole.
#![cfg(target_arch = "wasm32")]

use mucsub::event::{RoomEvent, Source};
use mucsub::protocol::time::Timestamp;
use mucsub::store::{Cursor, Gap, Store};
use mucsub::store_tests::message;
use mucsub::wasm::idb_apply::PageWrite;
use mucsub::wasm::IdbStore;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const A: &str = "a@conference.localhost";
const B: &str = "b@conference.localhost";

fn fresh_name(tag: &str) -> String {
    format!(
        "mucsub-batch-{tag}-{}",
        (js_sys::Math::random() * 1e12) as u64
    )
}

type Page = (&'static str, Vec<RoomEvent>, Option<Cursor>, Option<Gap>);

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

/// Live copies, their archive copies (re-keying, moving in time), duplicates inside the
/// batch, several events of one millisecond, a history page, a gap, two rooms.
fn scenario() -> Vec<Page> {
    let gap = Gap {
        after_id: Some("s3".into()),
        after_stamp: Some(Timestamp(1_000)),
        before_id: Some("s9".into()),
        before_stamp: Some(Timestamp(5_000)),
    };
    vec![
        (A, vec![message(A, None, "x", "m1", 1_100)], None, None),
        (B, vec![live_with_id(B, "t1", "y", "n1", 1_000)], None, None),
        (A, vec![message(A, None, "y", "m2", 1_000)], None, None),
        (B, vec![live_with_id(B, "t2", "y", "n2", 1_000)], None, None),
        (
            A,
            vec![
                message(A, Some("s1"), "x", "m1", 1_000),
                message(A, Some("s2"), "y", "m2", 1_000),
                message(A, Some("s3"), "z", "m3", 1_000),
            ],
            Some(cursor("s3", 1_000)),
            None,
        ),
        (A, vec![live_with_id(A, "s3", "z", "m3", 1_300)], None, None),
        (
            A,
            vec![
                message(A, Some("s0"), "w", "m0", 1_000),
                message(A, Some("s0"), "w", "m0", 1_000),
            ],
            None,
            None,
        ),
        (B, vec![live_with_id(B, "t3", "y", "n3", 1_000)], None, None),
        (A, vec![message(A, None, "x", "m4", 1_000)], None, None),
        (A, Vec::new(), Some(cursor("s9", 5_000)), Some(gap)),
        (
            A,
            vec![live_with_id(A, "s10", "x", "m5", 6_000)],
            None,
            None,
        ),
    ]
}

async fn dump(s: &IdbStore) -> Vec<(Vec<RoomEvent>, Option<Cursor>, Vec<Gap>)> {
    let mut out = Vec::new();
    for room in [A, B] {
        let st = s.room_state(room).await.unwrap();
        out.push((s.events(room, 100).await.unwrap(), st.cursor, st.gaps));
    }
    out
}

#[wasm_bindgen_test]
async fn a_batch_of_pages_equals_the_pages_applied_one_by_one() {
    let pages = scenario();
    let one_by_one = IdbStore::open(&fresh_name("seq")).await.unwrap();
    let mut fresh_seq = Vec::new();
    for (room, events, c, g) in &pages {
        fresh_seq.push(
            one_by_one
                .apply_page(room, events, c.as_ref(), g.as_ref())
                .await
                .unwrap(),
        );
    }
    let batched = IdbStore::open(&fresh_name("batch")).await.unwrap();
    let writes: Vec<PageWrite> = pages
        .iter()
        .map(|(room, events, c, g)| PageWrite {
            room,
            events,
            cursor: c.as_ref(),
            gap: g.as_ref(),
        })
        .collect();
    let fresh_batch = batched.apply_pages(&writes).await.unwrap();
    assert_eq!(fresh_batch, fresh_seq, "the same new events, page by page");
    let expected = dump(&one_by_one).await;
    assert_eq!(dump(&batched).await, expected);
    // The scenario does what it claims: m1 re-keyed and moved, s0 before s1 within 1000 ms.
    let a: Vec<Option<String>> = expected[0].0.iter().map(|e| e.stanza_id.clone()).collect();
    assert_eq!(
        a,
        [
            Some("s0".into()),
            Some("s1".into()),
            Some("s2".into()),
            Some("s3".into()),
            None,
            Some("s10".into())
        ]
    );
    assert_eq!(expected[1].0.len(), 3);
}

#[wasm_bindgen_test]
async fn a_batch_with_a_foreign_event_is_refused_whole() {
    let s = IdbStore::open(&fresh_name("atomic")).await.unwrap();
    let good = vec![message(A, Some("s1"), "x", "m1", 1_000)];
    let bad = vec![message(B, Some("t1"), "x", "n1", 1_000)];
    let writes = [
        PageWrite {
            room: A,
            events: &good,
            cursor: None,
            gap: None,
        },
        PageWrite {
            room: A,
            events: &bad,
            cursor: None,
            gap: None,
        },
    ];
    s.apply_pages(&writes).await.unwrap_err();
    assert!(s.events(A, 10).await.unwrap().is_empty());
}

/// More stored copies than one range lookup reads: the per-key fallback must find them.
#[wasm_bindgen_test]
async fn copies_past_the_range_cap_are_still_found() {
    let s = IdbStore::open(&fresh_name("cap")).await.unwrap();
    const N: usize = 600;
    let live: Vec<RoomEvent> = (0..N)
        .map(|i| message(A, None, "x", &format!("m{i:04}"), 1_000 + i as i64))
        .collect();
    assert_eq!(s.apply_page(A, &live, None, None).await.unwrap().len(), N);
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
    let fresh = s.apply_page(A, &archived, Some(&c), None).await.unwrap();
    assert!(fresh.is_empty(), "every archive copy matched its live copy");
    let stored = s.events(A, 2 * N).await.unwrap();
    assert_eq!(stored.len(), N);
    assert!(stored.iter().all(|e| e.stanza_id.is_some()));

    // Archive ids spanning every stored one: the id range is too broad, ids are looked up
    // one by one.
    let page = vec![
        message(A, Some("s0000"), "x", "m0000", 1_000),
        message(A, Some("s0300x"), "x", "new", 1_300),
        message(A, Some("s0599"), "x", "m0599", 1_599),
    ];
    let fresh = s.apply_page(A, &page, None, None).await.unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].stanza_id.as_deref(), Some("s0300x"));
    assert_eq!(s.events(A, 2 * N).await.unwrap().len(), N + 1);
}
