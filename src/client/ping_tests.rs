//! [`Client::ping`], the ping a woken browser page proves its socket alive with
//! (src/wasm/socket.rs): written like any stanza, so that a managed stream (XEP-0198)
//! counts it — a ping written behind the session's back would make the server's `h`
//! exceed what the session sent — and answered without the core doing anything.

use super::tests::{cfg, connect_and_bind, feed, written};
use super::*;
use crate::session::Wake;

const PING: &str = "<iq xmlns='jabber:client' id='wake-1' to='localhost' type='get'><ping xmlns='urn:xmpp:ping'/></iq>";

/// Connect and bind the RFC 6120 way; `sm`: the server offers XEP-0198 and the client
/// manages the stream.
fn ready(sm: bool) -> Client {
    let mut c = Client::new(cfg(), Snapshot::default());
    if sm {
        c.set_wake(Wake {
            manage: true,
            ..Wake::default()
        });
    }
    let offer = if sm {
        "<sm xmlns='urn:xmpp:sm:3'/>"
    } else {
        ""
    };
    connect_and_bind(&mut c, offer);
    if sm {
        feed(
            &mut c,
            "<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='true'/>",
        );
    }
    assert!(c.is_ready());
    c
}

#[test]
fn no_ping_without_a_session() {
    let mut c = Client::new(cfg(), Snapshot::default());
    assert!(c.ping("wake-1").is_empty());
}

#[test]
fn a_ping_goes_to_the_server_and_its_answer_changes_nothing() {
    let mut c = ready(false);
    let out = c.ping("wake-1");
    assert_eq!(written(&out), vec![PING]);
    // The core asked nothing: its answer (or an error from a server without XEP-0199) is
    // neither a command result nor a warning.
    for answer in [
        "<iq xmlns='jabber:client' type='result' from='localhost' id='wake-1'/>",
        "<iq xmlns='jabber:client' type='error' from='localhost' id='wake-1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    ] {
        let out = feed(&mut c, answer);
        assert!(
            out.iter().all(|a| matches!(a, Action::TimerAt(_))),
            "{out:?}"
        );
    }
}

#[test]
fn a_managed_stream_counts_the_ping() {
    let mut c = ready(true);
    let sent = c.wake().stream.as_ref().unwrap().sent;
    // Counted, and followed by the request for its acknowledgement like any stanza.
    let out = c.ping("wake-1");
    assert_eq!(written(&out), vec![PING, "<r xmlns='urn:xmpp:sm:3'/>"]);
    let st = c.wake().stream.as_ref().unwrap();
    assert_eq!(st.sent, sent + 1, "counted like any stanza");
    assert_eq!(st.unacked.back().map(String::as_str), Some(PING));
    // The server handled both: its `h` is what the session sent, no protocol error.
    let out = feed(
        &mut c,
        &format!("<a xmlns='urn:xmpp:sm:3' h='{}'/>", sent + 1),
    );
    assert!(c.is_ready(), "{out:?}");
    assert!(c.wake().stream.as_ref().unwrap().unacked.is_empty());
}
