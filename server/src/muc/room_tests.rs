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
    /// An open room owned by alice (as a subscription or the HTTP API makes one).
    fn new() -> T {
        T::with(RoomConfig::default())
    }

    /// A room alice made by joining it: locked until she opens it (docs/protocol.md S22).
    fn locked() -> T {
        T::with(RoomConfig {
            locked: true,
            ..RoomConfig::default()
        })
    }

    fn with(config: RoomConfig) -> T {
        let (room, _) = Room::create("lab", bare(ROOM), bare("alice@localhost"), config);
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

/// Each event's node and its recipients: `account`, or `account except r1,r2` when some of
/// its resources are joined (they get the plain stanza instead, docs/protocol.md S11).
fn events(actions: &[Action]) -> Vec<(Node, Vec<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(ev) => Some((
                ev.node,
                ev.variants
                    .iter()
                    .flat_map(|(_, r)| {
                        r.iter().map(|r| match r.joined.as_slice() {
                            [] => r.account.to_string(),
                            joined => format!("{} except {}", r.account, joined.join(",")),
                        })
                    })
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn creator_gets_201_and_owner_moderator() {
    let mut t = T::locked();
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
    // Carol's joined resource gets the plain groupchat only, her other resources and bob
    // the wrapped event (docs/protocol.md S11).
    assert_eq!(
        events(&out),
        vec![(
            Node::Messages,
            vec![
                "bob@localhost".to_string(),
                "carol@localhost except c".into()
            ]
        )]
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
    t.room.config.moderated = true;
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

/// docs/protocol.md S20 notices among `actions`: (to, "subscribe NICK" | "unsubscribe").
fn notices(actions: &[Action]) -> Vec<(String, String)> {
    use mucsub_protocol::{SubscriptionChange, SubscriptionNotice};
    sent(actions)
        .into_iter()
        .filter(|e| SubscriptionNotice::is_notice(e))
        .map(|e| {
            let n = SubscriptionNotice::try_from(e).expect("a well-formed notice");
            assert_eq!(n.room, bare(ROOM));
            let what = match n.change {
                SubscriptionChange::Subscribed(s) => format!("subscribe {}", s.nick.unwrap()),
                SubscriptionChange::Unsubscribed => "unsubscribe".into(),
            };
            (n.to.unwrap().to_string(), what)
        })
        .collect()
}

fn admin_item(t: &mut T, item: &str) -> Vec<Action> {
    t.send(
        "alice@localhost/a1",
        &format!("<iq xmlns='jabber:client' type='set' id='a' to='{ROOM}'><query xmlns='{NS_MUC_ADMIN}'>{item}</query></iq>"),
    )
}

fn configure(t: &mut T, fields: &str) -> Vec<Action> {
    t.send(
        "alice@localhost/a1",
        &format!("<iq xmlns='jabber:client' type='set' id='c' to='{ROOM}'><query xmlns='{}'><x xmlns='jabber:x:data' type='submit'>{fields}</x></query></iq>", ns::MUC_OWNER),
    )
}

/// S20: every change of a subscription, whoever makes it, goes to the account's devices.
#[test]
fn every_subscription_change_is_noticed_to_the_account() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    let out = t.subscribe("bob@localhost/b", "nick='bob'");
    assert_eq!(
        notices(&out),
        vec![("bob@localhost".into(), "subscribe bob".into())]
    );
    // A re-subscribe with another nick: noticed again, with the nick now in force.
    let out = t.subscribe("bob@localhost/b", "nick='bobby'");
    assert_eq!(
        notices(&out),
        vec![("bob@localhost".into(), "subscribe bobby".into())]
    );
    // A moderator subscribing carol: carol hears of it, not alice.
    let out = t.subscribe("alice@localhost/a1", "nick='carol' jid='carol@localhost'");
    assert_eq!(
        notices(&out),
        vec![("carol@localhost".into(), "subscribe carol".into())]
    );
    // A moderator's unsubscribe, and a refused one (nothing changes, nobody is told).
    let out = t.send(
        "carol@localhost/c",
        &format!("<iq xmlns='jabber:client' type='set' id='u' to='{ROOM}'><unsubscribe xmlns='{NS_MUCSUB}' jid='bob@localhost'/></iq>"),
    );
    assert_eq!(error_condition(&out).as_deref(), Some("auth/forbidden"));
    assert!(notices(&out).is_empty());
    let out = t.send(
        "alice@localhost/a1",
        &format!("<iq xmlns='jabber:client' type='set' id='u' to='{ROOM}'><unsubscribe xmlns='{NS_MUCSUB}' jid='bob@localhost'/></iq>"),
    );
    assert_eq!(
        notices(&out),
        vec![("bob@localhost".into(), "unsubscribe".into())]
    );
    // Unsubscribing when not subscribed changes nothing.
    let out = t.send(
        "bob@localhost/b",
        &format!("<iq xmlns='jabber:client' type='set' id='u' to='{ROOM}'><unsubscribe xmlns='{NS_MUCSUB}'/></iq>"),
    );
    assert!(notices(&out).is_empty());
    // Automatic (S13): a ban.
    let out = admin_item(
        &mut t,
        "<item jid='carol@localhost' affiliation='outcast'/>",
    );
    assert_eq!(
        notices(&out),
        vec![("carol@localhost".into(), "unsubscribe".into())]
    );
}

/// S13 + S20: turning a room members-only unsubscribes the subscribers without
/// membership, and destruction unsubscribes everyone, each told on every channel.
#[test]
fn members_only_and_destruction_unsubscribe_with_notices() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    t.subscribe("bob@localhost/b", "nick='bob'");
    t.subscribe("carol@localhost/c", "nick='carol'");
    admin_item(&mut t, "<item jid='carol@localhost' affiliation='member'/>");
    let out = configure(
        &mut t,
        "<field var='muc#roomconfig_membersonly'><value>1</value></field>",
    );
    assert!(out.iter().any(|a| matches!(a, Action::Store(StoreOp::RemoveSubscription { jid, .. }) if jid == "bob@localhost")));
    assert_eq!(
        notices(&out),
        vec![("bob@localhost".into(), "unsubscribe".into())]
    );
    let subs: Vec<_> = events(&out)
        .into_iter()
        .filter(|(n, _)| *n == Node::Subscribers)
        .collect();
    assert!(
        subs.iter()
            .any(|(_, r)| r.contains(&"bob@localhost".to_string())),
        "{subs:?}"
    );
    assert_eq!(
        t.room.subscribers.keys().cloned().collect::<Vec<_>>(),
        vec![bare("carol@localhost")]
    );
    // Destruction: carol's joined resource gets the plain presence, her others the events.
    t.join("carol@localhost/c", "carol");
    let out = t.send(
        "alice@localhost/a1",
        &format!("<iq xmlns='jabber:client' type='set' id='d' to='{ROOM}'><query xmlns='{}'><destroy/></query></iq>", ns::MUC_OWNER),
    );
    assert_eq!(
        notices(&out),
        vec![("carol@localhost".into(), "unsubscribe".into())]
    );
    assert!(events(&out).contains(&(Node::Config, vec!["carol@localhost except c".into()])));
}

/// S11: a joined resource is left out of its account's events; the room knows which.
#[test]
fn joined_resources_are_left_out_of_their_accounts_events() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    t.subscribe("bob@localhost/phone", "nick='bob'");
    let out = t.join("bob@localhost/desktop", "bob");
    // The desktop's own join: the phone hears of it.
    assert!(events(&out).contains(&(Node::Presence, vec!["bob@localhost except desktop".into()])));
    let out = t.send(
        "alice@localhost/a1",
        &format!(
            "<message xmlns='jabber:client' to='{ROOM}' type='groupchat'><body>hi</body></message>"
        ),
    );
    assert_eq!(
        events(&out),
        vec![(Node::Messages, vec!["bob@localhost except desktop".into()])]
    );
    let plain = out.iter().find_map(|a| match a {
        Action::Broadcast(_, to) => Some(to.clone()),
        _ => None,
    });
    assert!(plain.unwrap().contains(&full("bob@localhost/desktop")));
    // Gone from the room: the whole account gets events again.
    t.send(
        "bob@localhost/desktop",
        &format!("<presence xmlns='jabber:client' to='{ROOM}/bob' type='unavailable'/>"),
    );
    let out = t.send(
        "alice@localhost/a1",
        &format!("<message xmlns='jabber:client' to='{ROOM}' type='groupchat'><body>again</body></message>"),
    );
    assert_eq!(
        events(&out),
        vec![(Node::Messages, vec!["bob@localhost".into()])]
    );
}

/// S22: a room made by a join is closed to everyone but its owner until she opens it.
#[test]
fn a_locked_room_refuses_joins_messages_and_subscriptions_until_opened() {
    let mut t = T::locked();
    t.join("alice@localhost/a1", "alice");
    let out = t.join("bob@localhost/b", "bob");
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("cancel/item-not-found")
    );
    let out = t.subscribe("bob@localhost/b", "nick='bob'");
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("cancel/item-not-found")
    );
    let msg = format!(
        "<message xmlns='jabber:client' to='{ROOM}' type='groupchat'><body>x</body></message>"
    );
    let out = t.send("alice@localhost/a1", &msg);
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("cancel/item-not-found")
    );
    // Her other client may come in, and is asked to open the room too.
    let out = t.join("alice@localhost/a2", "alice2");
    assert_eq!(error_condition(&out), None);
    assert!(codes_of_self(&out).contains(&"201".to_string()));
    // The instant room (an empty owner query) opens it, durably.
    let out = t.send(
        "alice@localhost/a1",
        &format!(
            "<iq xmlns='jabber:client' type='set' id='i' to='{ROOM}'><query xmlns='{}'/></iq>",
            ns::MUC_OWNER
        ),
    );
    assert!(matches!(&out[0], Action::Store(StoreOp::SaveRoom { config, .. }) if !config.locked));
    assert!(!t.room.config.locked);
    let out = t.join("bob@localhost/b", "bob");
    assert_eq!(error_condition(&out), None);
    assert!(
        !codes_of_self(&out).contains(&"201".to_string()),
        "bob did not create it"
    );
    let out = t.send("alice@localhost/a1", &msg);
    assert_eq!(error_condition(&out), None);
}

#[test]
fn a_submitted_configuration_opens_a_locked_room_and_an_abandoned_one_vanishes() {
    let mut t = T::locked();
    t.join("alice@localhost/a1", "alice");
    let out = configure(
        &mut t,
        "<field var='muc#roomconfig_roomname'><value>Lab</value></field>",
    );
    assert!(out.iter().any(|a| matches!(a, Action::Store(StoreOp::SaveRoom { config, .. }) if !config.locked && config.name == "Lab")));
    // A creator who leaves without opening the room leaves nothing behind.
    let mut t = T::locked();
    t.join("alice@localhost/a1", "alice");
    let out = t.send(
        "alice@localhost/a1",
        &format!("<presence xmlns='jabber:client' to='{ROOM}/alice' type='unavailable'/>"),
    );
    assert!(out.iter().any(|a| matches!(a, Action::Destroyed)));
}

fn codes_of_self(out: &[Action]) -> Vec<String> {
    sent(out)
        .into_iter()
        .filter(|e| e.name() == "presence")
        .flat_map(|p| p.get_child("x", ns::MUC_USER))
        .filter(|x| x.children().any(|c| c.attr("code") == Some("110")))
        .flat_map(|x| {
            x.children()
                .filter_map(|c| c.attr("code"))
                .map(str::to_owned)
        })
        .collect()
}

/// S22: the refusal says whose the nick is.
#[test]
fn a_nick_held_by_a_subscriber_is_reserved() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    t.subscribe("bob@localhost/b", "nick='bob'");
    let text = |out: &[Action]| {
        sent(out)[0]
            .get_child("error", ns::CLIENT)
            .and_then(|e| e.get_child("text", ns::STANZAS_ERR))
            .map(|t| t.text())
    };
    let out = t.join("carol@localhost/c", "bob");
    assert_eq!(error_condition(&out).as_deref(), Some("cancel/conflict"));
    assert_eq!(
        text(&out).as_deref(),
        Some("That nickname is reserved by a subscriber")
    );
    let out = t.join("carol@localhost/c", "alice");
    assert_eq!(
        text(&out).as_deref(),
        Some("That nickname is already in use by another occupant")
    );
    // Bob himself joins with it.
    assert_eq!(error_condition(&t.join("bob@localhost/b", "bob")), None);
}

/// S21: the reserved nick is the subscription nick.
#[test]
fn reserved_nick_discovery_names_the_subscription_nick() {
    let mut t = T::new();
    t.subscribe("bob@localhost/b", "nick='Bob B'");
    let ask = |t: &mut T, from: &str, node: &str| {
        let out = t.send(from, &format!("<iq xmlns='jabber:client' type='get' id='d' to='{ROOM}'><query xmlns='{}' node='{node}'/></iq>", ns::DISCO_INFO));
        sent(&out)[0].clone()
    };
    let r = ask(&mut t, "bob@localhost/other", "x-roomuser-item");
    let q = r.get_child("query", ns::DISCO_INFO).unwrap();
    assert_eq!(q.attr("node"), Some("x-roomuser-item"));
    let ids: Vec<_> = q.children().collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        (
            ids[0].name(),
            ids[0].attr("category"),
            ids[0].attr("type"),
            ids[0].attr("name")
        ),
        ("identity", Some("conference"), Some("text"), Some("Bob B"))
    );
    let r = ask(&mut t, "carol@localhost/c", "x-roomuser-item");
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(
        r.get_child("query", ns::DISCO_INFO)
            .unwrap()
            .children()
            .count(),
        0
    );
    let r = ask(&mut t, "carol@localhost/c", "urn:nope");
    assert_eq!(
        error_condition(&[Action::Send(r)]).as_deref(),
        Some("cancel/item-not-found")
    );
}

/// XEP-0410: the room answers self-pings itself, and tells a client it is not in the room.
#[test]
fn self_ping_tells_occupants_from_strangers() {
    let mut t = T::new();
    t.join("alice@localhost/a1", "alice");
    t.join("bob@localhost/b", "bob");
    let ping = |t: &mut T, from: &str, nick: &str| {
        t.send(from, &format!("<iq xmlns='jabber:client' type='get' id='p' to='{ROOM}/{nick}'><ping xmlns='urn:xmpp:ping'/></iq>"))
    };
    let out = ping(&mut t, "alice@localhost/a1", "alice");
    assert_eq!(sent(&out)[0].attr("type"), Some("result"));
    // alice's other client is not in the room under that nick.
    let out = ping(&mut t, "alice@localhost/a2", "alice");
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("cancel/not-acceptable")
    );
    let out = ping(&mut t, "carol@localhost/c", "nobody");
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("cancel/not-acceptable")
    );
    // In the room, but the nick is no longer hers.
    let out = ping(&mut t, "alice@localhost/a1", "alice-old");
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("cancel/item-not-found")
    );
    // Pings to other occupants are not relayed.
    let out = ping(&mut t, "alice@localhost/a1", "bob");
    assert_eq!(
        error_condition(&out).as_deref(),
        Some("cancel/service-unavailable")
    );
    let info = t.room.disco_info();
    assert!(info
        .children()
        .any(|f| f.attr("var") == Some(ns::MUC_SELF_PING)));
}
