//! Client core against scripted server input, including hostile input.

use proptest::prelude::*;

use super::*;
use crate::protocol::Node;
use crate::resync::ResyncWarning;
use crate::session::framing::parse_ws_message;
use crate::session::Framing;

pub(super) const ROOM: &str = "room@conference.localhost";

pub(super) fn cfg() -> ClientConfig {
    ClientConfig::new(SessionConfig {
        jid: BareJid::new("bob@localhost").unwrap(),
        password: "pw".into(),
        resource: Some("r".into()),
        framing: Framing::WebSocket,
        secure: true,
        initial_presence: true,
        token: false,
    })
}

pub(super) fn feed(c: &mut Client, xml: &str) -> Vec<Action> {
    c.handle(
        Input::Frame(parse_ws_message(xml).unwrap()),
        Timestamp(1_000),
    )
}

pub(super) fn written(a: &[Action]) -> Vec<&str> {
    a.iter()
        .filter_map(|x| match x {
            Action::Write(w) => Some(w.as_str()),
            _ => None,
        })
        .collect()
}

pub(super) fn applies(a: &[Action]) -> Vec<(&str, &Vec<RoomEvent>)> {
    a.iter()
        .filter_map(|x| match x {
            Action::Store(StoreOp::Apply(p)) => Some((p.room.as_str(), &p.events)),
            _ => None,
        })
        .collect()
}

fn warnings(a: &[Action]) -> Vec<&ClientWarning> {
    a.iter()
        .filter_map(|x| match x {
            Action::Event(AppEvent::Warning(w)) => Some(w),
            _ => None,
        })
        .collect()
}

pub(super) fn snapshot(cursor: Option<&str>) -> Snapshot {
    Snapshot {
        subscriptions: vec![SubscriptionRecord {
            room: ROOM.into(),
            nick: Some("bob".into()),
            nodes: Node::ALL.to_vec(),
        }],
        rooms: cursor
            .map(|id| crate::store::RoomState {
                room: ROOM.into(),
                cursor: Some(crate::store::Cursor {
                    id: id.into(),
                    stamp: Timestamp(1_577_836_800_000),
                }),
                gaps: vec![],
            })
            .into_iter()
            .collect(),
    }
}

/// Connect, authenticate and bind `c`, the second stream's features offering `more`
/// besides bind; what the client did on the bind result.
pub(super) fn connect_and_bind(c: &mut Client, more: &str) -> Vec<Action> {
    c.handle(Input::Connected, Timestamp(0));
    feed(c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    feed(c, "<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></features>");
    feed(c, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    feed(c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    feed(
        c,
        &format!("<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>{more}</features>"),
    );
    feed(c, "<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>bob@localhost/r</jid></bind></iq>")
}

/// Connect, authenticate and bind; the disco and subscription-list IQs are c1-1, c1-2.
pub(super) fn bound(snapshot: Snapshot) -> Client {
    let mut c = Client::new(cfg(), snapshot);
    let out = connect_and_bind(&mut c, "");
    let w = written(&out);
    assert!(
        w.iter()
            .any(|x| x.contains("disco#info") && x.contains("id='c1-1'")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|x| x.contains("<subscriptions") && x.contains("id='c1-2'")),
        "{w:?}"
    );
    c
}

/// A ready client subscribed to ROOM whose connect-time resync is in flight; returns the
/// MAM queryid and IQ id of that resync.
fn ready() -> (Client, String, String) {
    let mut c = bound(snapshot(None));
    feed(&mut c, "<iq xmlns='jabber:client' type='result' id='c1-1' from='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:mucsub:0'/></query></iq>");
    let out = feed(&mut c, &format!("<iq xmlns='jabber:client' type='result' id='c1-2' from='conference.localhost'><subscriptions xmlns='urn:xmpp:mucsub:0'><subscription jid='{ROOM}' nick='bob'><event node='urn:xmpp:mucsub:nodes:messages'/></subscription></subscriptions></iq>"));
    // The nodes changed on the server: the record is updated.
    assert!(out.iter().any(|a| matches!(a, Action::Store(StoreOp::PutSubscription(r)) if r.nodes == vec![Node::Messages])));
    let out = room_features(&mut c, &out, ROOM, true);
    let q = written(&out)
        .into_iter()
        .find(|w| w.contains("urn:xmpp:mam:2"))
        .expect("a MAM query for the room")
        .to_owned();
    assert!(q.contains(&format!("to='{ROOM}'")), "{q}");
    let grab = |key: &str| {
        let i = q.find(key).unwrap() + key.len();
        q[i..].split('\'').next().unwrap().to_owned()
    };
    (c, grab("queryid='"), grab(" id='"))
}

/// The id of the disco#info to `room` the client sent in `out` (which it must have sent).
pub(super) fn room_disco_id(out: &[Action], room: &str) -> String {
    let q = written(out)
        .into_iter()
        .find(|w| w.contains("disco#info") && w.contains(&format!("to='{room}'")))
        .expect("a disco#info to the room")
        .to_owned();
    let i = q.find(" id='").unwrap() + 5;
    q[i..].split('\'').next().unwrap().to_owned()
}

/// Answer the room disco#info the client sent in `out` (which it must have sent), with
/// or without the occupant-id feature; what the client does next.
pub(super) fn room_features(c: &mut Client, out: &[Action], room: &str, occ: bool) -> Vec<Action> {
    let id = room_disco_id(out, room);
    let feature = if occ {
        "<feature var='urn:xmpp:occupant-id:0'/>"
    } else {
        ""
    };
    feed(c, &format!("<iq xmlns='jabber:client' type='result' id='{id}' from='{room}'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' type='text' name='r'/><feature var='http://jabber.org/protocol/muc'/>{feature}</query></iq>"))
}

fn wrapper(from: &str, node: &str, inner: &str) -> String {
    format!("<message xmlns='jabber:client' from='{from}' to='bob@localhost'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:mucsub:nodes:{node}'><item id='i1'>{inner}</item></items></event></message>")
}

#[test]
fn live_wrapper_is_stored_with_the_rooms_stanza_id_only() {
    let (mut c, _, _) = ready();
    let inner = format!("<message xmlns='jabber:client' from='{ROOM}/alice' type='groupchat' id='m1'><stanza-id xmlns='urn:xmpp:sid:0' by='evil@localhost' id='forged'/><stanza-id xmlns='urn:xmpp:sid:0' by='{ROOM}' id='real'/><body>hi</body></message>");
    let out = feed(&mut c, &wrapper(ROOM, "messages", &inner));
    let a = applies(&out);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].0, ROOM);
    assert_eq!(a[0].1[0].stanza_id.as_deref(), Some("real"));
    // Only a forged id: none is kept, dedup falls back to the message id.
    let inner = format!("<message xmlns='jabber:client' from='{ROOM}/alice' type='groupchat' id='m2'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='forged'/><body>hi</body></message>");
    let out = feed(&mut c, &wrapper(ROOM, "messages", &inner));
    assert_eq!(applies(&out)[0].1[0].stanza_id, None);
}

#[test]
fn wrappers_from_non_rooms_are_refused() {
    let (mut c, _, _) = ready();
    let inner = "<message xmlns='jabber:client' type='groupchat'><body>x</body></message>";
    for from in [
        "other@conference.localhost",
        "mallory@localhost",
        &format!("{ROOM}/alice"),
    ] {
        let out = feed(&mut c, &wrapper(from, "messages", inner));
        assert!(applies(&out).is_empty(), "{from}");
        assert!(
            matches!(warnings(&out)[..], [ClientWarning::NotSubscribed { .. }]),
            "{from}"
        );
    }
    let out = feed(
        &mut c,
        &wrapper(ROOM, "messages", "<iq xmlns='jabber:client' type='get'/>"),
    );
    assert!(applies(&out).is_empty());
    assert!(matches!(
        warnings(&out)[..],
        [ClientWarning::Malformed { .. }]
    ));
}

#[test]
fn mam_results_are_checked_and_pages_bounded() {
    let (mut c, qid, iqid) = ready();
    let result = |from: &str, qid: &str, id: usize| {
        format!("<message xmlns='jabber:client' from='{from}' to='bob@localhost/r'><result xmlns='urn:xmpp:mam:2' queryid='{qid}' id='{id}'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:{:02}Z'/><message xmlns='jabber:client' from='{ROOM}/a' type='groupchat' id='x{id}'><body>b{id}</body></message></forwarded></result></message>", id % 60)
    };
    let out = feed(&mut c, &result("other@conference.localhost", &qid, 1));
    assert!(matches!(
        warnings(&out)[..],
        [ClientWarning::Resync(ResyncWarning::WrongSender { .. })]
    ));
    let out = feed(&mut c, &result(ROOM, "nope", 1));
    assert!(matches!(
        warnings(&out)[..],
        [ClientWarning::Resync(ResyncWarning::UnknownQuery(_))]
    ));
    // A hostile server floods one page: only `page_size` are kept.
    for i in 0..150 {
        feed(&mut c, &result(ROOM, &qid, i));
    }
    let out = feed(&mut c, &format!("<iq xmlns='jabber:client' type='result' id='{iqid}' from='{ROOM}'><fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><last>149</last></set></fin></iq>"));
    let a = applies(&out);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].1.len(), ResyncConfig::default().page_size);
    // A new room asks for the newest page, so the newest end of the flood is kept.
    assert_eq!(a[0].1[0].stanza_id.as_deref(), Some("50"));
    assert_eq!(a[0].1[99].stanza_id.as_deref(), Some("149"));
    assert!(written(&out)
        .iter()
        .any(|w| w.contains("<after>149</after>")));
}

#[test]
fn iq_timeouts_fail_commands_and_disconnects_schedule_a_reconnect() {
    let (mut c, _, _) = ready();
    let (req, out) = c.command(
        Command::subscribe("new@conference.localhost", "bob"),
        Timestamp(5_000),
    );
    assert!(out.iter().any(|a| matches!(a, Action::TimerAt(_))));
    let out = c.handle(Input::Tick, Timestamp(5_000 + 30_000));
    assert!(out.iter().any(|a| matches!(a, Action::Event(AppEvent::Result { request, result: Err(e) }) if *request == req && e.condition == "timeout")));
    let out = c.handle(Input::Disconnected(Some("reset".into())), Timestamp(40_000));
    assert!(out.iter().any(|a| matches!(a, Action::ReconnectIn(_))));
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(AppEvent::Disconnected { .. }))));
    let (_, out) = c.command(Command::subscribe(ROOM, "bob"), Timestamp(40_001));
    assert!(out.iter().any(|a| matches!(a, Action::Event(AppEvent::Result { result: Err(e), .. }) if e.condition == "not-connected")));
}

#[test]
fn being_unsubscribed_by_the_room_removes_the_subscription() {
    let (mut c, _, _) = ready();
    let out = feed(
        &mut c,
        &wrapper(
            ROOM,
            "subscribers",
            "<unsubscribe xmlns='urn:xmpp:mucsub:0' nick='bob'/>",
        ),
    );
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Store(StoreOp::RemoveSubscription(r)) if r == ROOM)));
    assert!(c.subscriptions().is_empty());
    // Someone else leaving does not.
    let (mut c, _, _) = ready();
    let out = feed(
        &mut c,
        &wrapper(
            ROOM,
            "subscribers",
            "<unsubscribe xmlns='urn:xmpp:mucsub:0' nick='carol'/>",
        ),
    );
    assert!(!out
        .iter()
        .any(|a| matches!(a, Action::Store(StoreOp::RemoveSubscription(_)))));
}

fn arb_xml() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("<body>b</body>".to_owned()),
        Just("<subject/>".to_owned()),
        Just("<stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.localhost' id='s'/>".to_owned()),
        Just("<x xmlns='http://jabber.org/protocol/muc#user'><status code='abc'/><item jid='@@'/></x>".to_owned()),
        Just("<subscribe xmlns='urn:xmpp:mucsub:0' jid='x@y@z'/>".to_owned()),
        Just("<delay xmlns='urn:xmpp:delay' stamp='not a date'/>".to_owned()),
        Just("<fin xmlns='urn:xmpp:mam:2' complete='maybe'/>".to_owned()),
        "[a-z]{1,8}".prop_map(|t| format!("<{t}>{t}</{t}>")),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        (
            prop_oneof![
                Just("message"),
                Just("presence"),
                Just("iq"),
                Just("event"),
                Just("items"),
                Just("item"),
                Just("result"),
                Just("forwarded")
            ],
            prop_oneof![
                Just(""),
                Just(" xmlns='http://jabber.org/protocol/pubsub#event'"),
                Just(" xmlns='urn:xmpp:mam:2' queryid='mam-0-1' id='1'"),
                Just(" xmlns='urn:xmpp:forward:0'"),
                Just(" xmlns='jabber:client' type='groupchat'"),
                Just(" node='urn:xmpp:mucsub:nodes:messages'"),
                Just(" type='result' id='c1-3'"),
            ],
            prop::collection::vec(inner, 0..3),
        )
            .prop_map(|(name, attrs, kids)| format!("<{name}{attrs}>{}</{name}>", kids.concat()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the server sends, the core does not panic and only ever writes events of
    /// a subscribed room into that room.
    #[test]
    fn hostile_stanzas_never_panic_or_cross_rooms(
        body in arb_xml(),
        from in prop_oneof![Just(ROOM), Just("room@conference.localhost/nick"), Just("evil@localhost"), Just("")],
        kind in prop_oneof![Just("message"), Just("iq"), Just("presence")],
    ) {
        let (mut c, _, _) = ready();
        let from_attr = if from.is_empty() { String::new() } else { format!(" from='{from}'") };
        let xml = format!("<{kind} xmlns='jabber:client'{from_attr} type='result' id='c1-3'>{body}</{kind}>");
        let out = feed(&mut c, &xml);
        for (room, events) in applies(&out) {
            prop_assert_eq!(room, ROOM);
            prop_assert!(events.iter().all(|e| e.room == ROOM));
        }
    }
}

fn list_with_hint(id: &str) -> String {
    format!("<iq xmlns='jabber:client' type='result' id='c1-2' from='conference.localhost'><subscriptions xmlns='urn:xmpp:mucsub:0'><subscription jid='{ROOM}' nick='bob'><event node='urn:xmpp:mucsub:nodes:messages'/><end xmlns='urn:xmpp:mucsub:sync:0' id='{id}' stamp='2020-01-01T00:00:00Z'/></subscription></subscriptions></iq>")
}

const DISCO_SYNC: &str = "<iq xmlns='jabber:client' type='result' id='c1-1' from='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:mucsub:0'/><feature var='urn:xmpp:mucsub:sync:0'/></query></iq>";

#[test]
fn sync_hint_skips_rooms_already_in_sync() {
    let mut c = bound(snapshot(Some("42")));
    feed(&mut c, DISCO_SYNC);
    let out = feed(&mut c, &list_with_hint("42"));
    let out = room_features(&mut c, &out, ROOM, true);
    assert!(!written(&out).iter().any(|w| w.contains("urn:xmpp:mam:2")));
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(AppEvent::Synced))));
    assert!(c.is_synced());

    let mut c = bound(snapshot(Some("41")));
    feed(&mut c, DISCO_SYNC);
    let out = feed(&mut c, &list_with_hint("42"));
    let out = room_features(&mut c, &out, ROOM, true);
    let q = written(&out)
        .into_iter()
        .find(|w| w.contains("urn:xmpp:mam:2"))
        .expect("resync");
    assert!(
        q.contains("var='start'"),
        "resumes by time from the cursor: {q}"
    );
}

#[test]
fn hint_is_ignored_when_not_advertised() {
    let mut c = bound(snapshot(Some("42")));
    feed(&mut c, "<iq xmlns='jabber:client' type='result' id='c1-1' from='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    let out = feed(&mut c, &list_with_hint("42"));
    let out = room_features(&mut c, &out, ROOM, true);
    assert!(written(&out).iter().any(|w| w.contains("urn:xmpp:mam:2")));
}

/// The IQ id of the one written stanza that contains `needle`.
fn iq_id_of(out: &[Action], needle: &str) -> String {
    let w = written(out)
        .into_iter()
        .find(|w| w.contains(needle))
        .unwrap_or_else(|| panic!("nothing written with {needle}"))
        .to_owned();
    let i = w.find(" id='").unwrap() + 5;
    w[i..].split('\'').next().unwrap().to_owned()
}

/// The connect-time list is made when the server answers it; a subscribe or unsubscribe
/// the app made right after connecting can land after that. Reconciling with the list
/// must not undo them (it removed the new subscription, and the room's events were then
/// refused as "not subscribed").
#[test]
fn the_connect_time_list_does_not_undo_later_subscribes_and_unsubscribes() {
    const NEW: &str = "new@conference.localhost";
    let mut c = bound(snapshot(None));
    let (_, out) = c.command(Command::subscribe(NEW, "bob"), Timestamp(1_000));
    let sub_id = iq_id_of(&out, "<subscribe");
    let unsubscribe = Command::Unsubscribe { room: ROOM.into() };
    let (_, out) = c.command(unsubscribe, Timestamp(1_000));
    let unsub_id = iq_id_of(&out, "<unsubscribe");
    let subscribed = feed(&mut c, &format!("<iq xmlns='jabber:client' type='result' id='{sub_id}' from='{NEW}'><subscribe xmlns='urn:xmpp:mucsub:0' nick='bob'/></iq>"));
    feed(
        &mut c,
        &format!("<iq xmlns='jabber:client' type='result' id='{unsub_id}' from='{ROOM}'/>"),
    );
    // The list as the server had it before either: ROOM only.
    let mut out = feed(&mut c, &format!("<iq xmlns='jabber:client' type='result' id='c1-2' from='conference.localhost'><subscriptions xmlns='urn:xmpp:mucsub:0'><subscription jid='{ROOM}' nick='bob'><event node='urn:xmpp:mucsub:nodes:messages'/></subscription></subscriptions></iq>"));
    out.extend(feed(&mut c, "<iq xmlns='jabber:client' type='result' id='c1-1' from='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:mucsub:0'/></query></iq>"));
    assert!(
        !out.iter().any(|a| matches!(a,
            Action::Store(StoreOp::RemoveSubscription(r)) | Action::Store(StoreOp::PutSubscription(SubscriptionRecord { room: r, .. }))
            if r == NEW || r == ROOM)),
        "{out:?}"
    );
    let rooms: Vec<String> = c.subscriptions().into_iter().map(|s| s.room).collect();
    assert_eq!(rooms, [NEW]);
    // NEW's events are taken (once the room says whether it has occupant-ids), ROOM's
    // refused.
    let out = feed(&mut c, &wrapper(NEW, "messages", "<message xmlns='jabber:client' from='new@conference.localhost/alice' type='groupchat' id='m1'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='new@conference.localhost' id='s1'/></message>"));
    assert!(warnings(&out).is_empty(), "{out:?}");
    let out = room_features(&mut c, &subscribed, NEW, true);
    assert_eq!(applies(&out).len(), 1);
}

fn notice(from: &str, payload: &str) -> String {
    format!("<message xmlns='jabber:client' from='{from}' to='bob@localhost' type='headline' id='n1'>{payload}</message>")
}

fn changes(out: &[Action]) -> Vec<(&str, Option<&SubscriptionRecord>)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Event(AppEvent::SubscriptionChanged { room, subscription }) => {
                Some((room.as_str(), subscription.as_ref()))
            }
            _ => None,
        })
        .collect()
}

/// docs/protocol.md S20: another device's subscribe, and a moderator's unsubscribe, reach
/// this client as notices it applies as if it had made them.
#[test]
fn subscription_notices_are_applied_like_our_own_commands() {
    const NEW: &str = "new@conference.localhost";
    let (mut c, _, _) = ready();
    let sub = "<subscribe xmlns='urn:xmpp:mucsub:0' nick='bobby'><event node='urn:xmpp:mucsub:nodes:messages'/></subscribe>";
    let out = feed(&mut c, &notice(NEW, sub));
    let rec = SubscriptionRecord {
        room: NEW.into(),
        nick: Some("bobby".into()),
        nodes: vec![Node::Messages],
    };
    assert!(out.contains(&Action::Store(StoreOp::PutSubscription(rec.clone()))));
    assert_eq!(changes(&out), vec![(NEW, Some(&rec))]);
    // A new room: its newest page is fetched, as after a subscribe of ours (once its
    // occupant-id feature is known).
    let out = room_features(&mut c, &out, NEW, true);
    let q = written(&out)
        .into_iter()
        .find(|w| w.contains("urn:xmpp:mam:2"))
        .expect("a MAM query");
    assert!(
        q.contains(&format!("to='{NEW}'")) && q.contains("<before></before>"),
        "{q}"
    );
    // Its events are taken now.
    let inner = format!("<message xmlns='jabber:client' from='{NEW}/alice' type='groupchat' id='m1'><body>hi</body></message>");
    let out = feed(&mut c, &wrapper(NEW, "messages", &inner));
    assert!(
        warnings(&out).is_empty() && applies(&out).len() == 1,
        "{out:?}"
    );
    // The same notice again (our own device also gets it): nothing to do.
    let out = feed(&mut c, &notice(NEW, sub));
    assert!(
        out.iter()
            .all(|a| !matches!(a, Action::Store(_) | Action::Event(_))),
        "{out:?}"
    );
    // Unsubscribed elsewhere: forgotten as by unsubscribe(); the room's wrappers are refused.
    let out = feed(
        &mut c,
        &notice(NEW, "<unsubscribe xmlns='urn:xmpp:mucsub:0'/>"),
    );
    assert!(out.contains(&Action::Store(StoreOp::RemoveSubscription(NEW.into()))));
    assert_eq!(changes(&out), vec![(NEW, None)]);
    let rooms: Vec<String> = c.subscriptions().into_iter().map(|s| s.room).collect();
    assert_eq!(rooms, [ROOM]);
    let out = feed(&mut c, &wrapper(NEW, "messages", &inner));
    assert!(matches!(
        warnings(&out)[..],
        [ClientWarning::NotSubscribed { .. }]
    ));
}

#[test]
fn subscription_notices_come_only_from_rooms() {
    let (mut c, _, _) = ready();
    let sub = "<subscribe xmlns='urn:xmpp:mucsub:0' nick='x'/>";
    for from in [
        "mallory@localhost",
        "room@evil.example",
        &format!("{ROOM}/alice"),
    ] {
        let out = feed(&mut c, &notice(from, sub));
        assert!(out.iter().all(|a| !matches!(a, Action::Store(_))), "{from}");
        assert!(
            matches!(warnings(&out)[..], [ClientWarning::NotARoom { .. }]),
            "{from}"
        );
    }
    // A subscribed room on another service may tell us it removed us.
    assert_eq!(c.subscriptions().len(), 1);
    let out = feed(
        &mut c,
        &notice(
            "lab@evil.example",
            "<unsubscribe xmlns='urn:xmpp:mucsub:0'/>",
        ),
    );
    assert!(matches!(
        warnings(&out)[..],
        [ClientWarning::NotARoom { .. }]
    ));
    assert_eq!(c.subscriptions().len(), 1);
}

/// Our own subscribe: the room's notice and the IQ result say the same thing; the app hears
/// of the change once, whichever comes first.
#[test]
fn our_own_subscribe_changes_the_list_once() {
    const NEW: &str = "new@conference.localhost";
    let (mut c, _, _) = ready();
    let (_, out) = c.command(Command::subscribe(NEW, "bob"), Timestamp(2_000));
    let id = iq_id_of(&out, "<subscribe");
    let sub = "<subscribe xmlns='urn:xmpp:mucsub:0' nick='bob'><event node='urn:xmpp:mucsub:nodes:messages'/></subscribe>";
    let mut out = feed(&mut c, &notice(NEW, sub));
    out.extend(feed(
        &mut c,
        &format!("<iq xmlns='jabber:client' type='result' id='{id}' from='{NEW}'>{sub}</iq>"),
    ));
    assert_eq!(changes(&out).len(), 1, "{out:?}");
    let more = room_features(&mut c, &out, NEW, true);
    out.extend(more);
    let queries = written(&out)
        .into_iter()
        .filter(|w| w.contains("urn:xmpp:mam:2"))
        .count();
    assert_eq!(queries, 1, "one resync of the new room");
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Event(AppEvent::Result {
            result: Ok(CommandResult::Subscribed { .. }),
            ..
        })
    )));
}

/// Credentials set between connections are used by the next one only: a reconnect with a
/// fresh token sends that token, with PLAIN even where SCRAM is offered.
#[test]
fn the_next_connection_uses_the_credentials_set_before_it() {
    let mut c = Client::new(cfg(), Snapshot::default());
    let features = "<features xmlns='http://etherx.jabber.org/streams'><mechanisms \
         xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism>\
         <mechanism>PLAIN</mechanism></mechanisms></features>";
    let open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='1'/>";
    let auth_of = |c: &mut Client| {
        c.handle(Input::Connected, Timestamp(1_000));
        feed(c, open);
        written(&feed(c, features))[0].to_owned()
    };
    assert!(auth_of(&mut c).contains("mechanism='SCRAM-SHA-256'"));
    c.set_credentials("token-1".into(), true);
    let auth = auth_of(&mut c);
    assert!(auth.contains("mechanism='PLAIN'"), "{auth}");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert!(auth.contains(&b64.encode("\0bob\0token-1")), "{auth}");
    c.set_credentials("token-2".into(), true);
    assert!(auth_of(&mut c).contains(&b64.encode("\0bob\0token-2")));
}
