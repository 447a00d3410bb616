//! Suite cases for changes that name a corrected message by its correction's stanza-id
//! (issue 22): Converse.js shows a corrected message as its newest version and reacts to
//! it, or moderates it, by the correction's archive id. The store folds such a change
//! into the corrected message, whatever order the three arrive in, and only through a
//! correction by the message's author.

use super::changes::{body, change, edit, moderation, only, original, put};
use super::Opener;
use crate::event::{Change, EventKind, RoomEvent};

/// Bob's 🎉 on the message named by `target`.
fn party(target: &str) -> RoomEvent {
    let emojis = vec!["🎉".to_string()];
    change(None, "bob", "x9", 3_000, target, Change::React { emojis })
}

/// Alice's correction of `m1`, archive id `s2`.
fn correction() -> RoomEvent {
    edit(Some("s2"), "alice", "e1", 2_000, "fixed")
}

fn reactions(e: &RoomEvent) -> Vec<(String, Vec<String>)> {
    e.reactions.clone().into_iter().collect()
}

/// A reaction naming the correction's stanza-id lands on the corrected message, in each
/// of the six orders the message, its correction and the reaction can arrive in.
pub async fn reaction_to_a_correction_whatever_the_order(open: impl Opener) {
    const NAMES: [&str; 6] = [
        "alias-0", "alias-1", "alias-2", "alias-3", "alias-4", "alias-5",
    ];
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (name, order) in NAMES.into_iter().zip(ORDERS) {
        let events = [original(Some("s1")), correction(), party("s2")];
        let s = open.open(name).await;
        for i in order {
            put(&s, vec![events[i].clone()]).await;
        }
        let e = only(&s).await;
        assert_eq!(body(&e), "fixed", "order {order:?}");
        let want = vec![("🎉".to_string(), vec!["occ-b".to_string()])];
        assert_eq!(reactions(&e), want, "order {order:?}");
    }
    // All three in one page.
    let s = open.open("alias-page").await;
    put(&s, vec![party("s2"), correction(), original(Some("s1"))]).await;
    assert_eq!(only(&s).await.reactions.len(), 1);
}

/// A "correction" by someone else is no version of the message: a reaction naming it
/// does not land on the message it claims to correct.
pub async fn reaction_to_a_foreign_correction_is_not_the_messages(open: impl Opener) {
    let s = open.open("alias-foreign").await;
    put(&s, vec![original(Some("s1"))]).await;
    put(&s, vec![edit(Some("s3"), "carol", "e3", 2_000, "hijacked")]).await;
    put(&s, vec![party("s3")]).await;
    let e = only(&s).await;
    assert_eq!((body(&e), e.reactions.len()), ("body m1", 0));
}

/// The room's moderation naming the correction's stanza-id retracts the message.
pub async fn moderation_of_a_correction_retracts_the_message(open: impl Opener) {
    let s = open.open("alias-moderated").await;
    put(&s, vec![original(Some("s1"))]).await;
    let mut m = moderation(None);
    if let EventKind::Change { target, .. } = &mut m.kind {
        *target = "s2".into();
    }
    put(&s, vec![m]).await;
    put(&s, vec![correction()]).await;
    let e = only(&s).await;
    assert!(e.retracted.is_some(), "{e:?}");
    assert_eq!(body(&e), "");
}
