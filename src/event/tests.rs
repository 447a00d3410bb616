use jid::BareJid;
use minidom::Element;

use super::parse::blank;
use super::*;
use crate::protocol::{MucSubEvent, Node};
use crate::test_support::{parse_line, transcript_lines};

fn wrapped_events() -> Vec<(MucSubEvent, RoomEvent)> {
    transcript_lines()
        .iter()
        .filter(|l| l.contains("pubsub#event"))
        .map(|l| {
            let outer = parse_line(l);
            let ev = MucSubEvent::try_from(&outer).unwrap();
            let re = RoomEvent::from_wrapper(&ev, &outer, Timestamp(7))
                .unwrap_or_else(|e| panic!("{e}: {l}"));
            (ev, re)
        })
        .collect()
}

#[test]
fn an_archive_copy_rewrites_an_offline_copy_only_when_it_adds_something() {
    let mut offline = crate::store_tests::message("r@c", Some("s1"), "alice", "m1", 5_000);
    offline.source = Source::Offline;
    let archived = crate::store_tests::message("r@c", Some("s1"), "alice", "m1", 5_000);
    // Same id, same archive time: nothing to write again.
    assert!(!offline.clone().absorb(&archived));
    // The offline stamp differed from the archive's: the archive's time wins.
    let mut early = offline.clone();
    early.timestamp = Timestamp(4_000);
    assert!(early.absorb(&archived));
    assert_eq!(early.timestamp, Timestamp(5_000));
    // A live copy without an archive id gains it.
    let mut live = crate::store_tests::message("r@c", None, "alice", "m1", 5_000);
    assert!(live.absorb(&archived));
    assert_eq!(live.stanza_id.as_deref(), Some("s1"));
}

#[test]
fn every_reference_wrapper_becomes_the_event_of_its_node() {
    let all = wrapped_events();
    assert!(all.len() >= 25);
    for (ev, re) in &all {
        assert_eq!(re.room, ev.room.to_string());
        assert_eq!(re.source, Source::Live);
        assert_eq!(re.item_id, ev.item_id);
        let ok = matches!(
            (ev.node, &re.kind),
            (Node::Messages, EventKind::Message { .. })
                | (Node::Subject, EventKind::Subject { .. })
                | (Node::Presence, EventKind::Presence { .. })
                | (Node::Affiliations, EventKind::Affiliation { .. })
                | (Node::Config, EventKind::Config { .. })
                | (Node::Subscribers, EventKind::Subscribers { .. })
        );
        assert!(ok, "{:?} became {:?}", ev.node, re.kind);
    }
}

#[test]
fn reference_wrappers_carry_the_right_details() {
    let all = wrapped_events();
    let find = |pred: &dyn Fn(&RoomEvent) -> bool| {
        all.iter()
            .map(|(_, r)| r)
            .find(|r| pred(r))
            .cloned()
            .expect("event present")
    };
    let hello =
        find(&|r| matches!(&r.kind, EventKind::Message { body } if body == "Hello subscribers"));
    // The room's stanza-id, not ejabberd's per-subscriber archive id on the wrapper.
    assert_eq!(hello.stanza_id.as_deref(), Some("1795460995021531"));
    assert_eq!(hello.nick.as_deref(), Some("alice"));
    assert_eq!(hello.message_id.as_deref(), Some("m1"));
    assert_eq!(hello.timestamp, Timestamp(7));
    let subj = find(&|r| matches!(&r.kind, EventKind::Subject { .. }));
    assert_eq!(
        subj.kind,
        EventKind::Subject {
            subject: "Witchcraft".into()
        }
    );
    let kick =
        find(&|r| matches!(&r.kind, EventKind::Affiliation { codes, .. } if codes == &[307]));
    assert_eq!(
        kick.kind,
        EventKind::Affiliation {
            affiliation: Some("member".into()),
            role: Some("none".into()),
            codes: vec![307],
            reason: Some("bye".into()),
            actor: Some("alice".into()),
        }
    );
    assert_eq!(kick.nick.as_deref(), Some("dave"));
    let destroyed = find(&|r| {
        matches!(
            &r.kind,
            EventKind::Config {
                destroyed: true,
                ..
            }
        )
    });
    assert_eq!(
        destroyed.kind,
        EventKind::Config {
            codes: vec![],
            destroyed: true,
            reason: Some("done".into())
        }
    );
    let cfg = find(&|r| {
        matches!(
            &r.kind,
            EventKind::Config {
                destroyed: false,
                ..
            }
        )
    });
    assert_eq!(
        cfg.kind,
        EventKind::Config {
            codes: vec![104],
            destroyed: false,
            reason: None
        }
    );
    let unsub = find(&|r| matches!(r.kind, EventKind::Subscribers { subscribed: false }));
    assert!(unsub.nick.is_some());
    let sub_with_jid = find(&|r| {
        matches!(r.kind, EventKind::Subscribers { subscribed: true }) && r.real_jid.is_some()
    });
    assert_eq!(sub_with_jid.real_jid.as_deref(), Some("carol@localhost"));
}

#[test]
fn reference_mam_results_and_joined_stanzas_parse() {
    let room = BareJid::new("coven2@conference.localhost").unwrap();
    let mut archived = Vec::new();
    let mut joined = Vec::new();
    for l in transcript_lines() {
        let e = parse_line(&l);
        if let Some(a) = crate::protocol::mam::archived_stanza(&e) {
            archived.push(RoomEvent::from_archive(&room, &a, Timestamp(0)).unwrap());
        } else if l.starts_with("<message") && l.contains("type=\"groupchat\"") {
            if let Ok(j) = RoomEvent::from_joined(&e, Timestamp(0)) {
                joined.push(j);
            }
        }
    }
    assert_eq!(archived.len(), 4);
    assert!(archived.iter().all(|a| a.source == Source::Archive));
    assert_eq!(archived[1].real_jid.as_deref(), Some("bob@localhost/b1"));
    assert_eq!(archived[1].nick.as_deref(), Some("bobby"));
    assert_eq!(
        archived[0].timestamp,
        Timestamp::parse("2026-11-23T19:09:55.021531Z").unwrap()
    );
    let joined_now = joined
        .iter()
        .find(|j| matches!(&j.kind, EventKind::Message { body } if body == "Joined now"))
        .unwrap();
    let archived_now = archived
        .iter()
        .find(|j| matches!(&j.kind, EventKind::Message { body } if body == "Joined now"))
        .unwrap();
    assert!(joined_now.same_as(archived_now));
    assert_eq!(joined_now.source, Source::Joined);
}

#[test]
fn dedup_rules() {
    let room = BareJid::new("r@m").unwrap();
    let mut a = blank(&room, EventKind::Message { body: "x".into() });
    a.nick = Some("n".into());
    a.message_id = Some("m1".into());
    let mut b = a.clone();
    assert!(a.same_as(&b));
    b.stanza_id = Some("1".into());
    assert!(a.same_as(&b), "a live copy without stanza-id matches");
    a.stanza_id = Some("2".into());
    assert!(!a.same_as(&b), "different stanza-ids never match");
    let mut c = b.clone();
    c.room = "other@m".into();
    assert!(!b.same_as(&c));
}

#[test]
fn hostile_inner_stanzas_are_errors_not_panics() {
    let room = BareJid::new("r@m").unwrap();
    for inner in [
        "<iq xmlns='jabber:client' type='get'/>",
        "<message xmlns='jabber:client'/>",
        "<subscribe xmlns='urn:xmpp:mucsub:0' jid='@@'/>",
    ] {
        let inner: Element = inner.parse().unwrap();
        let ev = MucSubEvent {
            room: room.clone(),
            to: None,
            id: None,
            node: Node::Messages,
            item_id: None,
            inner,
        };
        let outer = Element::from(ev.clone());
        assert!(RoomEvent::from_wrapper(&ev, &outer, Timestamp(0)).is_err());
    }
}
