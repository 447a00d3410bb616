//! XEP-0425 moderated retraction: a moderator's request (the current
//! `urn:xmpp:message-moderate:1` wire, and v0.2's `<apply-to/>` that older clients send)
//! tombstones the message in the archive (also after a restart) and is announced live,
//! archived and wrapped to subscribers; without the role it is `auth/forbidden`.

#[path = "scenarios/chat.rs"]
mod chat;
#[path = "scenarios/support.rs"]
mod support;

use chat::*;
use minidom::Element;
use mucsub_server::testkit::RawClient;
use support::*;

async fn moderate(c: &mut RawClient, r: &str, sid: &str, legacy: bool) -> Element {
    let id = c.next_id();
    let payload = if legacy {
        format!("<apply-to xmlns='{FASTEN}' id='{sid}'><moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/><reason>spam</reason></moderate></apply-to>")
    } else {
        format!("<moderate xmlns='{MODERATE}' id='{sid}'><retract xmlns='{RETRACT}'/><reason>spam</reason></moderate>")
    };
    c.iq(&format!("<iq type='set' id='{id}' to='{r}'>{payload}</iq>"))
        .await
}

/// The room's announcement of a moderation of `sid` by `by`.
fn assert_announcement(m: &Element, r: &str, sid: &str, by: &str) {
    let xml = String::from(m);
    assert_eq!(m.attr("from"), Some(r), "{xml}");
    let retract = m.get_child("retract", RETRACT).expect("retract");
    assert_eq!(retract.attr("id"), Some(sid));
    let moderated = retract.get_child("moderated", MODERATE).expect("moderated");
    assert_eq!(moderated.attr("by"), Some(by));
    assert_eq!(occupant_ids(moderated).len(), 1, "{xml}");
    assert_eq!(
        retract
            .children()
            .find(|c| c.name() == "reason")
            .map(Element::text),
        Some("spam".into())
    );
    let legacy = m
        .get_child("apply-to", FASTEN)
        .expect("the v0.2 form beside it");
    assert_eq!(legacy.attr("id"), Some(sid));
}

#[tokio::test]
async fn a_moderator_retracts_a_message_and_the_tombstone_survives_a_restart() {
    let mut s = server(&["alice", "bob", "carol"]).await;
    let r = room("moderated");
    let (sid, bob_id);
    {
        let mut a = login(&s, "alice", "a").await;
        let mut b = login(&s, "bob", "b").await;
        let mut c = login(&s, "carol", "c").await;
        join(&mut a, &r, "alice").await;
        join(&mut b, &r, "bob").await;
        subscribe(&mut c, &r, "carol").await;
        let features = disco_features(&mut a, &r).await;
        assert!(features.contains(&MODERATE.to_string()), "{features:?}");
        let spam = say_raw(&mut b, &r, "s1", "<body>buy now</body>").await;
        sid = stanza_id(&spam).expect("stanza-id");
        bob_id = occupant_id(&spam);
        expect_wrapped(&mut c, "s1").await;
        assert_result(&moderate(&mut a, &r, &sid, false).await);
        let live = b
            .expect("the announcement", |e| {
                e.get_child("retract", RETRACT).is_some()
            })
            .await;
        assert_announcement(&live, &r, &sid, &format!("{r}/alice"));
        let wrapped = c
            .expect("the wrapped announcement", |e| {
                unwrap_event(e).is_some_and(|(n, _, i)| {
                    n == "messages" && i.get_child("retract", RETRACT).is_some()
                })
            })
            .await;
        let (_, item, inner) = unwrap_event(&wrapped).unwrap();
        assert_announcement(&inner, &r, &sid, &format!("{r}/alice"));
        assert_eq!(
            stanza_id(&inner),
            Some(item),
            "archived: item id is its stanza-id"
        );
    }
    s.restart().await;
    let mut c = login(&s, "carol", "c").await;
    let all = archive(&mut c, &r).await;
    assert_eq!(all.len(), 2, "the tombstone and the announcement");
    let tomb = &all[0].1;
    let xml = String::from(tomb);
    assert!(!xml.contains("buy now"), "{xml}");
    let retracted = tomb.get_child("retracted", RETRACT).expect("tombstone");
    let moderated = retracted
        .get_child("moderated", MODERATE)
        .expect("moderated");
    assert_eq!(moderated.attr("by"), Some(format!("{r}/alice").as_str()));
    assert_eq!(
        occupant_id(tomb),
        bob_id,
        "the author's id stays on the tombstone"
    );
    assert_announcement(&all[1].1, &r, &sid, &format!("{r}/alice"));
}

#[tokio::test]
async fn the_v0_2_request_is_understood() {
    let s = server(&["alice", "bob"]).await;
    let r = room("moderated-legacy");
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    let spam = say_raw(&mut b, &r, "s1", "<body>buy now</body>").await;
    let sid = stanza_id(&spam).expect("stanza-id");
    assert_result(&moderate(&mut a, &r, &sid, true).await);
    let m = archived(&mut a, &r, &sid).await;
    assert!(m.get_child("retracted", RETRACT).is_some());
}

#[tokio::test]
async fn moderating_without_the_role_is_forbidden_and_an_unknown_message_not_found() {
    let s = server(&["alice", "bob"]).await;
    let r = room("moderated-authz");
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    let mine = say_raw(&mut a, &r, "m1", "<body>owner's words</body>").await;
    let sid = stanza_id(&mine).expect("stanza-id");
    // Bob is a participant: no moderating, not even his own messages.
    assert_error(
        &moderate(&mut b, &r, &sid, false).await,
        "auth",
        "forbidden",
    );
    let own = say_raw(&mut b, &r, "b1", "<body>bob's</body>").await;
    let own_sid = stanza_id(&own).unwrap();
    assert_error(
        &moderate(&mut b, &r, &own_sid, true).await,
        "auth",
        "forbidden",
    );
    assert_error(
        &moderate(&mut a, &r, "987654321", false).await,
        "cancel",
        "item-not-found",
    );
    let m = archived(&mut a, &r, &sid).await;
    assert_eq!(body(&m).as_deref(), Some("owner's words"), "untouched");
}
