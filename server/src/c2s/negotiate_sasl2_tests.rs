//! SASL2 (XEP-0388), Bind 2 (XEP-0386), FAST (XEP-0484) and XEP-0198 resumption through
//! the negotiation state machine, without a socket.

use super::conn::End;
use super::negotiate::{Action, Negotiation, Resumption, Settings};
use super::negotiate_tests::*;
use crate::auth::Failure as AuthFailure;
use crate::fast::Accepted;
use crate::ns;
use crate::sm::TooHigh;
use base64::Engine;
use minidom::Element;
use mucsub_protocol::fast::initial_response;
use mucsub_protocol::sasl2::{Failure, Success};
use mucsub_protocol::sm::{Enabled, Failed};
use sasl::client::Mechanism;

const UA: &str = "d4565fa7-4d72-4749-b3d3-740edbf87770";

fn sasl2_plain(user: &str, password: &str, extra: &str) -> String {
    let ir = B64.encode(format!("\0{user}\0{password}"));
    format!(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>{ir}</initial-response>\
         <user-agent id='{UA}'><software>t</software></user-agent>{extra}</authenticate>"
    )
}

const BIND2: &str = "<bind xmlns='urn:xmpp:bind:0'><tag>web</tag>\
    <enable xmlns='urn:xmpp:sm:3' resume='true'/><inactive xmlns='urn:xmpp:csi:0'/></bind>";

fn sent_all(actions: &[Action]) -> Vec<Element> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(x) => Some(x.parse().expect("sent XML parses")),
            _ => None,
        })
        .collect()
}

fn success_of(actions: &[Action]) -> Success {
    let s = sent_all(actions)
        .into_iter()
        .find(|e| e.is("success", ns::SASL2))
        .unwrap_or_else(|| panic!("a SASL2 success: {actions:?}"));
    Success::try_from(s).unwrap()
}

fn failure_of(actions: &[Action]) -> Failure {
    Failure::try_from(sent(actions)).expect("a SASL2 failure")
}

/// A loopback machine that authenticated `alice` with SASL2 PLAIN carrying `extra`; the
/// actions that followed the credentials.
fn sasl2_login(extra: &str) -> (Negotiation, Vec<Action>) {
    let mut n = machine(LOOPBACK);
    let features = sent(&n.event(open()));
    assert!(features.has_child("authentication", ns::SASL2));
    let a = n.event(stanza(&sasl2_plain("alice", "pw", extra)));
    assert!(
        matches!(&a[..], [Action::VerifyPlain(p)] if p == b"\0alice\0pw"),
        "{a:?}"
    );
    let a = n.plain_verified(accepted("alice"));
    assert!(matches!(a.first(), Some(Action::Authenticated)), "{a:?}");
    (n, a)
}

#[test]
fn plain_with_bind2_enables_sm_and_csi_in_one_success() {
    let (mut n, a) = sasl2_login(BIND2);
    let resource = match &a[1..] {
        [Action::Claim { user, resource }] if user == "alice" => resource.clone(),
        other => panic!("{other:?}"),
    };
    assert!(resource.starts_with("web."), "{resource}");
    let a = n.claimed();
    assert!(
        matches!(
            &a[..],
            [Action::EnableSm {
                resume: true,
                max: None
            }]
        ),
        "{a:?}"
    );
    let bound = bound_of(n.sm_enabled(Enabled {
        id: Some("sm1".into()),
        resume: true,
        max: Some(300),
        location: None,
    }))
    .expect("bound");
    assert_eq!(bound.full, format!("alice@localhost/{resource}"));
    assert!(bound.inactive, "inline <inactive/>");
    let success = Success::try_from(bound.result).unwrap();
    assert_eq!(success.authorization_identifier, bound.full);
    let enabled = success.bound.unwrap().enabled.unwrap();
    assert_eq!(enabled.id.as_deref(), Some("sm1"));
    assert!(success.token.is_none() && success.resumed.is_none());
}

#[test]
fn bind2_resources_are_stable_per_device() {
    let resource = |n: &mut Negotiation| match &n.plain_verified(accepted("alice"))[1..] {
        [Action::Claim { resource, .. }] => resource.clone(),
        other => panic!("{other:?}"),
    };
    let login = |ua: &str| {
        let mut n = machine(LOOPBACK);
        n.event(open());
        let ir = B64.encode("\0alice\0pw");
        n.event(stanza(&format!(
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>{ir}</initial-response>\
             <user-agent id='{ua}'/><bind xmlns='urn:xmpp:bind:0'><tag>web</tag></bind></authenticate>"
        )));
        n
    };
    let a = resource(&mut login(UA));
    assert_eq!(
        a,
        resource(&mut login(UA)),
        "the same device gets the same resource"
    );
    assert_ne!(
        a,
        resource(&mut login("00000000-0000-0000-0000-000000000000"))
    );
}

#[test]
fn sasl2_without_bind_sends_features_on_the_same_stream() {
    let (mut n, a) = sasl2_login("");
    let sent = sent_all(&a);
    assert_eq!(sent.len(), 2, "success, then features: {a:?}");
    let success = Success::try_from(sent[0].clone()).unwrap();
    assert_eq!(success.authorization_identifier, "alice@localhost");
    assert!(sent[1].is("features", ns::STREAM));
    assert!(sent[1].has_child("bind", ns::BIND) && sent[1].has_child("sm", ns::SM));
    assert!(
        !a.iter().any(|x| matches!(x, Action::Restart)),
        "no stream restart"
    );
    // No stream header is expected: the bind IQ comes next.
    let a = n.event(stanza(
        "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>",
    ));
    assert!(matches!(&a[..], [Action::Claim { .. }]));
    assert_eq!(bound_of(n.claimed()).unwrap().full, "alice@localhost/r");
    // Authenticating again is a stream error (XEP-0388 §5).
    let (mut n, _) = sasl2_login("");
    let a = n.event(stanza(&sasl2_plain("alice", "pw", "")));
    assert_eq!(stream_error(&a), "policy-violation");
}

#[test]
fn sasl2_scram_challenge_and_response() {
    let mut client = scram_client("alice", "pw");
    let mut n = machine(WEBSOCKET);
    n.event(open());
    let first = B64.encode(client.initial());
    let a = n.event(stanza(&format!(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'>\
         <initial-response>{first}</initial-response></authenticate>"
    )));
    assert!(matches!(&a[..], [Action::FetchCredentials(_)]));
    let ch = sent(&n.credentials(creds("pw")));
    assert!(ch.is("challenge", ns::SASL2));
    let resp = client.response(&B64.decode(ch.text()).unwrap()).unwrap();
    let a = n.event(stanza(&format!(
        "<response xmlns='urn:xmpp:sasl:2'>{}</response>",
        B64.encode(resp)
    )));
    let success = success_of(&a);
    client
        .success(&success.additional_data.unwrap())
        .expect("the server signature verifies");
    // A wrong password: a SASL2 failure, counted.
    let mut client = scram_client("alice", "nope");
    let mut n = machine(WEBSOCKET);
    n.event(open());
    n.event(stanza(&format!(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'>\
         <initial-response>{}</initial-response></authenticate>",
        B64.encode(client.initial())
    )));
    let ch = sent(&n.credentials(creds("pw")));
    let resp = client.response(&B64.decode(ch.text()).unwrap()).unwrap();
    let a = n.event(stanza(&format!(
        "<response xmlns='urn:xmpp:sasl:2'>{}</response>",
        B64.encode(resp)
    )));
    assert_eq!(failure_of(&a).condition, "not-authorized");
}

#[test]
fn sasl2_plain_goes_through_verify_plain_and_scram_needs_stored_passwords() {
    // `[auth] methods = ["jwt"]`: the app's token is a PLAIN password, in SASL2 as in SASL.
    let tokens_only = Settings {
        scram: false,
        ..settings()
    };
    let mut n = Negotiation::new(tokens_only, LOOPBACK, random);
    n.event(open());
    let a = n.event(stanza(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'>\
         <initial-response>biwsbj1hbGljZSxyPWFiYw==</initial-response></authenticate>",
    ));
    assert_eq!(failure_of(&a).condition, "invalid-mechanism");
    let a = n.event(stanza(&sasl2_plain("alice", "eyJ.token", "")));
    assert!(
        matches!(&a[..], [Action::VerifyPlain(p)] if p == b"\0alice\0eyJ.token"),
        "{a:?}"
    );
    // A refusal is a SASL2 failure, counted like any other.
    let a = n.plain_verified(Err(AuthFailure::NotAuthorized));
    assert_eq!(failure_of(&a).condition, "not-authorized");
    assert!(ended(&a).is_none());
    // A malformed PLAIN message is refused before anything is looked up.
    let ir = B64.encode("\0\0pw");
    let a = n.event(stanza(&format!(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>{ir}</initial-response></authenticate>"
    )));
    assert_eq!(failure_of(&a).condition, "malformed-request");
    assert_eq!(stream_error(&a), "policy-violation", "the third failure");
    // Storage failing while checking: the client may try again later.
    let mut n = machine(WEBSOCKET);
    n.event(open());
    n.event(stanza(&sasl2_plain("alice", "pw", "")));
    let a = n.plain_verified(Err(AuthFailure::TemporaryAuthFailure));
    assert_eq!(failure_of(&a).condition, "temporary-auth-failure");
}

#[test]
fn sasl2_refusals() {
    // Not over a remote plain connection.
    let mut n = machine(REMOTE_TLS_OPTIONAL);
    let features = sent(&n.event(open()));
    assert!(!features.has_child("authentication", ns::SASL2));
    let f = failure_of(&n.event(stanza(&sasl2_plain("alice", "pw", ""))));
    assert_eq!(f.condition, "encryption-required");
    // Malformed: the failure says what is wrong.
    let mut n = machine(LOOPBACK);
    n.event(open());
    let f = failure_of(&n.event(stanza(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent id='x'/></authenticate>",
    )));
    assert_eq!(f.condition, "malformed-request");
    assert!(f.text.unwrap().contains("UUID"));
    let f = failure_of(&n.event(stanza(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X-NOPE'/>",
    )));
    assert_eq!(f.condition, "invalid-mechanism");
    // Third failure ends the stream.
    let a = n.event(stanza("<authenticate xmlns='urn:xmpp:sasl:2'/>"));
    assert_eq!(failure_of(&a).condition, "malformed-request");
    assert_eq!(stream_error(&a), "policy-violation");
}

fn fast_authenticate(extra: &str) -> String {
    let ir = B64.encode(initial_response("Alice", "tok", b""));
    format!(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'>\
         <initial-response>{ir}</initial-response><user-agent id='{UA}'/>{extra}</authenticate>"
    )
}

#[test]
fn fast_token_check_then_rotation_in_the_success() {
    let mut n = machine(WEBSOCKET);
    let features = sent(&n.event(open()));
    let auth = features.get_child("authentication", ns::SASL2).unwrap();
    let fast = auth
        .get_child("inline", ns::SASL2)
        .and_then(|i| i.get_child("fast", ns::FAST))
        .expect("FAST offered inline");
    assert_eq!(fast.children().next().unwrap().text(), "HT-SHA-256-NONE");
    let a = n.event(stanza(&fast_authenticate(
        "<fast xmlns='urn:xmpp:fast:0' count='7'/>",
    )));
    let attempt = match &a[..] {
        [Action::CheckToken(t)] => t.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(attempt.user, "alice");
    assert_eq!(attempt.device, UA);
    assert_eq!(attempt.count, Some(7));
    assert_eq!(
        attempt.proof,
        mucsub_protocol::fast::initiator_proof("tok", b"")
    );
    let a = n.token_checked(Ok(Accepted {
        responder: vec![9; 32],
        rotate: true,
    }));
    assert!(matches!(a.first(), Some(Action::Authenticated)));
    match &a[1..] {
        [Action::IssueToken {
            user,
            device,
            mechanism,
        }] => {
            assert_eq!((user.as_str(), device.id.as_str()), ("alice", UA));
            assert_eq!(mechanism, "HT-SHA-256-NONE");
        }
        other => panic!("{other:?}"),
    }
    let a = n.token_issued(Some(crate::fast::Issued {
        token: "new".into(),
        expires_ms: 0,
    }));
    let success = success_of(&a);
    assert_eq!(success.additional_data, Some(vec![9; 32]));
    assert_eq!(success.token.unwrap().token, "new");
}

#[test]
fn fast_refusals() {
    let mut n = machine(WEBSOCKET);
    n.event(open());
    n.event(stanza(&fast_authenticate("")));
    assert_eq!(
        failure_of(&n.token_checked(Err("not-authorized"))).condition,
        "not-authorized"
    );
    // Without a device id.
    let ir = B64.encode(initial_response("alice", "tok", b""));
    let f = failure_of(&n.event(stanza(&format!(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>{ir}</initial-response></authenticate>"
    ))));
    assert_eq!(f.condition, "malformed-request");
    // FAST off.
    let mut n = Negotiation::new(
        Settings {
            fast: &[],
            ..settings()
        },
        WEBSOCKET,
        random,
    );
    n.event(open());
    assert_eq!(
        failure_of(&n.event(stanza(&fast_authenticate("")))).condition,
        "invalid-mechanism"
    );
}

#[test]
fn password_sign_in_can_request_a_token() {
    let (mut n, a) =
        sasl2_login("<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>");
    assert!(matches!(&a[1..], [Action::IssueToken { .. }]), "{a:?}");
    let a = n.token_issued(Some(crate::fast::Issued {
        token: "t1".into(),
        expires_ms: 1_700_000_000_000,
    }));
    let success = success_of(&a);
    let token = success.token.unwrap();
    assert_eq!(token.token, "t1");
    assert_eq!(token.expiry, "2023-11-14T22:13:20.000Z");
}

const RESUME: &str = "<resume xmlns='urn:xmpp:sm:3' previd='sm1' h='3'/>";

#[test]
fn inline_resume_succeeds_and_the_bind_is_ignored() {
    let (mut n, a) = sasl2_login(&format!("{RESUME}{BIND2}"));
    assert!(
        matches!(&a[1..], [Action::Resume { user, previd, h: 3 }] if user == "alice" && previd == "sm1"),
        "{a:?}"
    );
    let a = n.resume_result(Resumption::Resumed {
        full: "alice@localhost/web.1".into(),
        inbound: 5,
    });
    assert!(matches!(a.last(), Some(Action::Resumed)));
    let success = success_of(&a);
    assert_eq!(success.authorization_identifier, "alice@localhost/web.1");
    let resumed = success.resumed.unwrap();
    assert_eq!((resumed.previd.as_str(), resumed.h), ("sm1", 5));
    assert!(success.bound.is_none());
    assert_eq!(
        sent_all(&a).len(),
        1,
        "no stream features after a resumption"
    );
}

#[test]
fn inline_resume_failure_is_reported_and_the_bind_runs() {
    let (mut n, _) = sasl2_login(&format!("{RESUME}{BIND2}"));
    let a = n.resume_result(Resumption::Unknown { h: Some(2) });
    assert!(matches!(&a[..], [Action::Claim { .. }]), "{a:?}");
    n.claimed();
    let bound = bound_of(n.sm_enabled(Enabled::default())).unwrap();
    let success = Success::try_from(bound.result).unwrap();
    let failed = success.failed.unwrap();
    assert_eq!(failed.h, Some(2));
    assert_eq!(failed.condition.as_deref(), Some("item-not-found"));
    assert!(success.bound.is_some());

    let (mut n, _) = sasl2_login(RESUME);
    let a = n.resume_result(Resumption::TooHigh(TooHigh { h: 9, sent: 3 }));
    assert_eq!(ended(&a), Some(&End::TooHigh(TooHigh { h: 9, sent: 3 })));
}

#[test]
fn legacy_resume_after_sasl() {
    let mut n = authenticated();
    let a = n.event(stanza(RESUME));
    assert!(matches!(&a[..], [Action::Resume { h: 3, .. }]));
    let a = n.resume_result(Resumption::Unknown { h: None });
    let failed = Failed::try_from(sent(&a)).unwrap();
    assert_eq!(failed.condition.as_deref(), Some("item-not-found"));
    // The stream can still bind.
    let a = n.event(stanza(
        "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    ));
    assert!(matches!(&a[..], [Action::Claim { .. }]));

    let mut n = authenticated();
    n.event(stanza(RESUME));
    let a = n.resume_result(Resumption::Resumed {
        full: "alice@localhost/x".into(),
        inbound: 4,
    });
    let resumed = sent(&a);
    assert!(resumed.is("resumed", ns::SM));
    assert_eq!(resumed.attr("h"), Some("4"));
    assert_eq!(resumed.attr("previd"), Some("sm1"));
    assert!(matches!(a.last(), Some(Action::Resumed)));
}

#[test]
fn stream_management_before_binding() {
    let mut n = authenticated();
    let f = Failed::try_from(sent(&n.event(stanza("<enable xmlns='urn:xmpp:sm:3'/>")))).unwrap();
    assert_eq!(f.condition.as_deref(), Some("unexpected-request"));
    let f = Failed::try_from(sent(
        &n.event(stanza("<resume xmlns='urn:xmpp:sm:3' h='x' previd='p'/>")),
    ))
    .unwrap();
    assert_eq!(f.condition.as_deref(), Some("bad-request"));
    // SM off: resumption is not implemented.
    let mut n = Negotiation::new(
        Settings {
            sm: false,
            ..settings()
        },
        LOOPBACK,
        random,
    );
    n.event(open());
    n.event(plain_auth("alice", "pw"));
    n.plain_verified(accepted("alice"));
    let features = sent(&n.event(open()));
    assert!(!features.has_child("sm", ns::SM));
    let f = Failed::try_from(sent(&n.event(stanza(RESUME)))).unwrap();
    assert_eq!(f.condition.as_deref(), Some("feature-not-implemented"));
}
