use super::*;

fn cfg(secure: bool) -> SessionConfig {
    SessionConfig {
        jid: BareJid::new("alice@localhost").unwrap(),
        password: "pw".into(),
        resource: Some("r1".into()),
        framing: Framing::WebSocket,
        secure,
        initial_presence: true,
        token: false,
    }
}

fn el(s: &str) -> Frame {
    framing::parse_ws_message(s).unwrap()
}

fn written(out: &[SessionOut]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            SessionOut::Write(w) => Some(w.clone()),
            _ => None,
        })
        .collect()
}

const FEATURES_PLAIN: &str = "<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></features>";

#[test]
fn plain_on_loopback_binds_and_sends_priority_zero_presence() {
    let mut s = Session::new(cfg(true));
    let out = s.start();
    assert!(written(&out)[0].contains("to='localhost'"));
    assert!(s
        .handle(el(
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='1'/>"
        ))
        .is_empty());
    let out = s.handle(el(FEATURES_PLAIN));
    let auth = &written(&out)[0];
    assert!(auth.contains("mechanism='PLAIN'"), "{auth}");
    assert!(auth.contains(&B64.encode("\0alice\0pw")), "{auth}");
    let out = s.handle(el("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
    assert!(written(&out)[0].starts_with("<open"));
    s.handle(el(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='2'/>",
    ));
    let out = s.handle(el("<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></features>"));
    assert!(written(&out)[0].contains("<resource>r1</resource>"));
    let out = s.handle(el("<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r1</jid></bind></iq>"));
    assert!(written(&out)[0].contains("<priority>0</priority>"));
    assert!(matches!(&out[1], SessionOut::Ready(j) if j.to_string() == "alice@localhost/r1"));
    assert!(s.is_ready());
    let out = s.handle(el("<message xmlns='jabber:client' from='r@c'/>"));
    assert!(matches!(&out[0], SessionOut::Stanza(_)));
    let out = s.handle(el("<error xmlns='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>"));
    assert_eq!(
        out,
        vec![SessionOut::Ended(Some(SessionError::Stream(
            "conflict".into()
        )))]
    );
}

/// A session without initial presence binds and is ready, and writes no `<presence/>`
/// (the push registration session relies on it to stay unavailable).
#[test]
fn without_initial_presence_binding_sends_no_presence() {
    let mut s = Session::new(SessionConfig {
        initial_presence: false,
        ..cfg(true)
    });
    let mut written_all = written(&s.start());
    for frame in [
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='1'/>",
        FEATURES_PLAIN,
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='2'/>",
        "<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></features>",
    ] {
        written_all.extend(written(&s.handle(el(frame))));
    }
    let out = s.handle(el("<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r1</jid></bind></iq>"));
    assert!(matches!(&out[..], [SessionOut::Ready(j)] if j.to_string() == "alice@localhost/r1"));
    assert!(s.is_ready());
    written_all.extend(written(&out));
    assert!(
        !written_all.iter().any(|w| w.contains("<presence")),
        "{written_all:?}"
    );
}

#[test]
fn plain_refused_when_not_secure() {
    let mut s = Session::new(cfg(false));
    s.start();
    s.handle(el("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"));
    let out = s.handle(el(FEATURES_PLAIN));
    assert!(matches!(
        out.last(),
        Some(SessionOut::Ended(Some(SessionError::NoMechanism(_))))
    ));
}

#[test]
fn scram_preferred_and_bad_server_signature_fails() {
    let mut s = Session::new(cfg(true));
    s.start();
    s.handle(el("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"));
    let out = s.handle(el("<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms></features>"));
    let auth = &written(&out)[0];
    assert!(auth.contains("SCRAM-SHA-256"), "{auth}");
    // A success before any challenge cannot carry a valid server signature.
    let out = s.handle(el(
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1ib2d1cw==</success>",
    ));
    assert!(matches!(
        out.last(),
        Some(SessionOut::Ended(Some(SessionError::AuthFailed(_))))
    ));
}

#[test]
fn sasl_failure_and_required_tls_end_the_session() {
    let mut s = Session::new(cfg(true));
    s.start();
    s.handle(el("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"));
    s.handle(el(FEATURES_PLAIN));
    let out = s.handle(el(
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>",
    ));
    assert!(
        matches!(out.last(), Some(SessionOut::Ended(Some(SessionError::AuthFailed(c)))) if c == "not-authorized")
    );

    let mut s = Session::new(cfg(false));
    s.start();
    s.handle(el("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"));
    let out = s.handle(el("<features xmlns='http://etherx.jabber.org/streams'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></features>"));
    assert!(matches!(
        out.last(),
        Some(SessionOut::Ended(Some(SessionError::TlsRequired)))
    ));
}

#[test]
fn stanzas_before_ready_are_a_protocol_error() {
    let mut s = Session::new(cfg(true));
    s.start();
    s.handle(el("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"));
    let out = s.handle(el("<message xmlns='jabber:client'/>"));
    assert!(matches!(
        out.last(),
        Some(SessionOut::Ended(Some(SessionError::Protocol(_))))
    ));
}

const FEATURES_SCRAM_AND_PLAIN: &str = "<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism></mechanisms></features>";

/// A token goes with PLAIN even where SCRAM is offered (the server cannot check a token
/// with SCRAM), and never over an insecure transport.
#[test]
fn a_token_goes_with_plain_only_and_only_when_secure() {
    let token = |secure| SessionConfig {
        password: "eyJhbGciOiJIUzI1NiJ9.e30.sig".into(),
        token: true,
        ..cfg(secure)
    };
    let mut s = Session::new(token(true));
    s.start();
    s.handle(el(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='1'/>",
    ));
    let out = s.handle(el(FEATURES_SCRAM_AND_PLAIN));
    let auth = &written(&out)[0];
    assert!(auth.contains("mechanism='PLAIN'"), "{auth}");
    assert!(
        auth.contains(&B64.encode("\0alice\0eyJhbGciOiJIUzI1NiJ9.e30.sig")),
        "{auth}"
    );

    // A password still prefers SCRAM.
    let mut s = Session::new(cfg(true));
    s.start();
    s.handle(el(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='1'/>",
    ));
    let out = s.handle(el(FEATURES_SCRAM_AND_PLAIN));
    assert!(written(&out)[0].contains("mechanism='SCRAM-SHA-256'"));

    // Not secure: the token is never sent.
    let mut s = Session::new(token(false));
    s.start();
    s.handle(el(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='1'/>",
    ));
    let out = s.handle(el(FEATURES_SCRAM_AND_PLAIN));
    assert!(
        !written(&out).iter().any(|w| w.contains("<auth")),
        "{out:?}"
    );
    assert!(matches!(
        out.last(),
        Some(SessionOut::Ended(Some(SessionError::TokenNeedsPlain(_))))
    ));
}
