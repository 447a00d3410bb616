//! The command surface: every [`Command`] answered exactly once with its request id, local
//! refusals before anything is written, and the commands the core answers itself.

use super::tests::{applies, bound, cfg, feed, snapshot, written, ROOM};
use super::*;
use crate::protocol::Node;

/// One of each command; the room ones on `room`.
fn every_command(room: &str) -> Vec<Command> {
    vec![
        Command::Subscribe {
            room: room.into(),
            nick: "bob".into(),
            nodes: vec![Node::Messages],
            password: Some("pw".into()),
        },
        Command::Unsubscribe { room: room.into() },
        Command::ListSubscriptions,
        Command::ListSubscribers { room: room.into() },
        Command::send(room, "hello", "m1"),
        Command::SetSubject {
            room: room.into(),
            subject: "topic".into(),
            id: "s1".into(),
        },
        Command::History {
            room: room.into(),
            before: None,
            max: 10,
        },
        Command::Resync,
        Command::Reply {
            room: room.into(),
            body: "sure".into(),
            id: "m2".into(),
            reply_to: crate::event::ReplyTo {
                id: "s1".into(),
                to: None,
            },
        },
        Command::Edit {
            room: room.into(),
            id: "e1".into(),
            target: "m1".into(),
            body: "fixed".into(),
        },
        Command::Retract {
            room: room.into(),
            id: "r1".into(),
            target: "m1".into(),
        },
        Command::React {
            room: room.into(),
            id: "x1".into(),
            stanza_id: "s1".into(),
            emojis: vec!["👍".into()],
        },
        Command::Moderate {
            room: room.into(),
            stanza_id: "s1".into(),
            reason: None,
        },
    ]
}

/// The results among `out`, by request id.
pub(super) fn results(out: &[Action]) -> Vec<(RequestId, &Result<CommandResult, CommandError>)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Event(AppEvent::Result { request, result }) => Some((*request, result)),
            _ => None,
        })
        .collect()
}

#[test]
fn without_a_session_every_command_fails_at_once_with_not_connected() {
    let mut c = Client::new(cfg(), snapshot(None));
    for cmd in every_command(ROOM) {
        let (req, out) = c.command(cmd.clone(), Timestamp(0));
        assert!(written(&out).is_empty(), "{cmd:?} wrote {out:?}");
        match &results(&out)[..] {
            [(r, Err(e))] if *r == req => assert_eq!(e.condition, "not-connected", "{cmd:?}"),
            other => panic!("{cmd:?}: {other:?}"),
        }
    }
}

#[test]
fn a_command_naming_no_room_is_refused_before_anything_is_written() {
    let mut c = bound(snapshot(None));
    for bad in ["conference.localhost", "not a jid@@", ""] {
        for cmd in every_command(bad) {
            if matches!(cmd, Command::ListSubscriptions | Command::Resync) {
                continue;
            }
            let (req, out) = c.command(cmd.clone(), Timestamp(1_000));
            assert!(written(&out).is_empty(), "{cmd:?} wrote {out:?}");
            match &results(&out)[..] {
                [(r, Err(e))] if *r == req => {
                    assert_eq!(e.condition, "bad-request", "{cmd:?}");
                    assert!(e.text.as_deref().unwrap_or("").contains("not a room JID"));
                }
                other => panic!("{cmd:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn request_ids_are_distinct_and_each_iq_command_is_answered_once() {
    let mut c = bound(snapshot(None));
    let mut ids = Vec::new();
    let mut answered = Vec::new();
    for cmd in every_command("other@conference.localhost") {
        let (req, out) = c.command(cmd, Timestamp(1_000));
        assert!(!ids.contains(&req));
        ids.push(req);
        answered.extend(results(&out).into_iter().map(|(r, _)| r));
    }
    // Send and SetSubject are answered once written, Resync once started; the IQ commands
    // when the server answers: here the connection goes, and each gets `disconnected`.
    let out = c.handle(Input::Disconnected(None), Timestamp(2_000));
    for (r, res) in results(&out) {
        assert!(
            matches!(res, Err(e) if e.condition == "disconnected"),
            "{res:?}"
        );
        answered.push(r);
    }
    answered.sort();
    assert_eq!(answered, ids, "every command answered exactly once");
}

#[test]
fn set_subject_is_a_groupchat_subject_message_answered_once_written() {
    let mut c = bound(snapshot(None));
    let cmd = Command::SetSubject {
        room: ROOM.into(),
        subject: "new & <topic>".into(),
        id: "subj-1".into(),
    };
    let (req, out) = c.command(cmd, Timestamp(1_000));
    assert_eq!(
        written(&out),
        [format!("<message xmlns='jabber:client' id='subj-1' to='{ROOM}' type='groupchat'><subject>new &amp; &lt;topic&gt;</subject></message>")]
    );
    assert_eq!(
        results(&out),
        [(
            req,
            &Ok(CommandResult::Sent {
                id: "subj-1".into()
            })
        )]
    );
}

#[test]
fn send_carries_the_callers_id_as_message_id_and_origin_id() {
    let mut c = bound(snapshot(None));
    let (req, out) = c.command(Command::send(ROOM, "hi", "m-7"), Timestamp(1_000));
    let w = written(&out);
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("id='m-7'") && w[0].contains("<body>hi</body>"),
        "{w:?}"
    );
    assert!(
        w[0].contains("<origin-id xmlns='urn:xmpp:sid:0' id='m-7'/>"),
        "{w:?}"
    );
    assert_eq!(
        results(&out),
        [(req, &Ok(CommandResult::Sent { id: "m-7".into() }))]
    );
}

#[test]
fn history_stores_the_page_it_receives_and_reports_it() {
    let mut c = bound(snapshot(None));
    let cmd = Command::History {
        room: ROOM.into(),
        before: Some("s9".into()),
        max: 100_000,
    };
    let (req, out) = c.command(cmd, Timestamp(1_000));
    let q = written(&out).pop().expect("a MAM query").to_owned();
    assert!(
        q.contains("<before>s9</before>") && q.contains("<max>500</max>"),
        "{q}"
    );
    let grab = |key: &str| {
        let i = q.find(key).unwrap() + key.len();
        q[i..].split('\'').next().unwrap().to_owned()
    };
    let (qid, iqid) = (grab("queryid='"), grab(" id='"));
    feed(&mut c, &format!("<message xmlns='jabber:client' from='{ROOM}' to='bob@localhost/r'><result xmlns='urn:xmpp:mam:2' queryid='{qid}' id='s8'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:08Z'/><message xmlns='jabber:client' from='{ROOM}/a' type='groupchat' id='x8'><body>b8</body></message></forwarded></result></message>"));
    let out = feed(&mut c, &format!("<iq xmlns='jabber:client' type='result' id='{iqid}' from='{ROOM}'><fin xmlns='urn:xmpp:mam:2' complete='true'/></iq>"));
    let pages = applies(&out);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].1[0].stanza_id.as_deref(), Some("s8"));
    assert_eq!(
        results(&out),
        [(
            req,
            &Ok(CommandResult::History {
                room: ROOM.into(),
                count: 1,
                complete: true
            })
        )]
    );
}
