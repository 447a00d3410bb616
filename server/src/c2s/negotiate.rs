//! Stream negotiation (RFC 6120 4–7) as a state machine without I/O: the client's stream
//! headers, STARTTLS, SASL (with the failure count), XEP-0077 registration before
//! authentication, resource binding, and an XEP-0198 `<resume/>` in place of binding; or
//! XEP-0388 SASL2 with what it carries inline (FAST tokens, resumption, XEP-0386 Bind 2
//! with stream management and CSI), whose steps are in [`sasl2`]; the password
//! mechanisms both profiles share are in [`sasl`]. It ends in
//! [`Action::Bound`] (a new session) or [`Action::Resumed`] (a former one continues).
//!
//! The machine is fed what the client sent ([`Negotiation::event`]) and the answers to what
//! it asked for (credentials, the TLS upgrade, the claim of a resource, a token check, the
//! takeover of a resumable session); it answers with [`Action`]s the driver
//! ([`super::handshake`]) carries out in order. Everything that waits — the socket, the
//! database, the router's session table, the session being resumed — stays in the driver,
//! so every step here is a plain function call, and tests run whole negotiations without a
//! socket.

use super::conn::End;
use super::features::{self, Offer, Security};
use crate::auth::Exchange;
use crate::fast::{Attempt, Device};
use crate::ns;
use crate::sm::TooHigh;
use crate::stanza::{self, ErrorType};
use crate::storage::Credentials;
use crate::xmlstream::StreamEvent;
use minidom::Element;
use mucsub_protocol::sasl2::{Authenticate, Success};
use mucsub_protocol::sm::{Failed, Nonza, Resume, Resumed};
use std::collections::HashMap;

mod sasl;
mod sasl2;

/// The configuration negotiation depends on.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The served domain (lower case): the stream's `to` and the bound JID's domain.
    pub(crate) domain: String,
    /// XEP-0077 in-band registration is enabled (`registration`).
    pub(crate) registration: bool,
    /// Failed SASL attempts before the stream is closed (`[limits] max_auth_failures`).
    pub(crate) max_auth_failures: u32,
    /// XEP-0198 is offered (`[stream_management] enabled`).
    pub(crate) sm: bool,
    /// FAST token mechanisms offered (none: FAST is off).
    pub(crate) fast: &'static [&'static str],
    /// Stored passwords are accepted (`[auth] methods` has `password`): SCRAM is offered.
    pub(crate) scram: bool,
}

impl Settings {
    fn offer(&self) -> Offer {
        Offer {
            registration: self.registration,
            scram: self.scram,
            sm: self.sm,
            fast: self.fast,
        }
    }
}

/// Where negotiation ends for a new session: an authenticated account bound to a
/// resource. The session loop starts from it.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    /// The account's localpart.
    pub(crate) user: String,
    /// `user@domain`
    pub(crate) bare: String,
    /// `user@domain/resource`
    pub(crate) full: String,
    /// The first thing the session sends: the bind IQ's result, or the SASL2 `<success/>`
    /// with its `<bound/>`.
    pub(crate) result: Element,
    /// The session starts inactive (XEP-0352 `<inactive/>` inline in Bind 2).
    pub(crate) inactive: bool,
}

/// What the driver does next, in order.
#[derive(Debug)]
pub(crate) enum Action {
    /// Write our stream header (a fresh stream id, in the transport's framing).
    Header,
    /// Write this serialised element.
    Send(String),
    /// `<proceed/>` went out: upgrade the connection to TLS, then call
    /// [`Negotiation::tls_established`].
    StartTls,
    /// Look up this account's credentials, then call [`Negotiation::credentials`] (SCRAM).
    FetchCredentials(String),
    /// Check this SASL PLAIN message with [`crate::auth::plain::verify_plain`], then call
    /// [`Negotiation::plain_verified`].
    VerifyPlain(Vec<u8>),
    /// Answer this XEP-0077 registration IQ and write the reply.
    Register(Element),
    /// SASL succeeded: restart the stream with the limits of an authenticated client.
    Restart,
    /// SASL2 succeeded: the limits of an authenticated client, without a stream restart.
    Authenticated,
    /// Check a FAST token authentication, then call [`Negotiation::token_checked`].
    CheckToken(Attempt),
    /// Issue a FAST token for the device, then call [`Negotiation::token_issued`].
    IssueToken {
        user: String,
        device: Device,
        mechanism: String,
    },
    /// Take over `user`'s resumable session `previd` (which handled `h` of our stanzas),
    /// then call [`Negotiation::resume_result`].
    Resume {
        user: String,
        previd: String,
        h: u32,
    },
    /// Claim the resource for the account in the session table, then call
    /// [`Negotiation::claimed`] or [`Negotiation::claim_refused`].
    Claim { user: String, resource: String },
    /// Enable stream management on the session just claimed, then call
    /// [`Negotiation::sm_enabled`].
    EnableSm { resume: bool, max: Option<u32> },
    /// Negotiation is over: a new session.
    Bound(Box<Bound>),
    /// Negotiation is over: the session taken over continues (what was sent just before
    /// was its `<resumed/>`, or the `<success/>` carrying it).
    Resumed,
    /// End the stream.
    End(End),
}

/// The result of [`Action::FetchCredentials`].
pub(crate) enum Lookup {
    Found(Credentials),
    NoSuchAccount,
    /// The lookup itself failed (the driver logged why).
    Failed,
}

/// The result of [`Action::Resume`].
#[derive(Debug)]
pub(crate) enum Resumption {
    /// Taken over: the session's full JID, and how many of the client's stanzas it handled.
    Resumed { full: String, inbound: u32 },
    /// No such resumable session (for this account); `h` when it ended recently.
    Unknown { h: Option<u32> },
    /// The client's `h` acknowledges more than the session ever sent it.
    TooHigh(TooHigh),
}

/// Which SASL profile an exchange runs in.
enum Profile {
    /// RFC 6120: `<auth/>`, a stream restart after `<success/>`.
    Sasl1,
    /// XEP-0388, with what the `<authenticate/>` asked for inline.
    Sasl2(Box<Inline>),
}

impl Profile {
    fn is_sasl2(&self) -> bool {
        matches!(self, Profile::Sasl2(_))
    }
}

/// A SASL2 request's inline work, and the `<success/>` being built from its results.
struct Inline {
    request: Authenticate,
    success: Success,
    /// The FAST token used is near its expiry: issue a replacement.
    rotate: bool,
    /// The SM-ID of the resumption under way.
    previd: Option<String>,
    /// The Bind 2 request being carried out.
    binding: Option<mucsub_protocol::bind2::BindRequest>,
    /// The full JID it bound.
    full: Option<String>,
}

enum State {
    /// Waiting for the client's stream header: before authentication (again after
    /// STARTTLS), or once authenticated (`Some(user)`).
    Header(Option<String>),
    /// Pre-auth features sent: STARTTLS, SASL `<auth/>`, SASL2 `<authenticate/>` or a
    /// registration IQ may come.
    Auth,
    /// `<proceed/>` sent; the driver upgrades the connection.
    Tls,
    /// PLAIN `<auth/>` or `<authenticate/>` read; the driver checks it
    /// ([`crate::auth::plain::verify_plain`]).
    Plain { profile: Profile },
    /// SCRAM `<auth/>` or `<authenticate/>` read; the driver looks the named account up.
    Credentials {
        mechanism: String,
        initial: Vec<u8>,
        user: String,
        profile: Profile,
    },
    /// A challenge went out; `<response/>` or `<abort/>` comes next.
    Challenge {
        mechanism: String,
        exchange: Exchange,
        profile: Profile,
    },
    /// A FAST authentication; the driver checks the token.
    CheckingToken { user: String, inline: Box<Inline> },
    /// Authenticated with SASL2; the driver carries out one inline step (a token, a
    /// resumption, the enabling of stream management).
    Inline { user: String, inline: Box<Inline> },
    /// Authenticated (and the stream's features sent): waiting for the bind IQ, or an
    /// XEP-0198 `<resume/>`.
    Bind(String),
    /// A `<resume/>` after SASL; the driver takes the session over.
    Resuming { user: String, previd: String },
    /// The driver claims the resource for the bind IQ, or for a Bind 2 request.
    Claim {
        user: String,
        resource: String,
        via: Via,
    },
    /// Bound, or ended: nothing more to negotiate.
    Done,
}

/// How a resource is being bound.
enum Via {
    /// RFC 6120's bind IQ.
    Iq(Element),
    /// XEP-0386, inside SASL2.
    Bind2(Box<Inline>),
}

pub(crate) struct Negotiation {
    settings: Settings,
    security: Security,
    state: State,
    /// Failed SASL attempts on this connection.
    failures: u32,
    /// Random numbers for server-generated resources (injected, so tests are repeatable).
    random: fn() -> u64,
}

impl Negotiation {
    pub(crate) fn new(settings: Settings, security: Security, random: fn() -> u64) -> Self {
        Negotiation {
            settings,
            security,
            state: State::Header(None),
            failures: 0,
            random,
        }
    }

    /// Feeds what the client sent.
    pub(crate) fn event(&mut self, ev: StreamEvent) -> Vec<Action> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, ev) {
            (State::Header(user), StreamEvent::Open(attrs)) => self.open(user, &attrs),
            // Before the header, or a second header inside a stream.
            (State::Header(_), _) | (_, StreamEvent::Open(_)) => end("not-well-formed", None),
            (_, StreamEvent::Close) => vec![Action::End(End::Closed)],
            (State::Auth, StreamEvent::Stanza(el)) => self.auth_phase(el),
            (
                State::Challenge {
                    mechanism,
                    exchange,
                    profile,
                },
                StreamEvent::Stanza(el),
            ) => self.response(mechanism, exchange, profile, &el),
            (State::Bind(user), StreamEvent::Stanza(el)) => self.bind(user, el),
            // The driver feeds nothing while it carries out an action.
            (
                State::Tls
                | State::Plain { .. }
                | State::Credentials { .. }
                | State::CheckingToken { .. }
                | State::Inline { .. }
                | State::Resuming { .. }
                | State::Claim { .. }
                | State::Done,
                _,
            ) => end("internal-server-error", None),
        }
    }

    /// The client's stream header: ours goes out first (RFC 6120 4.7.1), then its `to`
    /// and `version` are checked, then the features of this step.
    fn open(&mut self, user: Option<String>, attrs: &HashMap<String, String>) -> Vec<Action> {
        let mut out = vec![Action::Header];
        match attrs.get("to") {
            Some(to) if to.to_ascii_lowercase() == self.settings.domain => {}
            _ => {
                out.push(Action::End(End::Error("host-unknown", None)));
                return out;
            }
        }
        if attrs.get("version").map(String::as_str) != Some("1.0") {
            out.push(Action::End(End::Error("unsupported-version", None)));
            return out;
        }
        let features = match user {
            None => {
                self.state = State::Auth;
                features::pre_auth(self.security, &self.settings.offer())
            }
            Some(user) => {
                self.state = State::Bind(user);
                features::authenticated(self.settings.sm)
            }
        };
        out.push(Action::Send(stanza::to_xml(&features)));
        out
    }

    /// Before authentication: STARTTLS, SASL `<auth/>` or SASL2 `<authenticate/>`, or
    /// XEP-0077 registration; anything else is `not-authorized` (RFC 6120 6.4.x).
    fn auth_phase(&mut self, el: Element) -> Vec<Action> {
        if el.is("starttls", ns::TLS) {
            if !self.security.can_starttls {
                return vec![
                    Action::Send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".into()),
                    Action::End(End::Gone),
                ];
            }
            self.state = State::Tls;
            return vec![
                Action::Send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".into()),
                Action::StartTls,
            ];
        }
        if el.is("auth", ns::SASL) {
            return self.auth(&el);
        }
        if el.is("authenticate", ns::SASL2) {
            return self.authenticate(&el);
        }
        if el.is("iq", ns::CLIENT)
            && el.has_child("query", ns::REGISTER)
            && self.settings.registration
            && self.security.plain_allowed()
        {
            self.state = State::Auth;
            return vec![Action::Register(el)];
        }
        end("not-authorized", None)
    }

    /// The TLS upgrade succeeded: a new stream starts, with the connection's new security.
    pub(crate) fn tls_established(&mut self, security: Security) {
        self.security = security;
        self.state = State::Header(None);
    }

    /// After authentication only resource binding (RFC 6120 7) or an XEP-0198 resumption
    /// may come. A bad or missing `<bind/>` gets an IQ error and the client may try again;
    /// so does a refused `<resume/>`.
    fn bind(&mut self, user: String, el: Element) -> Vec<Action> {
        if el.ns() == ns::SM {
            return self.sm_before_bind(user, &el);
        }
        if el.is("authenticate", ns::SASL2) || el.is("auth", ns::SASL) {
            return end("policy-violation", Some("already authenticated".into()));
        }
        if !el.is("iq", ns::CLIENT) {
            return end("not-authorized", Some("bind a resource first".into()));
        }
        let Some(bind) = el.get_child("bind", ns::BIND) else {
            let reply = stanza::error_reply(&el, ErrorType::Cancel, "not-allowed", None);
            self.state = State::Bind(user);
            return vec![Action::Send(stanza::to_xml(&reply))];
        };
        let requested = bind
            .get_child("resource", ns::BIND)
            .map(|r| r.text().trim().to_owned())
            .filter(|r| !r.is_empty());
        let resource = match requested {
            Some(r) if valid_resource(&r, &user, &self.settings.domain) => r,
            Some(_) => {
                let reply = stanza::error_reply(&el, ErrorType::Modify, "bad-request", None);
                self.state = State::Bind(user);
                return vec![Action::Send(stanza::to_xml(&reply))];
            }
            None => format!("r{:012x}", (self.random)() >> 16),
        };
        self.claim(user, resource, Via::Iq(el))
    }

    /// Stream management before a resource is bound: only `<resume/>` belongs here
    /// (XEP-0198 §3: `<enable/>` comes after binding).
    fn sm_before_bind(&mut self, user: String, el: &Element) -> Vec<Action> {
        let refuse = |n: &mut Negotiation, user: String, cond: &str| {
            n.state = State::Bind(user);
            vec![Action::Send(stanza::to_xml(&Element::from(Failed::new(
                cond,
            ))))]
        };
        match Nonza::try_from(el) {
            Ok(Nonza::Resume(Resume { previd, h })) if self.settings.sm => {
                self.state = State::Resuming {
                    user: user.clone(),
                    previd: previd.clone(),
                };
                vec![Action::Resume { user, previd, h }]
            }
            Ok(Nonza::Resume(_)) => refuse(self, user, "feature-not-implemented"),
            Ok(_) => refuse(self, user, "unexpected-request"),
            Err(e) => {
                tracing::debug!(error = %e, "bad stream-management element");
                refuse(self, user, "bad-request")
            }
        }
    }

    /// What [`Action::Resume`] found. After a legacy `<resume/>` a refusal lets the client
    /// bind instead; inside SASL2 it goes into the `<success/>` and the inline bind runs.
    pub(crate) fn resume_result(&mut self, r: Resumption) -> Vec<Action> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Resuming { user, previd } => match r {
                Resumption::Resumed { inbound, .. } => {
                    let resumed = Resumed { previd, h: inbound };
                    vec![
                        Action::Send(stanza::to_xml(&Element::from(resumed))),
                        Action::Resumed,
                    ]
                }
                Resumption::Unknown { h } => {
                    self.state = State::Bind(user);
                    let failed = Failed {
                        h,
                        condition: Some("item-not-found".into()),
                    };
                    vec![Action::Send(stanza::to_xml(&Element::from(failed)))]
                }
                Resumption::TooHigh(t) => vec![Action::End(End::TooHigh(t))],
            },
            State::Inline { user, inline } => self.inline_resumed(user, inline, r),
            _ => end("internal-server-error", None),
        }
    }

    fn claim(&mut self, user: String, resource: String, via: Via) -> Vec<Action> {
        self.state = State::Claim {
            user: user.clone(),
            resource: resource.clone(),
            via,
        };
        vec![Action::Claim { user, resource }]
    }

    /// The resource of [`Action::Claim`] is the session's.
    pub(crate) fn claimed(&mut self) -> Vec<Action> {
        let State::Claim {
            user,
            resource,
            via,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return end("internal-server-error", None);
        };
        let bare = format!("{user}@{}", self.settings.domain);
        let full = format!("{bare}/{resource}");
        match via {
            Via::Iq(iq) => {
                let mut result = stanza::iq_result(&iq, None);
                stanza::remove_attr(&mut result, "to");
                stanza::remove_attr(&mut result, "from");
                result.append_child(
                    Element::builder("bind", ns::BIND)
                        .append(
                            Element::builder("jid", ns::BIND)
                                .append(full.as_str())
                                .build(),
                        )
                        .build(),
                );
                vec![Action::Bound(Box::new(Bound {
                    user,
                    bare,
                    full,
                    result,
                    inactive: false,
                }))]
            }
            Via::Bind2(inline) => self.bind2_claimed(user, full, inline),
        }
    }

    /// The account already has as many resources as it may (`max`): the bind IQ gets
    /// `resource-constraint` (RFC 6120 7.6.2.1) and the client may try again; a Bind 2
    /// request gets the SASL2 success without `<bound/>`, then the features to bind with.
    pub(crate) fn claim_refused(&mut self, max: usize) -> Vec<Action> {
        let State::Claim { user, via, .. } = std::mem::replace(&mut self.state, State::Done) else {
            return end("internal-server-error", None);
        };
        let text = format!("at most {max} sessions per account");
        match via {
            Via::Iq(iq) => {
                let reply =
                    stanza::error_reply(&iq, ErrorType::Wait, "resource-constraint", Some(&text));
                self.state = State::Bind(user);
                vec![Action::Send(stanza::to_xml(&reply))]
            }
            Via::Bind2(inline) => {
                tracing::info!(user, "{text}: Bind 2 refused");
                self.inline_unbound(user, inline)
            }
        }
    }
}

fn end(condition: &'static str, text: Option<String>) -> Vec<Action> {
    vec![Action::End(End::Error(condition, text))]
}

fn valid_resource(r: &str, user: &str, domain: &str) -> bool {
    r.len() <= 1023
        && !r.chars().any(|c| c.is_control())
        && jid::FullJid::new(&format!("{user}@{domain}/{r}")).is_ok()
}
