//! Room commands of the HTTP API against a real server, watched over XMPP: a room the API
//! creates is open at once (docs/protocol.md S22); options go through the owner's form
//! rules and are announced; affiliations set through the API are enforced on joins
//! (members-only, bans) as on the XMPP side; destruction tells occupants and subscribers;
//! each command's answer for a room that does not exist is ejabberd's.

#[path = "scenarios/support.rs"]
mod support;

use mucsub_server::testkit::{with_api, TestServer};
use serde_json::json;
use support::*;

async fn api_server(users: &[&str]) -> TestServer {
    server_with(users, with_api).await
}

#[tokio::test]
async fn a_created_room_is_open_at_once_listed_and_refused_twice() {
    let s = api_server(&["alice"]).await;
    let r = s
        .api("create_room", lab(json!({"host": "localhost"})))
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let again = s
        .api("create_room", lab(json!({"host": "localhost"})))
        .await;
    assert_eq!(
        (again.status, again.body),
        (400, json!("Room already exists"))
    );
    let rooms = s.api("muc_online_rooms", json!({"service": MUC})).await;
    assert_eq!(rooms.body, json!([room("lab")]));
    // Open at once: a join gets in without status 201 and without owner configuration.
    let mut a = login(&s, "alice", "a").await;
    let got = join(&mut a, &room("lab"), "alice").await;
    let own = got
        .iter()
        .find(|p| p.name() == "presence" && codes(p).contains(&"110".to_string()))
        .expect("own presence");
    assert!(!codes(own).contains(&"201".to_string()), "{own:?}");
    assert_eq!(item(own).unwrap().attr("affiliation"), Some("none"));
    let occupants = s.api("get_room_occupants", lab(json!({}))).await;
    assert_eq!(
        occupants.body,
        json!([{"jid": "alice@localhost/a", "nick": "alice", "role": "participant"}])
    );
    for (name, body) in [("Bad Room", "Invalid 'name'"), ("ok", "Invalid 'service'")] {
        let service = if name == "ok" {
            "nosuch.localhost"
        } else {
            MUC
        };
        let r = s
            .api(
                "create_room",
                json!({"name": name, "service": service, "host": "localhost"}),
            )
            .await;
        assert_eq!((r.status, r.body), (400, json!(body)));
    }
}

#[tokio::test]
async fn create_room_with_opts_sets_options_affiliations_and_subscribers() {
    let s = api_server(&["alice", "bob", "carol"]).await;
    let mut b = login(&s, "bob", "b").await;
    let options = json!([
        {"name": "members_only", "value": "true"},
        {"name": "title", "value": "The lab"},
        {"name": "password_protected", "value": "true"},
        {"name": "password", "value": "sesame"},
        {"name": "public", "value": "false"},
        {"name": "mam", "value": "false"},
        {"name": "moderated", "value": "false"},
        {"name": "allow_subscription", "value": "true"},
        {"name": "persistent", "value": "true"},
        {"name": "affiliations", "value": "owner:alice@localhost,member:bob@localhost"},
        {"name": "subscribers", "value": "bob@localhost:Bob:messages:subject"},
    ]);
    let r = s
        .api(
            "create_room_with_opts",
            lab(json!({"host": "localhost", "options": options})),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let o = s.api("get_room_options", lab(json!({}))).await.body;
    for (k, v) in [
        ("members_only", "true"),
        ("title", "The lab"),
        ("password_protected", "true"),
        ("password", "sesame"),
        ("public", "false"),
        ("mam", "false"),
        ("moderated", "false"),
        ("allow_subscription", "true"),
        ("persistent", "true"),
    ] {
        assert_eq!(o[k], v, "{k} in {o}");
    }
    let affs = s.api("get_room_affiliations", lab(json!({}))).await.body;
    assert_eq!(
        affs,
        json!([
            {"username": "alice", "domain": "localhost", "affiliation": "owner", "reason": ""},
            {"username": "bob", "domain": "localhost", "affiliation": "member", "reason": ""},
        ])
    );
    assert_eq!(
        s.api("get_subscribers", lab(json!({}))).await.body,
        json!(["bob@localhost"])
    );
    // The room's rules hold over XMPP: carol is not a member, alice owns it (no password).
    let mut c = login(&s, "carol", "c").await;
    let e = join_fails(&mut c, &room("lab"), "carol", "<password>sesame</password>").await;
    assert_error(&e, "auth", "registration-required");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &room("lab"), "alice").await;
    say(&mut a, &room("lab"), "welcome").await;
    // Bob, subscribed by the API, gets the message as a MucSub event.
    let (_, _, inner) = expect_event(&mut b, "messages").await;
    assert_eq!(inner.get_child("body", CLIENT).unwrap().text(), "welcome");

    let bad = s
        .api(
            "create_room_with_opts",
            json!({"name": "other", "service": MUC, "host": "localhost",
                   "options": [{"name": "subscribers", "value": "bob@localhost:Bob:bogus"}]}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body),
        (400, json!("Invalid 'subscribers' - unknown node name used"))
    );
    // A refused subscriber leaves no room behind (all or nothing).
    let clash = s
        .api(
            "create_room_with_opts",
            json!({"name": "other", "service": MUC, "host": "localhost", "options": [
                {"name": "subscribers", "value": "bob@localhost:Same:messages,carol@localhost:Same:messages"}]}),
        )
        .await;
    assert_eq!(clash.status, 400, "{clash:?}");
    let rooms = s
        .api("muc_online_rooms", json!({"service": "global"}))
        .await;
    assert_eq!(rooms.body, json!([room("lab")]));
}

#[tokio::test]
async fn change_room_option_goes_through_the_owner_form_and_is_announced() {
    let s = api_server(&["alice", "bob"]).await;
    s.api("create_room", lab(json!({"host": "localhost"})))
        .await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut b, &room("lab"), "bob").await;
    let r = s
        .api(
            "change_room_option",
            lab(json!({"option": "title", "value": "Renamed"})),
        )
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let notice = b
        .expect("configuration change", |m| {
            m.name() == "message" && codes(m).contains(&"104".to_string())
        })
        .await;
    assert_eq!(notice.attr("from"), Some(room("lab").as_str()));
    // Members-only now: bob, not a member, is removed as XEP-0045 §9.4 says.
    s.api(
        "change_room_option",
        lab(json!({"option": "members_only", "value": "true"})),
    )
    .await;
    let out = b
        .expect("removal", |p| {
            p.name() == "presence" && p.attr("type") == Some("unavailable")
        })
        .await;
    assert!(codes(&out).contains(&"322".to_string()), "{out:?}");
    assert_eq!(
        s.api("get_room_options", lab(json!({}))).await.body["title"],
        "Renamed"
    );

    for (option, value, answer) in [
        (
            "members_only",
            "maybe",
            "Invalid value 'maybe' for option 'members_only'",
        ),
        ("bogus", "1", "Unknown option 'bogus'"),
        (
            "logging",
            "true",
            "Option 'logging' is not supported by this server",
        ),
        ("password_protected", "true", "A password is required"),
    ] {
        let r = s
            .api(
                "change_room_option",
                lab(json!({"option": option, "value": value})),
            )
            .await;
        assert_eq!((r.status, r.body), (400, json!(answer)), "{option}");
    }
    let r = s
        .api(
            "change_room_option",
            json!({"name": "nosuch", "service": MUC, "option": "title", "value": "x"}),
        )
        .await;
    assert_eq!((r.status, r.body), (400, json!("Room not found")));
}

#[tokio::test]
async fn affiliations_set_by_the_api_are_the_rooms_rules() {
    let s = api_server(&["alice", "bob", "eve"]).await;
    s.api("create_room", lab(json!({"host": "localhost"})))
        .await;
    let mut e = login(&s, "eve", "e").await;
    join(&mut e, &room("lab"), "eve").await;
    let set = |jid: &str, aff: &str| lab(json!({"jid": jid, "affiliation": aff}));
    let r = s
        .api("set_room_affiliation", set("eve@localhost", "outcast"))
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    // Banned while present: removed with 301, and refused on the way back in.
    let out = e
        .expect("ban", |p| {
            p.name() == "presence" && p.attr("type") == Some("unavailable")
        })
        .await;
    assert!(codes(&out).contains(&"301".to_string()), "{out:?}");
    let refused = join_fails(&mut e, &room("lab"), "eve", "").await;
    assert_error(&refused, "auth", "forbidden");

    let r = s
        .api(
            "set_room_affiliation",
            set("alice@localhost/phone", "owner"),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .api("set_room_affiliation", set("bob@localhost", "member"))
        .await;
    assert_eq!(r.status, 200);
    let affs = s.api("get_room_affiliations", lab(json!({}))).await.body;
    let listed: Vec<(String, String)> = affs
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["username"].as_str().unwrap().to_owned(),
                a["affiliation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("alice", "owner"), ("bob", "member"), ("eve", "outcast")]
            .map(|(u, a)| (u.to_owned(), a.to_owned()))
    );
    // The room keeps an owner, whoever asks.
    let last = s
        .api("set_room_affiliation", set("alice@localhost", "none"))
        .await;
    assert_eq!(
        (last.status, last.body),
        (400, json!("A room needs at least one owner"))
    );
    let bad = s
        .api("set_room_affiliation", set("bob@localhost", "king"))
        .await;
    assert_eq!((bad.status, bad.body), (400, json!("Invalid affiliation")));
    let missing = s
        .api(
            "set_room_affiliation",
            json!({"name": "nosuch", "service": MUC, "jid": "bob@localhost", "affiliation": "member"}),
        )
        .await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!("Room doesn't exists"))
    );
}

#[tokio::test]
async fn destroy_room_tells_occupants_and_subscribers() {
    let s = api_server(&["alice", "bob"]).await;
    s.api("create_room", lab(json!({"host": "localhost"})))
        .await;
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &room("lab"), "alice").await;
    let mut b = login(&s, "bob", "b").await;
    subscribe(&mut b, &room("lab"), "bob").await;
    let r = s.api("destroy_room", lab(json!({}))).await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    let gone = a
        .expect("destruction", |p| {
            p.name() == "presence"
                && p.get_child("x", MUC_USER)
                    .is_some_and(|x| x.get_child("destroy", MUC_USER).is_some())
        })
        .await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    let (_, _, inner) = expect_event(&mut b, "subscribers").await;
    assert!(inner.is("unsubscribe", MUCSUB), "{inner:?}");
    let again = s.api("destroy_room", lab(json!({}))).await;
    assert_eq!(
        (again.status, again.body),
        (400, json!("Room doesn't exists"))
    );
    assert_eq!(
        s.api("muc_online_rooms", json!({"service": MUC}))
            .await
            .body,
        json!([])
    );
}

#[tokio::test]
async fn lookups_of_a_room_that_does_not_exist_answer_as_ejabberd() {
    let s = api_server(&[]).await;
    let none = json!({"name": "nosuch", "service": MUC});
    for (command, status, body) in [
        ("get_room_options", 200, json!({})),
        (
            "get_room_affiliations",
            400,
            json!("The room does not exist."),
        ),
        ("get_room_occupants", 400, json!("room_not_found")),
        ("get_subscribers", 400, json!("The room does not exist")),
        ("destroy_room", 400, json!("Room doesn't exists")),
    ] {
        let r = s.api(command, none.clone()).await;
        assert_eq!((r.status, r.body), (status, body), "{command}");
    }
    let r = s
        .api("muc_online_rooms", json!({"service": "nosuch"}))
        .await;
    assert_eq!((r.status, r.body), (400, json!("Invalid 'service'")));
    // Looking did not create anything.
    assert_eq!(
        s.api("muc_online_rooms", json!({"host": MUC})).await.body,
        json!([])
    );
}
