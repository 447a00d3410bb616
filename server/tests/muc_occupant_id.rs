//! XEP-0421 occupant-ids: on every groupchat message and occupant presence, the same for
//! one account in one room whatever its nick, resource or route (joined, posting as a
//! subscriber, wrapped to subscribers, in MAM), kept across a restart; the ones clients
//! send are dropped; the room advertises the feature.

#[path = "scenarios/chat.rs"]
mod chat;
#[path = "scenarios/support.rs"]
mod support;

use chat::*;
use support::*;

const FORGED: &str = "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/>";

#[tokio::test]
async fn one_id_per_account_and_room_on_presences_and_messages_and_forged_ones_dropped() {
    let s = server(&["alice", "bob"]).await;
    let r = room("oid");
    let other = room("oid-other");
    let mut a = login(&s, "alice", "desk").await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut a, &r, "alice").await;
    assert!(disco_features(&mut a, &r).await.contains(&OID.to_string()));
    // Bob sees alice's presence with her id, and his own with his.
    let got = join(&mut b, &r, "bob").await;
    let alice_p = got
        .iter()
        .find(|p| p.name() == "presence" && p.attr("from") == Some(&format!("{r}/alice")))
        .expect("alice's presence");
    let alice_id = occupant_id(alice_p);
    let bob_self = got
        .iter()
        .find(|p| p.attr("from") == Some(&format!("{r}/bob")))
        .expect("bob's own presence");
    let bob_id = occupant_id(bob_self);
    assert_ne!(alice_id, bob_id);
    // A message with a forged id goes out with the sender's real one only.
    let echo = say_raw(&mut a, &r, "m1", &format!("<body>hi</body>{FORGED}")).await;
    assert_eq!(occupant_ids(&echo), vec![alice_id.clone()]);
    let seen = b
        .expect("alice's message", |e| e.attr("id") == Some("m1"))
        .await;
    assert_eq!(occupant_ids(&seen), vec![alice_id.clone()]);
    // A forged id in a presence update is dropped too.
    a.send(&format!(
        "<presence to='{r}/alice'><status>away</status>{FORGED}</presence>"
    ))
    .await;
    let update = b
        .expect("alice's update", |e| {
            e.name() == "presence" && e.get_child("status", CLIENT).is_some()
        })
        .await;
    assert_eq!(occupant_ids(&update), vec![alice_id.clone()]);
    // Another resource of alice under another nick: the same id.
    let mut a2 = login(&s, "alice", "phone").await;
    join(&mut a2, &r, "alice-phone").await;
    let p2 = b
        .expect("alice's second presence", |e| {
            e.attr("from") == Some(&format!("{r}/alice-phone"))
        })
        .await;
    assert_eq!(occupant_id(&p2), alice_id);
    // Another room: another id.
    let got = join(&mut a, &other, "alice").await;
    let own = got
        .iter()
        .find(|p| p.attr("from") == Some(&format!("{other}/alice")))
        .expect("own presence");
    assert_ne!(occupant_id(own), alice_id);
    // The leave carries it as well.
    let bye = leave(&mut b, &r, "bob").await;
    assert_eq!(occupant_id(&bye), bob_id);
}

#[tokio::test]
async fn subscribers_wrapped_events_and_the_archive_carry_the_same_id_across_a_restart() {
    let mut s = server(&["alice", "bob", "carol"]).await;
    let r = room("oid-sub");
    let (alice_id, carol_id, first_sid);
    {
        let mut a = login(&s, "alice", "a").await;
        let mut b = login(&s, "bob", "b").await;
        let mut c = login(&s, "carol", "c").await;
        join(&mut a, &r, "alice").await;
        subscribe(&mut b, &r, "bob").await;
        subscribe(&mut c, &r, "carol").await;
        // Carol posts without joining (S14): alice sees it, bob gets it wrapped.
        c.send(&format!(
            "<message to='{r}' type='groupchat' id='c1'><body>from afar</body>{FORGED}</message>"
        ))
        .await;
        let live = a
            .expect("carol's post", |e| e.attr("id") == Some("c1"))
            .await;
        carol_id = occupant_id(&live);
        let (item, wrapped) = expect_wrapped(&mut b, "c1").await;
        assert_eq!(occupant_ids(&wrapped), vec![carol_id.clone()]);
        first_sid = item;
        let echo = say_raw(&mut a, &r, "a1", "<body>hello</body>").await;
        alice_id = occupant_id(&echo);
        let (_, wrapped) = expect_wrapped(&mut b, "a1").await;
        assert_eq!(occupant_id(&wrapped), alice_id);
        // The archive holds what went out.
        let all = archive(&mut b, &r).await;
        let ids: Vec<String> = all.iter().map(|(_, m)| occupant_id(m)).collect();
        assert_eq!(ids, vec![carol_id.clone(), alice_id.clone()]);
    }
    s.restart().await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let got = join(&mut a, &r, "alice").await;
    let own = got
        .iter()
        .find(|p| p.attr("from") == Some(&format!("{r}/alice")))
        .expect("own presence");
    assert_eq!(occupant_id(own), alice_id, "kept across the restart");
    post(&mut c, &r, "again").await;
    let live = a
        .expect("carol's second post", |e| {
            body(e).as_deref() == Some("again")
        })
        .await;
    assert_eq!(occupant_id(&live), carol_id, "kept across the restart");
    let m = archived(&mut b, &r, &first_sid).await;
    assert_eq!(occupant_id(&m), carol_id);
}
