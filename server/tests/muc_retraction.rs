//! XEP-0424 retraction of one's own message in a room: relayed, archived and wrapped to
//! subscribers; the archive keeps a tombstone in place of the message, also after a
//! restart; retracting another occupant's message is `auth/forbidden`, an unknown one
//! `cancel/item-not-found`.

#[path = "scenarios/chat.rs"]
mod chat;
#[path = "scenarios/support.rs"]
mod support;

use chat::*;
use support::*;

fn retraction(id: &str) -> String {
    format!(
        "<retract xmlns='{RETRACT}' id='{id}'/><fallback xmlns='urn:xmpp:fallback:0' for='{RETRACT}'/><body>This person attempted to retract a previous message.</body><store xmlns='urn:xmpp:hints'/>"
    )
}

#[tokio::test]
async fn the_author_retracts_and_the_archive_keeps_a_tombstone_across_a_restart() {
    let mut s = server(&["alice", "bob"]).await;
    let r = room("retract");
    let sid;
    {
        let mut a = login(&s, "alice", "a").await;
        let mut b = login(&s, "bob", "b").await;
        join(&mut a, &r, "alice").await;
        subscribe(&mut b, &r, "bob").await;
        assert!(disco_features(&mut a, &r)
            .await
            .contains(&RETRACT.to_string()));
        let original = say_raw(&mut a, &r, "m1", "<body>oops, a secret</body>").await;
        sid = stanza_id(&original).expect("stanza-id");
        expect_wrapped(&mut b, "m1").await;
        let echo = say_raw(&mut a, &r, "r1", &retraction(&sid)).await;
        assert_eq!(
            echo.get_child("retract", RETRACT)
                .and_then(|e| e.attr("id")),
            Some(sid.as_str())
        );
        assert_eq!(occupant_id(&echo), occupant_id(&original));
        let (_, wrapped) = expect_wrapped(&mut b, "r1").await;
        assert!(wrapped.get_child("retract", RETRACT).is_some());
        let all = archive(&mut b, &r).await;
        assert_eq!(
            all.len(),
            2,
            "the message (as tombstone) and the retraction"
        );
        assert_tombstone(&all[0].1, &sid, &occupant_id(&original));
    }
    s.restart().await;
    let mut b = login(&s, "bob", "b").await;
    let m = archived(&mut b, &r, &sid).await;
    let all = archive(&mut b, &r).await;
    assert_tombstone(&m, &sid, &occupant_id(&all[1].1));
}

fn assert_tombstone(m: &Element, sid: &str, oid: &str) {
    let xml = String::from(m);
    assert!(m.get_child("retracted", RETRACT).is_some(), "{xml}");
    assert!(body(m).is_none() && !xml.contains("secret"), "{xml}");
    assert_eq!(stanza_id(m).as_deref(), Some(sid));
    assert_eq!(occupant_id(m), oid);
    assert_eq!(m.attr("id"), Some("m1"));
}

#[tokio::test]
async fn retracting_someone_elses_or_an_unknown_message_is_refused() {
    let s = server(&["alice", "bob"]).await;
    let r = room("retract-authz");
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    let original = say_raw(&mut a, &r, "m1", "<body>mine</body>").await;
    let sid = stanza_id(&original).expect("stanza-id");
    let refused = say_raw(&mut b, &r, "x1", &retraction(&sid)).await;
    assert_error(&refused, "auth", "forbidden");
    // By the id alice gave it, too.
    let refused = say_raw(&mut b, &r, "x2", &retraction("m1")).await;
    assert_error(&refused, "auth", "forbidden");
    let unknown = say_raw(&mut b, &r, "x3", &retraction("999999")).await;
    assert_error(&unknown, "cancel", "item-not-found");
    let m = archived(&mut a, &r, &sid).await;
    assert_eq!(body(&m).as_deref(), Some("mine"), "untouched");
    // Alice retracting by her own id works.
    let ok = say_raw(&mut a, &r, "r1", &retraction("m1")).await;
    assert_eq!(ok.attr("type"), Some("groupchat"));
    let m = archived(&mut a, &r, &sid).await;
    assert!(m.get_child("retracted", RETRACT).is_some());
}

use minidom::Element;
