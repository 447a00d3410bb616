//! Occupant-ids are taken only from rooms that advertise them (XEP-0421, `room_features`):
//! elsewhere (ejabberd 23.01 relays what clients send) they are dropped before the store.

use super::tests::{applies, bound, feed, room_disco_id, room_features, snapshot, written, ROOM};
use super::*;

const DISCO: &str = "<iq xmlns='jabber:client' type='result' id='c1-1' from='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:mucsub:0'/></query></iq>";

fn list() -> String {
    format!("<iq xmlns='jabber:client' type='result' id='c1-2' from='conference.localhost'><subscriptions xmlns='urn:xmpp:mucsub:0'><subscription jid='{ROOM}' nick='bob'><event node='urn:xmpp:mucsub:nodes:messages'/></subscription></subscriptions></iq>")
}

fn mam_query(out: &[Action]) -> Option<String> {
    written(out)
        .into_iter()
        .find(|w| w.contains("urn:xmpp:mam:2"))
        .map(str::to_owned)
}

fn attr(q: &str, key: &str) -> String {
    let i = q.find(key).unwrap() + key.len();
    q[i..].split('\'').next().unwrap().to_owned()
}

/// A reaction by `nick` carrying the occupant-id `occ` (as a client may forge it).
fn reaction(nick: &str, occ: &str) -> String {
    format!("<message xmlns='jabber:client' from='{ROOM}/{nick}' type='groupchat' id='r-{nick}'><occupant-id xmlns='urn:xmpp:occupant-id:0' id='{occ}'/><reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>👍</reaction></reactions><store xmlns='urn:xmpp:hints'/></message>")
}

fn wrapped(inner: &str) -> String {
    format!("<message xmlns='jabber:client' from='{ROOM}' to='bob@localhost'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:mucsub:nodes:messages'><item id='i1'>{inner}</item></items></event></message>")
}

/// Connect and reconcile: the room's disco#info goes out before any archive query.
fn connected() -> (Client, Vec<Action>) {
    let mut c = bound(snapshot(None));
    feed(&mut c, DISCO);
    let out = feed(&mut c, &list());
    assert!(
        mam_query(&out).is_none(),
        "the resync waits for the room's features"
    );
    assert!(!c.is_synced());
    (c, out)
}

/// The occupant-id of the one event of the one page applied in `out`.
fn occupant_id_applied(out: &[Action]) -> Option<String> {
    let a = applies(out);
    assert_eq!(a.len(), 1, "{out:?}");
    a[0].1[0].occupant_id.clone()
}

/// Answer the room's disco#info (sent in `out`) with an error of `kind` and `condition`.
fn disco_error(c: &mut Client, out: &[Action], kind: &str, condition: &str) -> Vec<Action> {
    let id = room_disco_id(out, ROOM);
    feed(c, &format!("<iq xmlns='jabber:client' type='error' id='{id}' from='{ROOM}'><error type='{kind}'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"))
}

#[test]
fn a_room_that_advertises_occupant_ids_keeps_them() {
    let (mut c, out) = connected();
    let out = room_features(&mut c, &out, ROOM, true);
    let q = mam_query(&out).expect("the resync starts once the answer is in");
    // An archive copy and a live event both keep the room's id.
    let page = format!("<message xmlns='jabber:client' from='{ROOM}' to='bob@localhost/r'><result xmlns='urn:xmpp:mam:2' queryid='{}' id='a1'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/>{}</forwarded></result></message>", attr(&q, "queryid='"), reaction("alice", "occ-a"));
    feed(&mut c, &page);
    let fin = format!("<iq xmlns='jabber:client' type='result' id='{}' from='{ROOM}'><fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><last>a1</last></set></fin></iq>", attr(&q, " id='"));
    let out = feed(&mut c, &fin);
    assert_eq!(occupant_id_applied(&out).as_deref(), Some("occ-a"));
    let out = feed(&mut c, &wrapped(&reaction("mallory", "occ-m")));
    assert_eq!(occupant_id_applied(&out).as_deref(), Some("occ-m"));
}

#[test]
fn a_room_that_does_not_advertise_them_has_them_dropped() {
    let (mut c, out) = connected();
    let out = room_features(&mut c, &out, ROOM, false);
    let q = mam_query(&out).expect("the resync starts once the answer is in");
    let page = format!("<message xmlns='jabber:client' from='{ROOM}' to='bob@localhost/r'><result xmlns='urn:xmpp:mam:2' queryid='{}' id='a1'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/>{}</forwarded></result></message>", attr(&q, "queryid='"), reaction("mallory", "alice"));
    feed(&mut c, &page);
    let fin = format!("<iq xmlns='jabber:client' type='result' id='{}' from='{ROOM}'><fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><last>a1</last></set></fin></iq>", attr(&q, " id='"));
    let out = feed(&mut c, &fin);
    assert_eq!(occupant_id_applied(&out), None, "forged in the archive");
    // Live: a forged id naming Alice's nick is not taken either.
    let out = feed(&mut c, &wrapped(&reaction("mallory", "alice")));
    assert_eq!(occupant_id_applied(&out), None, "forged live");
}

#[test]
fn an_error_answer_means_not_advertised() {
    let (mut c, out) = connected();
    let out = disco_error(&mut c, &out, "cancel", "service-unavailable");
    assert!(mam_query(&out).is_some(), "the resync starts anyway");
    let out = feed(&mut c, &wrapped(&reaction("mallory", "alice")));
    assert_eq!(occupant_id_applied(&out), None);
}

/// A live event that arrives before the room's answer waits for it, and keeps the id of a
/// room that advertises them.
#[test]
fn live_events_before_the_answer_wait_for_it() {
    let (mut c, out) = connected();
    let early = feed(&mut c, &wrapped(&reaction("alice", "occ-a")));
    assert!(applies(&early).is_empty(), "{early:?}");
    let answered = room_features(&mut c, &out, ROOM, true);
    assert_eq!(occupant_id_applied(&answered).as_deref(), Some("occ-a"));
}

/// Held live events of a room that does not advertise them lose their ids; so do those
/// held when the connection drops (stored, not lost).
#[test]
fn held_live_events_of_an_untrusted_room_or_a_lost_connection_go_without() {
    let (mut c, out) = connected();
    feed(&mut c, &wrapped(&reaction("mallory", "alice")));
    let answered = room_features(&mut c, &out, ROOM, false);
    assert_eq!(occupant_id_applied(&answered), None);

    let (mut c, _) = connected();
    feed(&mut c, &wrapped(&reaction("mallory", "alice")));
    let lost = c.handle(Input::Disconnected(None), Timestamp(2_000));
    assert_eq!(occupant_id_applied(&lost), None);
}

/// A transient failure (here a `wait` error) lets the resync go on without occupant-ids,
/// and is not remembered: the next live event asks the room again and waits for the
/// answer, which keeps its id.
#[test]
fn a_transient_failure_is_asked_again() {
    let (mut c, out) = connected();
    let out = disco_error(&mut c, &out, "wait", "resource-constraint");
    assert!(mam_query(&out).is_some(), "the resync starts anyway");
    let out = feed(&mut c, &wrapped(&reaction("alice", "occ-a")));
    assert!(
        applies(&out).is_empty(),
        "held for the new question: {out:?}"
    );
    let answered = room_features(&mut c, &out, ROOM, true);
    assert_eq!(occupant_id_applied(&answered).as_deref(), Some("occ-a"));
}
