//! The shared test suite every [`Store`] implementation must pass (memory natively,
//! IndexedDB under wasm-bindgen-test). Each case is a function that panics on failure;
//! [`crate::store_suite!`] makes one named test of each, so one failure hides no other.
//!
//! A case gets an opener: it opens a store by name, and opening the same name again must
//! see the same persisted data (that is how "reload the page" is tested); distinct names
//! are independent. A store's test module gives each test names of its own.

use std::future::Future;

use crate::event::{EventKind, RoomEvent, Source};
use crate::protocol::time::Timestamp;
use crate::protocol::Node;
use crate::store::{Applied, Cursor, Gap, Own, Page, Store, SubscriptionRecord};

/// One `#[$attr] async fn` test per case of the shared store suite, each calling the case
/// with the opener `$open` (an expression evaluated per test, giving a
/// `Fn(&'static str) -> impl Future<Output = impl Store>`). Put it in a module of its own:
///
/// ```ignore
/// mod shared_suite {
///     mucsub::store_suite!(tokio::test, super::opener());
/// }
/// ```
///
/// Every case is listed here once; a new case added to `store_tests` without a line here
/// is a dead function the compiler reports.
#[macro_export]
macro_rules! store_suite {
    ($attr:meta, $open:expr) => {
        $crate::store_suite!(@cases $attr, $open;
            inserts_and_dedups_by_stanza_id,
            live_copy_is_upgraded_by_archive_copy,
            different_stanza_ids_are_distinct,
            events_are_ordered_and_limited,
            same_millisecond_events_follow_the_archive,
            moved_live_copy_takes_its_archive_place,
            read_marker_counts_unread,
            read_marker_never_moves_back,
            read_marker_survives_reopen,
            rooms_are_isolated,
            rejects_foreign_events_atomically,
            subscriptions_round_trip,
            page_cursor_and_gap_persist,
            persisted_state_survives_reopen,
            a_batch_equals_its_pages_one_by_one,
            a_bad_page_in_a_batch_costs_only_itself,
            edit_after_its_target,
            edit_before_its_target,
            edit_before_its_target_in_one_page,
            edit_live_then_its_archive_copy_applies_once,
            edits_fold_in_archive_order_whatever_their_arrival,
            edit_by_another_occupant_is_ignored,
            retraction_after_its_target,
            retraction_before_its_target,
            retraction_in_forward_page_before_history_page_of_target,
            retraction_by_another_occupant_is_ignored,
            resync_tombstone_retracts_the_stored_message,
            tombstone_first_then_live_copy_stays_retracted,
            moderation_by_the_room_keeps_its_reason,
            moderation_claimed_by_an_occupant_is_ignored,
            reactions_whatever_their_order,
            pending_change_survives_reopen,
            changes_are_neither_shown_nor_counted,
            changes_in_a_batch_equal_their_pages_one_by_one,
            message_seen_again_keeps_its_changes,
            a_change_reports_its_stored_message_updated,
            a_change_before_its_target_reports_no_update,
            a_resync_tombstone_reports_the_message_updated,
            an_id_gained_reports_the_change_it_unlocks,
            a_batch_reports_each_update_once_as_it_left_it,
            reaction_to_a_correction_whatever_the_order,
            reaction_to_a_foreign_correction_is_not_the_messages,
            moderation_of_a_correction_retracts_the_message,
        );
    };
    (@cases $attr:meta, $open:expr; $($case:ident,)*) => {
        $(
            #[$attr]
            async fn $case() {
                $crate::store_tests::$case($open).await;
            }
        )*
    };
}

mod changes;
mod corrected;
mod updates;
pub use changes::*;
pub use corrected::*;
pub use updates::*;

const ROOM: &str = "room@conference.localhost";

/// Opens a store by name (see the module comment); any
/// `Fn(&'static str) -> impl Future<Output = impl Store>` is one.
pub trait Opener {
    /// The store it opens.
    type Store: Store;
    /// Open (or reopen) the store `name`.
    fn open(&self, name: &'static str) -> impl Future<Output = Self::Store>;
}

impl<S, Fut, F> Opener for F
where
    S: Store,
    Fut: Future<Output = S>,
    F: Fn(&'static str) -> Fut,
{
    type Store = S;
    fn open(&self, name: &'static str) -> impl Future<Output = S> {
        self(name)
    }
}

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
        occupant_id: None,
        reply_to: None,
        edited: Vec::new(),
        retracted: None,
        reactions: Default::default(),
    }
}

fn ids(events: &[RoomEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.message_id.clone().unwrap_or_default())
        .collect()
}

/// Same page twice: stored once, second call reports nothing new.
pub async fn inserts_and_dedups_by_stanza_id(open: impl Opener) {
    let s = open.open("dedup").await;
    let page = vec![
        message(ROOM, Some("1"), "a", "m1", 10),
        message(ROOM, Some("2"), "b", "m2", 20),
        message(ROOM, Some("2"), "b", "m2", 20),
    ];
    let fresh = s
        .apply_page(&Page::new(ROOM, page.clone()))
        .await
        .unwrap()
        .fresh;
    assert_eq!(ids(&fresh), ["m1", "m2"]);
    let again = s
        .apply_page(&Page::new(ROOM, page.clone()))
        .await
        .unwrap()
        .fresh;
    assert!(again.is_empty());
    assert_eq!(ids(&s.events(ROOM, 100).await.unwrap()), ["m1", "m2"]);
}

/// A live event without stanza-id, then its archive copy: one event, with the archive's
/// id and time.
pub async fn live_copy_is_upgraded_by_archive_copy(open: impl Opener) {
    let s = open.open("upgrade").await;
    let live = message(ROOM, None, "a", "m1", 1_000);
    assert_eq!(
        s.apply_page(&Page::new(ROOM, vec![live]))
            .await
            .unwrap()
            .fresh
            .len(),
        1
    );
    let later = message(ROOM, Some("0"), "z", "m0", 20);
    s.apply_page(&Page::new(ROOM, vec![later])).await.unwrap();
    let archived = message(ROOM, Some("9"), "a", "m1", 30);
    assert!(s
        .apply_page(&Page::new(ROOM, vec![archived]))
        .await
        .unwrap()
        .fresh
        .is_empty());
    let all = s.events(ROOM, 10).await.unwrap();
    assert_eq!(ids(&all), ["m0", "m1"], "ordered by the archive time now");
    assert_eq!(all[1].stanza_id.as_deref(), Some("9"));
    assert_eq!(all[1].timestamp, Timestamp(30));
    // A third copy by stanza-id alone is still a duplicate.
    let mut by_sid = message(ROOM, Some("9"), "x", "other", 30);
    by_sid.kind = EventKind::Message { body: "y".into() };
    assert!(s
        .apply_page(&Page::new(ROOM, vec![by_sid]))
        .await
        .unwrap()
        .fresh
        .is_empty());
}

/// Clients reuse message ids: distinct stanza-ids stay distinct.
pub async fn different_stanza_ids_are_distinct(open: impl Opener) {
    let s = open.open("distinct").await;
    let a = message(ROOM, Some("1"), "a", "m1", 10);
    let b = message(ROOM, Some("2"), "a", "m1", 11);
    assert_eq!(
        s.apply_page(&Page::new(ROOM, vec![a, b]))
            .await
            .unwrap()
            .fresh
            .len(),
        2
    );
    assert_eq!(s.events(ROOM, 10).await.unwrap().len(), 2);
}

/// Oldest first by timestamp, `limit` keeps the newest.
pub async fn events_are_ordered_and_limited(open: impl Opener) {
    let s = open.open("order").await;
    let page = vec![
        message(ROOM, Some("3"), "a", "m3", 30),
        message(ROOM, Some("1"), "a", "m1", 10),
        message(ROOM, Some("2"), "a", "m2", 20),
        message(ROOM, Some("4"), "a", "m4", 30),
    ];
    s.apply_page(&Page::new(ROOM, page.clone())).await.unwrap();
    assert_eq!(
        ids(&s.events(ROOM, 10).await.unwrap()),
        ["m1", "m2", "m3", "m4"]
    );
    assert_eq!(ids(&s.events(ROOM, 2).await.unwrap()), ["m3", "m4"]);
    assert!(s.events("nobody@x", 5).await.unwrap().is_empty());
}

/// The same stanza-id in two rooms is two events.
pub async fn rooms_are_isolated(open: impl Opener) {
    let s = open.open("isolated").await;
    let other = "other@conference.localhost";
    s.apply_page(&Page::new(
        ROOM,
        vec![message(ROOM, Some("1"), "a", "m1", 1)],
    ))
    .await
    .unwrap();
    let fresh = s
        .apply_page(&Page::new(
            other,
            vec![message(other, Some("1"), "a", "m1", 1)],
        ))
        .await
        .unwrap();
    assert_eq!(fresh.fresh.len(), 1);
    assert_eq!(s.events(ROOM, 10).await.unwrap().len(), 1);
    assert_eq!(s.events(other, 10).await.unwrap().len(), 1);
}

/// A page holding an event of another room is refused as a whole: nothing written.
pub async fn rejects_foreign_events_atomically(open: impl Opener) {
    let s = open.open("foreign").await;
    let cursor = Cursor {
        id: "2".into(),
        stamp: Timestamp(2),
    };
    let page = vec![
        message(ROOM, Some("1"), "a", "m1", 1),
        message("evil@x", Some("2"), "a", "m2", 2),
    ];
    assert!(s
        .apply_page(&Page::new(ROOM, page.clone()).with_cursor(cursor.clone()))
        .await
        .is_err());
    assert!(s.events(ROOM, 10).await.unwrap().is_empty());
    assert_eq!(s.room_state(ROOM).await.unwrap().cursor, None);
}

/// Put, replace, remove.
pub async fn subscriptions_round_trip(open: impl Opener) {
    let s = open.open("subs").await;
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
pub async fn page_cursor_and_gap_persist(open: impl Opener) {
    write_page_cursor_and_gap(open.open("persist").await).await;
}

/// What [`page_cursor_and_gap_persist`] writes is there after reopening.
pub async fn persisted_state_survives_reopen(open: impl Opener) {
    write_page_cursor_and_gap(open.open("persist").await).await;
    let s = open.open("persist").await;
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

async fn write_page_cursor_and_gap<S: Store>(s: S) {
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
    s.apply_page(
        &Page::new(ROOM, page.clone())
            .with_cursor(cursor.clone())
            .with_gap(gap.clone()),
    )
    .await
    .unwrap();
    let st = s.room_state(ROOM).await.unwrap();
    assert_eq!(st.cursor, Some(cursor));
    assert_eq!(st.gaps, vec![gap]);
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
pub async fn same_millisecond_events_follow_the_archive(open: impl Opener) {
    let s = open.open("same-ms").await;
    // Newest page of a new subscription: e, f (cursor at f).
    s.apply_page(&Page::new(ROOM, page_at(&["e", "f"], 50)).with_cursor(cursor_at("f", 50)))
        .await
        .unwrap();
    // Older history, fetched later, all in the same millisecond: c, d.
    s.apply_page(&Page::new(ROOM, page_at(&["c", "d"], 50)))
        .await
        .unwrap();
    assert_eq!(
        ids(&s.events(ROOM, 10).await.unwrap()),
        ["c", "d", "e", "f"]
    );
    // Older still, spanning an earlier millisecond: a (49), b (50).
    let mut older = page_at(&["a"], 49);
    older.extend(page_at(&["b"], 50));
    s.apply_page(&Page::new(ROOM, older.clone())).await.unwrap();
    assert_eq!(
        ids(&s.events(ROOM, 10).await.unwrap()),
        ["a", "b", "c", "d", "e", "f"]
    );
    // A live event in that millisecond comes after everything stored.
    let live = message(ROOM, None, "a", "g", 50);
    s.apply_page(&Page::new(ROOM, vec![live])).await.unwrap();
    // Resync page overlapping the cursor: f, then g (archived now) and h.
    let mut resync = page_at(&["f", "g", "h"], 50);
    resync.extend(page_at(&["i"], 51));
    s.apply_page(&Page::new(ROOM, resync.clone()).with_cursor(cursor_at("i", 51)))
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
    s.apply_page(&Page::new(ROOM, gap_fill.clone()))
        .await
        .unwrap();
    assert_eq!(
        ids(&s.events(ROOM, 20).await.unwrap()),
        ["a", "b", "b2", "c", "d", "e", "f", "g", "h", "i"]
    );
}

/// A live copy stored with its arrival time moves to its archive time and place.
pub async fn moved_live_copy_takes_its_archive_place(open: impl Opener) {
    let s = open.open("moved").await;
    s.apply_page(&Page::new(ROOM, page_at(&["x", "z"], 70)).with_cursor(cursor_at("z", 70)))
        .await
        .unwrap();
    // Arrived late (its own clock says 90), archived between x and z at 70.
    s.apply_page(&Page::new(ROOM, vec![message(ROOM, None, "b", "y", 90)]))
        .await
        .unwrap();
    assert_eq!(ids(&s.events(ROOM, 10).await.unwrap()), ["x", "z", "y"]);
    let mut resync = page_at(&["x"], 70);
    let mut y = message(ROOM, Some("s-y"), "b", "y", 70);
    y.source = crate::event::Source::Archive;
    resync.push(y);
    resync.extend(page_at(&["z"], 70));
    s.apply_page(&Page::new(ROOM, resync.clone()).with_cursor(cursor_at("z", 70)))
        .await
        .unwrap();
    let all = s.events(ROOM, 10).await.unwrap();
    assert_eq!(ids(&all), ["x", "y", "z"]);
    assert_eq!(all[1].timestamp, Timestamp(70));
}

/// Unread = message events after the marker not sent by us; other kinds do not count.
pub async fn read_marker_counts_unread(open: impl Opener) {
    let s = open.open("unread").await;
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
    s.apply_page(&Page::new(ROOM, page.clone())).await.unwrap();
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
    s.apply_page(&Page::new(ROOM, vec![message(ROOM, None, "c", "m6", 60)]))
        .await
        .unwrap();
    s.apply_page(&Page::new(ROOM, vec![message(ROOM, None, "c", "m7", 70)]))
        .await
        .unwrap();
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 3);
    assert!(s.mark_read(ROOM, Some("m6")).await.unwrap());
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 1);
    // ...and the marker holds when its archive copy arrives.
    let mut archived = message(ROOM, Some("6"), "c", "m6", 60);
    archived.source = crate::event::Source::Archive;
    s.apply_page(&Page::new(ROOM, vec![archived]))
        .await
        .unwrap();
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 1);
    // Everything.
    assert!(s.mark_read(ROOM, None).await.unwrap());
    assert_eq!(s.unread(ROOM, me).await.unwrap(), 0);
}

/// Marking an older event keeps the newer marker.
pub async fn read_marker_never_moves_back(open: impl Opener) {
    mark_3_then_1(open.open("marker").await).await;
}

/// The marker [`read_marker_never_moves_back`] leaves is there after reopening.
pub async fn read_marker_survives_reopen(open: impl Opener) {
    mark_3_then_1(open.open("marker").await).await;
    let s = open.open("marker").await;
    assert_eq!(s.unread(ROOM, Own::default()).await.unwrap(), 1);
    assert_eq!(
        s.read_marker(ROOM).await.unwrap().map(|m| m.key),
        Some("sid:3".to_owned())
    );
}

async fn mark_3_then_1<S: Store>(s: S) {
    let page: Vec<RoomEvent> = (1..=4)
        .map(|i| message(ROOM, Some(&i.to_string()), "a", &format!("m{i}"), i * 10))
        .collect();
    s.apply_page(&Page::new(ROOM, page.clone())).await.unwrap();
    assert!(s.mark_read(ROOM, Some("3")).await.unwrap());
    assert!(s.mark_read(ROOM, Some("1")).await.unwrap());
    assert_eq!(s.unread(ROOM, Own::default()).await.unwrap(), 1);
    assert_eq!(
        s.read_marker(ROOM).await.unwrap().map(|m| m.stamp),
        Some(Timestamp(30))
    );
}

const A: &str = "a@conference.localhost";
const B: &str = "b@conference.localhost";

/// An event the room sent live with its archive id already on it.
fn live_with_id(room: &str, sid: &str, nick: &str, id: &str, ts: i64) -> RoomEvent {
    let mut e = message(room, Some(sid), nick, id, ts);
    e.source = Source::Live;
    e
}

fn cursor(id: &str, ts: i64) -> Cursor {
    Cursor {
        id: id.into(),
        stamp: Timestamp(ts),
    }
}

/// Live copies, their archive copies (re-keying, moving in time), duplicates inside the
/// batch, several events of one millisecond, a history page, a gap, two rooms.
fn batch() -> Vec<Page> {
    let gap = Gap {
        after_id: Some("s3".into()),
        after_stamp: Some(Timestamp(1_000)),
        before_id: Some("s9".into()),
        before_stamp: Some(Timestamp(5_000)),
    };
    vec![
        Page::new(A, vec![message(A, None, "x", "m1", 1_100)]),
        Page::new(B, vec![live_with_id(B, "t1", "y", "n1", 1_000)]),
        Page::new(A, vec![message(A, None, "y", "m2", 1_000)]),
        Page::new(B, vec![live_with_id(B, "t2", "y", "n2", 1_000)]),
        Page::new(
            A,
            vec![
                message(A, Some("s1"), "x", "m1", 1_000),
                message(A, Some("s2"), "y", "m2", 1_000),
                message(A, Some("s3"), "z", "m3", 1_000),
            ],
        )
        .with_cursor(cursor("s3", 1_000)),
        Page::new(A, vec![live_with_id(A, "s3", "z", "m3", 1_300)]),
        Page::new(
            A,
            vec![
                message(A, Some("s0"), "w", "m0", 1_000),
                message(A, Some("s0"), "w", "m0", 1_000),
            ],
        ),
        Page::new(B, vec![live_with_id(B, "t3", "y", "n3", 1_000)]),
        Page::new(A, vec![message(A, None, "x", "m4", 1_000)]),
        Page::new(A, Vec::new())
            .with_cursor(cursor("s9", 5_000))
            .with_gap(gap),
        Page::new(A, vec![live_with_id(A, "s10", "x", "m5", 6_000)]),
    ]
}

/// What a store holds of the batch rooms: events, cursor and gaps of each.
async fn dump<S: Store>(s: &S) -> Vec<(Vec<RoomEvent>, Option<Cursor>, Vec<Gap>)> {
    let mut out = Vec::new();
    for room in [A, B] {
        let st = s.room_state(room).await.unwrap();
        out.push((s.events(room, 100).await.unwrap(), st.cursor, st.gaps));
    }
    out
}

/// `pages` applied page by page ([`Store::apply_page`]) to the store `seq` and in one
/// [`Store::apply_pages`] batch to the store `batch`: each store with what it returned, page
/// by page (one by one first).
pub(crate) async fn apply_both<O: Opener>(
    open: &O,
    (seq, batch): (&'static str, &'static str),
    pages: &[Page],
) -> ((O::Store, Vec<Applied>), (O::Store, Vec<Applied>)) {
    let one_by_one = open.open(seq).await;
    let mut expected = Vec::new();
    for p in pages {
        expected.push(one_by_one.apply_page(p).await.unwrap());
    }
    let batched = open.open(batch).await;
    let refs: Vec<&Page> = pages.iter().collect();
    let got: Vec<Applied> = batched
        .apply_pages(&refs)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    ((one_by_one, expected), (batched, got))
}

/// [`Store::apply_pages`] has the outcome of [`Store::apply_page`] page after page: the
/// same new events per page and the same stored state, however the store batches.
pub async fn a_batch_equals_its_pages_one_by_one(open: impl Opener) {
    let pages = batch();
    let ((one_by_one, expected), (batched, got)) =
        apply_both(&open, ("batch-seq", "batch"), &pages).await;
    assert_eq!(got, expected, "the same new events, page by page");
    let stored = dump(&one_by_one).await;
    assert_eq!(dump(&batched).await, stored);
    // The scenario does what it claims: m1 re-keyed and moved, s0 before s1 within 1000 ms.
    let a: Vec<Option<&str>> = stored[0].0.iter().map(|e| e.stanza_id.as_deref()).collect();
    assert_eq!(
        a,
        [
            Some("s0"),
            Some("s1"),
            Some("s2"),
            Some("s3"),
            None,
            Some("s10")
        ]
    );
    assert_eq!(stored[1].0.len(), 3);
}

/// A page refused in a batch (another room's event) costs no other page its write.
pub async fn a_bad_page_in_a_batch_costs_only_itself(open: impl Opener) {
    let s = open.open("batch-bad").await;
    let good = Page::new(ROOM, vec![message(ROOM, Some("1"), "a", "m1", 10)]);
    let bad = Page::new(ROOM, vec![message("evil@x", Some("2"), "a", "m2", 20)])
        .with_cursor(cursor_at("2", 20));
    let later = Page::new(ROOM, vec![message(ROOM, Some("3"), "a", "m3", 30)]);
    let results = s.apply_pages(&[&good, &bad, &later]).await;
    assert_eq!(results.len(), 3);
    assert_eq!(ids(&results[0].as_ref().unwrap().fresh), ["m1"]);
    assert!(results[1].is_err());
    assert_eq!(ids(&results[2].as_ref().unwrap().fresh), ["m3"]);
    assert_eq!(ids(&s.events(ROOM, 10).await.unwrap()), ["m1", "m3"]);
    assert_eq!(s.room_state(ROOM).await.unwrap().cursor, None);
}
