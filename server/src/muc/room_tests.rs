//! The room state machine without I/O: stanzas in, actions out.

use jid::{BareJid, FullJid};
use minidom::Element;

use super::config_form::RoomConfig;
use super::ids::IdGen;
use super::room::{Action, Env, Room};
use super::store::StoreOp;
use super::xml::set_attr;
use crate::ns;
// Short names for the format strings below.
use crate::ns::{MUC as NS_MUC, MUCSUB as NS_MUCSUB, MUC_ADMIN as NS_MUC_ADMIN, SID as NS_SID};
use mucsub_protocol::Node;

const ROOM: &str = "lab@conference.localhost";

fn full(s: &str) -> FullJid {
    FullJid::new(s).unwrap()
}

fn bare(s: &str) -> BareJid {
    BareJid::new(s).unwrap()
}

fn x(s: &str) -> Element {
    s.parse().unwrap()
}

struct T {
    room: Room,
    ids: IdGen,
}

impl T {
    fn new() -> T {
        let (room, _) = Room::create(
            "lab",
            bare(ROOM),
            bare("alice@localhost"),
            RoomConfig::default(),
        );
        T {
            room,
            ids: IdGen::new(0),
        }
    }

    fn send(&mut self, from: &str, xml: &str) -> Vec<Action> {
        let mut el = x(xml);
        set_attr(&mut el, "from", from);
        let env = Env {
            ids: &self.ids,
            now_us: 1_000_000,
            history_size: 20,
        };
        self.room.handle(&env, full(from), el)
    }

    fn join(&mut self, from: &str, nick: &str) -> Vec<Action> {
        self.send(
            from,
            &format!("<presence xmlns='jabber:client' to='{ROOM}/{nick}'><x xmlns='{NS_MUC}'/></presence>"),
        )
    }

    fn subscribe(&mut self, from: &str, attrs: &str) -> Vec<Action> {
        let nodes: String = [
            "messages",
            "presence",
            "affiliations",
            "subject",
            "config",
            "subscribers",
        ]
        .iter()
        .map(|n| format!("<event node='urn:xmpp:mucsub:nodes:{n}'/>"))
        .collect();
        self.send(
            from,
            &format!("<iq xmlns='jabber:client' type='set' id='s' to='{ROOM}'><subscribe xmlns='{NS_MUCSUB}' {attrs}>{nodes}</subscribe></iq>"),
        )
    }
}

fn sent(actions: &[Action]) -> Vec<&Element> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(e) => Some(e),
            Action::Broadcast(e, _) => Some(e),
            _ => None,
        })
        .collect()
}

fn error_condition(actions: &[Action]) -> Option<String> {
    sent(actions).iter().find_map(|e| {
        e.get_child("error", ns::CLIENT)
            .and_then(|err| {
                err.children()
                    .find(|c| c.has_ns(ns::STANZAS_ERR) && c.name() != "text")
            })
            .map(|c| {
                format!(
                    "{}/{}",
                    e.get_child("error", ns::CLIENT)
                        .unwrap()
                        .attr("type")
                        .unwrap(),
                    c.name()
                )
            })
    })
}

fn events(actions: &[Action]) -> Vec<(Node, Vec<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(ev) => Some((
                ev.node,
                ev.variants
                    .iter()
                    .flat_map(|(_, r)| r.iter().map(|j| j.to_string()))
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn creator_gets_201_and_owner_moderator() {
    let mut t = T::new();
    let out = t.join("alice@localhost/a1", "alice");
    let me = sent(&out)[0];
    let xu = me.get_child("x", ns::MUC_USER).unwrap();
    let codes: Vec<&str> = xu
        .children()
        .filter(|c| c.name() == "status")
        .filter_map(|c| c.attr("code"))
        .collect();
    assert!(codes.contains(&"201") && codes.contains(&"110"));
    let item = xu.get_child("item", ns::MUC_USER).unwrap();
    assert_eq!(item.attr("affiliation"), Some("owner"));
    assert_eq!(item.attr("role"), Some("moderator"));
    // The subject comes last.
    assert!(sent(&out).last().unwrap().has_child("subject", ns::CLIENT));
}

#[test]
fn subscribe_checks_run_in_spec_order() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    // jid= by a non-moderator is refused before the missing nick is noticed.
    let out = t.subscribe("bob@localhost/b", "jid='carol@localhost'");
    assert_eq!(error_condition(&out).as_deref(), Some("auth/forbidden"));
    let out = t.subscribe("bob@localhost/b", "");
    assert_eq!(error_condition(&out).as_deref(), Some("modify/bad-request"));
    let out = t.subscribe("bob@localhost/b", "nick=''");
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("modify/jid-malformed")
    );
    let out = t.subscribe("bob@localhost/b", "nick='alice'");
    assert_eq!(error_condition(&out).as_deref(), Some("cancel/conflict"));
    let out = t.subscribe("bob@localhost/b", "nick='bob'");
    assert_eq!(error_condition(&out), None);
    // The result echoes the nick and the accepted nodes, and the store gets it first.
    assert!(matches!(
        out[0],
        Action::Store(StoreOp::SetSubscription { .. })
    ));
    let res = sent(&out).into_iter().find(|e| e.name() == "iq").unwrap();
    let sub = res.get_child("subscribe", ns::MUCSUB).unwrap();
    assert_eq!(sub.attr("nick"), Some("bob"));
    assert_eq!(sub.children().count(), 6);
    // A second account may not take bob's subscription nick.
    let out = t.subscribe("carol@localhost/c", "nick='bob'");
    assert_eq!(error_condition(&out).as_deref(), Some("cancel/conflict"));
    // Disabling subscriptions comes first of all.
    t.room.config.allow_subscription = false;
    let out = t.subscribe("carol@localhost/c", "");
    assert_eq!(error_condition(&out).as_deref(), Some("cancel/not-allowed"));
}

#[test]
fn groupchat_is_archived_with_a_stanza_id_and_fanned_out_to_absent_subscribers_only() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    t.subscribe("bob@localhost/b", "nick='bob'");
    t.subscribe("carol@localhost/c", "nick='carol'");
    t.join("carol@localhost/c", "carol");
    let out = t.send(
        "alice@localhost/a1",
        &format!("<message xmlns='jabber:client' to='{ROOM}' type='groupchat' id='m1'><body>hi</body><stanza-id xmlns='{NS_SID}' by='{ROOM}' id='forged'/></message>"),
    );
    let archived = out.iter().find_map(|a| match a {
        Action::Store(StoreOp::Archive(m)) => Some(m.clone()),
        _ => None,
    });
    let archived = archived.expect("archived");
    let bc = sent(&out)[0];
    let sids: Vec<&Element> = bc
        .children()
        .filter(|c| c.is("stanza-id", ns::SID))
        .collect();
    assert_eq!(sids.len(), 1, "client stanza-id stripped, room's added");
    assert_eq!(sids[0].attr("id"), Some(archived.id.to_string().as_str()));
    // Carol is joined: plain groupchat only; bob gets the wrapped event.
    assert_eq!(
        events(&out),
        vec![(Node::Messages, vec!["bob@localhost".to_string()])]
    );
}

#[test]
fn subscribers_post_without_joining_and_strangers_cannot() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    t.subscribe("bob@localhost/b", "nick='bobby'");
    let out = t.send(
        "bob@localhost/b",
        &format!(
            "<message xmlns='jabber:client' to='{ROOM}' type='groupchat'><body>yo</body></message>"
        ),
    );
    assert_eq!(sent(&out)[0].attr("from"), Some(&*format!("{ROOM}/bobby")));
    let out = t.send(
        "dave@localhost/d",
        &format!(
            "<message xmlns='jabber:client' to='{ROOM}' type='groupchat'><body>yo</body></message>"
        ),
    );
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("modify/not-acceptable")
    );
    // Moderated without members_by_default: an unaffiliated subscriber is a visitor.
    t.room.config.members_by_default = false;
    let out = t.send(
        "bob@localhost/b",
        &format!(
            "<message xmlns='jabber:client' to='{ROOM}' type='groupchat'><body>yo</body></message>"
        ),
    );
    assert_eq!(error_condition(&out).as_deref(), Some("auth/forbidden"));
}

#[test]
fn ban_kicks_and_unsubscribes_with_notifications() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    t.subscribe("bob@localhost/b", "nick='bob'");
    t.subscribe("carol@localhost/c", "nick='carol'");
    let out = t.send(
        "alice@localhost/a1",
        &format!("<iq xmlns='jabber:client' type='set' id='b' to='{ROOM}'><query xmlns='{NS_MUC_ADMIN}'><item jid='carol@localhost' affiliation='outcast'/></query></iq>"),
    );
    assert!(out.iter().any(|a| matches!(a, Action::Store(StoreOp::RemoveSubscription { jid, .. }) if jid == "carol@localhost")));
    let ev = events(&out);
    assert!(ev.contains(&(
        Node::Affiliations,
        vec!["bob@localhost".into(), "carol@localhost".into()]
    )));
    let subs: Vec<_> = ev.iter().filter(|(n, _)| *n == Node::Subscribers).collect();
    assert!(!subs.is_empty());
    assert!(!t.room.subscribers.contains_key(&bare("carol@localhost")));
    // Banned: cannot subscribe again.
    let out = t.subscribe("carol@localhost/c", "nick='carol'");
    assert_eq!(error_condition(&out).as_deref(), Some("auth/forbidden"));
}

#[test]
fn subscriber_joining_gets_no_history() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    t.send(
        "alice@localhost/a1",
        &format!("<message xmlns='jabber:client' to='{ROOM}' type='groupchat'><body>old</body></message>"),
    );
    t.subscribe("bob@localhost/b", "nick='bob'");
    let out = t.join("bob@localhost/b", "bob");
    assert!(!sent(&out).iter().any(|e| e.has_child("body", ns::CLIENT)));
    let out = t.join("dave@localhost/d", "dave");
    assert!(sent(&out)
        .iter()
        .any(|e| e.has_child("body", ns::CLIENT) && e.has_child("delay", ns::DELAY)));
}

#[test]
fn temporary_room_survives_its_last_occupant_while_subscribed() {
    let mut t = T::new();
    t.room.config.persistent = false;
    t.join("alice@localhost/a1", "alice");
    t.subscribe("bob@localhost/b", "nick='bob'");
    let out = t.send(
        "alice@localhost/a1",
        &format!("<presence xmlns='jabber:client' to='{ROOM}/alice' type='unavailable'/>"),
    );
    assert!(!out.iter().any(|a| matches!(a, Action::Destroyed)));
    let out = t.send(
        "bob@localhost/b",
        &format!("<iq xmlns='jabber:client' type='set' id='u' to='{ROOM}'><unsubscribe xmlns='{NS_MUCSUB}'/></iq>"),
    );
    assert!(out.iter().any(|a| matches!(a, Action::Destroyed)));
}

#[test]
fn fanout_builds_each_event_once_whatever_the_number_of_subscribers() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    for i in 0..2000 {
        let jid = bare(&format!("user{i}@localhost"));
        t.room.subscribers.insert(
            jid,
            super::room::Subscriber {
                nick: format!("u{i}"),
                nodes: vec![Node::Messages],
            },
        );
    }
    let builds = std::cell::Cell::new(0);
    let mut out = Vec::new();
    t.room.fanout(&mut out, &[Node::Messages], "1", |_| {
        builds.set(builds.get() + 1);
        Element::bare("message", ns::CLIENT)
    });
    assert_eq!(builds.get(), 1, "one inner stanza for 2000 recipients");
    let ev = events(&out);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].1.len(), 2000);
}

/// Ids of events the room makes up come from its environment's id source (the archive's
/// generator), not from a random number inside the room: the same clock and generator give
/// the same ids, and they never go back.
#[test]
fn event_ids_come_from_the_environment() {
    let mut t = T::new();
    t.subscribe("carol@localhost/c", "nick='carol'");
    let out = t.join("bob@localhost/b", "bob");
    let ids: Vec<i64> = out
        .iter()
        .filter_map(|a| match a {
            Action::Event(ev) => Some(ev.id.parse().expect("numeric id")),
            _ => None,
        })
        .collect();
    assert!(!ids.is_empty(), "carol hears of bob's join");
    // `T::send` runs the room at 1 s on a generator that started at 0.
    assert!(
        ids.iter().all(|id| (1_000_000..1_000_100).contains(id)),
        "{ids:?}"
    );
    let next = t.ids.next_at(0);
    assert!(ids.iter().all(|id| *id < next));
}
