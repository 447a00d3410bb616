//! The shared test suite every [`Store`] implementation must pass (memory natively,
//! IndexedDB under wasm-bindgen-test). Each function panics on failure.
//!
//! The factory opens a store by name: opening the same name again must see the same
//! persisted data (that is how "reload the page" is tested); distinct names are
//! independent.

use std::future::Future;

use crate::event::{EventKind, RoomEvent, Source};
use crate::protocol::time::Timestamp;
use crate::protocol::Node;
use crate::store::{Cursor, Gap, Store, SubscriptionRecord};

const ROOM: &str = "room@conference.localhost";

/// A message event for tests.
pub fn message(room: &str, stanza_id: Option<&str>, nick: &str, id: &str, ts: i64) -> RoomEvent {
    RoomEvent {
        room: room.to_owned(),
        kind: EventKind::Message {
            body: format!("body {id}"),
        },
        stanza_id: stanza_id.map(str::to_owned),
        origin_id: None,
        message_id: Some(id.to_owned()),
        item_id: None,
        nick: Some(nick.to_owned()),
        real_jid: None,
        timestamp: Timestamp(ts),
        source: if stanza_id.is_some() {
            Source::Archive
        } else {
            Source::Live
        },
    }
}

fn ids(events: &[RoomEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.message_id.clone().unwrap_or_default())
        .collect()
}

/// Run every test of the suite, each on fresh store names prefixed by the test name.
pub async fn run_all<S, F, Fut>(mut open: F)
where
    S: Store,
    F: FnMut(&str) -> Fut,
    Fut: Future<Output = S>,
{
    inserts_and_dedups_by_stanza_id(open("dedup").await).await;
    live_copy_is_upgraded_by_archive_copy(open("upgrade").await).await;
    different_stanza_ids_are_distinct(open("distinct").await).await;
    events_are_ordered_and_limited(open("order").await).await;
    rooms_are_isolated(open("isolated").await).await;
    rejects_foreign_events_atomically(open("foreign").await).await;
    subscriptions_round_trip(open("subs").await).await;
    let first = open("persist").await;
    page_cursor_and_gap_persist(first).await;
    persisted_state_survives_reopen(open("persist").await).await;
}

/// Same page twice: stored once, second call reports nothing new.
pub async fn inserts_and_dedups_by_stanza_id<S: Store>(s: S) {
    let page = vec![
        message(ROOM, Some("1"), "a", "m1", 10),
        message(ROOM, Some("2"), "b", "m2", 20),
        message(ROOM, Some("2"), "b", "m2", 20),
    ];
    let fresh = s.apply_page(ROOM, &page, None, None).await.unwrap();
    assert_eq!(ids(&fresh), ["m1", "m2"]);
    let again = s.apply_page(ROOM, &page, None, None).await.unwrap();
    assert!(again.is_empty());
    assert_eq!(ids(&s.events(ROOM, 100).await.unwrap()), ["m1", "m2"]);
}

/// A live event without stanza-id, then its archive copy: one event, with the archive's
/// id and time.
pub async fn live_copy_is_upgraded_by_archive_copy<S: Store>(s: S) {
    let live = message(ROOM, None, "a", "m1", 1_000);
    assert_eq!(
        s.apply_page(ROOM, &[live], None, None).await.unwrap().len(),
        1
    );
    let later = message(ROOM, Some("0"), "z", "m0", 20);
    s.apply_page(ROOM, &[later], None, None).await.unwrap();
    let archived = message(ROOM, Some("9"), "a", "m1", 30);
    assert!(s
        .apply_page(ROOM, &[archived], None, None)
        .await
        .unwrap()
        .is_empty());
    let all = s.events(ROOM, 10).await.unwrap();
    assert_eq!(ids(&all), ["m0", "m1"], "ordered by the archive time now");
    assert_eq!(all[1].stanza_id.as_deref(), Some("9"));
    assert_eq!(all[1].timestamp, Timestamp(30));
    // A third copy by stanza-id alone is still a duplicate.
    let mut by_sid = message(ROOM, Some("9"), "x", "other", 30);
    by_sid.kind = EventKind::Message { body: "y".into() };
    assert!(s
        .apply_page(ROOM, &[by_sid], None, None)
        .await
        .unwrap()
        .is_empty());
}

/// Clients reuse message ids: distinct stanza-ids stay distinct.
pub async fn different_stanza_ids_are_distinct<S: Store>(s: S) {
    let a = message(ROOM, Some("1"), "a", "m1", 10);
    let b = message(ROOM, Some("2"), "a", "m1", 11);
    assert_eq!(
        s.apply_page(ROOM, &[a, b], None, None).await.unwrap().len(),
        2
    );
    assert_eq!(s.events(ROOM, 10).await.unwrap().len(), 2);
}

/// Oldest first by timestamp, `limit` keeps the newest.
pub async fn events_are_ordered_and_limited<S: Store>(s: S) {
    let page = vec![
        message(ROOM, Some("3"), "a", "m3", 30),
        message(ROOM, Some("1"), "a", "m1", 10),
        message(ROOM, Some("2"), "a", "m2", 20),
        message(ROOM, Some("4"), "a", "m4", 30),
    ];
    s.apply_page(ROOM, &page, None, None).await.unwrap();
    assert_eq!(
        ids(&s.events(ROOM, 10).await.unwrap()),
        ["m1", "m2", "m3", "m4"]
    );
    assert_eq!(ids(&s.events(ROOM, 2).await.unwrap()), ["m3", "m4"]);
    assert!(s.events("nobody@x", 5).await.unwrap().is_empty());
}

/// The same stanza-id in two rooms is two events.
pub async fn rooms_are_isolated<S: Store>(s: S) {
    let other = "other@conference.localhost";
    s.apply_page(ROOM, &[message(ROOM, Some("1"), "a", "m1", 1)], None, None)
        .await
        .unwrap();
    let fresh = s
        .apply_page(
            other,
            &[message(other, Some("1"), "a", "m1", 1)],
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(s.events(ROOM, 10).await.unwrap().len(), 1);
    assert_eq!(s.events(other, 10).await.unwrap().len(), 1);
}

/// A page holding an event of another room is refused as a whole: nothing written.
pub async fn rejects_foreign_events_atomically<S: Store>(s: S) {
    let cursor = Cursor {
        id: "2".into(),
        stamp: Timestamp(2),
    };
    let page = vec![
        message(ROOM, Some("1"), "a", "m1", 1),
        message("evil@x", Some("2"), "a", "m2", 2),
    ];
    assert!(s
        .apply_page(ROOM, &page, Some(&cursor), None)
        .await
        .is_err());
    assert!(s.events(ROOM, 10).await.unwrap().is_empty());
    assert_eq!(s.room_state(ROOM).await.unwrap().cursor, None);
}

/// Put, replace, remove.
pub async fn subscriptions_round_trip<S: Store>(s: S) {
    let rec = SubscriptionRecord {
        room: ROOM.into(),
        nick: Some("n".into()),
        nodes: vec![Node::Messages],
    };
    s.put_subscription(&rec).await.unwrap();
    let rec2 = SubscriptionRecord {
        nick: Some("n2".into()),
        ..rec.clone()
    };
    s.put_subscription(&rec2).await.unwrap();
    assert_eq!(s.load().await.unwrap().subscriptions, vec![rec2]);
    s.remove_subscription(ROOM).await.unwrap();
    assert!(s.load().await.unwrap().subscriptions.is_empty());
    s.remove_subscription(ROOM).await.unwrap();
}

/// Events, cursor and gap of one page land together.
pub async fn page_cursor_and_gap_persist<S: Store>(s: S) {
    s.put_subscription(&SubscriptionRecord {
        room: ROOM.into(),
        nick: Some("n".into()),
        nodes: vec![Node::Messages, Node::Subject],
    })
    .await
    .unwrap();
    let cursor = Cursor {
        id: "2".into(),
        stamp: Timestamp(20),
    };
    let gap = Gap {
        after_id: None,
        after_stamp: None,
        before_id: Some("1".into()),
        before_stamp: Some(Timestamp(10)),
    };
    let page = vec![
        message(ROOM, Some("1"), "a", "m1", 10),
        message(ROOM, Some("2"), "a", "m2", 20),
    ];
    s.apply_page(ROOM, &page, Some(&cursor), Some(&gap))
        .await
        .unwrap();
    let st = s.room_state(ROOM).await.unwrap();
    assert_eq!(st.cursor, Some(cursor));
    assert_eq!(st.gaps, vec![gap]);
}

/// What [`page_cursor_and_gap_persist`] wrote is there after reopening.
pub async fn persisted_state_survives_reopen<S: Store>(s: S) {
    let snap = s.load().await.unwrap();
    assert_eq!(snap.subscriptions.len(), 1);
    assert_eq!(
        snap.subscriptions[0].nodes,
        vec![Node::Messages, Node::Subject]
    );
    let room = snap.rooms.iter().find(|r| r.room == ROOM).unwrap();
    assert_eq!(room.cursor.as_ref().map(|c| c.id.as_str()), Some("2"));
    assert_eq!(room.gaps.len(), 1);
    assert_eq!(ids(&s.events(ROOM, 10).await.unwrap()), ["m1", "m2"]);
}
