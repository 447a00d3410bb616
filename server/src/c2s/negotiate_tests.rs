//! Whole negotiations through the state machine, without a socket: what each client move
//! gets, and what the driver is asked to do.

use super::conn::End;
use super::features::Security;
use super::negotiate::{Action, Bound, Lookup, Negotiation, Settings};
use crate::auth::plain::{PlainSuccess, SignedInWith};
use crate::auth::Failure;
use crate::ns;
use crate::storage::Credentials;
use crate::xmlstream::StreamEvent;
use base64::Engine;
use minidom::Element;
use sasl::client::Mechanism;
use std::collections::HashMap;

pub(super) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub(super) fn settings() -> Settings {
    Settings {
        domain: "localhost".into(),
        registration: true,
        max_auth_failures: 3,
        sm: true,
        fast: &crate::fast::MECHANISMS,
        scram: true,
    }
}

/// A remote client on a plain TCP connection of a server that requires TLS.
pub(super) const REMOTE: Security = Security {
    can_starttls: true,
    secure: false,
    loopback: false,
    tls_required: true,
};

/// A loopback client (PLAIN allowed) that could still STARTTLS.
pub(super) const LOOPBACK: Security = Security {
    loopback: true,
    ..REMOTE
};

/// A remote client on plain TCP where TLS is optional: SCRAM only.
pub(super) const REMOTE_TLS_OPTIONAL: Security = Security {
    tls_required: false,
    ..REMOTE
};

/// A remote client after STARTTLS.
pub(super) const REMOTE_AFTER_TLS: Security = Security {
    can_starttls: false,
    secure: true,
    ..REMOTE
};

/// A WebSocket from loopback: secure, no STARTTLS.
pub(super) const WEBSOCKET: Security = Security {
    can_starttls: false,
    secure: true,
    loopback: true,
    tls_required: true,
};

pub(super) fn random() -> u64 {
    0x1234_5678_9abc_def0
}

pub(super) fn machine(security: Security) -> Negotiation {
    Negotiation::new(settings(), security, random)
}

pub(super) fn open_to(to: &str) -> StreamEvent {
    let mut attrs = HashMap::new();
    attrs.insert("to".to_owned(), to.to_owned());
    attrs.insert("version".to_owned(), "1.0".to_owned());
    StreamEvent::Open(attrs)
}

pub(super) fn open() -> StreamEvent {
    open_to("localhost")
}

pub(super) fn stanza(xml: &str) -> StreamEvent {
    let wrapped = format!("<w xmlns='jabber:client'>{xml}</w>");
    let w: Element = wrapped.parse().expect("test XML");
    StreamEvent::Stanza(w.children().next().cloned().expect("one element"))
}

pub(super) fn plain_auth(user: &str, password: &str) -> StreamEvent {
    let payload = B64.encode(format!("\0{user}\0{password}"));
    stanza(&format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"
    ))
}

/// What `auth::verify_plain` answers for an accepted PLAIN message.
pub(super) fn accepted(user: &str) -> Result<PlainSuccess, Failure> {
    Ok(PlainSuccess {
        user: user.to_owned(),
        with: SignedInWith::Password,
    })
}

pub(super) fn creds(password: &str) -> Lookup {
    Lookup::Found(Credentials::derive(password).expect("derive"))
}

/// The SASL mechanisms stream features offer.
fn offered(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", ns::SASL)
        .map(|m| m.children().map(|c| c.text()).collect())
        .unwrap_or_default()
}

/// The session an action list ends negotiation with.
pub(super) fn bound_of(actions: Vec<Action>) -> Option<Bound> {
    actions.into_iter().find_map(|a| match a {
        Action::Bound(b) => Some(*b),
        _ => None,
    })
}

/// The one element an action list sends, parsed.
pub(super) fn sent(actions: &[Action]) -> Element {
    let sends: Vec<&String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(xml) => Some(xml),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 1, "one element sent: {actions:?}");
    sends[0].parse().expect("sent XML parses")
}

/// The condition of the SASL `<failure/>` the actions send.
pub(super) fn sasl_failure(actions: &[Action]) -> String {
    let f = sent(actions);
    assert!(f.is("failure", ns::SASL), "a SASL failure: {actions:?}");
    f.children().next().map(|c| c.name().to_owned()).unwrap()
}

pub(super) fn ended(actions: &[Action]) -> Option<&End> {
    actions.iter().find_map(|a| match a {
        Action::End(e) => Some(e),
        _ => None,
    })
}

/// Whether the actions end the stream with this error.
fn ends_with(actions: &[Action], condition: &'static str, text: &str) -> bool {
    ended(actions) == Some(&End::Error(condition, Some(text.to_owned())))
}

pub(super) fn stream_error(actions: &[Action]) -> &'static str {
    match ended(actions) {
        Some(End::Error(cond, _)) => cond,
        other => panic!("expected a stream error, got {other:?} in {actions:?}"),
    }
}

/// Opens the first stream and authenticates `alice` with PLAIN; returns the machine
/// waiting for the authenticated stream's header.
pub(super) fn authenticated() -> Negotiation {
    let mut n = machine(LOOPBACK);
    n.event(open());
    let a = n.event(plain_auth("alice", "pw"));
    assert!(matches!(&a[..], [Action::VerifyPlain(p)] if p == b"\0alice\0pw"));
    let a = n.plain_verified(accepted("alice"));
    assert!(sent(&a).is("success", ns::SASL));
    assert!(matches!(a.last(), Some(Action::Restart)));
    let a = n.event(open());
    let features = sent(&a);
    assert!(features.has_child("bind", ns::BIND));
    n
}

#[test]
fn our_header_goes_out_before_the_clients_is_checked() {
    let mut n = machine(LOOPBACK);
    let a = n.event(open_to("example.org"));
    assert!(matches!(a[0], Action::Header));
    assert_eq!(stream_error(&a), "host-unknown");

    let mut n = machine(LOOPBACK);
    let mut attrs = HashMap::new();
    attrs.insert("to".to_owned(), "localhost".to_owned());
    let a = n.event(StreamEvent::Open(attrs));
    assert!(matches!(a[0], Action::Header));
    assert_eq!(stream_error(&a), "unsupported-version");

    let mut n = machine(LOOPBACK);
    let a = n.event(open_to("LocalHost"));
    assert!(matches!(a[0], Action::Header));
    let features = sent(&a);
    assert!(features.is("features", ns::STREAM));
    assert!(features.has_child("mechanisms", ns::SASL));
    assert!(ended(&a).is_none());
}

#[test]
fn stream_framing_out_of_order_is_not_well_formed() {
    assert_eq!(
        stream_error(&machine(LOOPBACK).event(stanza("<message/>"))),
        "not-well-formed"
    );
    assert_eq!(
        stream_error(&machine(LOOPBACK).event(StreamEvent::Close)),
        "not-well-formed"
    );
    let mut n = machine(LOOPBACK);
    n.event(open());
    assert_eq!(stream_error(&n.event(open())), "not-well-formed");

    let mut n = machine(LOOPBACK);
    n.event(open());
    assert_eq!(ended(&n.event(StreamEvent::Close)), Some(&End::Closed));
}

#[test]
fn a_remote_client_must_starttls_before_sasl() {
    let mut n = machine(REMOTE);
    let features = sent(&n.event(open()));
    assert!(features
        .get_child("starttls", ns::TLS)
        .unwrap()
        .has_child("required", ns::TLS));
    assert!(!features.has_child("mechanisms", ns::SASL));
    assert_eq!(
        sasl_failure(&n.event(plain_auth("alice", "pw"))),
        "encryption-required"
    );

    let a = n.event(stanza(
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    ));
    assert!(sent(&a).is("proceed", ns::TLS));
    assert!(matches!(a.last(), Some(Action::StartTls)));
    n.tls_established(REMOTE_AFTER_TLS);
    let features = sent(&n.event(open()));
    assert!(!features.has_child("starttls", ns::TLS));
    let mechs = offered(&features);
    assert_eq!(mechs, ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
    assert!(matches!(
        &n.event(plain_auth("alice", "pw"))[..],
        [Action::VerifyPlain(_)]
    ));
}

#[test]
fn starttls_where_it_is_not_offered_fails_and_closes() {
    let mut n = machine(WEBSOCKET);
    n.event(open());
    let a = n.event(stanza(
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    ));
    assert!(sent(&a).is("failure", ns::TLS));
    assert_eq!(ended(&a), Some(&End::Gone));
}

#[test]
fn plain_login_then_bind_ends_in_bound() {
    let mut n = authenticated();
    let a = n.event(stanza(
        "<iq type='set' id='b1' to='localhost'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource> phone </resource></bind></iq>",
    ));
    assert!(
        matches!(&a[..], [Action::Claim { user, resource }] if user == "alice" && resource == "phone"),
        "{a:?}"
    );
    let bound = bound_of(n.claimed()).expect("bound");
    assert_eq!(bound.user, "alice");
    assert_eq!(bound.bare, "alice@localhost");
    assert_eq!(bound.full, "alice@localhost/phone");
    let r = &bound.result;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(r.attr("id"), Some("b1"));
    assert_eq!(r.attr("to"), None);
    assert_eq!(r.attr("from"), None);
    let jid = r
        .get_child("bind", ns::BIND)
        .and_then(|b| b.get_child("jid", ns::BIND))
        .map(|j| j.text());
    assert_eq!(jid.as_deref(), Some("alice@localhost/phone"));
    assert!(bound_of(n.claimed()).is_none(), "negotiation is over");
    assert!(!bound.inactive);
}

#[test]
fn a_server_generated_resource_comes_from_the_injected_randomness() {
    let mut n = authenticated();
    let a = n.event(stanza(
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    ));
    assert!(
        matches!(&a[..], [Action::Claim { resource, .. }] if resource == "r123456789abc"),
        "{a:?}"
    );
}

#[test]
fn bind_errors_let_the_client_try_again() {
    let mut n = authenticated();
    let a = n.event(stanza(
        "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>",
    ));
    let err = sent(&a);
    assert_eq!(err.attr("type"), Some("error"));
    assert!(String::from(&err).contains("not-allowed"));

    let long = "x".repeat(1024);
    let a = n.event(stanza(&format!(
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>{long}</resource></bind></iq>"
    )));
    assert!(String::from(&sent(&a)).contains("bad-request"));

    let a = n.event(stanza(
        "<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>tablet</resource></bind></iq>",
    ));
    assert!(matches!(&a[..], [Action::Claim { .. }]));
    let refused = sent(&n.claim_refused(2));
    assert_eq!(refused.attr("id"), Some("b2"));
    let xml = String::from(&refused);
    assert!(xml.contains("resource-constraint") && xml.contains("at most 2 sessions"));

    let a = n.event(stanza(
        "<iq type='set' id='b3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>tablet</resource></bind></iq>",
    ));
    assert!(matches!(&a[..], [Action::Claim { .. }]));
    assert_eq!(
        bound_of(n.claimed()).unwrap().full,
        "alice@localhost/tablet"
    );
}

#[test]
fn anything_but_an_iq_before_binding_ends_the_stream() {
    let mut n = authenticated();
    let a = n.event(stanza(
        "<message to='bob@localhost'><body>hi</body></message>",
    ));
    assert!(ends_with(&a, "not-authorized", "bind a resource first"));
}

#[test]
fn failed_attempts_are_counted_up_to_the_limit() {
    let mut n = machine(LOOPBACK);
    n.event(open());
    n.event(plain_auth("alice", "wrong"));
    let a = n.plain_verified(Err(Failure::NotAuthorized));
    assert_eq!(sasl_failure(&a), "not-authorized");
    n.event(plain_auth("nobody", "pw"));
    let a = n.plain_verified(Err(Failure::NotAuthorized));
    assert_eq!(sasl_failure(&a), "not-authorized");
    assert!(ended(&a).is_none());
    n.event(plain_auth("alice", "pw"));
    let a = n.plain_verified(Err(Failure::TemporaryAuthFailure));
    assert_eq!(sasl_failure(&a), "temporary-auth-failure");
    assert!(ends_with(
        &a,
        "policy-violation",
        "too many failed authentication attempts"
    ));
}

#[test]
fn bad_auth_elements_get_the_matching_failure() {
    let mut n = machine(REMOTE);
    n.event(open());
    n.event(stanza(
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    ));
    n.tls_established(REMOTE_AFTER_TLS);
    n.event(open());
    let a = n.event(stanza(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-UNKNOWN'>=</auth>",
    ));
    assert_eq!(sasl_failure(&a), "invalid-mechanism");
    let a = n.event(stanza(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!!</auth>",
    ));
    assert_eq!(sasl_failure(&a), "incorrect-encoding");
    let a = n.event(stanza(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>=</auth>",
    ));
    assert_eq!(sasl_failure(&a), "malformed-request");
    assert_eq!(stream_error(&a), "policy-violation", "third failure");

    // PLAIN is not offered to a remote client without TLS (where TLS is optional).
    let mut n = machine(REMOTE_TLS_OPTIONAL);
    n.event(open());
    assert_eq!(
        sasl_failure(&n.event(plain_auth("alice", "pw"))),
        "invalid-mechanism"
    );
}

/// A SCRAM-SHA-256 client (the `sasl` crate's) for the tests.
pub(super) fn scram_client(
    user: &str,
    password: &str,
) -> sasl::client::mechanisms::Scram<sasl::common::scram::Sha256> {
    let creds = sasl::common::Credentials::default()
        .with_username(user)
        .with_password(password)
        .with_channel_binding(sasl::common::ChannelBinding::None);
    sasl::client::mechanisms::Scram::<sasl::common::scram::Sha256>::from_credentials(creds)
        .expect("scram client")
}

/// `<auth mechanism='SCRAM-SHA-256'>` with the client's first message.
fn scram_auth(n: &mut Negotiation, client: &mut impl Mechanism) -> Vec<Action> {
    n.event(stanza(&format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>{}</auth>",
        B64.encode(client.initial())
    )))
}

/// `<response/>` with the client's answer to `challenge`.
fn scram_response(
    n: &mut Negotiation,
    client: &mut impl Mechanism,
    challenge: &[u8],
) -> Vec<Action> {
    let response = client.response(challenge).expect("client response");
    n.event(stanza(&format!(
        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
        B64.encode(response)
    )))
}

fn challenge_of(actions: &[Action]) -> Vec<u8> {
    let c = sent(actions);
    assert!(c.is("challenge", ns::SASL), "a challenge: {actions:?}");
    B64.decode(c.text().trim()).expect("challenge base64")
}

#[test]
fn scram_runs_challenge_and_response_and_proves_the_server() {
    let mut client = scram_client("alice", "pw");
    // SCRAM is offered before TLS where TLS is not required.
    let mut n = machine(REMOTE_TLS_OPTIONAL);
    n.event(open());
    let a = scram_auth(&mut n, &mut client);
    assert!(matches!(&a[..], [Action::FetchCredentials(u)] if u == "alice"));
    let challenge = challenge_of(&n.credentials(creds("pw")));
    let a = scram_response(&mut n, &mut client, &challenge);
    let success = sent(&a);
    assert!(success.is("success", ns::SASL));
    let data = B64.decode(success.text().trim()).unwrap();
    client
        .success(&data)
        .expect("the server signature verifies");
    assert!(matches!(a.last(), Some(Action::Restart)));
}

#[test]
fn scram_for_a_missing_account_fails_only_at_the_end() {
    let mut client = scram_client("nobody", "pw");
    let mut n = machine(LOOPBACK);
    n.event(open());
    scram_auth(&mut n, &mut client);
    let challenge = challenge_of(&n.credentials(Lookup::NoSuchAccount));
    let a = scram_response(&mut n, &mut client, &challenge);
    assert_eq!(sasl_failure(&a), "not-authorized");
}

#[test]
fn a_challenge_may_be_aborted_but_not_ignored() {
    let auth = |n: &mut Negotiation| {
        scram_auth(n, &mut scram_client("alice", "pw"));
        challenge_of(&n.credentials(creds("pw")));
    };
    let mut n = machine(LOOPBACK);
    n.event(open());
    auth(&mut n);
    let a = n.event(stanza("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
    assert_eq!(sasl_failure(&a), "aborted");
    // Back to the start of SASL: another attempt is read.
    auth(&mut n);
    let a = n.event(stanza(
        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%%%</response>",
    ));
    assert_eq!(sasl_failure(&a), "incorrect-encoding");
    auth(&mut n);
    assert_eq!(
        stream_error(&n.event(stanza("<message/>"))),
        "not-authorized"
    );
}

#[test]
fn registration_is_handed_to_the_driver_only_when_allowed() {
    let register = "<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>";
    let mut n = machine(LOOPBACK);
    n.event(open());
    let a = n.event(stanza(register));
    assert!(matches!(&a[..], [Action::Register(iq)] if iq.attr("id") == Some("r1")));
    // Still before authentication: SASL may follow.
    assert!(matches!(
        &n.event(plain_auth("alice", "pw"))[..],
        [Action::VerifyPlain(_)]
    ));

    let mut n = Negotiation::new(
        Settings {
            registration: false,
            ..settings()
        },
        LOOPBACK,
        random,
    );
    n.event(open());
    assert_eq!(stream_error(&n.event(stanza(register))), "not-authorized");

    // A remote client without TLS may not send a password in the clear.
    let mut n = machine(REMOTE_TLS_OPTIONAL);
    n.event(open());
    assert_eq!(stream_error(&n.event(stanza(register))), "not-authorized");
}

#[test]
fn events_while_the_driver_works_end_the_stream() {
    let mut n = machine(LOOPBACK);
    n.event(open());
    n.event(plain_auth("alice", "pw"));
    assert_eq!(
        stream_error(&n.event(stanza("<message/>"))),
        "internal-server-error"
    );
}

#[test]
fn a_tokens_only_server_takes_plain_where_plain_is_allowed_and_never_scram() {
    // `[auth] methods = ["jwt"]`: a token is only checkable as a PLAIN password.
    let tokens_only = Settings {
        scram: false,
        ..settings()
    };
    let mut n = Negotiation::new(tokens_only.clone(), LOOPBACK, random);
    let features = sent(&n.event(open()));
    let mechs = offered(&features);
    assert_eq!(mechs, ["PLAIN"]);
    let a = n.event(stanza(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>biwsbj1hbGljZSxyPWFiYw==</auth>",
    ));
    assert_eq!(sasl_failure(&a), "invalid-mechanism");
    assert!(matches!(
        &n.event(plain_auth("alice", "eyJ.token.here"))[..],
        [Action::VerifyPlain(_)]
    ));

    // Never over plain TCP from a remote peer, even where TLS is optional: the token
    // would travel in the clear.
    let mut n = Negotiation::new(tokens_only, REMOTE_TLS_OPTIONAL, random);
    n.event(open());
    assert_eq!(
        sasl_failure(&n.event(plain_auth("alice", "eyJ.token.here"))),
        "invalid-mechanism"
    );
}
