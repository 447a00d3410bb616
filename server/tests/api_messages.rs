//! `send_message` and `send_stanza` against a real server, watched over XMPP: a groupchat is
//! sent as the given user through the room's own rules (who may speak, members-only,
//! bans), archived with a stanza-id and delivered to occupants and subscribers; other
//! messages and stanzas go through the router as a session's would.

#[path = "scenarios/support.rs"]
mod support;

use mucsub_server::testkit::{with_api, TestServer};
use serde_json::{json, Value};
use support::*;

fn groupchat(from: &str, body: &str) -> Value {
    json!({"type": "groupchat", "from": from, "to": room("lab"), "subject": "", "body": body})
}

async fn lab_server(users: &[&str]) -> TestServer {
    let s = server_with(users, with_api).await;
    let r = s
        .api(
            "create_room",
            json!({"name": "lab", "service": MUC, "host": "localhost"}),
        )
        .await;
    assert_eq!(r.status, 200);
    s
}

#[tokio::test]
async fn a_groupchat_reaches_occupants_and_subscribers_with_one_stanza_id() {
    let s = lab_server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &room("lab"), "alice").await;
    let mut c = login(&s, "carol", "c").await;
    subscribe(&mut c, &room("lab"), "carol").await;
    // Bob posts without joining, as a subscriber (docs/protocol.md S14), through the API.
    let r = s
        .api(
            "subscribe_room",
            json!({"user": "bob@localhost", "nick": "bob", "room": room("lab"), "nodes": "urn:xmpp:mucsub:nodes:messages"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .api(
            "send_message",
            groupchat("bob@localhost", "from the backend"),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let seen = a
        .expect("the groupchat", |m| {
            m.name() == "message" && m.get_child("body", CLIENT).is_some()
        })
        .await;
    assert_eq!(
        seen.attr("from"),
        Some(format!("{}/bob", room("lab")).as_str())
    );
    let id = stanza_id(&seen).expect("a stanza-id");
    let (_, event_id, inner) = expect_event(&mut c, "messages").await;
    assert_eq!(event_id, id);
    assert_eq!(stanza_id(&inner), Some(id.clone()));
    assert_eq!(
        inner.get_child("body", CLIENT).unwrap().text(),
        "from the backend"
    );
    // It is in the archive.
    let qid = a.next_id();
    a.send(&format!(
        "<iq type='set' id='{qid}' to='{}'><query xmlns='{MAM}' queryid='q1'/></iq>",
        room("lab")
    ))
    .await;
    let archived = a
        .expect("an archive result", |m| {
            m.get_child("result", MAM).is_some()
        })
        .await;
    assert_eq!(
        archived.get_child("result", MAM).unwrap().attr("id"),
        Some(id.as_str())
    );

    // An occupant's full JID speaks with its nick.
    let r = s
        .api("send_message", groupchat("alice@localhost/a", "as alice"))
        .await;
    assert_eq!(r.status, 200);
    let echo = a
        .expect("own message", |m| {
            m.get_child("body", CLIENT)
                .is_some_and(|b| b.text() == "as alice")
        })
        .await;
    assert_eq!(
        echo.attr("from"),
        Some(format!("{}/alice", room("lab")).as_str())
    );
}

#[tokio::test]
async fn a_groupchat_obeys_the_rooms_rules() {
    let s = lab_server(&["alice", "bob", "eve"]).await;
    let stranger = s
        .api("send_message", groupchat("zed@localhost", "hi"))
        .await;
    assert_eq!(
        (stranger.status, stranger.body),
        (
            400,
            json!("Only occupants are allowed to send messages to the conference")
        )
    );
    // Members-only: a subscribed non-member may not speak (a visitor), a member may.
    s.api(
        "change_room_option",
        lab(json!({"option": "members_only", "value": "true"})),
    )
    .await;
    s.api(
        "subscribe_room",
        json!({"user": "bob@localhost", "nick": "bob", "room": room("lab"), "nodes": "urn:xmpp:mucsub:nodes:messages"}),
    )
    .await;
    let visitor = s
        .api("send_message", groupchat("bob@localhost", "hi"))
        .await;
    assert_eq!(
        (visitor.status, visitor.body),
        (
            400,
            json!("Visitors are not allowed to send messages to all occupants")
        )
    );
    s.api(
        "set_room_affiliation",
        lab(json!({"jid": "bob@localhost", "affiliation": "member"})),
    )
    .await;
    let member = s
        .api("send_message", groupchat("bob@localhost", "hi"))
        .await;
    assert_eq!((member.status, member.body), (200, json!(0)));
    // Banned: the subscription went with the ban, and so did the right to speak.
    s.api(
        "set_room_affiliation",
        lab(json!({"jid": "bob@localhost", "affiliation": "outcast"})),
    )
    .await;
    let banned = s
        .api("send_message", groupchat("bob@localhost", "hi"))
        .await;
    assert_eq!(banned.status, 400, "{banned:?}");
    assert_eq!(
        s.api("get_subscribers", lab(json!({}))).await.body,
        json!([])
    );
    // A room that does not exist.
    let r = s
        .api(
            "send_message",
            json!({"type": "groupchat", "from": "bob@localhost", "to": room("nosuch"), "subject": "", "body": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (400, json!("Conference room does not exist"))
    );
    // A subject change is a room rule too.
    s.api(
        "change_room_option",
        lab(json!({"option": "allow_change_subj", "value": "false"})),
    )
    .await;
    s.api(
        "set_room_affiliation",
        lab(json!({"jid": "eve@localhost", "affiliation": "member"})),
    )
    .await;
    s.api(
        "subscribe_room",
        json!({"user": "eve@localhost", "nick": "eve", "room": room("lab"), "nodes": ""}),
    )
    .await;
    let r = s
        .api(
            "send_message",
            json!({"type": "groupchat", "from": "eve@localhost", "to": room("lab"), "subject": "New", "body": ""}),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (
            400,
            json!("Only moderators are allowed to change the subject in this room")
        )
    );
}

#[tokio::test]
async fn chat_and_headline_messages_and_stanzas_go_through_the_router() {
    let s = server_with(&["alice", "bob"], with_api).await;
    let mut b = login(&s, "bob", "b").await;
    let r = s
        .api(
            "send_message",
            json!({"type": "headline", "from": "alice@localhost", "to": "bob@localhost", "subject": "Restart", "body": "In 5 minutes"}),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let m = b.expect_message().await;
    assert_eq!(m.attr("type"), Some("headline"));
    assert_eq!(m.attr("from"), Some("alice@localhost"));
    assert_eq!(m.get_child("subject", CLIENT).unwrap().text(), "Restart");
    assert_eq!(m.get_child("body", CLIENT).unwrap().text(), "In 5 minutes");

    let r = s
        .api(
            "send_stanza",
            json!({"from": "alice@localhost/desk", "to": "bob@localhost", "stanza": "<message type='chat'><body>raw</body><thread>t1</thread></message>"}),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let m = b.expect_message().await;
    assert_eq!(m.attr("from"), Some("alice@localhost/desk"));
    assert_eq!(m.get_child("thread", CLIENT).unwrap().text(), "t1");

    // A chat to an account that is offline waits in its offline storage.
    let r = s
        .api(
            "send_message",
            json!({"type": "chat", "from": "bob@localhost", "to": "alice@localhost", "subject": "", "body": "later"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let mut a = s.login("alice", "pw").await;
    let m = a.expect_message().await;
    assert_eq!(m.get_child("body", CLIENT).unwrap().text(), "later");

    for (args, answer) in [
        (
            json!({"type": "bogus", "from": "alice@localhost", "to": "bob@localhost", "subject": "", "body": "x"}),
            json!("Invalid 'type'"),
        ),
        (
            json!({"type": "chat", "from": "@@", "to": "bob@localhost", "subject": "", "body": "x"}),
            json!("Bad value of attribute 'from' in tag <message/> qualified by namespace 'jabber:client'"),
        ),
    ] {
        let r = s.api("send_message", args).await;
        assert_eq!((r.status, r.body), (400, answer));
    }
    let r = s
        .api(
            "send_stanza",
            json!({"from": "@@", "to": "bob@localhost", "stanza": "<message/>"}),
        )
        .await;
    assert_eq!((r.status, r.body), (400, json!("JID malformed")));
    let r = s
        .api(
            "send_stanza",
            json!({"from": "alice@localhost", "to": "bob@localhost", "stanza": "<message"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.as_str().unwrap().starts_with("Invalid XML"), "{r:?}");
    // Nothing else reached bob.
    let rest = b.drain().await;
    assert!(rest.iter().all(|m| m.name() != "message"), "{rest:?}");
}

#[tokio::test]
async fn send_stanza_to_a_room_is_the_users_own_stanza() {
    let s = lab_server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &room("lab"), "alice").await;
    let stanza = "<message type='groupchat'><body>raw to the room</body></message>";
    let r = s
        .api(
            "send_stanza",
            json!({"from": "bob@localhost", "to": room("lab"), "stanza": stanza}),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (
            400,
            json!("Only occupants are allowed to send messages to the conference")
        )
    );
    let r = s
        .api(
            "send_stanza",
            json!({"from": "alice@localhost/a", "to": room("lab"), "stanza": stanza}),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let m = a
        .expect("own raw message", |m| {
            m.get_child("body", CLIENT)
                .is_some_and(|b| b.text() == "raw to the room")
        })
        .await;
    assert!(stanza_id(&m).is_some());
}
