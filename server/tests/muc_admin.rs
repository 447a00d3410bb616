//! Room administration over real connections: roles, affiliations, their lists, the
//! permission rules, the configuration form and room disco.

#[path = "scenarios/support.rs"]
mod support;

use support::*;

async fn admin_get(
    c: &mut mucsub_server::testkit::RawClient,
    r: &str,
    item: &str,
) -> minidom::Element {
    let id = c.next_id();
    c.iq(&format!(
        "<iq type='get' id='{id}' to='{r}'><query xmlns='{MUC_ADMIN}'>{item}</query></iq>"
    ))
    .await
}

#[tokio::test]
async fn only_owners_configure_and_room_disco_reflects_the_config() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("cfg");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    assert_error(
        &configure(&mut b, &r, &[("muc#roomconfig_roomname", "Mine")]).await,
        "auth",
        "forbidden",
    );
    let id = b.next_id();
    let e = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'/></iq>"
        ))
        .await;
    assert_error(&e, "auth", "forbidden");
    assert_error(
        &configure(&mut a, &r, &[("muc#roomconfig_moderatedroom", "perhaps")]).await,
        "modify",
        "not-acceptable",
    );
    let f = disco_features(&mut b, &r).await;
    for want in [
        "muc_public",
        "muc_persistent",
        "muc_open",
        "muc_semianonymous",
        // New rooms are not moderated (issue 23: defaults and features agree).
        "muc_unmoderated",
        "muc_unsecured",
        MAM,
        SID,
    ] {
        assert!(f.contains(&want.to_string()), "{want} in {f:?}");
    }
    let (res, before) = configure_collect(
        &mut a,
        &r,
        &[
            ("muc#roomconfig_roomname", "Config Room"),
            ("muc#roomconfig_membersonly", "1"),
            ("muc#roomconfig_publicroom", "0"),
            ("muc#roomconfig_whois", "anyone"),
            ("muc#roomconfig_moderatedroom", "1"),
            ("muc#roomconfig_persistentroom", "0"),
            ("mam", "0"),
        ],
    )
    .await;
    assert_result(&res);
    // Bob, not a member, was removed with 322 when the room became members-only.
    let gone = b.expect("322", |e| codes(e).contains(&"322".into())).await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    // Occupants hear 104 and the archiving / anonymity changes.
    let m = before
        .iter()
        .find(|e| codes(e).contains(&"104".into()))
        .expect("104 before the result");
    let c = codes(m);
    assert!(
        c.contains(&"171".into()) && c.contains(&"172".into()),
        "{c:?}"
    );
    let f = disco_features(&mut a, &r).await;
    for want in [
        "muc_hidden",
        "muc_temporary",
        "muc_membersonly",
        "muc_nonanonymous",
        "muc_moderated",
    ] {
        assert!(f.contains(&want.to_string()), "{want} in {f:?}");
    }
    assert!(!f.contains(&MAM.to_string()));
    let id = a.next_id();
    let info = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    let xml = String::from(&info);
    assert!(
        xml.contains("muc#roominfo") && xml.contains("Config Room"),
        "{xml}"
    );
}

#[tokio::test]
async fn kick_voice_and_their_permission_failures() {
    let s = server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("roles");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    join(&mut c, &r, "carol").await;
    // A participant can neither kick nor list.
    assert_error(
        &admin_set(&mut b, &r, "<item nick='carol' role='none'/>").await,
        "auth",
        "forbidden",
    );
    assert_error(
        &admin_get(&mut b, &r, "<item role='participant'/>").await,
        "auth",
        "forbidden",
    );
    // Nobody kicks the owner.
    assert_result(&admin_set(&mut a, &r, "<item nick='bob' role='moderator'/>").await);
    assert_error(
        &admin_set(&mut b, &r, "<item nick='alice' role='none'/>").await,
        "cancel",
        "not-allowed",
    );
    // Revoke voice: carol becomes a visitor and may not speak.
    assert_result(&admin_set(&mut b, &r, "<item nick='carol' role='visitor'/>").await);
    let p = c
        .expect("own role change", |e| {
            codes(e).contains(&"110".into())
                && item(e).and_then(|i| i.attr("role")) == Some("visitor")
        })
        .await;
    assert_eq!(p.attr("type"), None);
    c.send(&format!(
        "<message to='{r}' type='groupchat' id='v1'><body>?</body></message>"
    ))
    .await;
    let e = c.expect("error", |e| e.attr("type") == Some("error")).await;
    assert_error(&e, "auth", "forbidden");
    let list = admin_get(&mut a, &r, "<item role='visitor'/>").await;
    let nicks: Vec<&str> = list
        .get_child("query", MUC_ADMIN)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("nick"))
        .collect();
    assert_eq!(nicks, vec!["carol"]);
    // Kick with a reason.
    assert_result(
        &admin_set(
            &mut b,
            &r,
            "<item nick='carol' role='none'><reason>out</reason></item>",
        )
        .await,
    );
    let k = c
        .expect("kicked", |e| codes(e).contains(&"307".into()))
        .await;
    assert!(codes(&k).contains(&"110".into()));
    let it = item(&k).unwrap();
    assert_eq!(it.get_child("reason", MUC_USER).unwrap().text(), "out");
    assert_eq!(
        it.get_child("actor", MUC_USER).unwrap().attr("nick"),
        Some("bob")
    );
    let seen = a
        .expect("kick seen", |e| codes(e).contains(&"307".into()))
        .await;
    assert_eq!(seen.attr("from"), Some(format!("{r}/carol").as_str()));
    assert_error(
        &admin_set(&mut a, &r, "<item nick='ghost' role='none'/>").await,
        "cancel",
        "item-not-found",
    );
}

#[tokio::test]
async fn affiliation_lists_and_rules() {
    let s = server(&["alice", "bob", "carol", "dave"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("affs");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    // Not an admin: no changes, no lists.
    assert_error(
        &admin_set(
            &mut b,
            &r,
            "<item jid='carol@localhost' affiliation='member'/>",
        )
        .await,
        "auth",
        "forbidden",
    );
    assert_error(
        &admin_get(&mut b, &r, "<item affiliation='member'/>").await,
        "auth",
        "forbidden",
    );
    // Owner makes bob admin; bob's presence changes to moderator.
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='bob@localhost' affiliation='admin'/>",
        )
        .await,
    );
    let p = b
        .expect("own promotion", |e| {
            item(e).and_then(|i| i.attr("affiliation")) == Some("admin")
        })
        .await;
    assert_eq!(item(&p).unwrap().attr("role"), Some("moderator"));
    // An admin manages members and outcasts, never owners or admins.
    assert_result(
        &admin_set(
            &mut b,
            &r,
            "<item jid='carol@localhost' affiliation='member'/>",
        )
        .await,
    );
    assert_result(
        &admin_set(
            &mut b,
            &r,
            "<item jid='dave@localhost' affiliation='outcast'><reason>spam</reason></item>",
        )
        .await,
    );
    assert_error(
        &admin_set(
            &mut b,
            &r,
            "<item jid='alice@localhost' affiliation='none'/>",
        )
        .await,
        "cancel",
        "not-allowed",
    );
    assert_error(
        &admin_set(
            &mut b,
            &r,
            "<item jid='carol@localhost' affiliation='admin'/>",
        )
        .await,
        "cancel",
        "not-allowed",
    );
    let list = admin_get(&mut b, &r, "<item affiliation='member'/>").await;
    let jids: Vec<&str> = list
        .get_child("query", MUC_ADMIN)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("jid"))
        .collect();
    assert_eq!(jids, vec!["carol@localhost"]);
    let list = admin_get(&mut a, &r, "<item affiliation='outcast'/>").await;
    let jids: Vec<&str> = list
        .get_child("query", MUC_ADMIN)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("jid"))
        .collect();
    assert_eq!(jids, vec!["dave@localhost"]);
    // Banning a present occupant removes it with 301.
    join(&mut c, &r, "carol").await;
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='carol@localhost' affiliation='outcast'/>",
        )
        .await,
    );
    let k = c
        .expect("banned", |e| codes(e).contains(&"301".into()))
        .await;
    assert_eq!(k.attr("type"), Some("unavailable"));
    // The last owner cannot leave the room ownerless.
    assert_error(
        &admin_set(
            &mut a,
            &r,
            "<item jid='alice@localhost' affiliation='admin'/>",
        )
        .await,
        "cancel",
        "conflict",
    );
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='bob@localhost' affiliation='owner'/>",
        )
        .await,
    );
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='alice@localhost' affiliation='admin'/>",
        )
        .await,
    );
}
