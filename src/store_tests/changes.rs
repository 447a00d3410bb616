//! Suite cases for corrections, retractions, moderation and reactions (issue 22): a store
//! folds each into the message it names whatever order the two arrive in (live, offline,
//! a forward archive page, a history page; the change before its target included), and
//! an archive tombstone retracts the stored copy on resync.

use super::{apply_both, message, Opener, ROOM};
use crate::event::{Change, EventKind, Moderator, Retraction, RoomEvent, Source};
use crate::protocol::time::Timestamp;
use crate::store::{Cursor, Own, Page, Store};

/// Alice's message `m1` (archive id `s1` when `sid` is given), occupant-id `occ-a`.
pub(super) fn original(sid: Option<&str>) -> RoomEvent {
    let mut e = message(ROOM, sid, "alice", "m1", 1_000);
    e.occupant_id = Some("occ-a".into());
    e
}

/// A change event sent by `nick` (occupant-id `occ-<first letter>`), live unless `sid`.
pub(super) fn change(
    sid: Option<&str>,
    nick: &str,
    id: &str,
    ts: i64,
    target: &str,
    c: Change,
) -> RoomEvent {
    let mut e = message(ROOM, sid, nick, id, ts);
    e.occupant_id = Some(format!("occ-{}", &nick[..1]));
    e.kind = EventKind::Change {
        target: target.into(),
        change: c,
    };
    e
}

pub(super) fn edit(sid: Option<&str>, nick: &str, id: &str, ts: i64, body: &str) -> RoomEvent {
    let body = body.into();
    change(sid, nick, id, ts, "m1", Change::Edit { body })
}

pub(super) fn retract(sid: Option<&str>, nick: &str, ts: i64) -> RoomEvent {
    change(
        sid,
        nick,
        "r1",
        ts,
        "s1",
        Change::Retract(Retraction::default()),
    )
}

pub(super) fn react(nick: &str, id: &str, ts: i64, emojis: &[&str]) -> RoomEvent {
    let emojis = emojis.iter().map(|e| e.to_string()).collect();
    change(None, nick, id, ts, "s1", Change::React { emojis })
}

pub(super) async fn put(s: &impl Store, events: Vec<RoomEvent>) -> Vec<RoomEvent> {
    s.apply_page(&Page::new(ROOM, events)).await.unwrap().fresh
}

/// The room's only visible event.
pub(super) async fn only(s: &impl Store) -> RoomEvent {
    let mut all = s.events(ROOM, 100).await.unwrap();
    assert_eq!(all.len(), 1, "one visible event: {all:?}");
    all.remove(0)
}

pub(super) fn body(e: &RoomEvent) -> &str {
    match &e.kind {
        EventKind::Message { body } => body,
        other => panic!("not a message: {other:?}"),
    }
}

fn assert_edited(e: &RoomEvent, now: &str, before: &[&str]) {
    assert_eq!(body(e), now);
    assert_eq!(e.edited, before);
}

fn assert_retracted(e: &RoomEvent) {
    assert_eq!(e.retracted, Some(Retraction::default()));
    assert_eq!(body(e), "", "a retracted message keeps no content");
    assert!(e.edited.is_empty() && e.reactions.is_empty());
}

/// Target, then its correction.
pub async fn edit_after_its_target(open: impl Opener) {
    let s = open.open("edit-after").await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, vec![edit(None, "alice", "e1", 2_000, "fixed")]).await;
    assert_edited(&only(&s).await, "fixed", &["body m1"]);
}

/// The correction first (it overtook its target): kept, then applied when the target
/// arrives, and the target is reported new already corrected.
pub async fn edit_before_its_target(open: impl Opener) {
    let s = open.open("edit-before").await;
    // New like any event, so the app learns of it (it names its target).
    let fresh = put(&s, vec![edit(None, "alice", "e1", 2_000, "fixed")]).await;
    assert!(matches!(&fresh[..], [c] if c.message_id.as_deref() == Some("e1")));
    let fresh = put(&s, vec![original(Some("s1"))]).await;
    assert_edited(&fresh[0], "fixed", &["body m1"]);
    assert_edited(&only(&s).await, "fixed", &["body m1"]);
}

/// Both in one page, the correction first.
pub async fn edit_before_its_target_in_one_page(open: impl Opener) {
    let s = open.open("edit-one-page").await;
    let e = edit(Some("s2"), "alice", "e1", 2_000, "fixed");
    put(&s, vec![e, original(Some("s1"))]).await;
    assert_edited(&only(&s).await, "fixed", &["body m1"]);
}

/// A live correction and then its archive copy: one correction, not two.
pub async fn edit_live_then_its_archive_copy_applies_once(open: impl Opener) {
    let s = open.open("edit-once").await;
    put(&s, vec![original(None)]).await;
    put(&s, vec![edit(None, "alice", "e1", 2_000, "fixed")]).await;
    let archived = edit(Some("s2"), "alice", "e1", 2_000, "fixed");
    put(&s, vec![original(Some("s1")), archived]).await;
    assert_edited(&only(&s).await, "fixed", &["body m1"]);
}

/// Two corrections arriving newest first, around their target: the archive order counts.
pub async fn edits_fold_in_archive_order_whatever_their_arrival(open: impl Opener) {
    let s = open.open("edit-order").await;
    put(&s, vec![edit(Some("s3"), "alice", "e2", 3_000, "third")]).await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, vec![edit(Some("s2"), "alice", "e1", 2_000, "second")]).await;
    assert_edited(&only(&s).await, "third", &["body m1", "second"]);
}

/// Only the author corrects: another occupant's correction, even under the author's
/// nick, changes nothing.
pub async fn edit_by_another_occupant_is_ignored(open: impl Opener) {
    let s = open.open("edit-foreign").await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, vec![edit(None, "bob", "e1", 2_000, "mine now")]).await;
    let mut impostor = edit(None, "alice", "e2", 3_000, "me too");
    impostor.occupant_id = Some("occ-x".into());
    put(&s, vec![impostor]).await;
    assert_edited(&only(&s).await, "body m1", &[]);
}

/// Target (corrected and reacted to), then its retraction: nothing of it is left.
pub async fn retraction_after_its_target(open: impl Opener) {
    let s = open.open("retract-after").await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, vec![edit(None, "alice", "e1", 2_000, "fixed")]).await;
    put(&s, vec![react("bob", "x1", 2_500, &["👍"])]).await;
    put(&s, vec![retract(None, "alice", 3_000)]).await;
    assert_retracted(&only(&s).await);
}

/// The retraction first: the target is stored retracted.
pub async fn retraction_before_its_target(open: impl Opener) {
    let s = open.open("retract-before").await;
    put(&s, vec![retract(None, "alice", 3_000)]).await;
    let fresh = put(&s, vec![original(Some("s1"))]).await;
    assert_retracted(&fresh[0]);
    assert_retracted(&only(&s).await);
}

/// Resync: a forward page brings the retraction, a later history page the target.
pub async fn retraction_in_forward_page_before_history_page_of_target(open: impl Opener) {
    let s = open.open("retract-history").await;
    let cursor = Cursor {
        id: "s9".into(),
        stamp: Timestamp(3_000),
    };
    let forward = Page::new(ROOM, vec![retract(Some("s9"), "alice", 3_000)]).with_cursor(cursor);
    s.apply_page(&forward).await.unwrap();
    let history = Page::new(ROOM, vec![original(Some("s1"))]);
    assert!(history.is_history());
    s.apply_page(&history).await.unwrap();
    assert_retracted(&only(&s).await);
}

/// Only the author retracts without moderation.
pub async fn retraction_by_another_occupant_is_ignored(open: impl Opener) {
    let s = open.open("retract-foreign").await;
    put(&s, vec![retract(None, "bob", 3_000)]).await;
    put(&s, vec![original(Some("s1"))]).await;
    let e = only(&s).await;
    assert_eq!((body(&e), &e.retracted), ("body m1", &None));
}

/// Resync across a retraction: the stored copy (live, reacted to) meets the archive's
/// tombstone of it (same archive id) and the retraction itself; it ends retracted and no
/// longer counts as unread.
pub async fn resync_tombstone_retracts_the_stored_message(open: impl Opener) {
    let s = open.open("tombstone").await;
    let mut live = original(Some("s1"));
    live.source = Source::Live;
    put(&s, vec![live]).await;
    put(&s, vec![react("bob", "x1", 2_000, &["👍"])]).await;
    assert_eq!(s.unread(ROOM, Own::default()).await.unwrap(), 1);
    let page = Page::new(ROOM, vec![tombstone(), retract(Some("s5"), "alice", 3_000)]).with_cursor(
        Cursor {
            id: "s5".into(),
            stamp: Timestamp(3_000),
        },
    );
    s.apply_page(&page).await.unwrap();
    assert_retracted(&only(&s).await);
    assert_eq!(s.unread(ROOM, Own::default()).await.unwrap(), 0);
}

/// The archive's tombstone of `s1`, as the event parser makes it.
pub(super) fn tombstone() -> RoomEvent {
    let mut t = original(Some("s1"));
    t.kind = EventKind::Message {
        body: String::new(),
    };
    t.retracted = Some(Retraction::default());
    t
}

/// The tombstone first (a fresh device's resync), then an offline copy of the message:
/// still retracted, its body not back.
pub async fn tombstone_first_then_live_copy_stays_retracted(open: impl Opener) {
    let s = open.open("tombstone-first").await;
    put(&s, vec![tombstone()]).await;
    let mut offline = original(Some("s1"));
    offline.source = Source::Offline;
    put(&s, vec![offline]).await;
    assert_retracted(&only(&s).await);
}

pub(super) fn moderation(nick: Option<&str>) -> RoomEvent {
    let r = Retraction {
        moderated: Some(Moderator {
            by: format!("{ROOM}/mod"),
            occupant_id: Some("occ-m".into()),
        }),
        reason: Some("spam".into()),
    };
    let mut e = change(Some("s7"), "mod", "s7", 4_000, "s1", Change::Retract(r));
    e.nick = nick.map(str::to_owned);
    e.occupant_id = None;
    e
}

/// The room's moderation announcement (from the room, no nick) retracts anyone's
/// message, before or after it arrives, and keeps who and why.
pub async fn moderation_by_the_room_keeps_its_reason(open: impl Opener) {
    let s = open.open("moderate").await;
    put(&s, vec![moderation(None)]).await;
    put(&s, vec![original(Some("s1"))]).await;
    let e = only(&s).await;
    let EventKind::Change {
        change: Change::Retract(expected),
        ..
    } = moderation(None).kind
    else {
        unreachable!("built as a retraction")
    };
    assert_eq!(e.retracted, Some(expected));
    assert_eq!(body(&e), "");
}

/// A "moderation" an occupant sends itself is not the room's: ignored.
pub async fn moderation_claimed_by_an_occupant_is_ignored(open: impl Opener) {
    let s = open.open("moderate-forged").await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, vec![moderation(Some("eve"))]).await;
    assert_eq!(only(&s).await.retracted, None);
}

/// Reactions before and after their target, a sender's newer reaction arriving first:
/// each sender's newest reaction counts.
pub async fn reactions_whatever_their_order(open: impl Opener) {
    let s = open.open("reactions").await;
    put(&s, vec![react("bob", "x2", 3_000, &["👍"])]).await;
    put(&s, vec![react("carol", "x3", 2_500, &["👍", "🎉"])]).await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, vec![react("bob", "x1", 2_000, &["👍", "❤"])]).await;
    let e = only(&s).await;
    let expected = [
        ("🎉".to_string(), vec!["occ-c".to_string()]),
        ("👍".to_string(), vec!["occ-b".into(), "occ-c".into()]),
    ];
    assert_eq!(e.reactions, expected.into_iter().collect());
    assert_eq!(body(&e), "body m1");
}

/// A change kept for a target not yet stored survives a reload.
pub async fn pending_change_survives_reopen(open: impl Opener) {
    put(
        &open.open("pending").await,
        vec![edit(None, "alice", "e1", 2_000, "fixed")],
    )
    .await;
    let s = open.open("pending").await;
    put(&s, vec![original(Some("s1"))]).await;
    assert_edited(&only(&s).await, "fixed", &["body m1"]);
}

/// Change events are folded into their target: not listed, not unread.
pub async fn changes_are_neither_shown_nor_counted(open: impl Opener) {
    let s = open.open("changes-hidden").await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, vec![edit(None, "alice", "e1", 2_000, "fixed")]).await;
    put(&s, vec![react("bob", "x1", 2_500, &["👍"])]).await;
    only(&s).await;
    assert_eq!(s.unread(ROOM, Own::default()).await.unwrap(), 1);
}

/// A batch bringing a correction, then its target, then a reaction, in three pages, has
/// the outcome of those pages one by one: each new event reported as its own page would
/// have reported it (the target corrected but not yet reacted to), the same stored state.
pub async fn changes_in_a_batch_equal_their_pages_one_by_one(open: impl Opener) {
    let pages = [
        Page::new(ROOM, vec![edit(None, "alice", "e1", 2_000, "fixed")]),
        Page::new(ROOM, vec![original(Some("s1"))]),
        Page::new(ROOM, vec![react("bob", "x1", 2_500, &["👍"])]),
    ];
    let ((one_by_one, expected), (batched, got)) =
        apply_both(&open, ("changes-seq", "changes-batch"), &pages).await;
    assert_edited(&expected[1].fresh[0], "fixed", &["body m1"]);
    assert!(expected[1].fresh[0].reactions.is_empty());
    assert_eq!(got, expected);
    let stored = only(&one_by_one).await;
    assert_eq!(only(&batched).await, stored);
    assert_eq!(stored.reactions.len(), 1);
}

/// Messages of carol at `ts`, archive ids `<tag>00`…
fn filler(tag: &str, n: usize, ts: i64) -> Vec<RoomEvent> {
    (0..n)
        .map(|i| {
            message(
                ROOM,
                Some(&format!("{tag}{i:02}")),
                "carol",
                &format!("{tag}-{i}"),
                ts,
            )
        })
        .collect()
}

/// A corrected and reacted-to message seen again as it was stored (the same archive page
/// fetched twice) keeps what its changes made of it, even with its changes stored apart
/// from it and from the newest events (many events came in between and after).
pub async fn message_seen_again_keeps_its_changes(open: impl Opener) {
    let s = open.open("seen-again").await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, filler("a", 40, 1_500)).await;
    put(&s, vec![edit(None, "alice", "e1", 2_000, "fixed")]).await;
    put(&s, vec![react("bob", "x1", 2_500, &["👍"])]).await;
    put(&s, filler("b", 40, 3_000)).await;
    put(&s, filler("c", 1, 3_500)).await;
    let again = put(&s, vec![original(Some("s1"))]).await;
    assert!(again.is_empty(), "nothing new");
    let all = s.events(ROOM, 100).await.unwrap();
    assert_eq!(all.len(), 82);
    assert_edited(&all[0], "fixed", &["body m1"]);
    assert_eq!(all[0].reactions.len(), 1);
}
