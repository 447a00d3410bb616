//! docs/protocol.md rows S1–S15 and S19 (MucSub on the room side), each over real connections;
//! S11 (revised), S20–S22 are in `mucsub_devices.rs`.

#[path = "scenarios/support.rs"]
mod support;

use std::time::Duration;
use support::*;

#[tokio::test]
async fn s01_disco_advertises_mucsub_on_service_and_on_rooms_only_while_allowed() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let f = disco_features(&mut a, MUC).await;
    assert!(f.contains(&MUCSUB.to_string()), "{f:?}");
    assert!(f.contains(&"http://jabber.org/protocol/muc".to_string()));
    let r = room("s01");
    join(&mut a, &r, "alice").await;
    assert!(disco_features(&mut a, &r)
        .await
        .contains(&MUCSUB.to_string()));
    assert_result(&configure(&mut a, &r, &[("allow_subscription", "0")]).await);
    assert!(!disco_features(&mut a, &r)
        .await
        .contains(&MUCSUB.to_string()));
}

#[tokio::test]
async fn s02_allow_subscription_off_removes_every_subscription_with_notification() {
    let s = server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("s02");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    subscribe(&mut c, &r, "carol").await;
    b.drain().await;
    // The ejabberd-style field name is accepted too.
    let res = configure(&mut a, &r, &[("muc#roomconfig_allow_subscription", "0")]).await;
    assert_result(&res);
    let (_, _, inner) = expect_event(&mut b, "subscribers").await;
    assert!(inner.is("unsubscribe", MUCSUB));
    assert!(subscription_nicks(&mut a, &r).await.is_empty());
    let e = subscribe_raw(&mut c, &r, "nick='carol'", ALL_NODES).await;
    assert_error(&e, "cancel", "not-allowed");
    // The form shows the field.
    let id = a.next_id();
    let form = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'/></iq>"
        ))
        .await;
    let xml = String::from(&form);
    assert!(
        xml.contains("var='allow_subscription'><value>0</value>"),
        "{xml}"
    );
}

#[tokio::test]
async fn s03_subscribe_result_echoes_nick_and_known_nodes_only() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("s03");
    join(&mut a, &r, "alice").await;
    let res = subscribe_raw(
        &mut b,
        &r,
        "nick='bobby'",
        &["messages", "presences", "bogus", "subject"],
    )
    .await;
    assert_result(&res);
    let sub = res.get_child("subscribe", MUCSUB).unwrap();
    assert_eq!(sub.attr("nick"), Some("bobby"));
    let nodes: Vec<&str> = sub.children().filter_map(|e| e.attr("node")).collect();
    assert_eq!(
        nodes,
        vec![
            "urn:xmpp:mucsub:nodes:messages",
            "urn:xmpp:mucsub:nodes:subject"
        ]
    );
    // An empty node list is a valid subscription.
    let mut c2 = login(&s, "alice", "a2").await;
    let res = subscribe_raw(&mut c2, &r, "nick='owner-sub'", &[]).await;
    assert_result(&res);
    assert_eq!(
        res.get_child("subscribe", MUCSUB)
            .unwrap()
            .children()
            .count(),
        0
    );
}

#[tokio::test]
async fn s04_errors_come_in_the_spec_order() {
    let s = server(&["alice", "bob", "carol", "dave"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("s04");
    join(&mut a, &r, "alice").await;
    subscribe(&mut c, &r, "carol").await;
    assert_result(
        &configure(
            &mut a,
            &r,
            &[
                ("muc#roomconfig_passwordprotectedroom", "1"),
                ("muc#roomconfig_roomsecret", "pass"),
            ],
        )
        .await,
    );
    // jid= by a non-moderator, even with no nick: forbidden first.
    let e = subscribe_raw(&mut b, &r, "jid='dave@localhost'", ALL_NODES).await;
    assert_error(&e, "auth", "forbidden");
    assert!(
        e.get_child("subscribe", MUCSUB).is_some(),
        "error echoes the request"
    );
    assert!(e
        .get_child("error", CLIENT)
        .unwrap()
        .get_child("text", STANZAS)
        .is_some());
    // Missing nick, then empty nick.
    assert_error(
        &subscribe_raw(&mut b, &r, "", ALL_NODES).await,
        "modify",
        "bad-request",
    );
    assert_error(
        &subscribe_raw(&mut b, &r, "nick=''", ALL_NODES).await,
        "modify",
        "jid-malformed",
    );
    // Nick held by an occupant, or by another subscriber: conflict, before the password.
    assert_error(
        &subscribe_raw(&mut b, &r, "nick='alice'", ALL_NODES).await,
        "cancel",
        "conflict",
    );
    assert_error(
        &subscribe_raw(&mut b, &r, "nick='carol'", ALL_NODES).await,
        "cancel",
        "conflict",
    );
    // Password missing, then wrong, then right.
    assert_error(
        &subscribe_raw(&mut b, &r, "nick='bob'", ALL_NODES).await,
        "auth",
        "not-authorized",
    );
    assert_error(
        &subscribe_raw(&mut b, &r, "nick='bob' password='no'", ALL_NODES).await,
        "auth",
        "not-authorized",
    );
    assert_result(&subscribe_raw(&mut b, &r, "nick='bob' password='pass'", ALL_NODES).await);
    // Owners are exempt from the password, also when subscribing someone else.
    assert_result(&subscribe_raw(&mut a, &r, "nick='dave' jid='dave@localhost'", ALL_NODES).await);
    // Banned beats members-only.
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='carol@localhost' affiliation='outcast'/>",
        )
        .await,
    );
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_membersonly", "1")]).await);
    assert_error(
        &subscribe_raw(&mut c, &r, "nick='carol' password='pass'", ALL_NODES).await,
        "auth",
        "forbidden",
    );
    let mut d = login(&s, "dave", "d").await;
    assert_result(&unsubscribe(&mut d, &r, "").await);
    assert_error(
        &subscribe_raw(&mut d, &r, "nick='dave' password='pass'", ALL_NODES).await,
        "auth",
        "registration-required",
    );
    // Subscriptions disabled: not-allowed before anything else.
    assert_result(&configure(&mut a, &r, &[("allow_subscription", "0")]).await);
    assert_error(
        &subscribe_raw(&mut c, &r, "jid='x@localhost'", ALL_NODES).await,
        "cancel",
        "not-allowed",
    );
}

#[tokio::test]
async fn s05_subscribing_to_a_missing_room_creates_it_for_local_users() {
    let s = server(&["carol"]).await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("s05new");
    let res = subscribe_raw(&mut c, &r, "nick='x'", ALL_NODES).await;
    assert_result(&res);
    // The requester owns it and it allows subscriptions.
    let id = c.next_id();
    let form = c
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'/></iq>"
        ))
        .await;
    assert_result(&form);
    assert!(disco_features(&mut c, &r)
        .await
        .contains(&MUCSUB.to_string()));
}

#[tokio::test]
async fn s05_missing_room_is_item_not_found_when_creation_is_denied() {
    let s = server_with(&["carol"], |c| {
        c.muc
            .insert("create".into(), toml::Value::String("nobody".into()));
    })
    .await;
    let mut c = login(&s, "carol", "c").await;
    let e = subscribe_raw(&mut c, &room("nosuch"), "nick='x'", ALL_NODES).await;
    assert_error(&e, "cancel", "item-not-found");
}

#[tokio::test]
async fn s06_resubscribe_replaces_nick_and_nodes_with_nick_checks() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("s06");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    assert_error(
        &subscribe_raw(&mut b, &r, "nick='alice'", &["messages"]).await,
        "cancel",
        "conflict",
    );
    // Keeping one's own nick is no conflict.
    assert_result(&subscribe_raw(&mut b, &r, "nick='bob'", &["messages"]).await);
    assert_result(&subscribe_raw(&mut b, &r, "nick='robert'", &["subject"]).await);
    let id = a.next_id();
    let list = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    let subs: Vec<_> = list
        .get_child("subscriptions", MUCSUB)
        .unwrap()
        .children()
        .cloned()
        .collect();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].attr("nick"), Some("robert"));
    let nodes: Vec<&str> = subs[0].children().filter_map(|e| e.attr("node")).collect();
    assert_eq!(nodes, vec!["urn:xmpp:mucsub:nodes:subject"]);
}

#[tokio::test]
async fn s07_unsubscribe_is_always_empty_and_jid_needs_a_moderator() {
    let s = server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("s07");
    join(&mut a, &r, "alice").await;
    let res = unsubscribe(&mut b, &r, "").await;
    assert_result(&res);
    assert!(res.children().next().is_none(), "empty result");
    subscribe(&mut b, &r, "bob").await;
    assert_error(
        &unsubscribe(&mut c, &r, "jid='bob@localhost'").await,
        "auth",
        "forbidden",
    );
    assert_result(&unsubscribe(&mut a, &r, "jid='bob@localhost'").await);
    let (_, _, inner) = expect_event(&mut b, "subscribers").await;
    assert!(inner.is("unsubscribe", MUCSUB));
}

#[tokio::test]
async fn s08_service_list_includes_rooms_not_loaded_and_refuses_set() {
    let s = server_with(&["alice", "bob"], |c| {
        c.muc
            .insert("idle_unload_secs".into(), toml::Value::Float(0.2));
    })
    .await;
    let mut b = login(&s, "bob", "b").await;
    for n in ["s08a", "s08b"] {
        subscribe(&mut b, &room(n), &format!("bob-{n}")).await;
    }
    let db = s.config().db_path();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while mucsub_server::muc::loaded_rooms(&db) != Some(0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rooms never unloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = b.next_id();
    let list = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{MUC}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    assert_result(&list);
    let subs: Vec<(String, String, usize)> = list
        .get_child("subscriptions", MUCSUB)
        .unwrap()
        .children()
        .map(|s| {
            (
                s.attr("jid").unwrap().to_owned(),
                s.attr("nick").unwrap().to_owned(),
                s.children().filter(|e| e.name() == "event").count(),
            )
        })
        .collect();
    assert_eq!(
        subs,
        vec![
            (room("s08a"), "bob-s08a".into(), ALL_NODES.len()),
            (room("s08b"), "bob-s08b".into(), ALL_NODES.len())
        ]
    );
    assert_eq!(
        mucsub_server::muc::loaded_rooms(&db),
        Some(0),
        "listing loads no room"
    );
    let id = b.next_id();
    let e = b
        .iq(&format!(
            "<iq type='set' id='{id}' to='{MUC}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    assert_error(&e, "cancel", "not-allowed");
}

#[tokio::test]
async fn s09_room_list_visibility_by_role() {
    let s = server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("s09");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    let list = |el: &minidom::Element| -> Vec<(Option<String>, String)> {
        el.get_child("subscriptions", MUCSUB)
            .unwrap()
            .children()
            .map(|s| {
                (
                    s.attr("jid").map(str::to_owned),
                    s.attr("nick").unwrap().to_owned(),
                )
            })
            .collect()
    };
    let get = format!("<subscriptions xmlns='{MUCSUB}'/>");
    let id = a.next_id();
    let owner = a
        .iq(&format!("<iq type='get' id='{id}' to='{r}'>{get}</iq>"))
        .await;
    assert_eq!(
        list(&owner),
        vec![(Some("bob@localhost".into()), "bob".into())]
    );
    let id = b.next_id();
    let sub = b
        .iq(&format!("<iq type='get' id='{id}' to='{r}'>{get}</iq>"))
        .await;
    assert_eq!(
        list(&sub),
        vec![(None, "bob".into())],
        "semi-anonymous: no jids"
    );
    let id = c.next_id();
    assert_error(
        &c.iq(&format!("<iq type='get' id='{id}' to='{r}'>{get}</iq>"))
            .await,
        "auth",
        "forbidden",
    );
    let id = b.next_id();
    assert_error(
        &b.iq(&format!("<iq type='set' id='{id}' to='{r}'>{get}</iq>"))
            .await,
        "modify",
        "bad-request",
    );
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_whois", "anyone")]).await);
    let id = b.next_id();
    let sub = b
        .iq(&format!("<iq type='get' id='{id}' to='{r}'>{get}</iq>"))
        .await;
    assert_eq!(
        list(&sub),
        vec![(Some("bob@localhost".into()), "bob".into())],
        "non-anonymous"
    );
}

#[tokio::test]
async fn s10_events_reach_every_resource_with_nonnegative_priority_addressed_to_the_bare_jid() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b1 = login(&s, "bob", "b1").await;
    let mut b2 = s.login_bound("bob", "pw", Some("b2")).await;
    b2.send("<presence><priority>5</priority></presence>").await;
    let mut b3 = s.login_bound("bob", "pw", Some("b3")).await;
    b3.send("<presence><priority>-1</priority></presence>")
        .await;
    let r = room("s10");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b1, &r, "bob").await;
    for c in [&mut b1, &mut b2, &mut b3] {
        c.drain().await;
    }
    post(&mut a, &r, "hello").await;
    let echo = a.expect_message().await;
    let sid = stanza_id(&echo).expect("stanza-id");
    for c in [&mut b1, &mut b2] {
        let (outer, item_id, inner) = expect_event(c, "messages").await;
        assert_eq!(outer.attr("from"), Some(r.as_str()));
        assert_eq!(outer.attr("to"), Some("bob@localhost"));
        assert_eq!(outer.attr("type"), None);
        assert_eq!(outer.attr("id"), Some(sid.as_str()));
        assert_eq!(item_id, sid);
        assert_eq!(inner.attr("to"), Some("bob@localhost"));
        assert_eq!(inner.attr("from"), Some(format!("{r}/alice").as_str()));
        assert_eq!(stanza_id(&inner).as_deref(), Some(sid.as_str()));
    }
    expect_no_event(&mut b3).await;
}

#[tokio::test]
async fn s11_joined_subscriber_gets_plain_stanzas_and_no_history() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut b2 = login(&s, "bob", "b2").await;
    let r = room("s11");
    join(&mut a, &r, "alice").await;
    post(&mut a, &r, "before").await;
    a.expect_message().await;
    subscribe(&mut b, &r, "bob").await;
    b.drain().await;
    b2.drain().await;
    let got = join(&mut b, &r, "bob").await;
    assert!(
        !got.iter().any(|e| e.get_child("body", CLIENT).is_some()),
        "no history to a subscriber"
    );
    post(&mut a, &r, "while joined").await;
    let m = b.expect_message().await;
    assert_eq!(m.attr("type"), Some("groupchat"));
    expect_no_event(&mut b).await;
    // docs/protocol.md S11 revised: the account's other resource, not joined, keeps the
    // wrapped feed (it used to get nothing while any resource was joined).
    let (_, _, inner) = expect_event(&mut b2, "messages").await;
    assert_eq!(
        inner.get_child("body", CLIENT).unwrap().text(),
        "while joined"
    );
    leave(&mut b, &r, "bob").await;
    post(&mut a, &r, "after leaving").await;
    expect_event(&mut b2, "messages").await;
    expect_event(&mut b, "messages").await;
}

#[tokio::test]
async fn s12_events_go_to_their_nodes() {
    let s = server(&["alice", "bob", "carol", "dave", "erin"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("s12");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    // Only the participants node: joins and leaves, not other presence.
    assert_result(&subscribe_raw(&mut c, &r, "nick='carol'", &["participants"]).await);
    b.drain().await;
    let mut d = login(&s, "dave", "d").await;
    join(&mut d, &r, "dave").await;
    let (_, _, p) = expect_event(&mut b, "presence").await;
    assert_eq!(p.attr("from"), Some(format!("{r}/dave").as_str()));
    assert!(
        item(&p).unwrap().attr("jid").is_none(),
        "bob may not see real jids"
    );
    let (_, _, p) = expect_event(&mut c, "participants").await;
    assert_eq!(p.attr("from"), Some(format!("{r}/dave").as_str()));
    // Subject.
    a.send(&format!(
        "<message to='{r}' type='groupchat'><subject>topic</subject></message>"
    ))
    .await;
    let (_, _, m) = expect_event(&mut b, "subject").await;
    assert_eq!(m.get_child("subject", CLIENT).unwrap().text(), "topic");
    // Affiliation change of someone not in the room still reaches subscribers.
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='carol@localhost' affiliation='member'/>",
        )
        .await,
    );
    let (_, _, p) = expect_event(&mut b, "affiliations").await;
    assert_eq!(item(&p).unwrap().attr("affiliation"), Some("member"));
    // Kick.
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item nick='dave' role='none'><reason>bye</reason></item>",
        )
        .await,
    );
    let (_, _, p) = expect_event(&mut b, "affiliations").await;
    assert!(codes(&p).contains(&"307".to_string()));
    // Configuration change: status 104 on the config node.
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_roomname", "Twelve")]).await);
    let (_, _, m) = expect_event(&mut b, "config").await;
    assert!(codes(&m).contains(&"104".to_string()));
    // Subscribers node: jid only for who may see it.
    let mut d = login(&s, "dave", "d2").await;
    subscribe(&mut d, &r, "dave").await;
    let (_, _, sub) = expect_event(&mut b, "subscribers").await;
    assert!(sub.is("subscribe", MUCSUB));
    assert_eq!(sub.attr("nick"), Some("dave"));
    assert_eq!(sub.attr("jid"), None, "semi-anonymous room");
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_whois", "anyone")]).await);
    let mut e = login(&s, "erin", "e").await;
    subscribe(&mut e, &r, "erin").await;
    let (_, _, sub) = expect_event(&mut b, "subscribers").await;
    assert_eq!(
        sub.attr("jid"),
        Some("erin@localhost"),
        "non-anonymous room"
    );
}

#[tokio::test]
async fn s13_ban_membership_loss_and_destruction_unsubscribe_with_notifications() {
    let s = server(&["alice", "bob", "carol", "dave"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let mut d = login(&s, "dave", "d").await;
    let r = room("s13");
    join(&mut a, &r, "alice").await;
    for (cl, n) in [(&mut b, "bob"), (&mut c, "carol"), (&mut d, "dave")] {
        subscribe(cl, &r, n).await;
    }
    b.drain().await;
    c.drain().await;
    d.drain().await;
    // Ban: the banned subscriber and the others hear of it.
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='carol@localhost' affiliation='outcast'/>",
        )
        .await,
    );
    let (_, _, un) = expect_event(&mut c, "subscribers").await;
    assert!(un.is("unsubscribe", MUCSUB) && un.attr("nick") == Some("carol"));
    let (_, _, un) = expect_event(&mut b, "subscribers").await;
    assert!(un.is("unsubscribe", MUCSUB) && un.attr("nick") == Some("carol"));
    // Loss of membership in a members-only room. (Turning it members-only unsubscribes
    // non-members: s13_members_only_unsubscribes_non_members_on_every_channel.)
    for member in ["dave", "bob"] {
        assert_result(
            &admin_set(
                &mut a,
                &r,
                &format!("<item jid='{member}@localhost' affiliation='member'/>"),
            )
            .await,
        );
    }
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_membersonly", "1")]).await);
    d.drain().await;
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='dave@localhost' affiliation='none'/>",
        )
        .await,
    );
    let (_, _, un) = expect_event(&mut d, "subscribers").await;
    assert!(un.is("unsubscribe", MUCSUB) && un.attr("nick") == Some("dave"));
    // Destruction: everyone left is unsubscribed, and the room is gone.
    b.drain().await;
    let id = a.next_id();
    let res = a
        .iq(&format!(
            "<iq type='set' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'><destroy><reason>done</reason></destroy></query></iq>"
        ))
        .await;
    assert_result(&res);
    let (_, _, p) = expect_event(&mut b, "config").await;
    assert!(p
        .get_child("x", MUC_USER)
        .unwrap()
        .get_child("destroy", MUC_USER)
        .is_some());
    let (_, _, un) = expect_event(&mut b, "subscribers").await;
    assert!(un.is("unsubscribe", MUCSUB));
    let id = b.next_id();
    let list = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{MUC}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    assert_eq!(
        list.get_child("subscriptions", MUCSUB)
            .unwrap()
            .children()
            .count(),
        0
    );
    let id = b.next_id();
    let e = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert_error(&e, "cancel", "item-not-found");
}

#[tokio::test]
async fn s14_subscribers_post_without_joining_strangers_cannot_visitors_cannot() {
    let s = server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("s14");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bobby").await;
    b.drain().await;
    post(&mut b, &r, "from outside").await;
    let m = a.expect_message().await;
    assert_eq!(m.attr("from"), Some(format!("{r}/bobby").as_str()));
    assert!(stanza_id(&m).is_some());
    let id = c.next_id();
    c.send(&format!(
        "<message to='{r}' type='groupchat' id='{id}'><body>x</body></message>"
    ))
    .await;
    let e = c.expect("error", |e| e.name() == "message").await;
    assert_error(&e, "modify", "not-acceptable");
    // Moderated room where newcomers are visitors: an unaffiliated subscriber cannot post.
    // (New rooms are not moderated since issue 23: moderation is configured.)
    let quiet = [
        ("muc#roomconfig_moderatedroom", "1"),
        ("members_by_default", "0"),
    ];
    assert_result(&configure(&mut a, &r, &quiet).await);
    b.drain().await;
    let id = b.next_id();
    b.send(&format!(
        "<message to='{r}' type='groupchat' id='{id}'><body>x</body></message>"
    ))
    .await;
    let e = b
        .expect("error", |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await;
    assert_error(&e, "auth", "forbidden");
}

#[tokio::test]
async fn s15_offline_accounts_get_messages_and_subject_stored_but_never_presence() {
    let s = server(&["alice", "bob", "dave"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("s15");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    b.close().await;
    // Presence (a join) while bob is offline: dropped.
    let mut d = login(&s, "dave", "d").await;
    join(&mut d, &r, "dave").await;
    post(&mut a, &r, "while you were away").await;
    a.expect_message().await;
    a.send(&format!(
        "<message to='{r}' type='groupchat'><subject>new topic</subject></message>"
    ))
    .await;
    a.expect("subject", |e| e.get_child("subject", CLIENT).is_some())
        .await;
    let mut b = s.login_bound("bob", "pw", Some("b")).await;
    b.send("<presence/>").await;
    let got = b.drain_for(Duration::from_millis(500)).await;
    let nodes: Vec<String> = got
        .iter()
        .filter_map(unwrap_event)
        .map(|(n, _, _)| n)
        .collect();
    assert_eq!(
        nodes,
        vec!["messages".to_string(), "subject".to_string()],
        "{got:?}"
    );
    let m = got.iter().find(|e| unwrap_event(e).is_some()).unwrap();
    assert!(
        m.get_child("delay", "urn:xmpp:delay").is_some(),
        "offline delivery is delayed"
    );
}

#[tokio::test]
async fn s19_service_list_carries_the_newest_archive_id() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let (r1, r2) = (room("s19a"), room("s19b"));
    join(&mut a, &r1, "alice").await;
    join(&mut a, &r2, "alice").await;
    subscribe(&mut b, &r1, "bob").await;
    subscribe(&mut b, &r2, "bob").await;
    post(&mut a, &r1, "one").await;
    post(&mut a, &r1, "two").await;
    a.expect_message().await;
    let last = a.expect_message().await;
    let sid = stanza_id(&last).unwrap();
    assert!(disco_features(&mut b, MUC)
        .await
        .contains(&"urn:xmpp:mucsub:sync:0".to_string()));
    let id = b.next_id();
    let list = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{MUC}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    let subs: Vec<_> = list
        .get_child("subscriptions", MUCSUB)
        .unwrap()
        .children()
        .cloned()
        .collect();
    let end = subs[0]
        .get_child("end", "urn:xmpp:mucsub:sync:0")
        .expect("end on a room with history");
    assert_eq!(subs[0].attr("jid"), Some(r1.as_str()));
    assert_eq!(end.attr("id"), Some(sid.as_str()));
    assert!(end.attr("stamp").unwrap().ends_with('Z'));
    assert!(
        subs[1].get_child("end", "urn:xmpp:mucsub:sync:0").is_none(),
        "empty archive"
    );
}

#[tokio::test]
async fn s13_deleted_accounts_lose_their_subscriptions() {
    let mut s = server(&["alice", "bob", "carol", "dave"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("s13del");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    subscribe(&mut c, &r, "carol").await;
    b.close().await;
    c.drain().await;
    // Deleted while the server runs: found out at the next storable event.
    assert!(s.ctx().accounts.remove("bob").await.unwrap());
    post(&mut a, &r, "anyone there?").await;
    expect_event(&mut c, "messages").await;
    let (_, _, un) = expect_event(&mut c, "subscribers").await;
    assert!(un.is("unsubscribe", MUCSUB) && un.attr("nick") == Some("bob"));
    // Deleted while the server is down: purged at start.
    let mut d = login(&s, "dave", "d").await;
    subscribe(&mut d, &room("s13del2"), "dave").await;
    d.close().await;
    assert!(s.ctx().accounts.remove("dave").await.unwrap());
    s.restart().await;
    let mut a = login(&s, "alice", "a").await;
    assert_eq!(subscription_nicks(&mut a, &r).await, ["carol"]);
    let n = s
        .ctx()
        .storage
        .muc
        .subscription_count("dave@localhost")
        .await
        .unwrap();
    assert_eq!(n, 0);
}
