//! MucSub through the HTTP API, watched over XMPP: an account the API subscribes gets the
//! room's wrapped events; the subscription checks are the room's own (docs/protocol.md S4,
//! as a moderator subscribing someone: bans and nicks hold, membership and the password
//! are waived, as ejabberd's API does); the per-account quota holds; lists and removals
//! answer as ejabberd's commands.

#[path = "scenarios/support.rs"]
mod support;

use mucsub_server::testkit::{with_api, TestServer};
use serde_json::{json, Value};
use support::*;

const MESSAGES: &str = "urn:xmpp:mucsub:nodes:messages";
const SUBJECT: &str = "urn:xmpp:mucsub:nodes:subject";
const SUBSCRIBERS: &str = "urn:xmpp:mucsub:nodes:subscribers";

async fn with_room(
    users: &[&str],
    f: impl FnOnce(&mut mucsub_server::config::Config),
) -> TestServer {
    let s = server_with(users, |c| {
        with_api(c);
        f(c);
    })
    .await;
    let r = s
        .api(
            "create_room",
            json!({"name": "lab", "service": MUC, "host": "localhost"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    s
}

fn sub(user: &str, nick: &str, nodes: &str) -> Value {
    json!({"user": user, "nick": nick, "room": room("lab"), "nodes": nodes})
}

#[tokio::test]
async fn a_subscription_made_by_the_api_receives_the_rooms_events() {
    let s = with_room(&["alice", "bob"], |_| {}).await;
    let mut b = login(&s, "bob", "b").await;
    let r = s
        .api(
            "subscribe_room",
            sub(
                "bob@localhost",
                "Bob",
                &format!("{MESSAGES}, bogus ,{SUBJECT},{SUBSCRIBERS}"),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (200, json!([MESSAGES, SUBJECT, SUBSCRIBERS])),
        "the accepted nodes, unknown ones left out"
    );
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &room("lab"), "alice").await;
    say(&mut a, &room("lab"), "for subscribers").await;
    let (wrapper, id, inner) = expect_event(&mut b, "messages").await;
    assert_eq!(
        inner.get_child("body", CLIENT).unwrap().text(),
        "for subscribers"
    );
    assert_eq!(stanza_id(&inner), Some(id.clone()), "{wrapper:?}");

    assert_eq!(
        s.api("get_subscribers", json!({"name": "lab", "service": MUC}))
            .await
            .body,
        json!(["bob@localhost"])
    );
    let mine = s
        .api(
            "get_user_subscriptions",
            json!({"user": "bob", "host": "localhost"}),
        )
        .await;
    assert_eq!(
        mine.body,
        json!([{"roomjid": room("lab"), "usernick": "Bob", "nodes": [MESSAGES, SUBJECT, SUBSCRIBERS]}])
    );
    // The service's own list over XMPP says the same.
    let id = b.next_id();
    let list = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{MUC}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    let items = list.get_child("subscriptions", MUCSUB).unwrap();
    assert_eq!(items.children().count(), 1);

    let r = s
        .api(
            "unsubscribe_room",
            json!({"user": "bob@localhost", "room": room("lab")}),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let (_, _, gone) = expect_event(&mut b, "subscribers").await;
    assert!(gone.is("unsubscribe", MUCSUB), "{gone:?}");
    assert_eq!(
        s.api("get_subscribers", json!({"name": "lab", "service": MUC}))
            .await
            .body,
        json!([])
    );
    // Unsubscribing nobody is done, as in ejabberd.
    let r = s
        .api(
            "unsubscribe_room",
            json!({"user": "nobody@localhost", "room": room("lab")}),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
}

#[tokio::test]
async fn the_rooms_subscription_rules_hold_for_the_api() {
    let s = with_room(&["alice", "bob", "carol", "eve"], |_| {}).await;
    s.api(
        "change_room_option",
        lab(json!({"option": "members_only", "value": "true"})),
    )
    .await;
    s.api(
        "set_room_affiliation",
        lab(json!({"jid": "eve@localhost", "affiliation": "outcast"})),
    )
    .await;
    // Over XMPP, carol may not subscribe herself to a members-only room…
    let mut c = login(&s, "carol", "c").await;
    let own = subscribe_raw(&mut c, &room("lab"), "nick='carol'", &["messages"]).await;
    assert_error(&own, "auth", "registration-required");
    // …but a moderator may subscribe her, and so may the API (as ejabberd's).
    let r = s
        .api("subscribe_room", sub("carol@localhost", "carol", MESSAGES))
        .await;
    assert_eq!((r.status, r.body), (200, json!([MESSAGES])));
    // A ban holds whoever subscribes.
    let r = s
        .api("subscribe_room", sub("eve@localhost", "eve", MESSAGES))
        .await;
    assert_eq!(
        (r.status, r.body),
        (400, json!("You have been banned from this room"))
    );
    let r = s
        .api("subscribe_room", sub("bob@localhost", "carol", MESSAGES))
        .await;
    assert_eq!(
        (r.status, r.body),
        (400, json!("That nickname is reserved by a subscriber"))
    );
    for (args, answer) in [
        (sub("bob@localhost", "", MESSAGES), "Nickname must be set"),
        (sub("@@", "b", MESSAGES), "Malformed user JID"),
        (
            json!({"user": "bob@localhost", "nick": "b", "room": MUC, "nodes": ""}),
            "Malformed room JID",
        ),
        (
            json!({"user": "bob@localhost", "nick": "b", "room": room("nosuch"), "nodes": ""}),
            "The room does not exist",
        ),
    ] {
        let r = s.api("subscribe_room", args).await;
        assert_eq!((r.status, r.body), (400, json!(answer)));
    }
    s.api(
        "change_room_option",
        lab(json!({"option": "allow_subscription", "value": "false"})),
    )
    .await;
    let r = s
        .api("subscribe_room", sub("bob@localhost", "bob", MESSAGES))
        .await;
    assert_eq!(
        (r.status, r.body),
        (400, json!("Subscriptions are not allowed"))
    );
    // Turning subscriptions off removed carol's (docs/protocol.md S2).
    assert_eq!(
        s.api("get_subscribers", lab(json!({}))).await.body,
        json!([])
    );
}

#[tokio::test]
async fn subscribe_room_many_subscribes_in_order_and_stops_at_a_refusal() {
    let s = with_room(&["alice", "bob", "carol", "dave"], |_| {}).await;
    let many = |users: Value| json!({"users": users, "room": room("lab"), "nodes": MESSAGES});
    let r = s
        .api(
            "subscribe_room_many",
            many(json!([{"jid": "bob@localhost", "nick": "bob"}, {"jid": "carol@localhost", "nick": "carol"}])),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let r = s
        .api(
            "subscribe_room_many",
            many(json!([{"jid": "dave@localhost", "nick": "dave"}, {"jid": "alice@localhost", "nick": "bob"}])),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (400, json!("That nickname is reserved by a subscriber"))
    );
    let subs = s
        .api("get_subscribers", json!({"name": "lab", "service": MUC}))
        .await;
    assert_eq!(
        subs.body,
        json!(["bob@localhost", "carol@localhost", "dave@localhost"])
    );
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({"jid": format!("u{i}@localhost"), "nick": format!("u{i}")}))
        .collect();
    let r = s.api("subscribe_room_many", many(json!(too_many))).await;
    assert_eq!(
        (r.status, r.body),
        (400, json!("Too many users in subscribe_room_many command"))
    );
}

#[tokio::test]
async fn the_subscription_quota_counts_api_subscriptions() {
    let s = with_room(&["bob"], |c| c.limits.max_subscriptions_per_account = 1).await;
    s.api(
        "create_room",
        json!({"name": "second", "service": MUC, "host": "localhost"}),
    )
    .await;
    let r = s
        .api("subscribe_room", sub("bob@localhost", "bob", MESSAGES))
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .api(
            "subscribe_room",
            json!({"user": "bob@localhost", "nick": "bob", "room": room("second"), "nodes": MESSAGES}),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (
            400,
            json!("Subscription limit reached: at most 1 per account")
        )
    );
    // Changing an existing subscription is not a new one.
    let r = s
        .api("subscribe_room", sub("bob@localhost", "bobby", SUBJECT))
        .await;
    assert_eq!((r.status, r.body), (200, json!([SUBJECT])));
}
