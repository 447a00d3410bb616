//! Server defects found by the reliability work, each shown fixed:
//! - a client's `<archived/>` (`urn:xmpp:mam:tmp`) is stripped like its `<stanza-id/>`;
//! - one busy room does not stall the MUC service: a full room queue answers
//!   `resource-constraint` (an error presence for a join) instead of blocking dispatch;
//! - the `conflict` kick reaches a replaced session even when its queue is full.

#[path = "scenarios/support.rs"]
mod support;

use std::time::Duration;

use minidom::Element;
use mucsub_server::stanza::Outgoing;
use support::*;
use tokio::sync::mpsc;

const MAM_TMP: &str = "urn:xmpp:mam:tmp";

fn markers(el: &Element) -> Vec<String> {
    el.children()
        .filter(|c| c.is("archived", MAM_TMP) || c.is("stanza-id", SID))
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn client_sent_archived_markers_are_stripped() {
    let s = server(&["alice", "bob", "carol"]).await;
    let r = room("marks");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let mut c = login(&s, "carol", "c").await;
    join(&mut c, &r, "carol").await;
    let mut b = login(&s, "bob", "b").await;
    subscribe(&mut b, &r, "bob").await;
    a.send(&format!(
        "<message to='{r}' type='groupchat' id='g1'><body>hi</body>\
         <archived xmlns='{MAM_TMP}' by='{r}' id='forged-1'/>\
         <archived xmlns='{MAM_TMP}' by='alice@localhost' id='forged-2'/></message>"
    ))
    .await;
    let echo = a.expect_message().await;
    assert!(!String::from(&echo).contains("forged"), "{echo:?}");
    assert!(
        !echo.children().any(|c| c.is("archived", MAM_TMP)),
        "{echo:?}"
    );
    assert_eq!(
        markers(&echo).len(),
        1,
        "only the room's stanza-id: {echo:?}"
    );
    let seen = c.expect_message().await;
    assert!(!String::from(&seen).contains("forged"), "{seen:?}");
    let (_, _, inner) = expect_event(&mut b, "messages").await;
    assert!(!String::from(&inner).contains("forged"), "{inner:?}");
    // In the archive too.
    let id = a.next_id();
    let (reply, before) = iq_collect(
        &mut a,
        &format!("<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}' queryid='{id}'/></iq>"),
    )
    .await;
    assert_result(&reply);
    assert!(!before.is_empty());
    for m in &before {
        assert!(!String::from(m).contains("forged"), "{m:?}");
    }

    // A private message through the room carries no archive markers from its sender.
    a.send(&format!(
        "<message to='{r}/carol' type='chat' id='pm1'><body>psst</body>\
         <archived xmlns='{MAM_TMP}' by='{r}' id='forged-3'/>\
         <stanza-id xmlns='{SID}' by='{r}' id='forged-4'/></message>"
    ))
    .await;
    let pm = c
        .expect("the private message", |e| {
            e.get_child("body", CLIENT)
                .is_some_and(|b| b.text() == "psst")
        })
        .await;
    assert!(markers(&pm).is_empty(), "{pm:?}");
}

/// With a one-stanza room queue and the archive writes held, a room cannot keep up: the
/// stanzas it cannot queue are answered at once with `resource-constraint`, a join gets
/// an error presence, and the MUC service still answers everything else meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_queue_does_not_stall_the_service() {
    let s = server_with(&["alice", "bob"], |c| {
        c.muc.insert("room_queue".into(), toml::Value::Integer(1));
    })
    .await;
    let r = room("busy");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let mut b = login(&s, "bob", "b").await;
    // Hold the archive writes: every archived message now waits.
    let writer = mucsub_server::testkit::ArchiveWritesHeld::start(s.ctx()).await;
    // The room takes the first message and blocks on its commit; one more fits its
    // queue; the rest cannot be queued.
    for i in 0..5 {
        post(&mut a, &r, &format!("m{i}")).await;
    }
    let refused = a
        .expect("a refused message", |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await;
    assert_error(&refused, "wait", "resource-constraint");
    // On a slow machine the room may still have been taking queued stanzas into its batch
    // when that one was refused, leaving its queue empty. Once its commit waits on the
    // hold it takes nothing more: of two more posts, one fills the queue for good and at
    // least one is refused.
    writer.waited_on().await;
    for id in ["fill0", "fill1"] {
        a.send(&format!(
            "<message to='{r}' type='groupchat' id='{id}'><body>{id}</body></message>"
        ))
        .await;
    }
    a.expect("a fill post refused", |e| {
        e.attr("type") == Some("error") && matches!(e.attr("id"), Some("fill0" | "fill1"))
    })
    .await;
    // The queue stays full while the writes are held: a join gets an error presence.
    b.send(&format!(
        "<presence to='{r}/bob'><x xmlns='{MUC_NS}'/></presence>"
    ))
    .await;
    let p = b
        .expect("the join's answer", |e| e.name() == "presence")
        .await;
    assert_eq!(p.attr("type"), Some("error"), "{p:?}");
    assert_error(&p, "wait", "resource-constraint");
    // The service itself and other rooms' disco are answered while that room is stuck.
    let id = b.next_id();
    let info = b
        .iq(&format!(
            "<iq type='get' id='{id}' to='{MUC}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert_result(&info);
    // Let it go: what was queued is processed; the room works again.
    writer.release().await;
    a.expect("m0 echo", |e| {
        e.get_child("body", CLIENT)
            .is_some_and(|b| b.text() == "m0")
    })
    .await;
    join(&mut b, &r, "bob").await;
    post(&mut a, &r, "after").await;
    b.expect("after", |e| {
        e.get_child("body", CLIENT)
            .is_some_and(|b| b.text() == "after")
    })
    .await;
    assert_eq!(mucsub_server::testkit::panics(), 0);
}

/// A departure is never refused, even from a full queue: the room must not keep a
/// ghost occupant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_busy_room_still_arrives() {
    let s = server_with(&["alice", "bob"], |c| {
        c.muc.insert("room_queue".into(), toml::Value::Integer(1));
    })
    .await;
    let r = room("leave");
    let mut a = login(&s, "alice", "a").await;
    join(&mut a, &r, "alice").await;
    let mut b = login(&s, "bob", "b").await;
    join(&mut b, &r, "bob").await;
    a.drain().await;
    let writer = mucsub_server::testkit::ArchiveWritesHeld::start(s.ctx()).await;
    for i in 0..4 {
        post(&mut a, &r, &format!("x{i}")).await;
    }
    a.expect("a refused message", |e| {
        e.name() == "message" && e.attr("type") == Some("error")
    })
    .await;
    // Bob's session ends while the room's queue is full.
    b.close().await;
    writer.release().await;
    a.expect("bob left", |e| {
        e.name() == "presence"
            && e.attr("type") == Some("unavailable")
            && e.attr("from") == Some(format!("{r}/bob").as_str())
    })
    .await;
}

/// The router ends a replaced session through its control handle, not its queue: a
/// session whose queue is full still learns it was replaced.
#[tokio::test]
async fn conflict_kick_reaches_a_session_with_a_full_queue() {
    let s = server(&["alice"]).await;
    let router = &s.ctx().router;
    let (old_tx, mut old_rx) = mpsc::channel::<Outgoing>(1);
    old_tx
        .try_send(Outgoing::Xml("<message/>".into()))
        .expect("fill the queue");
    let old = router.register_session("alice", "same", old_tx.clone());
    let (new_tx, _new_rx) = mpsc::channel::<Outgoing>(8);
    let new = router.register_session("alice", "same", new_tx);
    assert_eq!(old.control.reason(), Some("conflict"));
    let kicked = tokio::time::timeout(Duration::from_secs(10), old.control.kicked())
        .await
        .expect("kick delivered");
    assert_eq!(kicked, "conflict");
    assert!(new.control.reason().is_none());
    assert!(router.has_resource("alice", "same"));
    // Nothing was pushed behind the full queue.
    assert!(old_rx.try_recv().is_ok());
    assert!(old_rx.try_recv().is_err());
    router.unregister_session("alice", new.id);

    // Over the wire: the replaced session gets its conflict stream error.
    let mut first = s.login_bound("alice", "pw", Some("wire")).await;
    let mut second = s.login_bound("alice", "pw", Some("wire")).await;
    assert_eq!(first.expect_stream_error().await, "conflict");
    let r = second
        .iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_result(&r);
}
