//! Minimal PEP (XEP-0163) on accounts: XEP-0490 displayed markers and XEP-0402 bookmarks
//! are stored before the result, notified to the account's resources (and nobody else's),
//! kept across a restart, and the newest item of each node reaches a session that becomes
//! available.

#[path = "scenarios/support.rs"]
mod support;

use minidom::Element;
use mucsub_server::testkit::RawClient;
use support::*;

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const MDS: &str = "urn:xmpp:mds:displayed:0";
const BOOKMARKS: &str = "urn:xmpp:bookmarks:1";

fn marker(room: &str, sid: &str) -> String {
    format!(
        "<publish node='{MDS}'><item id='{room}'><displayed xmlns='{MDS}'><stanza-id xmlns='{SID}' by='{room}' id='{sid}'/></displayed></item></publish><publish-options><x xmlns='{DATA}' type='submit'><field var='FORM_TYPE' type='hidden'><value>{PUBSUB}#publish-options</value></field><field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>"
    )
}

async fn pubsub(c: &mut RawClient, kind: &str, inner: &str) -> Element {
    let id = c.next_id();
    c.iq(&format!(
        "<iq type='{kind}' id='{id}'><pubsub xmlns='{PUBSUB}'>{inner}</pubsub></iq>"
    ))
    .await
}

/// `(node, item ids, retracted ids)` of a PEP notification.
fn event(el: &Element) -> Option<(String, Vec<String>, Vec<String>)> {
    let items = el
        .get_child("event", PUBSUB_EVENT)?
        .get_child("items", PUBSUB_EVENT)?;
    let ids = |name: &str| {
        items
            .children()
            .filter(|c| c.name() == name)
            .filter_map(|c| c.attr("id").map(str::to_owned))
            .collect()
    };
    Some((items.attr("node")?.to_owned(), ids("item"), ids("retract")))
}

fn displayed_sid(el: &Element) -> Option<String> {
    el.get_child("event", PUBSUB_EVENT)?
        .get_child("items", PUBSUB_EVENT)?
        .get_child("item", PUBSUB_EVENT)?
        .get_child("displayed", MDS)?
        .get_child("stanza-id", SID)?
        .attr("id")
        .map(str::to_owned)
}

#[tokio::test]
async fn displayed_markers_reach_the_other_devices_and_the_next_login_across_a_restart() {
    let mut s = server(&["alice", "bob"]).await;
    let lab = room("lab");
    {
        let mut desk = login(&s, "alice", "desk").await;
        let mut phone = login(&s, "alice", "phone").await;
        let mut bob = login(&s, "bob", "b").await;
        let id = desk.next_id();
        let info = desk
            .iq(&format!(
                "<iq type='get' id='{id}' to='alice@localhost'><query xmlns='{DISCO_INFO}'/></iq>"
            ))
            .await;
        assert!(
            String::from(&info).contains("type=\"pep\"")
                || String::from(&info).contains("type='pep'"),
            "{}",
            String::from(&info)
        );
        let r = pubsub(&mut desk, "set", &marker(&lab, "41")).await;
        assert_result(&r);
        let r = pubsub(&mut desk, "set", &marker(&lab, "42")).await;
        assert_result(&r);
        let got = phone
            .expect("the marker on the phone", |e| {
                displayed_sid(e).as_deref() == Some("42")
            })
            .await;
        assert_eq!(event(&got).unwrap().0, MDS);
        assert_eq!(got.attr("from"), Some("alice@localhost"));
        // Nobody else hears of it.
        let others = bob.drain_for(std::time::Duration::from_millis(300)).await;
        assert!(others.iter().all(|e| event(e).is_none()), "{others:?}");
    }
    s.restart().await;
    let mut tab = s.login_bound("alice", "pw", Some("tab")).await;
    tab.send("<presence/>").await;
    let last = tab
        .expect("the last marker on login", |e| event(e).is_some())
        .await;
    assert_eq!(displayed_sid(&last).as_deref(), Some("42"));
    let items = pubsub(&mut tab, "get", &format!("<items node='{MDS}'/>")).await;
    let xml = String::from(&items);
    assert!(xml.contains(&lab) && xml.contains("42"), "{xml}");
    assert!(
        !xml.contains("'41'") && !xml.contains("\"41\""),
        "replaced by id: {xml}"
    );
}

#[tokio::test]
async fn bookmarks_are_private_persisted_and_retractions_notified() {
    let mut s = server(&["alice"]).await;
    let conf = |jid: &str, name: &str| {
        format!(
            "<publish node='{BOOKMARKS}'><item id='{jid}'><conference xmlns='{BOOKMARKS}' name='{name}' autojoin='true'><nick>al</nick></conference></item></publish>"
        )
    };
    {
        let mut desk = login(&s, "alice", "desk").await;
        let mut phone = login(&s, "alice", "phone").await;
        assert_result(&pubsub(&mut desk, "set", &conf(&room("a"), "A")).await);
        assert_result(&pubsub(&mut desk, "set", &conf(&room("b"), "B")).await);
        phone
            .expect("bookmark b", |e| {
                event(e).is_some_and(|(n, ids, _)| n == BOOKMARKS && ids == [room("b")])
            })
            .await;
        let retract = format!(
            "<retract node='{BOOKMARKS}' notify='true'><item id='{}'/></retract>",
            room("a")
        );
        assert_result(&pubsub(&mut desk, "set", &retract).await);
        phone
            .expect("the retraction", |e| {
                event(e).is_some_and(|(_, _, gone)| gone == [room("a")])
            })
            .await;
    }
    s.restart().await;
    let mut c = login(&s, "alice", "desk").await;
    let items = pubsub(&mut c, "get", &format!("<items node='{BOOKMARKS}'/>")).await;
    let list: Vec<String> = items
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .expect("items")
        .children()
        .filter_map(|i| i.attr("id").map(str::to_owned))
        .collect();
    assert_eq!(list, vec![room("b")]);
}
