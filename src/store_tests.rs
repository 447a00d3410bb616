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
use crate::store::{Cursor, Gap, Own, Store, SubscriptionRecord};

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
    same_millisecond_events_follow_the_archive(open("same-ms").await).await;
    moved_live_copy_takes_its_archive_place(open("moved").await).await;
    read_marker_counts_unread(open("unread").await).await;
    let first = open("marker").await;
    read_marker_never_moves_back(first).await;
    read_marker_survives_reopen(open("marker").await).await;
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

fn page_at(ids: &[&str], ts: i64) -> Vec<RoomEvent> {
    ids.iter()
        .map(|i| message(ROOM, Some(&format!("s-{i}")), "a", i, ts))
        .collect()
}

fn cursor_at(id: &str, ts: i64) -> Cursor {
    Cursor {
        id: format!("s-{id}"),
        stamp: Timestamp(ts),
    }
}

/// Events of one millisecond keep the archive's order whatever order the pages arrive in:
/// the newest page first (a new subscription), then older history pages, a live event, its
/// archive copy, and a resync page overlapping what is stored.
pub async fn same_millisecond_events_follow_the_archive<S: Store>(s: S) {
    // Newest page of a new subscription: e, f (cursor at f).
    s.apply_page(
        ROOM,
        &page_at(&["e", "f"], 50),
        Some(&cursor_at("f", 50)),
        None,
    )
    .await
    .unwrap();
    // Older history, fetched later, all in the same millisecond: c, d.
    s.apply_page(ROOM, &page_at(&["c", "d"], 50), None, None)
        .await
        .unwrap();
    assert_eq!(
        ids(&s.events(ROOM, 10).await.unwrap()),
        ["c", "d", "e", "f"]
    );
    // Older still, spanning an earlier millisecond: a (49), b (50).
    let mut older = page_at(&["a"], 49);
    older.extend(page_at(&["b"], 50));
    s.apply_page(ROOM, &older, None, None).await.unwrap();
    assert_eq!(
        ids(&s.events(ROOM, 10).await.unwrap()),
        ["a", "b", "c", "d", "e", "f"]
    );
    // A live event in that millisecond comes after everything stored.
    let live = message(ROOM, None, "a", "g", 50);
    s.apply_page(ROOM, &[live], None, None).await.unwrap();
    // Resync page overlapping the cursor: f, then g (archived now) and h.
    let mut resync = page_at(&["f", "g", "h"], 50);
    resync.extend(page_at(&["i"], 51));
    s.apply_page(ROOM, &resync, Some(&cursor_at("i", 51)), None)
        .await
        .unwrap();
    let all = s.events(ROOM, 20).await.unwrap();
    assert_eq!(ids(&all), ["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
    assert_eq!(all[6].stanza_id.as_deref(), Some("s-g"), "one g, archived");
    // A history page ending on a stored event (a gap being filled): its new event goes
    // right before that one.
    let mut gap_fill = page_at(&["b2"], 50);
    gap_fill.extend(page_at(&["c"], 50));
    gap_fill[0].stanza_id = Some("s-b2".into());
    s.apply_page(ROOM, &gap_fill, None, None).await.unwrap();
    assert_eq!(
        ids(&s.events(ROOM, 20).await.unwrap()),
        ["a", "b", "b2", "c", "d", "e", "f", "g", "h", "i"]
    );
}

/// A live copy stored with its arrival time moves to its archive time and place.
pub async fn moved_live_copy_takes_its_archive_place<S: Store>(s: S) {
    s.apply_page(
        ROOM,
        &page_at(&["x", "z"], 70),
        Some(&cursor_at("z", 70)),
        None,
    )
    .await
    .unwrap();
    // Arrived late (its own clock says 90), archived between x and z at 70.
    s.apply_page(ROOM, &[message(ROOM, None, "b", "y", 90)], None, None)
        .await
        .unwrap();
    assert_eq!(ids(&s.events(ROOM, 10).await.unwrap()), ["x", "z", "y"]);
    let mut resync = page_at(&["x"], 70);
    let mut y = message(ROOM, Some("s-y"), "b", "y", 70);
    y.source = crate::event::Source::Archive;
    resync.push(y);
    resync.extend(page_at(&["z"], 70));
    s.apply_page(ROOM, &resync, Some(&cursor_at("z", 70)), None)
        .await
        .unwrap();
    let all = s.events(ROOM, 10).await.unwrap();
    assert_eq!(ids(&all), ["x", "y", "z"]);
    assert_eq!(all[1].timestamp, Timestamp(70));
}

/// Unread = message events after the marker not sent by us; other kinds do not count.
pub async fn read_marker_counts_unread<S: Store>(s: S) {
    let me = Own {
        nick: Some("me"),
        jid: Some("me@localhost"),
    };
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 0, "unknown room");
    assert!(s.mark_read(ROOM, None).await.unwrap(), "empty room: no-op");
    assert_eq!(s.read_marker(ROOM).await.unwrap(), None);
    let mut page = vec![
        message(ROOM, Some("1"), "a", "m1", 10),
        message(ROOM, Some("2"), "me", "m2", 20),
        message(ROOM, Some("3"), "b", "m3", 30),
    ];
    // Our message under another nick, recognised by its real JID.
    let mut mine = message(ROOM, Some("4"), "other-nick", "m4", 40);
    mine.real_jid = Some("me@localhost/web".into());
    page.push(mine);
    let mut subject = message(ROOM, Some("5"), "a", "m5", 50);
    subject.kind = EventKind::Subject {
        subject: "s".into(),
    };
    page.push(subject);
    s.apply_page(ROOM, &page, None, None).await.unwrap();
    assert_eq!(
        s.unread(ROOM, me).await.unwrap(),
        2,
        "no marker: a's and b's"
    );
    assert_eq!(s.unread(ROOM, Own::default()).await.unwrap(), 4);

    assert!(s.mark_read(ROOM, Some("1")).await.unwrap());
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 1);
    assert!(!s.mark_read(ROOM, Some("nope")).await.unwrap());
    assert_eq!(
        s.unread(ROOM, me).await.unwrap(),
        1,
        "unknown id changes nothing"
    );

    // A live event (no archive id yet) is marked by its message id...
    s.apply_page(ROOM, &[message(ROOM, None, "c", "m6", 60)], None, None)
        .await
        .unwrap();
    s.apply_page(ROOM, &[message(ROOM, None, "c", "m7", 70)], None, None)
        .await
        .unwrap();
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 3);
    assert!(s.mark_read(ROOM, Some("m6")).await.unwrap());
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 1);
    // ...and the marker holds when its archive copy arrives.
    let mut archived = message(ROOM, Some("6"), "c", "m6", 60);
    archived.source = crate::event::Source::Archive;
    s.apply_page(ROOM, &[archived], None, None).await.unwrap();
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 1);
    // Everything.
    assert!(s.mark_read(ROOM, None).await.unwrap());
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 0);
}

/// Marking an older event keeps the newer marker.
pub async fn read_marker_never_moves_back<S: Store>(s: S) {
    let page: Vec<RoomEvent> = (1..=4)
        .map(|i| message(ROOM, Some(&i.to_string()), "a", &format!("m{i}"), i * 10))
        .collect();
    s.apply_page(ROOM, &page, None, None).await.unwrap();
    assert!(s.mark_read(ROOM, Some("3")).await.unwrap());
    assert!(s.mark_read(ROOM, Some("1")).await.unwrap());
    assert_eq!(s.unread(ROOM, Own::default()).await.unwrap(), 1);
    assert_eq!(
        s.read_marker(ROOM).await.unwrap().map(|m| m.stamp),
        Some(Timestamp(30))
    );
}

/// The marker written by [`read_marker_never_moves_back`] is there after reopening.
pub async fn read_marker_survives_reopen<S: Store>(s: S) {
    assert_eq!(s.unread(ROOM, Own::default()).await.unwrap(), 1);
    assert_eq!(
        s.read_marker(ROOM).await.unwrap().map(|m| m.key),
        Some("sid:3".to_owned())
    );
}
