//! The commands of issue 22: corrections, retraction, reactions and replies are
//! groupchat messages answered once written; moderation is an IQ answered by the room.

use super::command_tests::results;
use super::tests::{bound, feed, snapshot, written, ROOM};
use super::*;
use crate::event::ReplyTo;

/// Run `cmd` on a bound client: what it wrote and its results.
fn run(cmd: Command) -> (RequestId, Vec<String>, Vec<Action>) {
    let mut c = bound(snapshot(None));
    let (req, out) = c.command(cmd, Timestamp(1_000));
    let w = written(&out).into_iter().map(str::to_owned).collect();
    (req, w, out)
}

fn assert_sent(cmd: Command, id: &str, parts: &[&str]) {
    let (req, w, out) = run(cmd);
    assert_eq!(w.len(), 1, "{w:?}");
    for part in parts {
        assert!(w[0].contains(part), "{part} not in {}", w[0]);
    }
    assert!(w[0].contains(&format!("<origin-id xmlns='urn:xmpp:sid:0' id='{id}'/>")));
    let sent = Ok(CommandResult::Sent { id: id.into() });
    assert_eq!(results(&out), [(req, &sent)]);
}

#[test]
fn edit_writes_a_correction_of_the_named_id() {
    let cmd = Command::Edit {
        room: ROOM.into(),
        id: "e1".into(),
        target: "m1".into(),
        body: "fixed".into(),
    };
    let replace = "<replace xmlns='urn:xmpp:message-correct:0' id='m1'/>";
    assert_sent(
        cmd,
        "e1",
        &["<body>fixed</body>", replace, "type='groupchat'"],
    );
}

#[test]
fn retract_writes_a_retraction_of_the_id_given() {
    let cmd = Command::Retract {
        room: ROOM.into(),
        id: "r1".into(),
        target: "m1".into(),
    };
    assert_sent(
        cmd,
        "r1",
        &["<retract xmlns='urn:xmpp:message-retract:1' id='m1'/>"],
    );
}

#[test]
fn react_writes_every_kept_reaction() {
    let cmd = Command::React {
        room: ROOM.into(),
        id: "x1".into(),
        stanza_id: "s1".into(),
        emojis: vec!["👍".into(), "🎉".into()],
    };
    let reactions = "<reactions xmlns='urn:xmpp:reactions:0' id='s1'><reaction>👍</reaction><reaction>🎉</reaction></reactions>";
    assert_sent(cmd, "x1", &[reactions]);
}

#[test]
fn reply_writes_the_body_and_its_target() {
    let cmd = Command::Reply {
        room: ROOM.into(),
        body: "sure".into(),
        id: "m2".into(),
        reply_to: ReplyTo {
            id: "s1".into(),
            to: Some(format!("{ROOM}/alice")),
        },
    };
    let reply = format!("<reply xmlns='urn:xmpp:reply:0' id='s1' to='{ROOM}/alice'/>");
    assert_sent(cmd, "m2", &["<body>sure</body>", &reply]);
}

fn moderate(c: &mut Client) -> (RequestId, String) {
    let cmd = Command::Moderate {
        room: ROOM.into(),
        stanza_id: "s1".into(),
        reason: Some("spam".into()),
    };
    let (req, out) = c.command(cmd, Timestamp(1_000));
    assert!(
        results(&out).is_empty(),
        "answered by the room, not at once"
    );
    let w = written(&out);
    assert_eq!(w.len(), 1);
    let iq = w[0].to_owned();
    assert!(
        iq.contains("type='set'") && iq.contains(&format!("to='{ROOM}'")),
        "{iq}"
    );
    assert!(iq.contains("<moderate xmlns='urn:xmpp:message-moderate:1' id='s1'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate>"), "{iq}");
    let i = iq.find(" id='").unwrap() + 5;
    (req, iq[i..].split('\'').next().unwrap().to_owned())
}

#[test]
fn moderate_is_answered_when_the_room_accepts() {
    let mut c = bound(snapshot(None));
    let (req, iqid) = moderate(&mut c);
    let out = feed(
        &mut c,
        &format!("<iq xmlns='jabber:client' type='result' id='{iqid}' from='{ROOM}'/>"),
    );
    let ok = Ok(CommandResult::Moderated {
        room: ROOM.into(),
        stanza_id: "s1".into(),
    });
    assert_eq!(results(&out), [(req, &ok)]);
}

#[test]
fn moderate_refused_by_the_room_is_its_error() {
    let mut c = bound(snapshot(None));
    let (req, iqid) = moderate(&mut c);
    let out = feed(&mut c, &format!("<iq xmlns='jabber:client' type='error' id='{iqid}' from='{ROOM}'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
    match &results(&out)[..] {
        [(r, Err(e))] if *r == req => assert_eq!(e.condition, "forbidden"),
        other => panic!("{other:?}"),
    }
}
