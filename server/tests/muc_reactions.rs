//! XEP-0444 reactions and XEP-0461 replies in a room: archived and wrapped to subscribers
//! on the messages node like messages, with the sender's occupant-id, their references
//! and XEP-0359 origin-ids kept.

#[path = "scenarios/chat.rs"]
mod chat;
#[path = "scenarios/support.rs"]
mod support;

use chat::*;
use support::*;

#[tokio::test]
async fn reactions_and_replies_are_archived_and_wrapped() {
    let s = server(&["alice", "bob"]).await;
    let r = room("reactions");
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    let features = disco_features(&mut a, &r).await;
    for f in [REACTIONS, REPLY] {
        assert!(features.contains(&f.to_string()), "{f}: {features:?}");
    }
    let original = say_raw(&mut a, &r, "m1", "<body>lunch?</body>").await;
    let sid = stanza_id(&original).unwrap();
    expect_wrapped(&mut b, "m1").await;
    // A reaction has no body.
    let reaction = format!(
        "<reactions xmlns='{REACTIONS}' id='{sid}'><reaction>👍</reaction></reactions><origin-id xmlns='{SID}' id='re1'/><store xmlns='urn:xmpp:hints'/>"
    );
    let echo = say_raw(&mut a, &r, "re1", &reaction).await;
    assert!(
        stanza_id(&echo).is_some(),
        "archived: {}",
        String::from(&echo)
    );
    let (_, wrapped) = expect_wrapped(&mut b, "re1").await;
    let rs = wrapped
        .get_child("reactions", REACTIONS)
        .expect("reactions");
    assert_eq!(rs.attr("id"), Some(sid.as_str()));
    assert_eq!(occupant_id(&wrapped), occupant_id(&original));
    let reply = format!(
        "<body>&gt; lunch?\nyes</body><reply xmlns='{REPLY}' to='{r}/alice' id='{sid}'/><fallback xmlns='urn:xmpp:fallback:0' for='{REPLY}'><body start='0' end='9'/></fallback><origin-id xmlns='{SID}' id='rp1'/>"
    );
    say_raw(&mut a, &r, "rp1", &reply).await;
    let (_, wrapped) = expect_wrapped(&mut b, "rp1").await;
    assert_eq!(
        wrapped.get_child("reply", REPLY).and_then(|e| e.attr("id")),
        Some(sid.as_str())
    );
    let all = archive(&mut b, &r).await;
    assert_eq!(all.len(), 3);
    let emoji = all[1]
        .1
        .get_child("reactions", REACTIONS)
        .and_then(|e| e.get_child("reaction", REACTIONS))
        .map(|e| e.text());
    assert_eq!(emoji.as_deref(), Some("👍"));
    let origin = all[2]
        .1
        .get_child("origin-id", SID)
        .and_then(|o| o.attr("id"));
    assert_eq!(origin, Some("rp1"));
    assert!(all[2].1.get_child("reply", REPLY).is_some());
}
