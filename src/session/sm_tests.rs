//! The session's SASL2 + Bind 2 + FAST path and its XEP-0198 counting and resumption,
//! driven with the protocol crate's typed elements (the ones the server writes), for both
//! the one-round-trip wake and the RFC 6120 SASL + `<resume/>` path of ejabberd 23.01.

use super::*;
use crate::protocol::bind2::{BindFeature, Bound};
use crate::protocol::fast::{self, FastFeature, Token, HT_SHA_256_NONE};
use crate::protocol::sasl2::{Authenticate, Failure, Success};
use crate::protocol::sm::{Ack, AckRequest, Enabled, Failed, Resumed};

pub(super) const DEVICE: &str = "3f0c9a52-6a43-4d8e-9d0c-0d2b1f5e7a11";
pub(super) const JID: &str = "alice@localhost/phone";

pub(super) fn cfg() -> SessionConfig {
    SessionConfig {
        jid: BareJid::new("alice@localhost").unwrap(),
        password: "pw".into(),
        resource: Some("phone".into()),
        framing: Framing::WebSocket,
        secure: true,
        initial_presence: true,
        token: false,
    }
}

pub(super) fn managed() -> Wake {
    Wake {
        manage: true,
        device_id: Some(DEVICE.into()),
        tag: Some("phone".into()),
        ..Wake::default()
    }
}

pub(super) fn open() -> Frame {
    Frame::Open {
        id: Some("s1".into()),
    }
}

pub(super) fn frame(e: impl Into<Element>) -> Frame {
    Frame::Element(e.into())
}

pub(super) fn features(child: Element) -> Frame {
    frame(
        Element::builder("features", ns::STREAM)
            .append(child)
            .build(),
    )
}

/// What mucsub-server offers (PLAIN only here, so no SCRAM round trips).
pub(super) fn sasl2_features() -> Frame {
    features(
        Authentication {
            mechanisms: vec!["PLAIN".into()],
            inline_sm: true,
            bind: Some(BindFeature {
                inline: vec![ns::SM.into(), ns::CSI.into()],
            }),
            fast: Some(FastFeature {
                mechanisms: vec![HT_SHA_256_NONE.into()],
                tls_0rtt: false,
            }),
        }
        .into(),
    )
}

pub(super) fn writes(out: &[SessionOut]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            SessionOut::Write(w) => Some(w.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn parse(w: &str) -> Element {
    match framing::parse_ws_message(w).unwrap() {
        Frame::Element(e) => e,
        other => panic!("not an element: {other:?}"),
    }
}

/// The one `<authenticate/>` of a SASL2 sign-in, read back with the server's parser.
pub(super) fn authenticate(out: &[SessionOut]) -> Authenticate {
    let w = writes(out);
    assert_eq!(w.len(), 1, "{w:?}");
    Authenticate::try_from(&parse(&w[0])).unwrap()
}

pub(super) fn message(id: &str) -> Element {
    Element::builder("message", ns::JABBER_CLIENT)
        .attr(crate::protocol::xml::ncname("id"), id.to_owned())
        .build()
}

/// A first sign-in with the password: token requested, bound with SM enabled as `sm1`.
pub(super) fn signed_in() -> Session {
    let mut s = Session::with_wake(cfg(), managed());
    s.start();
    s.handle(open());
    let a = authenticate(&s.handle(sasl2_features()));
    assert_eq!(a.mechanism, "PLAIN");
    assert_eq!(a.initial_response.as_deref(), Some(&b"\0alice\0pw"[..]));
    assert_eq!(a.user_agent.unwrap().id.as_deref(), Some(DEVICE));
    assert_eq!(a.request_token.unwrap().mechanism, HT_SHA_256_NONE);
    assert!(a.resume.is_none(), "nothing to resume yet");
    let bind = a.bind.expect("Bind 2");
    assert!(bind.sm.expect("inline SM enable").resume);
    let success = Success {
        authorization_identifier: JID.into(),
        bound: Some(Bound {
            enabled: Some(Enabled {
                id: Some("sm1".into()),
                resume: true,
                ..Enabled::default()
            }),
            failed: None,
        }),
        token: Some(Token {
            token: "tok1".into(),
            expiry: "2027-01-01T00:00:00Z".into(),
        }),
        ..Success::default()
    };
    let out = s.handle(frame(success));
    let token = FastToken {
        token: "tok1".into(),
        expiry: "2027-01-01T00:00:00Z".into(),
        mechanism: HT_SHA_256_NONE.into(),
    };
    assert_eq!(out[0], SessionOut::Token(token.clone()));
    let w = writes(&out);
    assert!(w[0].starts_with("<presence"), "{w:?}");
    assert_eq!(w[1], "<r xmlns='urn:xmpp:sm:3'/>", "{w:?}");
    assert!(matches!(out.last(), Some(SessionOut::Ready(j)) if j.to_string() == JID));
    assert_eq!(s.wake().token.as_ref(), Some(&token));
    // The stream features that follow a SASL2 success are tolerated.
    assert!(s.handle(sasl2_features()).is_empty());
    s
}

/// A wake with the token (pipeline.rs): the `<authenticate/>` goes out right behind the
/// `<open/>`; the header's answer and the features that follow write nothing.
pub(super) fn woken(s: &mut Session) -> Authenticate {
    let w = writes(&s.start());
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("<open "), "{w:?}");
    assert!(s.handle(open()).is_empty());
    assert!(
        s.handle(sasl2_features()).is_empty(),
        "no second authenticate"
    );
    Authenticate::try_from(&parse(&w[1])).unwrap()
}

#[test]
fn h_is_counted_both_ways_and_acks_drop_what_they_acknowledge() {
    let mut s = signed_in();
    // The server's stanzas count once SM is on; nonzas do not.
    s.handle(frame(message("in1")));
    s.handle(frame(message("in2")));
    assert_eq!(
        writes(&s.handle(frame(AckRequest))),
        vec!["<a xmlns='urn:xmpp:sm:3' h='2'/>"]
    );
    // Ours: presence was 1; an `<r/>` is out, so no second one.
    assert_eq!(writes(&s.send(&message("out2"))).len(), 1);
    assert!(s.handle(frame(Ack { h: 1 })).is_empty());
    let st = s.wake().stream.clone().unwrap();
    assert_eq!((st.sent, st.unacked.len(), st.inbound), (2, 1, 2));
    // A new `<r/>` goes with the next stanza once the last was answered.
    assert_eq!(writes(&s.send(&message("out3"))).len(), 2);
    // Beyond what we sent: the stream is broken.
    let out = s.handle(frame(Ack { h: 9 }));
    assert!(matches!(
        out.last(),
        Some(SessionOut::Ended(Some(SessionError::Protocol(_))))
    ));
}

#[test]
fn a_wake_signs_in_with_the_token_resumes_inline_and_writes_again_what_was_not_acked() {
    let mut s = signed_in();
    s.handle(frame(message("in1")));
    s.send(&message("out2"));
    s.send(&message("out3"));
    s.handle(frame(Ack { h: 1 }));
    // The socket dies: the stream waits on the server, the wake keeps it.
    assert_eq!(
        s.transport_closed(),
        vec![SessionOut::Ended(Some(SessionError::Closed))]
    );
    let wake = s.take_wake();
    assert!(wake.stream.as_ref().unwrap().resumable());
    let mut s = Session::with_wake(
        SessionConfig {
            password: String::new(),
            ..cfg()
        },
        wake,
    );
    let a = woken(&mut s);
    assert_eq!(a.mechanism, HT_SHA_256_NONE);
    assert_eq!(
        a.initial_response.unwrap(),
        fast::initial_response("alice", "tok1", b"")
    );
    assert!(a.request_token.is_none(), "a token sign-in asks for none");
    let r = a.resume.expect("inline resume");
    assert_eq!((r.previd.as_str(), r.h), ("sm1", 1));
    assert!(a.bind.is_some(), "the fallback when the resumption fails");
    // The server handled our presence and out2 only.
    let success = Success {
        additional_data: Some(fast::responder_proof("tok1", b"")),
        authorization_identifier: JID.into(),
        resumed: Some(Resumed {
            previd: "sm1".into(),
            h: 2,
        }),
        ..Success::default()
    };
    let out = s.handle(frame(success));
    let w = writes(&out);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("out3"), "{w:?}");
    assert_eq!(w[1], "<r xmlns='urn:xmpp:sm:3'/>");
    assert!(matches!(out.last(), Some(SessionOut::Resumed(j)) if j.to_string() == JID));
    assert!(s.is_ready());
    // Counting goes on where it was.
    s.handle(frame(message("in2")));
    assert_eq!(
        writes(&s.handle(frame(AckRequest))),
        vec!["<a xmlns='urn:xmpp:sm:3' h='2'/>"]
    );
    let st = s.wake().stream.clone().unwrap();
    assert_eq!((st.sent, st.unacked.len()), (3, 1));
}

#[test]
fn a_refused_resumption_binds_afresh_with_a_new_stream() {
    let mut s = signed_in();
    s.transport_closed();
    let mut s = Session::with_wake(cfg(), s.take_wake());
    assert!(woken(&mut s).resume.is_some());
    let success = Success {
        additional_data: Some(fast::responder_proof("tok1", b"")),
        authorization_identifier: "alice@localhost/phone.2".into(),
        failed: Some(Failed::new("item-not-found")),
        bound: Some(Bound {
            enabled: Some(Enabled {
                id: Some("sm2".into()),
                resume: true,
                ..Enabled::default()
            }),
            failed: None,
        }),
        ..Success::default()
    };
    let out = s.handle(frame(success));
    assert!(
        matches!(out.last(), Some(SessionOut::Ready(j)) if j.to_string() == "alice@localhost/phone.2")
    );
    let st = s.wake().stream.clone().unwrap();
    assert_eq!(st.id.as_deref(), Some("sm2"));
    assert_eq!((st.sent, st.inbound), (1, 0), "only the new presence");
}

#[test]
fn a_refused_token_is_dropped_and_reported() {
    let mut s = signed_in();
    s.transport_closed();
    let mut s = Session::with_wake(
        SessionConfig {
            password: String::new(),
            ..cfg()
        },
        s.take_wake(),
    );
    woken(&mut s);
    let failure = Failure {
        condition: "not-authorized".into(),
        text: None,
    };
    let out = s.handle(frame(failure));
    assert_eq!(out[0], SessionOut::TokenRejected("not-authorized".into()));
    assert_eq!(
        out.last(),
        Some(&SessionOut::Ended(Some(SessionError::AuthFailed(
            "not-authorized".into()
        ))))
    );
    assert!(s.wake().token.is_none());
}

#[test]
fn a_server_that_cannot_prove_it_holds_the_token_is_refused() {
    let mut s = signed_in();
    s.transport_closed();
    let mut s = Session::with_wake(cfg(), s.take_wake());
    woken(&mut s);
    let success = Success {
        additional_data: Some(fast::responder_proof("not-the-token", b"")),
        authorization_identifier: JID.into(),
        resumed: Some(Resumed {
            previd: "sm1".into(),
            h: 1,
        }),
        ..Success::default()
    };
    let out = s.handle(frame(success));
    assert!(matches!(
        out.last(),
        Some(SessionOut::Ended(Some(SessionError::AuthFailed(_))))
    ));
    assert!(!s.is_ready());
}

#[test]
fn an_unmanaged_session_ignores_sasl2_and_stream_management() {
    let mut s = Session::new(cfg());
    s.start();
    s.handle(open());
    let w = writes(
        &s.handle(features(
            Element::builder("mechanisms", ns::SASL)
                .append(
                    Element::builder("mechanism", ns::SASL)
                        .append("PLAIN")
                        .build(),
                )
                .build(),
        )),
    );
    assert!(w[0].starts_with("<auth "), "{w:?}");
}

const SASL_SUCCESS: &str = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";

fn ws(s: &str) -> Frame {
    framing::parse_ws_message(s).unwrap()
}

/// ejabberd 23.01: RFC 6120 SASL, then features with bind and sm.
fn legacy_to_features(s: &mut Session) {
    s.start();
    s.handle(open());
    let w = writes(&s.handle(ws("<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></features>")));
    assert!(w[0].starts_with("<auth "), "no SASL2 offered: {w:?}");
    s.handle(ws(SASL_SUCCESS));
    s.handle(open());
}

const LEGACY_FEATURES: &str = "<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/></features>";

#[test]
fn without_sasl2_it_binds_enables_and_later_resumes_with_resume() {
    let mut s = Session::with_wake(cfg(), managed());
    legacy_to_features(&mut s);
    assert!(writes(&s.handle(ws(LEGACY_FEATURES)))[0].contains("<bind"));
    let out = s.handle(ws("<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/phone</jid></bind></iq>"));
    let w = writes(&out);
    assert_eq!(w[0], "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    assert!(w[1].starts_with("<presence"));
    s.handle(frame(Enabled {
        id: Some("ej1".into()),
        resume: true,
        ..Enabled::default()
    }));
    s.handle(frame(message("in1")));
    s.send(&message("out2"));
    s.transport_closed();
    // The next connection: `<resume/>` in place of a bind.
    let mut s = Session::with_wake(cfg(), s.take_wake());
    legacy_to_features(&mut s);
    let w = writes(&s.handle(ws(LEGACY_FEATURES)));
    assert_eq!(
        w,
        vec!["<resume xmlns='urn:xmpp:sm:3' h='1' previd='ej1'/>"]
    );
    let out = s.handle(frame(Resumed {
        previd: "ej1".into(),
        h: 1,
    }));
    let w = writes(&out);
    assert!(w[0].contains("out2"), "{w:?}");
    assert!(matches!(out.last(), Some(SessionOut::Resumed(j)) if j.to_string() == JID));
    // And when ejabberd forgot the stream: a bind on the same stream.
    s.transport_closed();
    let mut s = Session::with_wake(cfg(), s.take_wake());
    legacy_to_features(&mut s);
    s.handle(ws(LEGACY_FEATURES));
    let w = writes(&s.handle(frame(Failed::new("item-not-found"))));
    assert!(w[0].contains("<bind"), "{w:?}");
    assert!(s.wake().stream.is_none());
}

#[test]
fn a_polite_close_ends_the_stream_for_good() {
    let mut s = signed_in();
    s.close();
    assert!(s.wake().stream.is_none());
    assert!(s.wake().token.is_some(), "the token outlives the stream");
}

#[test]
fn a_requested_resource_is_bound_after_sasl2_the_rfc_6120_way() {
    let mut s = Session::with_wake(
        cfg(),
        Wake {
            tag: None,
            ..managed()
        },
    );
    s.start();
    s.handle(open());
    let a = authenticate(&s.handle(sasl2_features()));
    assert!(a.bind.is_none(), "Bind 2 cannot ask for a resource");
    assert!(a.request_token.is_some());
    let success = Success {
        authorization_identifier: "alice@localhost".into(),
        token: Some(Token {
            token: "tok1".into(),
            expiry: "2027-01-01T00:00:00Z".into(),
        }),
        ..Success::default()
    };
    let out = s.handle(frame(success));
    assert!(matches!(out[0], SessionOut::Token(_)), "{out:?}");
    assert!(!s.is_ready(), "the features follow");
    let w = writes(&s.handle(ws(LEGACY_FEATURES)));
    assert!(w[0].contains("<resource>phone</resource>"), "{w:?}");
    let out = s.handle(ws("<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/phone</jid></bind></iq>"));
    assert_eq!(
        writes(&out)[0],
        "<enable xmlns='urn:xmpp:sm:3' resume='true'/>"
    );
    assert!(matches!(out.last(), Some(SessionOut::Ready(j)) if j.to_string() == JID));
}
