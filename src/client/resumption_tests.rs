//! What the core had in flight when its connection was lost, over the stream's resumption
//! (XEP-0198, `held`): answered on the resumed stream, once each and with nothing asked
//! twice; failed `disconnected` as without stream management when the resumption is
//! refused, the app closes, or the wait outlasts the IQ timeout. Driven through the RFC 6120
//! path with `<resume/>` (ejabberd 23.01); the SASL2 path ends in the same session output.

use super::tests::{cfg, connect_and_bind, room_features, snapshot, written, ROOM};
use super::*;
use crate::resync::ResyncWarning;
use crate::session::framing::parse_ws_message;
use crate::session::Wake;

const SM: &str = "<sm xmlns='urn:xmpp:sm:3'/>";
const NEW_ROOM: &str = "new@conference.localhost";

fn feed_at(c: &mut Client, xml: &str, now: i64) -> Vec<Action> {
    c.handle(Input::Frame(parse_ws_message(xml).unwrap()), Timestamp(now))
}

/// The value of `attr` in the first write of `out` that contains `needle`.
fn attr_of(out: &[Action], needle: &str, attr: &str) -> String {
    let w = written(out)
        .into_iter()
        .find(|w| w.contains(needle))
        .unwrap_or_else(|| panic!("no write with {needle}: {out:?}"))
        .to_owned();
    let key = format!(" {attr}='");
    let i = w.find(&key).unwrap() + key.len();
    w[i..].split('\'').next().unwrap().to_owned()
}

fn results(out: &[Action]) -> Vec<(RequestId, &Result<CommandResult, CommandError>)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Event(AppEvent::Result { request, result }) => Some((*request, result)),
            _ => None,
        })
        .collect()
}

/// `out` answers exactly one command, `req`, and with `disconnected`.
fn only_failed_disconnected(out: &[Action], req: RequestId) {
    let r = results(out);
    assert_eq!(r.len(), 1, "{out:?}");
    assert_eq!(r[0].0, req);
    assert!(
        matches!(r[0].1, Err(e) if e.condition == "disconnected"),
        "{r:?}"
    );
}

fn unknown_queries(out: &[Action]) -> usize {
    out.iter()
        .filter(|a| {
            matches!(
                a,
                Action::Event(AppEvent::Warning(ClientWarning::Resync(
                    ResyncWarning::UnknownQuery(_)
                )))
            )
        })
        .count()
}

fn position(out: &[Action], pred: impl Fn(&Action) -> bool) -> usize {
    out.iter()
        .position(pred)
        .unwrap_or_else(|| panic!("{out:?}"))
}

/// A managed client, bound with a resumable stream, subscribed to ROOM (no cursor), its
/// connect-time reconciliation done and the room's first MAM page in flight: returns the
/// client, that query's queryid and IQ id.
fn managed() -> (Client, String, String) {
    let mut c = Client::new(cfg(), snapshot(None));
    c.set_wake(Wake {
        manage: true,
        ..Wake::default()
    });
    let out = connect_and_bind(&mut c, SM);
    assert!(written(&out)[0].starts_with("<enable "), "{out:?}");
    feed_at(
        &mut c,
        "<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='true'/>",
        1_000,
    );
    feed_at(&mut c, "<iq xmlns='jabber:client' type='result' id='c1-1' from='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", 1_000);
    let out = feed_at(&mut c, &format!("<iq xmlns='jabber:client' type='result' id='c1-2' from='conference.localhost'><subscriptions xmlns='urn:xmpp:mucsub:0'><subscription jid='{ROOM}' nick='bob'><event node='urn:xmpp:mucsub:nodes:messages'/></subscription></subscriptions></iq>"), 1_000);
    let out = room_features(&mut c, &out, ROOM, true);
    let qid = attr_of(&out, "urn:xmpp:mam:2", "queryid");
    let iqid = attr_of(&out, "urn:xmpp:mam:2", "id");
    assert!(c.wake().stream.as_ref().unwrap().resumable());
    (c, qid, iqid)
}

/// What the server handled of ours so far (the `h` it would resume with).
fn handled(c: &Client) -> u32 {
    c.wake().stream.as_ref().unwrap().sent
}

/// The socket dies at `now`; the next connection signs in and asks to resume. Returns what
/// the loss did.
fn lose_and_ask_to_resume(c: &mut Client, now: i64) -> Vec<Action> {
    let lost = c.handle(Input::Disconnected(Some("reset".into())), Timestamp(now));
    assert!(lost.iter().any(|a| matches!(a, Action::ReconnectIn(_))));
    c.handle(Input::Connected, Timestamp(now + 500));
    feed_at(
        c,
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
        now + 500,
    );
    feed_at(c, "<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></features>", now + 500);
    feed_at(
        c,
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        now + 500,
    );
    feed_at(
        c,
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
        now + 500,
    );
    let out = feed_at(c, &format!("<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>{SM}</features>"), now + 500);
    assert!(
        written(&out)[0].starts_with("<resume ") && written(&out)[0].contains("previd='sm-1'"),
        "{out:?}"
    );
    lost
}

fn resumed(c: &mut Client, h: u32, now: i64) -> Vec<Action> {
    let out = feed_at(
        c,
        &format!("<resumed xmlns='urn:xmpp:sm:3' previd='sm-1' h='{h}'/>"),
        now,
    );
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(AppEvent::Resumed { .. }))));
    out
}

fn subscribe_result(id: &str) -> String {
    format!("<iq xmlns='jabber:client' type='result' id='{id}' from='{NEW_ROOM}'><subscribe xmlns='urn:xmpp:mucsub:0' nick='bob'><event node='urn:xmpp:mucsub:nodes:messages'/></subscribe></iq>")
}

#[test]
fn a_command_pending_over_a_resumed_stream_gets_the_servers_answer_once() {
    let (mut c, _, _) = managed();
    let h = handled(&c);
    let (req, out) = c.command(Command::subscribe(NEW_ROOM, "bob"), Timestamp(1_000));
    let id = attr_of(&out, "<subscribe", "id");
    let lost = lose_and_ask_to_resume(&mut c, 2_000);
    assert!(
        results(&lost).is_empty(),
        "answered before the resumption: {lost:?}"
    );
    let out = resumed(&mut c, h, 2_600);
    let again = written(&out);
    assert_eq!(
        again.iter().filter(|w| w.contains("<subscribe")).count(),
        1,
        "the unhandled subscribe is written again once: {again:?}"
    );
    assert!(
        !again
            .iter()
            .any(|w| w.contains("disco#info") || w.contains("<subscriptions")),
        "nothing of the connect-time steps is asked again: {again:?}"
    );
    assert!(results(&out).is_empty(), "{out:?}");
    let out = feed_at(&mut c, &subscribe_result(&id), 2_700);
    let r = results(&out);
    assert_eq!(r.len(), 1, "{out:?}");
    assert_eq!(r[0].0, req);
    assert!(
        matches!(r[0].1, Ok(CommandResult::Subscribed { room, .. }) if room == NEW_ROOM),
        "{r:?}"
    );
    assert!(c.subscriptions().iter().any(|s| s.room == NEW_ROOM));
    // The same answer again (a server resending what we acknowledged late) is ignored.
    let out = feed_at(&mut c, &subscribe_result(&id), 2_800);
    assert!(results(&out).is_empty(), "{out:?}");
}

#[test]
fn an_attempt_that_dies_before_the_resumption_answers_keeps_the_wait() {
    let (mut c, _, _) = managed();
    let h = handled(&c);
    let (req, out) = c.command(Command::subscribe(NEW_ROOM, "bob"), Timestamp(1_000));
    let id = attr_of(&out, "<subscribe", "id");
    let lost = c.handle(Input::Disconnected(Some("reset".into())), Timestamp(2_000));
    assert!(results(&lost).is_empty(), "{lost:?}");
    // The next socket opens and dies before the sign-in; the one after resumes.
    c.handle(Input::Connected, Timestamp(2_500));
    feed_at(
        &mut c,
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
        2_500,
    );
    lose_and_ask_to_resume(&mut c, 3_000);
    resumed(&mut c, h, 3_600);
    let out = feed_at(&mut c, &subscribe_result(&id), 3_700);
    assert!(
        matches!(&results(&out)[..], [(r, Ok(CommandResult::Subscribed { .. }))] if *r == req),
        "{out:?}"
    );
}

#[test]
fn a_command_sent_before_a_long_sleep_waits_for_the_resumption_not_its_old_deadline() {
    let (mut c, _, _) = managed();
    let h = handled(&c);
    let (req, out) = c.command(Command::subscribe(NEW_ROOM, "bob"), Timestamp(1_000));
    let id = attr_of(&out, "<subscribe", "id");
    // The device slept ten minutes: the dead socket is only noticed on waking, long after
    // the IQ's deadline; the resumption follows at once.
    let wake = 601_000;
    let lost = lose_and_ask_to_resume(&mut c, wake);
    assert!(results(&lost).is_empty(), "{lost:?}");
    let out = resumed(&mut c, h, wake + 600);
    assert!(
        results(&out).is_empty(),
        "not timed out on resumption: {out:?}"
    );
    // It waits as long as a request just sent.
    let out = c.handle(Input::Tick, Timestamp(wake + 600 + c.cfg.iq_timeout_ms - 1));
    assert!(results(&out).is_empty(), "{out:?}");
    let out = feed_at(&mut c, &subscribe_result(&id), wake + 700);
    assert!(
        matches!(&results(&out)[..], [(r, Ok(CommandResult::Subscribed { .. }))] if *r == req),
        "{out:?}"
    );
}

#[test]
fn a_command_pending_over_a_refused_resumption_fails_disconnected_before_the_new_session() {
    let (mut c, _, _) = managed();
    let (req, out) = c.command(Command::subscribe(NEW_ROOM, "bob"), Timestamp(1_000));
    let id = attr_of(&out, "<subscribe", "id");
    let lost = lose_and_ask_to_resume(&mut c, 2_000);
    assert!(results(&lost).is_empty(), "{lost:?}");
    // The server forgot the stream: a bind on this stream.
    let out = feed_at(&mut c, "<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>", 2_600);
    assert!(results(&out).is_empty(), "{out:?}");
    assert!(written(&out)[0].contains("<bind"), "{out:?}");
    let out = feed_at(&mut c, "<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>bob@localhost/r</jid></bind></iq>", 2_600);
    only_failed_disconnected(&out, req);
    let failed = position(&out, |a| {
        matches!(a, Action::Event(AppEvent::Result { .. }))
    });
    let connected = position(&out, |a| {
        matches!(a, Action::Event(AppEvent::Connected { .. }))
    });
    assert!(failed < connected, "{out:?}");
    // The new session reconciles from scratch, on its own ids.
    assert!(written(&out)
        .iter()
        .any(|w| w.contains("disco#info") && w.contains("id='c2-1'")));
    // A late answer to the failed command changes nothing.
    let out = feed_at(&mut c, &subscribe_result(&id), 2_700);
    assert!(results(&out).is_empty(), "{out:?}");
}

#[test]
fn a_resync_page_in_flight_over_a_resumed_stream_is_stored_once_without_warnings() {
    let (mut c, qid, iqid) = managed();
    // The server handled nothing of the query before the socket died: it is resent.
    let h = handled(&c) - 1;
    lose_and_ask_to_resume(&mut c, 2_000);
    let out = resumed(&mut c, h, 2_600);
    let mam: Vec<&str> = written(&out)
        .into_iter()
        .filter(|w| w.contains("urn:xmpp:mam:2"))
        .collect();
    assert_eq!(mam.len(), 1, "{mam:?}");
    assert!(mam[0].contains(&format!("queryid='{qid}'")), "{mam:?}");
    let mut all = Vec::new();
    for i in 1..=2 {
        all.extend(feed_at(&mut c, &format!("<message xmlns='jabber:client' from='{ROOM}' to='bob@localhost/r'><result xmlns='urn:xmpp:mam:2' queryid='{qid}' id='a{i}'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:0{i}Z'/><message xmlns='jabber:client' from='{ROOM}/alice' type='groupchat' id='m{i}'><body>b{i}</body></message></forwarded></result></message>"), 2_700));
    }
    all.extend(feed_at(&mut c, &format!("<iq xmlns='jabber:client' type='result' id='{iqid}' from='{ROOM}'><fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><first>a1</first><last>a2</last></set></fin></iq>"), 2_700));
    assert_eq!(unknown_queries(&all), 0, "{all:?}");
    let pages: Vec<&crate::store::Page> = all
        .iter()
        .filter_map(|a| match a {
            Action::Store(StoreOp::Apply(p)) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(pages.len(), 1, "{all:?}");
    assert_eq!(pages[0].events.len(), 2);
    // The run goes on after that page (the engine reads on from the newest page), and
    // asks nothing of it again.
    let next: Vec<&str> = written(&all)
        .into_iter()
        .filter(|w| w.contains("urn:xmpp:mam:2"))
        .collect();
    assert_eq!(next.len(), 1, "{next:?}");
    assert!(
        !next[0].contains(&format!("queryid='{qid}'")) && next[0].contains("<after>a2</after>"),
        "{next:?}"
    );
    let next_id = attr_of(&all, "urn:xmpp:mam:2", "id");
    let out = feed_at(&mut c, &format!("<iq xmlns='jabber:client' type='result' id='{next_id}' from='{ROOM}'><fin xmlns='urn:xmpp:mam:2' complete='true'/></iq>"), 2_800);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(AppEvent::Synced))));
    assert!(c.is_synced());
}

#[test]
fn closing_while_the_resumption_is_awaited_answers_every_command() {
    let (mut c, _, _) = managed();
    let (req, _) = c.command(Command::subscribe(NEW_ROOM, "bob"), Timestamp(1_000));
    let lost = c.handle(Input::Disconnected(Some("reset".into())), Timestamp(2_000));
    assert!(results(&lost).is_empty(), "{lost:?}");
    let out = c.disconnect(Timestamp(2_100));
    only_failed_disconnected(&out, req);
}

#[test]
fn a_resumption_out_of_reach_for_the_iq_timeout_fails_what_was_held() {
    let (mut c, _, _) = managed();
    let (req, _) = c.command(Command::subscribe(NEW_ROOM, "bob"), Timestamp(1_000));
    let lost = c.handle(Input::Disconnected(Some("reset".into())), Timestamp(2_000));
    let until = 2_000 + c.cfg.iq_timeout_ms;
    assert!(
        lost.iter()
            .any(|a| matches!(a, Action::TimerAt(t) if *t == until)),
        "the driver is woken when the wait ends: {lost:?}"
    );
    // The next attempt is refused its sign-in; the one after never reaches the server.
    c.handle(Input::Connected, Timestamp(2_500));
    feed_at(
        &mut c,
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
        2_500,
    );
    feed_at(&mut c, "<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></features>", 2_500);
    let out = feed_at(
        &mut c,
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>",
        2_600,
    );
    assert!(results(&out).is_empty(), "{out:?}");
    let out = c.handle(
        Input::Disconnected(Some("refused".into())),
        Timestamp(3_000),
    );
    assert!(results(&out).is_empty(), "{out:?}");
    assert!(results(&c.handle(Input::Tick, Timestamp(until - 1))).is_empty());
    let out = c.handle(Input::Tick, Timestamp(until));
    only_failed_disconnected(&out, req);
}

#[test]
fn without_a_resumable_stream_a_loss_fails_commands_at_once() {
    let (mut c, _, _) = managed();
    // The server ends the stream: it cannot be resumed.
    let (req, _) = c.command(Command::subscribe(NEW_ROOM, "bob"), Timestamp(1_000));
    let out = feed_at(
        &mut c,
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
        2_000,
    );
    only_failed_disconnected(&out, req);
}
