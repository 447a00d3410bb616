//! XEP-0045 basics over real connections: the service, creating and entering rooms, the
//! entry rules, leaving, messages, subject, private messages and history.

#[path = "scenarios/support.rs"]
mod support;

use support::*;

#[tokio::test]
async fn service_disco_info_and_public_room_items() {
    let s = server(&["alice"]).await;
    let mut a = login(&s, "alice", "a").await;
    let id = a.next_id();
    let info = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{MUC}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    let q = info.get_child("query", DISCO_INFO).unwrap();
    let ident = q.get_child("identity", DISCO_INFO).unwrap();
    assert_eq!(
        (ident.attr("category"), ident.attr("type")),
        (Some("conference"), Some("text"))
    );
    join(&mut a, &room("open"), "alice").await;
    join(&mut a, &room("hidden"), "alice").await;
    assert_result(
        &configure(
            &mut a,
            &room("hidden"),
            &[("muc#roomconfig_publicroom", "0")],
        )
        .await,
    );
    let id = a.next_id();
    let items = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{MUC}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
        ))
        .await;
    let jids: Vec<String> = items
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .unwrap()
        .children()
        .filter_map(|i| i.attr("jid").map(str::to_owned))
        .collect();
    assert_eq!(jids, vec![room("open")]);
}

#[tokio::test]
async fn joining_creates_an_instant_room_and_others_see_each_other_in_order() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("coven");
    let got = join(&mut a, &r, "alice").await;
    let me = &got[0];
    assert_eq!(me.attr("from"), Some(format!("{r}/alice").as_str()));
    let c = codes(me);
    assert!(
        c.contains(&"201".into()) && c.contains(&"110".into()) && c.contains(&"170".into()),
        "{c:?}"
    );
    assert_eq!(item(me).unwrap().attr("affiliation"), Some("owner"));
    assert_eq!(item(me).unwrap().attr("role"), Some("moderator"));
    let got = join(&mut b, &r, "bob").await;
    // Existing occupants first, then own presence with 110, then the subject.
    assert_eq!(got[0].attr("from"), Some(format!("{r}/alice").as_str()));
    assert!(
        item(&got[0]).unwrap().attr("jid").is_none(),
        "semi-anonymous"
    );
    assert_eq!(got[1].attr("from"), Some(format!("{r}/bob").as_str()));
    assert!(codes(&got[1]).contains(&"110".into()));
    assert!(!codes(&got[1]).contains(&"201".into()));
    assert!(got[2].get_child("subject", CLIENT).is_some());
    // The owner, a moderator, sees bob's real JID.
    let p = a
        .expect("bob's presence", |e| {
            e.attr("from") == Some(&*format!("{r}/bob"))
        })
        .await;
    assert_eq!(item(&p).unwrap().attr("jid"), Some("bob@localhost/b"));
}

#[tokio::test]
async fn non_anonymous_rooms_say_100_and_reserved_rooms_take_the_owner_form() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let r = room("reserved");
    join(&mut a, &r, "alice").await;
    let id = a.next_id();
    let form = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'/></iq>"
        ))
        .await;
    let x = form
        .get_child("query", MUC_OWNER)
        .unwrap()
        .get_child("x", DATA)
        .unwrap();
    assert_eq!(x.attr("type"), Some("form"));
    assert!(x.children().any(|f| f.attr("var") == Some("mam")));
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_whois", "anyone")]).await);
    let mut b = login(&s, "bob", "b").await;
    let got = join(&mut b, &r, "bob").await;
    assert!(codes(&got[1]).contains(&"100".into()));
    // An owner cancelling the form changes nothing.
    assert_result(&owner_form(&mut a, &r, "cancel").await);
}

#[tokio::test]
async fn nick_change_leave_and_conflicts() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("nicks");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    a.drain().await;
    let e = join_fails(&mut b, &r, "alice", "").await;
    assert_error(&e, "cancel", "conflict");
    b.send(&format!("<presence to='{r}/robert'/>")).await;
    let gone = a.expect("303", |e| codes(e).contains(&"303".into())).await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert_eq!(item(&gone).unwrap().attr("nick"), Some("robert"));
    let back = a
        .expect("new nick", |e| {
            e.attr("from") == Some(&*format!("{r}/robert"))
        })
        .await;
    assert_eq!(back.attr("type"), None);
    let own = b
        .expect("own 303", |e| codes(e).contains(&"303".into()))
        .await;
    assert!(codes(&own).contains(&"110".into()));
    b.send(&format!(
        "<presence to='{r}/robert' type='unavailable'><status>gone fishing</status></presence>"
    ))
    .await;
    let p = a
        .expect("leave", |e| e.attr("type") == Some("unavailable"))
        .await;
    assert_eq!(
        p.get_child("status", CLIENT).unwrap().text(),
        "gone fishing"
    );
    assert_eq!(p.attr("from"), Some(format!("{r}/robert").as_str()));
    assert_eq!(item(&p).unwrap().attr("role"), Some("none"));
}

#[tokio::test]
async fn entry_rules_password_members_only_ban_and_max_users() {
    let s = server(&["alice", "bob", "carol", "dave"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let mut d = login(&s, "dave", "d").await;
    let r = room("rules");
    join(&mut a, &r, "alice").await;
    assert_result(
        &configure(
            &mut a,
            &r,
            &[
                ("muc#roomconfig_passwordprotectedroom", "1"),
                ("muc#roomconfig_roomsecret", "sesame"),
            ],
        )
        .await,
    );
    assert_error(
        &join_fails(&mut b, &r, "bob", "").await,
        "auth",
        "not-authorized",
    );
    assert_error(
        &join_fails(&mut b, &r, "bob", "<password>wrong</password>").await,
        "auth",
        "not-authorized",
    );
    join_with(&mut b, &r, "bob", "<password>sesame</password>").await;
    leave(&mut b, &r, "bob").await;
    assert_result(
        &configure(
            &mut a,
            &r,
            &[
                ("muc#roomconfig_passwordprotectedroom", "0"),
                ("muc#roomconfig_membersonly", "1"),
            ],
        )
        .await,
    );
    assert_error(
        &join_fails(&mut c, &r, "carol", "").await,
        "auth",
        "registration-required",
    );
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='carol@localhost' affiliation='member'/>",
        )
        .await,
    );
    join(&mut c, &r, "carol").await;
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='dave@localhost' affiliation='outcast'/>",
        )
        .await,
    );
    assert_error(
        &join_fails(&mut d, &r, "dave", "").await,
        "auth",
        "forbidden",
    );
    // Max users: two present, limit two, the third member is turned away.
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_maxusers", "2")]).await);
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='bob@localhost' affiliation='member'/>",
        )
        .await,
    );
    assert_error(
        &join_fails(&mut b, &r, "bob", "").await,
        "wait",
        "service-unavailable",
    );
}

#[tokio::test]
async fn moderated_rooms_keep_visitors_quiet() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("quiet");
    join(&mut a, &r, "alice").await;
    // New rooms are not moderated (issue 23): moderation is configured.
    let quiet = [
        ("muc#roomconfig_moderatedroom", "1"),
        ("members_by_default", "0"),
    ];
    assert_result(&configure(&mut a, &r, &quiet).await);
    let got = join(&mut b, &r, "bob").await;
    assert_eq!(item(&got[1]).unwrap().attr("role"), Some("visitor"));
    let id = b.next_id();
    b.send(&format!(
        "<message to='{r}' type='groupchat' id='{id}'><body>hi</body></message>"
    ))
    .await;
    let e = b.expect("error", |e| e.attr("type") == Some("error")).await;
    assert_error(&e, "auth", "forbidden");
}

#[tokio::test]
async fn temporary_rooms_vanish_with_their_last_occupant_and_destroy_tells_everyone() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let t = room("temp");
    join(&mut a, &t, "alice").await;
    assert_result(&configure(&mut a, &t, &[("muc#roomconfig_persistentroom", "0")]).await);
    leave(&mut a, &t, "alice").await;
    let id = a.next_id();
    let e = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{t}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert_error(&e, "cancel", "item-not-found");
    let r = room("doomed");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    let id = a.next_id();
    let res = a
        .iq(&format!(
            "<iq type='set' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'><destroy jid='{}'><reason>moving</reason></destroy></query></iq>",
            room("newhome")
        ))
        .await;
    assert_result(&res);
    let p = b
        .expect("destroy", |e| e.attr("type") == Some("unavailable"))
        .await;
    let d = p
        .get_child("x", MUC_USER)
        .unwrap()
        .get_child("destroy", MUC_USER)
        .unwrap();
    assert_eq!(d.attr("jid"), Some(room("newhome").as_str()));
    assert_eq!(d.get_child("reason", MUC_USER).unwrap().text(), "moving");
}

#[tokio::test]
async fn groupchat_subject_and_private_messages() {
    let s = server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("talk");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    a.drain().await;
    post(&mut b, &r, "hello all").await;
    let m = a.expect_message().await;
    assert_eq!(m.attr("from"), Some(format!("{r}/bob").as_str()));
    assert_eq!(m.attr("type"), Some("groupchat"));
    let sid = m
        .children()
        .find(|e| e.is("stanza-id", SID))
        .expect("stanza-id");
    assert_eq!(sid.attr("by"), Some(r.as_str()));
    // Subject: participants may change it while the room allows it.
    b.send(&format!(
        "<message to='{r}' type='groupchat'><subject>one</subject></message>"
    ))
    .await;
    let sm = a
        .expect("subject", |e| e.get_child("subject", CLIENT).is_some())
        .await;
    assert_eq!(sm.attr("from"), Some(format!("{r}/bob").as_str()));
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_changesubject", "0")]).await);
    b.drain().await;
    b.send(&format!(
        "<message to='{r}' type='groupchat' id='subj'><subject>two</subject></message>"
    ))
    .await;
    let e = b.expect("error", |e| e.attr("type") == Some("error")).await;
    assert_error(&e, "auth", "forbidden");
    a.send(&format!(
        "<message to='{r}' type='groupchat'><subject>mod</subject></message>"
    ))
    .await;
    b.expect("subject by moderator", |e| {
        e.get_child("subject", CLIENT)
            .is_some_and(|s| s.text() == "mod")
    })
    .await;
    // Private message to an occupant; to nobody; from a non-occupant.
    a.send(&format!(
        "<message to='{r}/bob' type='chat'><body>psst</body></message>"
    ))
    .await;
    let pm = b.expect_message().await;
    assert_eq!(pm.attr("from"), Some(format!("{r}/alice").as_str()));
    assert_eq!(pm.attr("type"), Some("chat"));
    assert!(pm.get_child("x", MUC_USER).is_some());
    a.send(&format!(
        "<message to='{r}/nobody' type='chat' id='pm2'><body>?</body></message>"
    ))
    .await;
    let e = a.expect("error", |e| e.attr("type") == Some("error")).await;
    assert_error(&e, "cancel", "item-not-found");
    c.send(&format!(
        "<message to='{r}/bob' type='chat' id='pm3'><body>?</body></message>"
    ))
    .await;
    let e = c.expect("error", |e| e.attr("type") == Some("error")).await;
    assert_error(&e, "modify", "not-acceptable");
    assert_result(&configure(&mut a, &r, &[("allow_private_messages", "0")]).await);
    a.drain().await;
    a.send(&format!(
        "<message to='{r}/bob' type='chat' id='pm4'><body>?</body></message>"
    ))
    .await;
    let e = a.expect("error", |e| e.attr("type") == Some("error")).await;
    assert_error(&e, "cancel", "not-allowed");
}

#[tokio::test]
async fn history_on_join_honours_maxstanzas_and_seconds() {
    let s = server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    let r = room("hist");
    join(&mut a, &r, "alice").await;
    for i in 0..4 {
        post(&mut a, &r, &format!("h{i}")).await;
        a.expect_message().await;
    }
    let mut b = login(&s, "bob", "b").await;
    let got = join_with(&mut b, &r, "bob", "<history maxstanzas='2'/>").await;
    let bodies: Vec<String> = got
        .iter()
        .filter_map(|e| e.get_child("body", CLIENT).map(|b| b.text()))
        .collect();
    assert_eq!(bodies, vec!["h2", "h3"]);
    let h = got
        .iter()
        .find(|e| e.get_child("body", CLIENT).is_some())
        .unwrap();
    assert!(h.get_child("delay", "urn:xmpp:delay").is_some());
    let mut c = login(&s, "carol", "c").await;
    let got = join_with(&mut c, &r, "carol", "<history seconds='3600'/>").await;
    assert_eq!(
        got.iter()
            .filter(|e| e.get_child("body", CLIENT).is_some())
            .count(),
        4
    );
}

#[tokio::test]
async fn a_lost_connection_takes_the_occupant_out() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("lost");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    a.drain().await;
    b.disconnect();
    let p = a
        .expect("bob gone", |e| {
            e.attr("from") == Some(&*format!("{r}/bob")) && e.attr("type") == Some("unavailable")
        })
        .await;
    assert_eq!(item(&p).unwrap().attr("role"), Some("none"));
}

#[tokio::test]
async fn temporary_rooms_live_on_while_they_have_subscribers() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("kept");
    join(&mut a, &r, "alice").await;
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_persistentroom", "0")]).await);
    subscribe(&mut b, &r, "bob").await;
    leave(&mut a, &r, "alice").await;
    // Still there: bob can post to it and read its disco.
    assert!(disco_features(&mut b, &r)
        .await
        .contains(&"muc_temporary".to_string()));
    assert_result(&unsubscribe(&mut b, &r, "").await);
    let id = b.next_id();
    let e = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert_error(&e, "cancel", "item-not-found");
}
