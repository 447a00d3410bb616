#[path = "scenarios/support.rs"]
mod support;
use support::*;

/// docs/protocol.md S17 (`with`) and XEP-0045 §4.2: in a semi-anonymous room only
/// moderators learn real JIDs. A MAM `with` filter on a real JID lets anyone test which
/// messages an account sent.
#[tokio::test]
async fn mam_with_real_jid_is_not_an_oracle_in_semi_anonymous_rooms() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("oracle");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    post(&mut a, &r, "who wrote this").await;
    a.expect_message().await;
    let id = b.next_id();
    let (reply, before) = iq_collect(
        &mut b,
        &format!(
            "<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}' queryid='{id}'>\
         <x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'><value>{MAM}</value></field>\
         <field var='with'><value>alice@localhost</value></field></x></query></iq>"
        ),
    )
    .await;
    let leaked = before
        .iter()
        .filter(|m| m.get_child("result", MAM).is_some())
        .count();
    assert_eq!(
        leaked, 0,
        "a non-moderator filtered a semi-anonymous archive by real JID"
    );
    assert_eq!(reply.attr("type"), Some("error"));
    assert!(reply
        .get_child("error", CLIENT)
        .is_some_and(|e| e.has_child("not-acceptable", STANZAS)));
    // The owner may see real JIDs, so the same filter works for her.
    let id = a.next_id();
    let (reply, before) = iq_collect(
        &mut a,
        &format!(
            "<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}' queryid='{id}'>\
         <x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'><value>{MAM}</value></field>\
         <field var='with'><value>alice@localhost</value></field></x></query></iq>"
        ),
    )
    .await;
    assert_eq!(reply.attr("type"), Some("result"));
    let hits = before
        .iter()
        .filter(|m| m.get_child("result", MAM).is_some())
        .count();
    assert_eq!(hits, 1, "the owner's filter finds her message");
}
