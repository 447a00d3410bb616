//! Suite cases for [`crate::store::Applied::updated`]: a page that changes a stored message
//! as the app shows it (a correction, retraction, moderation or reaction folded in, an
//! archive tombstone) reports the message as it now is, once, so the app never re-folds
//! changes itself; a page that changes nothing visible reports nothing.

use super::changes::{body, edit, original, react, retract, tombstone};
use super::{apply_both, message, Opener, ROOM};
use crate::event::{RoomEvent, Source};
use crate::store::{Applied, Page, Store};

async fn put(s: &impl Store, events: Vec<RoomEvent>) -> Applied {
    s.apply_page(&Page::new(ROOM, events)).await.unwrap()
}

fn ids(events: &[RoomEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.message_id.as_deref().unwrap_or_default())
        .collect()
}

/// Each change of a stored message reports the change as new and the message as it now
/// is; the same change seen again (its archive copy) and an unrelated message report none.
pub async fn a_change_reports_its_stored_message_updated(open: impl Opener) {
    let s = open.open("updated-by-change").await;
    let first = put(&s, vec![original(Some("s1"))]).await;
    assert!(
        first.updated.is_empty(),
        "a new message is fresh, not updated"
    );
    let edited = put(&s, vec![edit(None, "alice", "e1", 2_000, "fixed")]).await;
    assert_eq!(ids(&edited.fresh), ["e1"]);
    assert_eq!(ids(&edited.updated), ["m1"]);
    assert_eq!(body(&edited.updated[0]), "fixed");
    assert_eq!(edited.updated[0].edited, ["body m1"]);
    let again = put(&s, vec![edit(Some("s2"), "alice", "e1", 2_000, "fixed")]).await;
    assert!(
        again.fresh.is_empty() && again.updated.is_empty(),
        "{again:?}"
    );
    let reacted = put(&s, vec![react("bob", "x1", 2_500, &["👍"])]).await;
    assert_eq!(ids(&reacted.updated), ["m1"]);
    assert_eq!(reacted.updated[0].reactions["👍"], ["occ-b"]);
    let other = put(&s, vec![message(ROOM, Some("s9"), "carol", "m9", 2_600)]).await;
    assert!(other.updated.is_empty());
    let retracted = put(&s, vec![retract(None, "alice", 3_000)]).await;
    assert_eq!(ids(&retracted.updated), ["m1"]);
    assert!(retracted.updated[0].retracted.is_some());
    assert_eq!(body(&retracted.updated[0]), "");
    assert_eq!(s.events(ROOM, 10).await.unwrap()[0], retracted.updated[0]);
}

/// A change that overtook its target updates nothing; the target comes fresh, folded.
pub async fn a_change_before_its_target_reports_no_update(open: impl Opener) {
    let s = open.open("updated-none-before").await;
    let early = put(&s, vec![edit(None, "alice", "e1", 2_000, "fixed")]).await;
    assert!(early.updated.is_empty());
    let target = put(&s, vec![original(Some("s1"))]).await;
    assert!(target.updated.is_empty(), "{target:?}");
    assert_eq!(body(&target.fresh[0]), "fixed");
}

/// Resync brings the archive's tombstone of a message stored live: reported retracted.
pub async fn a_resync_tombstone_reports_the_message_updated(open: impl Opener) {
    let s = open.open("updated-tombstone").await;
    let mut live = original(Some("s1"));
    live.source = Source::Live;
    put(&s, vec![live]).await;
    let page = put(&s, vec![tombstone()]).await;
    assert!(page.fresh.is_empty());
    assert_eq!(ids(&page.updated), ["m1"]);
    assert!(page.updated[0].retracted.is_some());
}

/// A live message without archive id gains it from its archive copy: a reaction stored
/// earlier naming that id now applies, and the message is reported with it. The archive
/// copy alone (new id, new time) is no update: a resync reports nothing for it.
pub async fn an_id_gained_reports_the_change_it_unlocks(open: impl Opener) {
    let s = open.open("updated-by-id").await;
    let mut live = original(None);
    live.timestamp = crate::protocol::time::Timestamp(900);
    put(&s, vec![live, message(ROOM, None, "carol", "m2", 950)]).await;
    put(&s, vec![react("bob", "x1", 2_500, &["🎉"])]).await;
    let copy = put(
        &s,
        vec![
            original(Some("s1")),
            message(ROOM, Some("s2"), "carol", "m2", 960),
        ],
    )
    .await;
    assert!(copy.fresh.is_empty());
    assert_eq!(ids(&copy.updated), ["m1"], "m2 only gained ids: {copy:?}");
    assert_eq!(copy.updated[0].reactions["🎉"], ["occ-b"]);
}

/// What the app shows: every message by id, from the new events, then the updates.
fn shown(results: &[Applied]) -> Vec<(String, RoomEvent)> {
    let mut out: Vec<(String, RoomEvent)> = Vec::new();
    for r in results {
        for ev in r.fresh.iter().chain(&r.updated) {
            let id = ev.message_id.clone().unwrap_or_default();
            out.retain(|(k, _)| *k != id);
            out.push((id, ev.clone()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A batch where a page corrects a message of an earlier page and another reacts to it:
/// the message is reported once, as the batch left it, on the room's last page; what the
/// app ends up showing is what the pages one by one show.
pub async fn a_batch_reports_each_update_once_as_it_left_it(open: impl Opener) {
    let pages = [
        Page::new(ROOM, vec![original(Some("s1"))]),
        Page::new(ROOM, vec![edit(None, "alice", "e1", 2_000, "fixed")]),
        Page::new(ROOM, vec![message(ROOM, Some("s9"), "carol", "m9", 2_100)]),
        Page::new(ROOM, vec![react("bob", "x1", 2_500, &["👍"])]),
        Page::new(
            ROOM,
            vec![message(ROOM, Some("s10"), "carol", "m10", 2_600)],
        ),
    ];
    let ((_, expected), (_, got)) =
        apply_both(&open, ("updated-seq", "updated-batch"), &pages).await;
    let fresh = |r: &[Applied]| r.iter().map(|a| a.fresh.clone()).collect::<Vec<_>>();
    assert_eq!(
        fresh(&got),
        fresh(&expected),
        "the same new events, page by page"
    );
    let updates: Vec<&RoomEvent> = got.iter().flat_map(|a| &a.updated).collect();
    assert!(
        updates.len() <= 2,
        "at most once per page one by one: {updates:?}"
    );
    assert_eq!(shown(&got), shown(&expected));
    let all = shown(&got);
    let m1 = &all.iter().find(|(id, _)| id == "m1").expect("m1 shown").1;
    assert_eq!((body(m1), m1.reactions.len()), ("fixed", 1));
}
