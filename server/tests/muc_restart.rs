//! Persistence of rooms across restarts, and rooms leaving and re-entering memory.

#[path = "scenarios/support.rs"]
mod support;

use std::time::Duration;
use support::*;

#[tokio::test]
async fn persistent_rooms_config_and_affiliations_survive_a_restart() {
    let mut s = server(&["alice", "bob", "carol"]).await;
    let r = room("durable");
    let t = room("ephemeral");
    {
        let mut a = login(&s, "alice", "a").await;
        join(&mut a, &r, "alice").await;
        assert_result(
            &configure(
                &mut a,
                &r,
                &[
                    ("muc#roomconfig_roomname", "Durable"),
                    ("muc#roomconfig_membersonly", "1"),
                ],
            )
            .await,
        );
        assert_result(
            &admin_set(
                &mut a,
                &r,
                "<item jid='bob@localhost' affiliation='member'/>",
            )
            .await,
        );
        assert_result(
            &admin_set(
                &mut a,
                &r,
                "<item jid='carol@localhost' affiliation='outcast'/>",
            )
            .await,
        );
        a.send(&format!(
            "<message to='{r}' type='groupchat'><subject>kept</subject></message>"
        ))
        .await;
        a.expect("subject", |e| e.get_child("subject", CLIENT).is_some())
            .await;
        join(&mut a, &t, "alice").await;
        assert_result(&configure(&mut a, &t, &[("muc#roomconfig_persistentroom", "0")]).await);
    }
    s.restart().await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    // Config: members-only still holds; bob is still a member, carol still banned.
    let got = join(&mut b, &r, "bob").await;
    assert_eq!(item(&got[0]).unwrap().attr("affiliation"), Some("member"));
    assert_eq!(
        got.last()
            .unwrap()
            .get_child("subject", CLIENT)
            .unwrap()
            .text(),
        "kept"
    );
    assert_error(
        &join_fails(&mut c, &r, "carol", "").await,
        "auth",
        "forbidden",
    );
    let id = a.next_id();
    let info = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    let xml = String::from(&info);
    assert!(
        xml.contains("Durable") && xml.contains("muc_membersonly"),
        "{xml}"
    );
    // The owner is still the owner.
    let id = a.next_id();
    let form = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'/></iq>"
        ))
        .await;
    assert_result(&form);
    // The temporary room, empty after the restart and unsubscribed, is gone.
    let id = a.next_id();
    let e = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{t}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert_error(&e, "cancel", "item-not-found");
}

#[tokio::test]
async fn idle_rooms_are_unloaded_and_reloaded_transparently() {
    let s = server_with(&["alice", "bob"], |c| {
        c.muc
            .insert("idle_unload_secs".into(), toml::Value::Float(0.2));
    })
    .await;
    let db = s.config().db_path();
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("sleepy");
    join(&mut a, &r, "alice").await;
    subscribe(&mut b, &r, "bob").await;
    assert_eq!(mucsub_server::muc::loaded_rooms(&db), Some(1));
    // An occupied room stays.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        mucsub_server::muc::loaded_rooms(&db),
        Some(1),
        "occupied rooms stay loaded"
    );
    post(&mut a, &r, "before sleeping").await;
    a.expect_message().await;
    leave(&mut a, &r, "alice").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while mucsub_server::muc::loaded_rooms(&db) != Some(0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "room never unloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.drain().await;
    // The next stanza reloads it with its state: bob's subscription, the subject, history.
    post(&mut b, &r, "wake up").await;
    let got = join_with(&mut a, &r, "alice", "<history maxstanzas='5'/>").await;
    assert_eq!(mucsub_server::muc::loaded_rooms(&db), Some(1));
    let bodies: Vec<String> = got
        .iter()
        .filter_map(|e| e.get_child("body", CLIENT).map(|b| b.text()))
        .collect();
    assert_eq!(bodies, vec!["before sleeping", "wake up"]);
    assert_eq!(item(&got[0]).unwrap().attr("affiliation"), Some("owner"));
}

#[tokio::test]
async fn unloading_races_lose_and_reorder_nothing() {
    // Rooms unload almost as soon as they fall quiet, so stanzas keep arriving while the
    // room is being unloaded or reloaded.
    let s = server_with(&["alice", "bob", "carol"], |c| {
        c.muc
            .insert("idle_unload_secs".into(), toml::Value::Float(0.01));
    })
    .await;
    let mut b = login(&s, "bob", "b").await;
    let mut c = login(&s, "carol", "c").await;
    let r = room("racy");
    subscribe(&mut b, &r, "bob").await;
    subscribe(&mut c, &r, "carol").await;
    c.drain().await;
    for i in 0..60u64 {
        post(&mut b, &r, &format!("n{i}")).await;
        if i % 3 == 0 {
            // Let it go idle now and then.
            tokio::time::sleep(Duration::from_millis(15 + (i % 7) * 3)).await;
        }
    }
    let mut got = Vec::new();
    while got.len() < 60 {
        let (_, _, inner) = expect_event(&mut c, "messages").await;
        got.push(inner.get_child("body", CLIENT).unwrap().text());
    }
    let want: Vec<String> = (0..60).map(|i| format!("n{i}")).collect();
    assert_eq!(got, want);
}
