//! docs/protocol.md S17 (MAM on rooms) and S18 (stanza-ids), over real connections; and a
//! walk over a 10,000-message archive in both directions.

#[path = "scenarios/support.rs"]
mod support;

use minidom::Element;
use mucsub_server::muc::store::{ArchivedMsg, StoreOp};
use mucsub_server::testkit::RawClient;
use support::*;

/// Runs a MAM query; returns (result ids in order, fin element) or the error reply.
async fn mam(
    c: &mut RawClient,
    room_jid: &str,
    inner: &str,
) -> Result<(Vec<String>, Element), Element> {
    let id = c.next_id();
    let qid = format!("q{id}");
    c.send(&format!(
        "<iq type='set' id='{id}' to='{room_jid}'><query xmlns='{MAM}' queryid='{qid}'>{inner}</query></iq>"
    ))
    .await;
    let mut ids = Vec::new();
    loop {
        let el = c.recv().await;
        if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
            if el.attr("type") == Some("error") {
                return Err(el);
            }
            let fin = el.get_child("fin", MAM).expect("fin").clone();
            return Ok((ids, fin));
        }
        if let Some(r) = el.get_child("result", MAM) {
            assert_eq!(r.attr("queryid"), Some(qid.as_str()));
            let fwd = r
                .get_child("forwarded", "urn:xmpp:forward:0")
                .expect("forwarded");
            assert!(fwd.get_child("delay", "urn:xmpp:delay").is_some());
            let m = fwd.get_child("message", CLIENT).expect("message");
            assert_eq!(
                stanza_id(m).as_deref(),
                r.attr("id"),
                "archived copy keeps its stanza-id"
            );
            ids.push(r.attr("id").unwrap().to_owned());
        }
    }
}

fn rsm(fin: &Element, what: &str) -> Option<String> {
    fin.get_child("set", RSM)?
        .get_child(what, RSM)
        .map(|e| e.text())
}

fn complete(fin: &Element) -> bool {
    fin.attr("complete") == Some("true")
}

fn form(fields: &str) -> String {
    format!("<x xmlns='{DATA}' type='submit'><field var='FORM_TYPE' type='hidden'><value>{MAM}</value></field>{fields}</x>")
}

fn field(var: &str, v: &str) -> String {
    format!("<field var='{var}'><value>{v}</value></field>")
}

fn set(inner: &str) -> String {
    format!("<set xmlns='{RSM}'>{inner}</set>")
}

/// A room with `n` messages posted by alice (odd) and bob (even) over the wire.
async fn room_with_messages(
    n: usize,
) -> (
    mucsub_server::testkit::TestServer,
    RawClient,
    RawClient,
    String,
    Vec<String>,
) {
    let s = server(&["alice", "bob", "carol"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("arch");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    a.drain().await;
    let mut ids = Vec::new();
    for i in 1..=n {
        let who = if i % 2 == 1 { &mut a } else { &mut b };
        let body = format!("m{i}");
        post(who, &r, &body).await;
        let m = who
            .expect("own echo", |e| {
                e.get_child("body", CLIENT)
                    .is_some_and(|b| b.text() == body)
            })
            .await;
        ids.push(stanza_id(&m).unwrap());
    }
    a.drain().await;
    b.drain().await;
    (s, a, b, r, ids)
}

#[tokio::test]
async fn s17_rsm_paging_forward_backward_and_flip() {
    let (_s, mut a, _b, r, ids) = room_with_messages(7).await;
    let (got, fin) = mam(&mut a, &r, &set("<max>3</max>")).await.unwrap();
    assert_eq!(got, ids[0..3]);
    assert!(!complete(&fin));
    assert_eq!(rsm(&fin, "count").as_deref(), Some("7"));
    assert_eq!(rsm(&fin, "first"), Some(ids[0].clone()));
    assert_eq!(rsm(&fin, "last"), Some(ids[2].clone()));
    let (got, fin) = mam(
        &mut a,
        &r,
        &set(&format!("<max>3</max><after>{}</after>", ids[5])),
    )
    .await
    .unwrap();
    assert_eq!(got, ids[6..7]);
    assert!(complete(&fin));
    // Empty <before/>: the newest page.
    let (got, fin) = mam(&mut a, &r, &set("<max>2</max><before/>"))
        .await
        .unwrap();
    assert_eq!(got, ids[5..7]);
    assert!(!complete(&fin));
    let (got, fin) = mam(
        &mut a,
        &r,
        &set(&format!("<max>5</max><before>{}</before>", ids[2])),
    )
    .await
    .unwrap();
    assert_eq!(got, ids[0..2]);
    assert!(complete(&fin));
    // flip-page: same page, newest first.
    let (got, _) = mam(
        &mut a,
        &r,
        &format!("{}<flip-page/>", set("<max>2</max><before/>")),
    )
    .await
    .unwrap();
    assert_eq!(got, vec![ids[6].clone(), ids[5].clone()]);
}

#[tokio::test]
async fn s17_form_fields_filter_the_archive() {
    let (_s, mut a, _b, r, ids) = room_with_messages(6).await;
    let (got, _) = mam(&mut a, &r, &form(&field("with", &format!("{r}/bob"))))
        .await
        .unwrap();
    assert_eq!(got, vec![ids[1].clone(), ids[3].clone(), ids[5].clone()]);
    let (got, _) = mam(
        &mut a,
        &r,
        &form(&(field("after-id", &ids[1]) + &field("before-id", &ids[4]))),
    )
    .await
    .unwrap();
    assert_eq!(got, ids[2..4]);
    let ids_field = format!(
        "<field var='ids'><value>{}</value><value>{}</value></field>",
        ids[4], ids[0]
    );
    let (got, _) = mam(&mut a, &r, &form(&ids_field)).await.unwrap();
    assert_eq!(got, vec![ids[0].clone(), ids[4].clone()]);
    // start/end by the stamps of the archived copies.
    let (_, fin) = mam(&mut a, &r, &form(&field("start", "2000-01-01T00:00:00Z")))
        .await
        .unwrap();
    assert_eq!(rsm(&fin, "count").as_deref(), Some("6"));
    let (got, fin) = mam(&mut a, &r, &form(&field("end", "2000-01-01T00:00:00Z")))
        .await
        .unwrap();
    assert!(got.is_empty() && complete(&fin));
    assert_eq!(rsm(&fin, "count").as_deref(), Some("0"));
    // Metadata.
    let id = a.next_id();
    let meta = a
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><metadata xmlns='{MAM}'/></iq>"
        ))
        .await;
    let m = meta.get_child("metadata", MAM).expect("metadata");
    assert_eq!(
        m.get_child("start", MAM).unwrap().attr("id"),
        Some(ids[0].as_str())
    );
    assert_eq!(
        m.get_child("end", MAM).unwrap().attr("id"),
        Some(ids[5].as_str())
    );
}

#[tokio::test]
async fn s17_unknown_ids_are_item_not_found() {
    let (_s, mut a, _b, r, _ids) = room_with_messages(2).await;
    let e = mam(&mut a, &r, &set("<after>12345</after>"))
        .await
        .unwrap_err();
    assert_error(&e, "cancel", "item-not-found");
    let e = mam(&mut a, &r, &set("<before>not-an-id</before>"))
        .await
        .unwrap_err();
    assert_error(&e, "cancel", "item-not-found");
    let e = mam(&mut a, &r, &form(&field("after-id", "99")))
        .await
        .unwrap_err();
    assert_error(&e, "cancel", "item-not-found");
}

#[tokio::test]
async fn s17_members_only_archive_is_for_members_occupants_and_subscribers() {
    let (_s, mut a, mut b, r, _ids) = room_with_messages(2).await;
    let (got, _) = mam(&mut b, &r, "").await.unwrap();
    assert_eq!(got.len(), 2, "public room: anyone may read");
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='bob@localhost' affiliation='member'/>",
        )
        .await,
    );
    assert_result(&configure(&mut a, &r, &[("muc#roomconfig_membersonly", "1")]).await);
    let mut c = login(&_s, "carol", "c").await;
    let e = mam(&mut c, &r, "").await.unwrap_err();
    assert_error(&e, "auth", "forbidden");
    b.drain().await;
    leave(&mut b, &r, "bob").await;
    let (got, _) = mam(&mut b, &r, "").await.unwrap();
    assert_eq!(got.len(), 2, "members may read without being present");
    // Outcasts never.
    assert_result(
        &admin_set(
            &mut a,
            &r,
            "<item jid='bob@localhost' affiliation='outcast'/>",
        )
        .await,
    );
    assert_error(&mam(&mut b, &r, "").await.unwrap_err(), "auth", "forbidden");
}

#[tokio::test]
async fn s18_stanza_ids_are_the_rooms_and_client_ones_are_stripped() {
    let s = server(&["alice", "bob"]).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    let r = room("s18");
    join(&mut a, &r, "alice").await;
    join(&mut b, &r, "bob").await;
    a.drain().await;
    a.send(&format!(
        "<message to='{r}' type='groupchat' id='x1'><body>hi</body><stanza-id xmlns='{SID}' by='{r}' id='forged'/><nick xmlns='http://jabber.org/protocol/nick'>evil</nick></message>"
    ))
    .await;
    let m = b.expect_message().await;
    let sids: Vec<&Element> = m.children().filter(|c| c.is("stanza-id", SID)).collect();
    assert_eq!(sids.len(), 1);
    assert_eq!(sids[0].attr("by"), Some(r.as_str()));
    assert_ne!(sids[0].attr("id"), Some("forged"));
    assert!(
        m.get_child("nick", "http://jabber.org/protocol/nick")
            .is_none(),
        "<nick/> stripped"
    );
    let mine = a.expect_message().await;
    assert_eq!(
        stanza_id(&mine),
        stanza_id(&m),
        "every copy carries the same id"
    );
}

#[tokio::test]
async fn mam_walks_10000_messages_forward_and_backward_without_holes_or_duplicates() {
    let s = server(&["alice"]).await;
    let mut a = login(&s, "alice", "a").await;
    let r = room("big");
    join(&mut a, &r, "alice").await;
    // Bulk insert through the store in one transaction; the stanzas are what the room
    // would have archived.
    const N: i64 = 10_000;
    let msgs: Vec<ArchivedMsg> = (1..=N)
        .map(|i| ArchivedMsg {
            id: 1_000_000 + i,
            room: "big".into(),
            stamp_us: 1_000_000_000 + i,
            nick: "alice".into(),
            sender: "alice@localhost".into(),
            origin_id: None,
            stanza: format!(
                "<message xmlns='jabber:client' from='{r}/alice' type='groupchat'><stanza-id xmlns='{SID}' by='{r}' id='{}'/><body>{i}</body></message>",
                1_000_000 + i
            ),
        })
        .collect();
    s.ctx()
        .storage
        .muc
        .commit(msgs.into_iter().map(StoreOp::Archive).collect())
        .await
        .expect("bulk insert");
    let expected: Vec<String> = (1..=N).map(|i| (1_000_000 + i).to_string()).collect();
    // Forward with <after/>.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let rsm_inner = match &after {
            Some(a) => format!("<max>250</max><after>{a}</after>"),
            None => "<max>250</max>".to_string(),
        };
        let (ids, fin) = mam(&mut a, &r, &set(&rsm_inner)).await.unwrap();
        assert_eq!(rsm(&fin, "count").as_deref(), Some("10000"));
        seen.extend(ids);
        if complete(&fin) {
            break;
        }
        after = rsm(&fin, "last");
        assert!(after.is_some(), "an incomplete page names its last item");
    }
    assert_eq!(seen, expected, "forward walk");
    // Backward with <before/>, starting from the newest page.
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut before = String::new();
    loop {
        let (ids, fin) = mam(
            &mut a,
            &r,
            &set(&format!("<max>300</max><before>{before}</before>")),
        )
        .await
        .unwrap();
        pages.push(ids);
        if complete(&fin) {
            break;
        }
        before = rsm(&fin, "first").expect("first");
    }
    let back: Vec<String> = pages.into_iter().rev().flatten().collect();
    assert_eq!(back, expected, "backward walk");
}
