//! Helpers shared by the MUC, MucSub and MAM integration tests (included with
//! `#[path = "scenarios/support.rs"] mod support;`). Everything talks to a real server
//! over real loopback connections through the core's test kit.
#![allow(dead_code)]

use minidom::Element;
use mucsub_server::testkit::{xml_with_ns, RawClient, TestServer, TIMEOUT};
use std::time::Duration;

pub const MUC: &str = "conference.localhost";
pub const CLIENT: &str = "jabber:client";
pub const MUC_NS: &str = "http://jabber.org/protocol/muc";
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub const MUCSUB: &str = "urn:xmpp:mucsub:0";
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
pub const SID: &str = "urn:xmpp:sid:0";
pub const MAM: &str = "urn:xmpp:mam:2";
pub const RSM: &str = "http://jabber.org/protocol/rsm";
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const DATA: &str = "jabber:x:data";

/// Every node, as the reference scenarios subscribe.
pub const ALL_NODES: &[&str] = &[
    "messages",
    "presence",
    "affiliations",
    "subject",
    "config",
    "subscribers",
    "system",
    "participants",
];

pub fn room(name: &str) -> String {
    format!("{name}@{MUC}")
}

/// HTTP API arguments naming room `lab` of the service, with `extra`'s arguments.
pub fn lab(extra: serde_json::Value) -> serde_json::Value {
    let mut args = serde_json::json!({"name": "lab", "service": MUC});
    if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
        args.extend(extra.clone());
    }
    args
}

/// A server with the given accounts (password `pw`).
pub async fn server(users: &[&str]) -> TestServer {
    server_with(users, |_| {}).await
}

pub async fn server_with(
    users: &[&str],
    f: impl FnOnce(&mut mucsub_server::config::Config),
) -> TestServer {
    let s = TestServer::start_with(f).await;
    for u in users {
        s.add_user(u, "pw").await;
    }
    s
}

/// Logged in, bound to `resource`, available with priority 0, self-presence drained.
pub async fn login(s: &TestServer, user: &str, resource: &str) -> RawClient {
    let mut c = s.login_bound(user, "pw", Some(resource)).await;
    c.send("<presence/>").await;
    c.drain_for(Duration::from_millis(100)).await;
    c
}

pub fn ids(c: &mut RawClient) -> String {
    c.next_id()
}

/// `(type, condition)` of a stanza error, if it is one.
pub fn error_of(el: &Element) -> Option<(String, String)> {
    if el.attr("type") != Some("error") {
        return None;
    }
    let e = el.get_child("error", CLIENT)?;
    let cond = e
        .children()
        .find(|c| c.has_ns(STANZAS) && c.name() != "text")?;
    Some((
        e.attr("type").unwrap_or("").to_owned(),
        cond.name().to_owned(),
    ))
}

/// The `<text/>` of a stanza error.
pub fn error_text(el: &Element) -> Option<String> {
    el.get_child("error", CLIENT)?
        .get_child("text", STANZAS)
        .map(|t| t.text())
}

pub fn assert_error(el: &Element, kind: &str, cond: &str) {
    assert_eq!(
        error_of(el),
        Some((kind.to_owned(), cond.to_owned())),
        "expected {kind}/{cond}, got {}",
        String::from(el)
    );
}

pub fn assert_result(el: &Element) {
    assert_eq!(
        el.attr("type"),
        Some("result"),
        "expected a result: {}",
        String::from(el)
    );
}

/// Status codes of the muc#user `<x/>` of a stanza.
pub fn codes(el: &Element) -> Vec<String> {
    el.get_child("x", MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn item(el: &Element) -> Option<&Element> {
    el.get_child("x", MUC_USER)?.get_child("item", MUC_USER)
}

/// Joins `room/nick` and reads up to the subject message (XEP-0045 §7.2: the subject
/// ends the join); returns everything received meanwhile, the subject last.
pub async fn join(c: &mut RawClient, room_jid: &str, nick: &str) -> Vec<Element> {
    join_with(c, room_jid, nick, "").await
}

/// [`join_raw`], and when that created the room (status 201) the instant room is accepted,
/// as a stock client does: a room created by a join stays locked until then
/// (docs/protocol.md S22).
pub async fn join_with(
    c: &mut RawClient,
    room_jid: &str,
    nick: &str,
    x_inner: &str,
) -> Vec<Element> {
    let got = join_raw(c, room_jid, nick, x_inner).await;
    if got
        .iter()
        .any(|p| p.name() == "presence" && codes(p).contains(&"201".into()))
    {
        assert_result(&owner_form(c, room_jid, "submit").await);
    }
    got
}

/// Joins `room/nick` (with `x_inner` in the MUC `<x/>`) and reads up to the subject message
/// or the error; a room it creates stays locked.
pub async fn join_raw(
    c: &mut RawClient,
    room_jid: &str,
    nick: &str,
    x_inner: &str,
) -> Vec<Element> {
    c.send(&format!(
        "<presence to='{room_jid}/{nick}'><x xmlns='{MUC_NS}'>{x_inner}</x></presence>"
    ))
    .await;
    let mut got = Vec::new();
    loop {
        let el = c.recv().await;
        let done = el.name() == "message" && el.get_child("subject", CLIENT).is_some();
        let failed = el.name() == "presence" && el.attr("type") == Some("error");
        got.push(el);
        if done || failed {
            return got;
        }
    }
}

/// A join attempt that must fail; returns the error presence.
pub async fn join_fails(c: &mut RawClient, room_jid: &str, nick: &str, x_inner: &str) -> Element {
    let got = join_with(c, room_jid, nick, x_inner).await;
    let last = got.last().cloned().expect("a reply");
    assert_eq!(
        last.attr("type"),
        Some("error"),
        "join should fail: {}",
        String::from(&last)
    );
    last
}

pub async fn leave(c: &mut RawClient, room_jid: &str, nick: &str) -> Element {
    c.send(&format!(
        "<presence to='{room_jid}/{nick}' type='unavailable'/>"
    ))
    .await;
    c.expect("own unavailable presence", |e| {
        e.name() == "presence"
            && e.attr("type") == Some("unavailable")
            && codes(e).contains(&"110".to_string())
    })
    .await
}

fn nodes_xml(nodes: &[&str]) -> String {
    nodes
        .iter()
        .map(|n| format!("<event node='urn:xmpp:mucsub:nodes:{n}'/>"))
        .collect()
}

/// Sends a `<subscribe/>` with extra attributes (`nick='…'` etc.) and returns the reply.
pub async fn subscribe_raw(
    c: &mut RawClient,
    room_jid: &str,
    attrs: &str,
    nodes: &[&str],
) -> Element {
    let id = c.next_id();
    c.iq(&format!(
        "<iq type='set' id='{id}' to='{room_jid}'><subscribe xmlns='{MUCSUB}' {attrs}>{}</subscribe></iq>",
        nodes_xml(nodes)
    ))
    .await
}

/// Subscribes to every node with `nick`; asserts success.
pub async fn subscribe(c: &mut RawClient, room_jid: &str, nick: &str) -> Element {
    let r = subscribe_raw(c, room_jid, &format!("nick='{nick}'"), ALL_NODES).await;
    assert_result(&r);
    r
}

pub async fn unsubscribe(c: &mut RawClient, room_jid: &str, attrs: &str) -> Element {
    let id = c.next_id();
    c.iq(&format!(
        "<iq type='set' id='{id}' to='{room_jid}'><unsubscribe xmlns='{MUCSUB}' {attrs}/></iq>"
    ))
    .await
}

/// `(node short name, item id, inner element)` of a wrapped MucSub event.
pub fn unwrap_event(el: &Element) -> Option<(String, String, Element)> {
    let items = el
        .get_child("event", PUBSUB_EVENT)?
        .get_child("items", PUBSUB_EVENT)?;
    let node = items
        .attr("node")?
        .strip_prefix("urn:xmpp:mucsub:nodes:")?
        .to_owned();
    let item = items.get_child("item", PUBSUB_EVENT)?;
    let inner = item.children().next()?.clone();
    Some((node, item.attr("id")?.to_owned(), inner))
}

/// Waits for the next wrapped event on `node`.
pub async fn expect_event(c: &mut RawClient, node: &str) -> (Element, String, Element) {
    let el = c
        .expect(&format!("a MucSub event on {node}"), |e| {
            unwrap_event(e).is_some_and(|(n, _, _)| n == node)
        })
        .await;
    let (_, id, inner) = unwrap_event(&el).expect("event");
    (el, id, inner)
}

/// Asserts that nothing but the listed kinds arrive for a short while.
pub async fn expect_no_event(c: &mut RawClient) {
    let got = c.drain_for(Duration::from_millis(400)).await;
    let events: Vec<String> = got
        .iter()
        .filter(|e| unwrap_event(e).is_some())
        .map(String::from)
        .collect();
    assert!(events.is_empty(), "unexpected events: {events:?}");
}

/// Posts a groupchat message and waits for the room's echo (when joined) or nothing.
pub async fn post(c: &mut RawClient, room_jid: &str, body: &str) {
    let id = c.next_id();
    c.send(&format!(
        "<message to='{room_jid}' type='groupchat' id='{id}'><body>{body}</body></message>"
    ))
    .await;
}

/// Posts as a joined occupant and waits for the room's echo, so the event is processed.
pub async fn say(c: &mut RawClient, room_jid: &str, body: &str) {
    post(c, room_jid, body).await;
    c.expect("own groupchat echo", |e| {
        e.name() == "message"
            && e.get_child("body", CLIENT)
                .is_some_and(|b| b.text() == body)
    })
    .await;
}

/// Waits for the next wrapped `messages` event whose message body is `body` (skipping
/// other events).
pub async fn expect_message_event(c: &mut RawClient, body: &str) {
    loop {
        let (_, _, inner) = expect_event(c, "messages").await;
        if inner
            .get_child("body", CLIENT)
            .is_some_and(|b| b.text() == body)
        {
            return;
        }
    }
}

/// Sends a chat message to `to` and returns once the server handled it (a ping sent after
/// it is answered in order).
pub async fn chat_to(c: &mut RawClient, to: &str, body: &str) {
    let id = c.next_id();
    c.send(&format!(
        "<message to='{to}' type='chat' id='{id}'><body>{body}</body></message>"
    ))
    .await;
    let id = c.next_id();
    c.iq(&format!(
        "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
    ))
    .await;
}

/// Waits until `user` has at least `n` messages in offline storage.
pub async fn wait_offline(s: &TestServer, user: &str, n: u64) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while s.ctx().offline.count(user).await.expect("count") < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{user} has fewer than {n} offline messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Closes the stream and waits until the router no longer counts the account available.
pub async fn go_offline(s: &TestServer, c: RawClient, bare: &str) {
    c.close().await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while s.ctx().router.is_available(bare) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{bare} still available"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stanza-id the room stamped on a message.
pub fn stanza_id(el: &Element) -> Option<String> {
    el.children()
        .find(|c| c.is("stanza-id", SID))
        .and_then(|s| s.attr("id").map(str::to_owned))
}

/// Sends an IQ and returns its reply with everything that arrived before it.
pub async fn iq_collect(c: &mut RawClient, xml: &str) -> (Element, Vec<Element>) {
    let id = x(xml).attr("id").expect("iq id").to_owned();
    c.send(xml).await;
    let mut before = Vec::new();
    loop {
        let el = c.recv().await;
        if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
            return (el, before);
        }
        before.push(el);
    }
}

/// Like [`configure`], also returning what arrived before the reply (status messages).
pub async fn configure_collect(
    c: &mut RawClient,
    room_jid: &str,
    fields: &[(&str, &str)],
) -> (Element, Vec<Element>) {
    let id = c.next_id();
    let f: String = fields
        .iter()
        .map(|(k, v)| format!("<field var='{k}'><value>{v}</value></field>"))
        .collect();
    iq_collect(c, &format!(
        "<iq type='set' id='{id}' to='{room_jid}'><query xmlns='{MUC_OWNER}'><x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>{f}</x></query></iq>"
    ))
    .await
}

/// Submits a room configuration form with the given fields.
pub async fn configure(c: &mut RawClient, room_jid: &str, fields: &[(&str, &str)]) -> Element {
    let id = c.next_id();
    let f: String = fields
        .iter()
        .map(|(k, v)| format!("<field var='{k}'><value>{v}</value></field>"))
        .collect();
    c.iq(&format!(
        "<iq type='set' id='{id}' to='{room_jid}'><query xmlns='{MUC_OWNER}'><x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>{f}</x></query></iq>"
    ))
    .await
}

/// An empty owner form of type `form_type`: `submit` accepts the instant room (XEP-0045
/// §10.1.2), `cancel` leaves the configuration as it is (and opens a locked room, S22).
pub async fn owner_form(c: &mut RawClient, room_jid: &str, form_type: &str) -> Element {
    let id = c.next_id();
    c.iq(&format!(
        "<iq type='set' id='{id}' to='{room_jid}'><query xmlns='{MUC_OWNER}'><x xmlns='{DATA}' type='{form_type}'/></query></iq>"
    ))
    .await
}

/// The nicks of the `<subscriptions/>` list `to` gives `c`: a room's subscribers (S9), or
/// the service's list of `c`'s own subscriptions (S8).
pub async fn subscription_nicks(c: &mut RawClient, to: &str) -> Vec<String> {
    let id = c.next_id();
    let list = c
        .iq(&format!(
            "<iq type='get' id='{id}' to='{to}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    list.get_child("subscriptions", MUCSUB)
        .unwrap_or_else(|| panic!("a subscriber list: {}", String::from(&list)))
        .children()
        .filter_map(|s| s.attr("nick"))
        .map(str::to_owned)
        .collect()
}

/// One `muc#admin` item set.
pub async fn admin_set(c: &mut RawClient, room_jid: &str, item: &str) -> Element {
    let id = c.next_id();
    c.iq(&format!(
        "<iq type='set' id='{id}' to='{room_jid}'><query xmlns='{MUC_ADMIN}'>{item}</query></iq>"
    ))
    .await
}

pub async fn disco_features(c: &mut RawClient, to: &str) -> Vec<String> {
    let id = c.next_id();
    let r = c
        .iq(&format!(
            "<iq type='get' id='{id}' to='{to}'><query xmlns='{DISCO_INFO}'/></iq>"
        ))
        .await;
    assert_result(&r);
    r.get_child("query", DISCO_INFO)
        .expect("disco query")
        .children()
        .filter(|f| f.name() == "feature")
        .filter_map(|f| f.attr("var").map(str::to_owned))
        .collect()
}

/// Parses stanza text the way tests write it (no xmlns needed).
pub fn x(xml: &str) -> Element {
    xml_with_ns(xml)
}
