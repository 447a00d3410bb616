//! The authorization matrix: who (owner, admin, member, none, outcast, occupant,
//! subscriber, stranger) × action (subscribe, subscribe other, unsubscribe other, list
//! subscribers, MAM query, post, change subject, configure, change affiliations) × room
//! kind (open, members-only, password, moderated, semi-anonymous, non-anonymous).
//!
//! The expected outcomes are written out by hand from XEP-0045 and docs/protocol.md (S4, S7, S9,
//! S14, S17), not read off the implementation. Each (kind, who) pair gets a fresh room with
//! every actor set up in it, so one actor's actions never change another's standing.
//! Alongside, the real-JID privacy of semi-anonymous rooms is checked where it shows: the
//! subscriber list, occupant presence, the subscribers node and MAM results.
//!
//! Actors, as set up in every room:
//! - owner: created the room, joined as `owner`;
//! - admin, member: affiliated and joined;
//! - none: was a member, set back to `none`; not joined, not subscribed;
//! - outcast: banned; not joined, not subscribed;
//! - occupant: unaffiliated, joined (refused in members-only rooms);
//! - subscriber: unaffiliated, subscribed, not joined (refused in members-only rooms);
//! - stranger: no relation to the room at all.
//!
//! Those who got in know the password of a password-protected room and give it; none,
//! outcast and stranger do not know it.

#[path = "scenarios/support.rs"]
mod support;

use std::collections::HashMap;

use minidom::Element;
use mucsub_server::testkit::{RawClient, TestServer};
use support::*;

const WHO: [&str; 8] = [
    "owner",
    "admin",
    "member",
    "none",
    "outcast",
    "occupant",
    "subscriber",
    "stranger",
];

const ACTIONS: [&str; 9] = [
    "subscribe",
    "subscribe-other",
    "unsubscribe-other",
    "list-subscribers",
    "mam-query",
    "post",
    "change-subject",
    "configure",
    "change-affiliation",
];

/// Accounts acted upon; they never log in.
const TARGETS: [&str; 3] = ["target", "target2", "target3"];

const PASSWORD: &str = "s3cret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// As the server creates a room (moderated with members_by_default, semi-anonymous,
    /// participants may change the subject).
    Open,
    MembersOnly,
    Password,
    /// Unaffiliated users enter as visitors.
    Moderated,
    SemiAnonymous,
    NonAnonymous,
}

// Outcomes: R result / accepted, F auth/forbidden, A modify/not-acceptable,
// N auth/not-authorized, G auth/registration-required.
// Columns: subscribe, subscribe-other, unsubscribe-other, list-subscribers, mam-query,
// post, change-subject, configure, change-affiliation. Rows: WHO.
//
// Sources: subscribe and subscribe-other S4 (jid= needs moderator/owner/admin, banned →
// forbidden, members-only → registration-required, password → not-authorized, owners and
// admins exempt); unsubscribe-other S7; list S9 (moderators and subscribers only); MAM S17
// (members-only and password rooms: occupants, subscribers, affiliated users; outcasts
// never); post S14 and XEP-0045 §7.4/§7.9 (visitors forbidden, non-occupants
// not-acceptable); subject XEP-0045 §8.1 (moderators, or participants when the room lets
// them); configure XEP-0045 §10.2 (owners only); affiliations XEP-0045 §9.3 (admins and
// owners grant membership).
const OPEN: [&str; 8] = [
    "R R R R R R R R R", // owner
    "R R R R R R R F R", // admin
    "R F F F R R R F F", // member
    "R F F F R A A F F", // none
    "F F F F F A A F F", // outcast
    "R F F F R R R F F", // occupant
    "R F F R R R R F F", // subscriber
    "R F F F R A A F F", // stranger
];

const MEMBERS_ONLY: [&str; 8] = [
    "R R R R R R R R R", // owner
    "R R R R R R R F R", // admin
    "R F F F R R F F F", // member
    "G F F F F A A F F", // none
    "F F F F F A A F F", // outcast
    "G F F F F A A F F", // occupant (could not enter)
    "G F F F F A A F F", // subscriber (could not subscribe)
    "G F F F F A A F F", // stranger
];

const PASSWORD_PROTECTED: [&str; 8] = [
    "R R R R R R R R R", // owner
    "R R R R R R R F R", // admin
    "R F F F R R F F F", // member
    "N F F F F A A F F", // none
    "F F F F F A A F F", // outcast
    "R F F F R R F F F", // occupant
    "R F F R R R F F F", // subscriber
    "N F F F F A A F F", // stranger
];

const MODERATED: [&str; 8] = [
    "R R R R R R R R R", // owner
    "R R R R R R R F R", // admin
    "R F F F R R F F F", // member
    "R F F F R A A F F", // none
    "F F F F F A A F F", // outcast
    "R F F F R F F F F", // occupant (a visitor)
    "R F F R R F F F F", // subscriber (a visitor: S14)
    "R F F F R A A F F", // stranger
];

/// Semi- and non-anonymous rooms differ in who sees real JIDs, not in who may act.
const UNMODERATED: [&str; 8] = [
    "R R R R R R R R R", // owner
    "R R R R R R R F R", // admin
    "R F F F R R F F F", // member
    "R F F F R A A F F", // none
    "F F F F F A A F F", // outcast
    "R F F F R R F F F", // occupant
    "R F F R R R F F F", // subscriber
    "R F F F R A A F F", // stranger
];

fn table(kind: Kind) -> &'static [&'static str; 8] {
    match kind {
        Kind::Open => &OPEN,
        Kind::MembersOnly => &MEMBERS_ONLY,
        Kind::Password => &PASSWORD_PROTECTED,
        Kind::Moderated => &MODERATED,
        Kind::SemiAnonymous | Kind::NonAnonymous => &UNMODERATED,
    }
}

fn expected(kind: Kind, who: usize, action: usize) -> String {
    let row: Vec<&str> = table(kind)[who].split_whitespace().collect();
    assert_eq!(row.len(), ACTIONS.len(), "table row {kind:?}/{}", WHO[who]);
    row[action].to_owned()
}

/// The configuration fields that make a room of `kind` (on top of the creation defaults).
fn config_fields(kind: Kind) -> Vec<(&'static str, &'static str)> {
    let mut f = vec![("muc#roomconfig_roomname", "matrix")];
    if kind == Kind::Open {
        return f;
    }
    f.push(("muc#roomconfig_moderatedroom", "0"));
    f.push(("muc#roomconfig_changesubject", "0"));
    match kind {
        Kind::Open => {}
        Kind::MembersOnly => f.push(("muc#roomconfig_membersonly", "1")),
        Kind::Password => {
            f.push(("muc#roomconfig_passwordprotectedroom", "1"));
            f.push(("muc#roomconfig_roomsecret", PASSWORD));
        }
        Kind::Moderated => {
            f.push(("muc#roomconfig_moderatedroom", "1"));
            f.push(("members_by_default", "0"));
        }
        Kind::SemiAnonymous => f.push(("muc#roomconfig_whois", "moderators")),
        Kind::NonAnonymous => f.push(("muc#roomconfig_whois", "anyone")),
    }
    f
}

fn non_anonymous(kind: Kind) -> bool {
    kind == Kind::NonAnonymous
}

fn knows_password(who: &str) -> bool {
    !matches!(who, "none" | "outcast" | "stranger")
}

/// One letter for a reply: R for a result, else the error's letter (or the raw condition).
fn outcome(el: Option<&Element>) -> String {
    let Some(el) = el else {
        return "R".into();
    };
    if el.attr("type") != Some("error") {
        return "R".into();
    }
    match error_of(el) {
        Some((t, c)) => match (t.as_str(), c.as_str()) {
            ("auth", "forbidden") => "F".into(),
            ("modify", "not-acceptable") => "A".into(),
            ("auth", "not-authorized") => "N".into(),
            ("auth", "registration-required") => "G".into(),
            _ => format!("{t}/{c}"),
        },
        None => format!("malformed error: {}", String::from(el)),
    }
}

struct World {
    server: TestServer,
    clients: HashMap<&'static str, RawClient>,
}

impl World {
    async fn new() -> World {
        let mut users: Vec<&str> = WHO.to_vec();
        users.extend(TARGETS);
        let server = server(&users).await;
        let mut clients = HashMap::new();
        for who in WHO {
            clients.insert(who, login(&server, who, "m").await);
        }
        World { server, clients }
    }

    fn c(&mut self, who: &str) -> &mut RawClient {
        self.clients.get_mut(who).expect("client")
    }
}

/// Joins `r` as `nick` and reads up to this room's subject (or error), ignoring what the
/// other rooms this session is in keep sending.
async fn enter(c: &mut RawClient, r: &str, nick: &str, x_inner: &str) -> Vec<Element> {
    c.send(&format!(
        "<presence to='{r}/{nick}'><x xmlns='{MUC_NS}'>{x_inner}</x></presence>"
    ))
    .await;
    let mut got = Vec::new();
    loop {
        let el = c.recv().await;
        if el.attr("from").and_then(|f| f.split('/').next()) != Some(r) {
            continue;
        }
        let done = el.name() == "message" && el.get_child("subject", CLIENT).is_some();
        let failed = el.name() == "presence" && el.attr("type") == Some("error");
        got.push(el);
        if done || failed {
            return got;
        }
    }
}

/// Every actor takes its place in a fresh room of `kind`, and the privacy rules that show
/// during setup are checked.
async fn setup(w: &mut World, kind: Kind, r: &str) {
    let pw_x = if kind == Kind::Password {
        format!("<password>{PASSWORD}</password>")
    } else {
        String::new()
    };
    let pw_attr = if kind == Kind::Password {
        format!(" password='{PASSWORD}'")
    } else {
        String::new()
    };
    let o = w.c("owner");
    let got = enter(o, r, "owner", "").await;
    assert!(
        got.iter().all(|e| e.attr("type") != Some("error")),
        "{r}: creating the room failed: {got:?}"
    );
    assert_result(&configure(o, r, &config_fields(kind)).await);
    for (jid, aff) in [
        ("admin", "admin"),
        ("member", "member"),
        ("none", "member"),
        ("none", "none"),
        ("outcast", "outcast"),
    ] {
        assert_result(
            &admin_set(
                o,
                r,
                &format!("<item affiliation='{aff}' jid='{jid}@localhost'/>"),
            )
            .await,
        );
    }
    for who in ["admin", "member"] {
        let got = enter(w.c(who), r, who, &pw_x).await;
        assert!(
            got.last().is_some_and(|e| e.attr("type") != Some("error")),
            "{r}: {who} could not enter: {got:?}"
        );
    }

    // The occupant: unaffiliated, so members-only rooms turn it away.
    let got = enter(w.c("occupant"), r, "occupant", &pw_x).await;
    let last = got.last().expect("join reply");
    if kind == Kind::MembersOnly {
        assert_error(last, "auth", "registration-required");
    } else {
        assert!(
            last.attr("type") != Some("error"),
            "{r}: occupant could not enter: {}",
            String::from(last)
        );
        // XEP-0045 §7.2.3/§7.2.4: a non-moderator sees real JIDs only in non-anonymous
        // rooms; moderators always see them.
        let owner_p = got
            .iter()
            .find(|e| e.name() == "presence" && e.attr("from") == Some(&format!("{r}/owner")))
            .unwrap_or_else(|| panic!("{r}: no owner presence on entering: {got:?}"));
        assert_eq!(
            item(owner_p).and_then(|i| i.attr("jid")).is_some(),
            non_anonymous(kind),
            "{r}: owner's real JID in the occupant's view: {}",
            String::from(owner_p)
        );
        let from = format!("{r}/occupant");
        let seen = w
            .c("owner")
            .expect("occupant's presence", |e| {
                e.name() == "presence" && e.attr("from") == Some(from.as_str())
            })
            .await;
        assert!(
            item(&seen)
                .and_then(|i| i.attr("jid"))
                .is_some_and(|j| j.starts_with("occupant@localhost")),
            "{r}: the owner (a moderator) sees the occupant's real JID: {}",
            String::from(&seen)
        );
    }

    // The subscriber: unaffiliated, not joined.
    let reply = subscribe_raw(
        w.c("subscriber"),
        r,
        &format!("nick='subscriber'{pw_attr}"),
        ALL_NODES,
    )
    .await;
    if kind == Kind::MembersOnly {
        assert_error(&reply, "auth", "registration-required");
    } else {
        assert_result(&reply);
    }

    // A subscription made by the owner for `target` (docs/protocol.md S4 jid=), seen on the
    // subscribers node: the real JID only where the receiver may see it (S12).
    let reply = subscribe_raw(
        w.c("owner"),
        r,
        "jid='target@localhost' nick='target'",
        ALL_NODES,
    )
    .await;
    assert_result(&reply);
    if kind != Kind::MembersOnly {
        let ev = w
            .c("subscriber")
            .expect("subscribers-node event for target", |e| {
                e.attr("from") == Some(r)
                    && unwrap_event(e).is_some_and(|(n, _, inner)| {
                        n == "subscribers"
                            && inner.name() == "subscribe"
                            && inner.attr("nick") == Some("target")
                    })
            })
            .await;
        let (_, _, inner) = unwrap_event(&ev).expect("event");
        assert_eq!(
            inner.attr("jid").is_some(),
            non_anonymous(kind),
            "{r}: target's real JID on the subscribers node: {}",
            String::from(&ev)
        );
    }

    // Something in the archive for the MAM checks.
    let o = w.c("owner");
    post(o, r, "seed-message").await;
    o.expect("the seed echo", |e| {
        e.attr("from") == Some(&format!("{r}/owner"))
            && e.get_child("body", CLIENT)
                .is_some_and(|b| b.text() == "seed-message")
    })
    .await;
}

/// Sends a message stanza, then a disco#info IQ to the room as a barrier: the room
/// answers in order, so any error for the message arrives before the IQ result.
async fn message_outcome(c: &mut RawClient, r: &str, payload: &str) -> Option<Element> {
    let mid = c.next_id();
    c.send(&format!(
        "<message to='{r}' type='groupchat' id='{mid}'>{payload}</message>"
    ))
    .await;
    let bid = c.next_id();
    let (reply, before) = iq_collect(
        c,
        &format!("<iq type='get' id='{bid}' to='{r}'><query xmlns='{DISCO_INFO}'/></iq>"),
    )
    .await;
    assert_result(&reply);
    before.into_iter().find(|e| {
        e.name() == "message"
            && e.attr("id") == Some(mid.as_str())
            && e.attr("type") == Some("error")
    })
}

/// Runs a MAM query; returns the reply and the result messages.
async fn mam_query(c: &mut RawClient, r: &str, form: &str) -> (Element, Vec<Element>) {
    let id = c.next_id();
    let (reply, before) = iq_collect(
        c,
        &format!(
            "<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}' queryid='{id}'>{form}</query></iq>"
        ),
    )
    .await;
    let results = before
        .into_iter()
        .filter(|e| {
            e.get_child("result", MAM)
                .is_some_and(|res| res.attr("queryid") == Some(id.as_str()))
        })
        .collect();
    (reply, results)
}

async fn archive_has(w: &mut World, r: &str, token: &str) -> bool {
    let (reply, results) = mam_query(w.c("owner"), r, "").await;
    assert_result(&reply);
    results.iter().any(|m| String::from(m).contains(token))
}

async fn subscribed_jids(w: &mut World, r: &str) -> Vec<String> {
    let o = w.c("owner");
    let id = o.next_id();
    let reply = o
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    assert_result(&reply);
    reply
        .get_child("subscriptions", MUCSUB)
        .expect("list")
        .children()
        .filter_map(|s| s.attr("jid").map(str::to_owned))
        .collect()
}

/// Runs every action as `who` in room `r`; returns (action, got, expected) mismatches.
async fn act(w: &mut World, kind: Kind, wi: usize, r: &str) -> Vec<String> {
    let who = WHO[wi];
    let mut got: Vec<String> = Vec::new();
    let moderator = matches!(who, "owner" | "admin");
    let pw_attr = if kind == Kind::Password && knows_password(who) {
        format!(" password='{PASSWORD}'")
    } else {
        String::new()
    };
    let mut notes = Vec::new();

    // Read-only actions first, so that nothing this actor does changes its standing.
    let c = w.c(who);
    let id = c.next_id();
    let list = c
        .iq(&format!(
            "<iq type='get' id='{id}' to='{r}'><subscriptions xmlns='{MUCSUB}'/></iq>"
        ))
        .await;
    let list_outcome = outcome(Some(&list));
    if list_outcome == "R" {
        let entries: Vec<Element> = list
            .get_child("subscriptions", MUCSUB)
            .expect("list")
            .children()
            .cloned()
            .collect();
        assert!(
            entries.iter().any(|e| e.attr("nick") == Some("target")),
            "{r}: list as {who} lacks target: {}",
            String::from(&list)
        );
        // S9: real JIDs to moderators always, to subscribers only in non-anonymous rooms.
        let sees = moderator || non_anonymous(kind);
        for e in &entries {
            if e.attr("jid").is_some() != sees {
                notes.push(format!(
                    "{kind:?}/{who}: subscriber list shows real JIDs = {}, expected {sees}: {}",
                    e.attr("jid").is_some(),
                    String::from(e)
                ));
            }
        }
    }
    got.push(list_outcome);

    let (reply, results) = mam_query(w.c(who), r, "").await;
    let mam_outcome = outcome(Some(&reply));
    if mam_outcome == "R" {
        assert!(
            results
                .iter()
                .any(|m| String::from(m).contains("seed-message")),
            "{r}: MAM as {who} lacks the archived message"
        );
        if !moderator && !non_anonymous(kind) {
            for m in &results {
                if String::from(m).contains("owner@localhost") {
                    notes.push(format!(
                        "{kind:?}/{who}: MAM result reveals a real JID: {}",
                        String::from(m)
                    ));
                }
            }
        }
    }
    got.push(mam_outcome);

    let token = format!("post-{who}-{}", r.split('@').next().unwrap_or(""));
    let err = message_outcome(w.c(who), r, &format!("<body>{token}</body>")).await;
    let post_outcome = outcome(err.as_ref());
    if (post_outcome == "R") != archive_has(w, r, &token).await {
        notes.push(format!(
            "{kind:?}/{who}: post outcome {post_outcome} disagrees with the archive"
        ));
    }
    got.push(post_outcome);

    let token = format!("subject-{who}-{}", r.split('@').next().unwrap_or(""));
    let err = message_outcome(w.c(who), r, &format!("<subject>{token}</subject>")).await;
    let subject_outcome = outcome(err.as_ref());
    if (subject_outcome == "R") != archive_has(w, r, &token).await {
        notes.push(format!(
            "{kind:?}/{who}: subject outcome {subject_outcome} disagrees with the archive"
        ));
    }
    got.push(subject_outcome);

    let reply = subscribe_raw(
        w.c(who),
        r,
        "jid='target2@localhost' nick='target2'",
        &["messages"],
    )
    .await;
    got.push(outcome(Some(&reply)));

    let reply = unsubscribe(w.c(who), r, "jid='target@localhost'").await;
    let un_outcome = outcome(Some(&reply));
    let still = subscribed_jids(w, r)
        .await
        .contains(&"target@localhost".to_string());
    if still == (un_outcome == "R") {
        notes.push(format!(
            "{kind:?}/{who}: unsubscribe-other outcome {un_outcome} but target still subscribed = {still}"
        ));
    }
    got.push(un_outcome);

    let reply = subscribe_raw(w.c(who), r, &format!("nick='{who}'{pw_attr}"), ALL_NODES).await;
    got.push(outcome(Some(&reply)));

    let reply = configure(w.c(who), r, &[("muc#roomconfig_roomdesc", who)]).await;
    got.push(outcome(Some(&reply)));

    let reply = admin_set(
        w.c(who),
        r,
        "<item affiliation='member' jid='target3@localhost'/>",
    )
    .await;
    got.push(outcome(Some(&reply)));

    // `got` is in execution order; put it back in table order.
    let order = [
        "list-subscribers",
        "mam-query",
        "post",
        "change-subject",
        "subscribe-other",
        "unsubscribe-other",
        "subscribe",
        "configure",
        "change-affiliation",
    ];
    let mut mismatches = notes;
    for (ai, action) in ACTIONS.iter().enumerate() {
        let pos = order.iter().position(|a| a == action).expect("action");
        let want = expected(kind, wi, ai);
        if got[pos] != want {
            mismatches.push(format!(
                "{kind:?}/{who}/{action}: expected {want}, got {}",
                got[pos]
            ));
        }
    }
    mismatches
}

async fn run_kind(kind: Kind) {
    let mut w = World::new().await;
    let mut mismatches = Vec::new();
    for (wi, who) in WHO.iter().enumerate() {
        let r = room(&format!("{}-{who}", format!("{kind:?}").to_lowercase()));
        setup(&mut w, kind, &r).await;
        mismatches.extend(act(&mut w, kind, wi, &r).await);
    }
    // Everyone's sessions still work after all that.
    for who in WHO {
        let c = w.c(who);
        let id = c.next_id();
        let r = c
            .iq(&format!(
                "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
            ))
            .await;
        assert_result(&r);
    }
    w.server.stop().await;
    assert!(
        mismatches.is_empty(),
        "{} authorization mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_room() {
    run_kind(Kind::Open).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_only_room() {
    run_kind(Kind::MembersOnly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_room() {
    run_kind(Kind::Password).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderated_room() {
    run_kind(Kind::Moderated).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semi_anonymous_room() {
    run_kind(Kind::SemiAnonymous).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_anonymous_room() {
    run_kind(Kind::NonAnonymous).await;
}
