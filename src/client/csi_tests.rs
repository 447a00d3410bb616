//! XEP-0352 Client State Indication from the client core: the app's wanted state is sent
//! only on a change, only to a server whose authenticated stream offered `<csi/>` (one
//! without it would end the stream), and again after every reconnect while it is
//! "inactive", so a hidden app keeps getting pushes across connection losses.

use proptest::prelude::*;

use super::tests::{cfg, feed};
use super::*;

const INACTIVE: &str = "<inactive xmlns='urn:xmpp:csi:0'/>";
const ACTIVE: &str = "<active xmlns='urn:xmpp:csi:0'/>";

fn client() -> Client {
    Client::new(cfg(), Snapshot::default())
}

fn written(a: &[Action]) -> Vec<String> {
    a.iter()
        .filter_map(|x| match x {
            Action::Write(w) => Some(w.clone()),
            _ => None,
        })
        .collect()
}

/// The CSI elements among the writes, as "active"/"inactive".
fn csi(a: &[Action]) -> Vec<&'static str> {
    written(a)
        .iter()
        .filter_map(|w| {
            if w.contains("urn:xmpp:csi:0") {
                Some(if w.starts_with("<inactive") {
                    "inactive"
                } else {
                    "active"
                })
            } else {
                None
            }
        })
        .collect()
}

/// Connect, authenticate and bind against a server whose post-auth features offer CSI
/// or not; returns what the bind result produced.
fn connect(c: &mut Client, offer_csi: bool) -> Vec<Action> {
    let out = c.handle(Input::Connected, Timestamp(0));
    assert!(csi(&out).is_empty(), "nothing before the session: {out:?}");
    feed(c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    feed(c, "<features xmlns='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></features>");
    feed(c, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    feed(c, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    let extra = if offer_csi {
        "<csi xmlns='urn:xmpp:csi:0'/>"
    } else {
        ""
    };
    let out = feed(
        c,
        &format!("<features xmlns='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>{extra}</features>"),
    );
    assert!(csi(&out).is_empty(), "nothing before binding: {out:?}");
    let out = feed(c, "<iq xmlns='jabber:client' type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>bob@localhost/r</jid></bind></iq>");
    assert!(c.is_ready());
    out
}

fn lose(c: &mut Client) -> Vec<Action> {
    c.handle(Input::Disconnected(Some("gone".into())), Timestamp(2_000))
}

#[test]
fn csi_is_sent_only_when_the_wanted_state_changes() {
    let mut c = client();
    let out = connect(&mut c, true);
    // A new session is active on the server: nothing to say yet.
    assert!(csi(&out).is_empty(), "{out:?}");
    assert!(c.is_active());

    let out = c.set_active(false);
    assert_eq!(written(&out), vec![INACTIVE.to_owned()]);
    assert!(!c.is_active());
    assert!(
        c.set_active(false).is_empty(),
        "no repeat of the same state"
    );

    let out = c.set_active(true);
    assert_eq!(written(&out), vec![ACTIVE.to_owned()]);
    assert!(c.set_active(true).is_empty(), "no repeat of the same state");
    assert!(c.is_active());
}

#[test]
fn csi_is_never_sent_to_a_server_without_the_feature() {
    // ejabberd 23.01 without mod_client_state offers no <csi/>: an <inactive/> there would
    // be an unsupported stanza.
    let mut c = client();
    let out = connect(&mut c, false);
    assert!(csi(&out).is_empty(), "{out:?}");
    assert!(c.set_active(false).is_empty());
    assert!(!c.is_active(), "the wish is still recorded");
    assert!(c.set_active(true).is_empty());
    assert!(c.set_active(false).is_empty());

    // Nor after a reconnect while hidden.
    lose(&mut c);
    let out = connect(&mut c, false);
    assert!(csi(&out).is_empty(), "{out:?}");
}

#[test]
fn hidden_before_connecting_says_inactive_right_after_binding() {
    let mut c = client();
    assert!(
        c.set_active(false).is_empty(),
        "no session: nothing to write"
    );
    let out = connect(&mut c, true);
    let w = written(&out);
    let inactive = w.iter().position(|x| x == INACTIVE).expect("inactive sent");
    let presence = w.iter().position(|x| x.starts_with("<presence")).unwrap();
    let first_iq = w.iter().position(|x| x.starts_with("<iq")).unwrap();
    // After the initial presence (the session exists), before the connect-time IQs (whose
    // answers and the events around them are what a hidden app wants pushed).
    assert!(presence < inactive && inactive < first_iq, "{w:?}");
    assert_eq!(csi(&out), vec!["inactive"]);
    // Already said: no repeat.
    assert!(c.set_active(false).is_empty());
}

#[test]
fn inactive_is_said_again_after_every_reconnect() {
    let mut c = client();
    connect(&mut c, true);
    assert_eq!(csi(&c.set_active(false)), vec!["inactive"]);

    for _ in 0..3 {
        let out = lose(&mut c);
        assert!(csi(&out).is_empty());
        // The new session starts active on the server: the core says inactive again.
        let out = connect(&mut c, true);
        assert_eq!(csi(&out), vec!["inactive"], "{out:?}");
    }

    // Also when the driver reports a new connection without the old one's end.
    let out = connect(&mut c, true);
    assert_eq!(csi(&out), vec!["inactive"], "{out:?}");
}

#[test]
fn changes_while_disconnected_are_applied_on_the_next_session_only() {
    let mut c = client();
    connect(&mut c, true);
    assert_eq!(csi(&c.set_active(false)), vec!["inactive"]);
    lose(&mut c);
    // Visible again while offline: nothing can be written, and the next session starts
    // active anyway, so nothing is sent on it either.
    assert!(c.set_active(true).is_empty());
    let out = connect(&mut c, true);
    assert!(csi(&out).is_empty(), "{out:?}");
    assert_eq!(csi(&c.set_active(false)), vec!["inactive"]);

    // Closing on purpose and connecting again keeps the wish too.
    c.disconnect(Timestamp(3_000));
    let out = connect(&mut c, true);
    assert_eq!(csi(&out), vec!["inactive"], "{out:?}");
}

#[derive(Clone, Debug)]
enum Op {
    Set(bool),
    Lose,
    Connect { offer_csi: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<bool>().prop_map(Op::Set),
        1 => Just(Op::Lose),
        1 => any::<bool>().prop_map(|offer_csi| Op::Connect { offer_csi }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Under any mix of visibility changes, losses and reconnects (to servers with and
    /// without CSI), what the server believes always matches the app's last wish once a
    /// CSI session is up, no state is ever said twice in a row on one connection, and a
    /// server without CSI never gets any.
    #[test]
    fn the_server_always_ends_up_believing_the_last_wish(ops in proptest::collection::vec(op(), 0..40)) {
        let mut c = client();
        let mut wish = true;
        // None: no session; Some((offers_csi, what the server believes)).
        let mut server: Option<(bool, bool)> = None;
        for o in ops {
            let out = match o {
                Op::Set(a) => {
                    wish = a;
                    c.set_active(a)
                }
                Op::Lose => {
                    server = None;
                    lose(&mut c)
                }
                Op::Connect { offer_csi } => {
                    server = Some((offer_csi, true));
                    connect(&mut c, offer_csi)
                }
            };
            let said = csi(&out);
            match server.as_mut() {
                None => prop_assert!(said.is_empty(), "wrote CSI without a session: {said:?}"),
                Some((false, _)) => prop_assert!(said.is_empty(), "CSI to a server without it: {said:?}"),
                Some((true, believed)) => {
                    for s in said {
                        let active = s == "active";
                        prop_assert_ne!(active, *believed, "said {} twice", s);
                        *believed = active;
                    }
                    prop_assert_eq!(*believed, wish);
                }
            }
            prop_assert_eq!(c.is_active(), wish);
        }
    }
}
