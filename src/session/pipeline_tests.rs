//! A wake in one round trip (pipeline.rs): with a FAST token for a server seen to offer
//! SASL2, the `<authenticate/>` goes out with the stream header; otherwise only the header
//! does; the features that follow never trigger a second one; and features that no longer
//! offer SASL2 with the token's mechanism end the attempt so that the next one waits for
//! them — never with the password.

use super::framing::TcpFramer;
use super::sm_tests::{
    cfg, features, frame, managed, open, parse, sasl2_features, signed_in, woken, writes, JID,
};
use super::*;
use crate::protocol::fast::{self, HT_SHA_256_NONE};
use crate::protocol::sasl2::{Authenticate, Success};
use crate::protocol::sm::Resumed;

/// What a device keeps after its first sign-in (token, offer, the stream to resume), with
/// no password on it.
fn asleep() -> Wake {
    let mut s = signed_in();
    s.transport_closed();
    s.take_wake()
}

fn no_password() -> SessionConfig {
    SessionConfig {
        password: String::new(),
        ..cfg()
    }
}

fn plain_only() -> Frame {
    features(
        Element::builder("mechanisms", ns::SASL)
            .append(
                Element::builder("mechanism", ns::SASL)
                    .append("PLAIN")
                    .build(),
            )
            .build(),
    )
}

#[test]
fn the_first_sign_in_keeps_what_the_server_offered_in_sasl2_with_the_token() {
    let wake = asleep();
    assert!(wake.token.is_some());
    assert_eq!(
        wake.sasl2,
        Some(Sasl2Offer {
            inline_sm: true,
            bind: Some(vec![ns::SM.into(), ns::CSI.into()]),
            fast: vec![HT_SHA_256_NONE.into()],
        })
    );
    // Persisted as JSON (IndexedDB's `device/wake`) and read back the same.
    let json = serde_json::to_string(&wake).unwrap();
    let read = serde_json::from_str::<Wake>(&json).unwrap();
    // (The Bind 2 tag is the page's own and not saved.)
    assert_eq!(
        read,
        Wake {
            tag: None,
            ..wake.clone()
        }
    );
    // A state saved before the offer was kept reads as "not known".
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old.as_object_mut().unwrap().remove("sasl2");
    let old: Wake = serde_json::from_value(old).unwrap();
    assert_eq!((old.sasl2, old.token), (None, wake.token));
}

#[test]
fn a_wake_with_the_token_sends_the_authenticate_behind_the_open_and_resumes_in_one_answer() {
    let mut s = Session::with_wake(no_password(), asleep());
    let out = s.start();
    let w = writes(&out);
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(
        framing::parse_ws_message(&w[0]).unwrap(),
        Frame::Open { id: None },
        "{w:?}"
    );
    let a = Authenticate::try_from(&parse(&w[1])).unwrap();
    assert_eq!(a.mechanism, HT_SHA_256_NONE);
    assert_eq!(
        a.initial_response.unwrap(),
        fast::initial_response("alice", "tok1", b"")
    );
    let r = a.resume.expect("the inline resumption");
    assert_eq!(r.previd, "sm1");
    assert!(a.bind.is_some(), "with the Bind 2 fallback");
    // The server's header and features come first; nothing more is written for them.
    assert!(s.handle(open()).is_empty());
    assert!(s.handle(sasl2_features()).is_empty());
    assert!(s.csi_offered(), "read from the features");
    let success = Success {
        additional_data: Some(fast::responder_proof("tok1", b"")),
        authorization_identifier: JID.into(),
        resumed: Some(Resumed {
            previd: "sm1".into(),
            h: 1,
        }),
        ..Success::default()
    };
    let out = s.handle(frame(success));
    assert!(matches!(out.last(), Some(SessionOut::Resumed(j)) if j.to_string() == JID));
    assert!(s.is_ready());
}

#[test]
fn over_tcp_the_header_and_the_authenticate_are_one_write() {
    let mut s = Session::with_wake(
        SessionConfig {
            framing: Framing::Tcp,
            ..no_password()
        },
        asleep(),
    );
    let w = writes(&s.start());
    assert_eq!(w.len(), 1, "{w:?}");
    // Read as the server reads the stream: its header, then the authenticate.
    let frames = TcpFramer::new(1 << 16).feed(w[0].as_bytes()).unwrap();
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(matches!(frames[0], Frame::Open { .. }));
    match &frames[1] {
        Frame::Element(e) => {
            let a = Authenticate::try_from(e).unwrap();
            assert_eq!(a.mechanism, HT_SHA_256_NONE);
        }
        other => panic!("{other:?}"),
    }
    assert!(s.handle(open()).is_empty());
    assert!(s.handle(sasl2_features()).is_empty());
}

#[test]
fn only_the_header_goes_without_a_token_the_server_is_known_to_take() {
    let only_open = |s: &mut Session| {
        let w = writes(&s.start());
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("<open "), "{w:?}");
    };
    // A new device: no token.
    only_open(&mut Session::with_wake(cfg(), managed()));
    // A token, but the server's offer is not known (saved before it was kept).
    only_open(&mut Session::with_wake(
        cfg(),
        Wake {
            sasl2: None,
            ..asleep()
        },
    ));
    // The offer no longer lists the token's mechanism.
    let mut wake = asleep();
    wake.sasl2.as_mut().unwrap().fast.clear();
    only_open(&mut Session::with_wake(cfg(), wake));
    // An unmanaged session (a short one, the load generator) never does.
    let mut s = Session::with_wake(
        cfg(),
        Wake {
            manage: false,
            ..asleep()
        },
    );
    only_open(&mut s);
    // Not pipelined: the features bring the authenticate, once (and the offer is kept).
    let mut s = Session::with_wake(
        no_password(),
        Wake {
            sasl2: None,
            ..asleep()
        },
    );
    s.start();
    s.handle(open());
    let w = writes(&s.handle(sasl2_features()));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("<authenticate "), "{w:?}");
    assert!(s.wake().sasl2.is_some());
}

#[test]
fn features_without_sasl2_end_the_attempt_and_the_next_one_waits_for_them() {
    let mut s = Session::with_wake(no_password(), asleep());
    assert_eq!(writes(&s.start()).len(), 2);
    s.handle(open());
    // The server stopped offering SASL2 (another server behind the name, a new setting):
    // the authenticate it holds cannot be taken back, so this stream ends.
    let out = s.handle(plain_only());
    assert_eq!(
        out,
        vec![
            SessionOut::Write(Framing::WebSocket.close()),
            SessionOut::Ended(Some(SessionError::Sasl2Withdrawn)),
        ]
    );
    let wake = s.take_wake();
    assert_eq!(wake.sasl2, None, "the offer is forgotten");
    assert!(wake.token.is_some(), "the token is not to blame");
    assert!(
        wake.stream.is_some(),
        "the stream is still the server's to resume"
    );
    // The next connection opens alone and reads the features; with no SASL2 there and no
    // password on the device, it needs the user — it never sends a password it lacks.
    let mut s = Session::with_wake(no_password(), wake);
    assert_eq!(writes(&s.start()).len(), 1);
    s.handle(open());
    let out = s.handle(plain_only());
    assert!(
        matches!(out.last(), Some(SessionOut::Ended(Some(SessionError::AuthFailed(m)))) if m.contains("credentials needed")),
        "{out:?}"
    );
}

#[test]
fn features_whose_fast_lacks_the_tokens_mechanism_also_end_the_attempt() {
    let mut s = Session::with_wake(no_password(), asleep());
    s.start();
    s.handle(open());
    let offer = Authentication {
        mechanisms: vec!["PLAIN".into()],
        inline_sm: true,
        bind: None,
        fast: None,
    };
    let out = s.handle(features(offer.into()));
    assert_eq!(
        out.last(),
        Some(&SessionOut::Ended(Some(SessionError::Sasl2Withdrawn)))
    );
    // What the server offers now is kept: SASL2 without FAST, so no pipelining.
    let wake = s.take_wake();
    assert_eq!(
        wake.sasl2,
        Some(Sasl2Offer {
            inline_sm: true,
            bind: None,
            fast: vec![],
        })
    );
    assert_eq!(
        writes(&Session::with_wake(no_password(), wake).start()).len(),
        1
    );
}

#[test]
fn a_pipelined_sign_in_refused_for_its_token_asks_for_credentials() {
    let mut s = Session::with_wake(no_password(), asleep());
    woken(&mut s);
    let failure = crate::protocol::sasl2::Failure {
        condition: "credentials-expired".into(),
        text: None,
    };
    let out = s.handle(frame(failure));
    assert_eq!(
        out[0],
        SessionOut::TokenRejected("credentials-expired".into())
    );
    assert!(s.wake().token.is_none());
    // Without a token, no more pipelining.
    let w = writes(&Session::with_wake(no_password(), s.take_wake()).start());
    assert_eq!(w.len(), 1, "{w:?}");
}

#[test]
fn the_client_signs_in_again_at_once_and_quietly_when_the_offer_was_withdrawn() {
    use crate::client::{Action, AppEvent, Client, ClientConfig, Input};
    use crate::protocol::time::Timestamp;
    let mut config = ClientConfig::new(no_password());
    config.wake = asleep();
    let mut c = Client::new(config, crate::store::Snapshot::default());
    let wrote = |a: &[Action]| a.iter().filter(|x| matches!(x, Action::Write(_))).count();
    assert_eq!(wrote(&c.handle(Input::Connected, Timestamp(0))), 2);
    c.handle(Input::Frame(open()), Timestamp(1));
    let out = c.handle(Input::Frame(plain_only()), Timestamp(2));
    assert!(out.contains(&Action::CloseTransport), "{out:?}");
    assert!(out.contains(&Action::ReconnectIn(0)), "{out:?}");
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::Event(AppEvent::Disconnected { .. }))),
        "not a failure the app hears of: {out:?}"
    );
    assert_eq!(c.wake().sasl2, None);
    // The next connection waits for the features.
    assert_eq!(wrote(&c.handle(Input::Connected, Timestamp(3))), 1);
}
