//! Stream negotiation (RFC 6120 4–7) as a state machine without I/O: the client's stream
//! headers, STARTTLS, SASL (with the failure count), XEP-0077 registration before
//! authentication, and resource binding. It ends in a [`Bound`].
//!
//! The machine is fed what the client sent ([`Negotiation::event`]) and the answers to what
//! it asked for (credentials, the TLS upgrade, the claim of a resource); it answers with
//! [`Action`]s the driver ([`super::handshake`]) carries out in order. Everything that
//! waits — the socket, the database, the router's session table — stays in the driver, so
//! every step here is a plain function call, and tests run whole negotiations without a
//! socket. Later ways to reach a bound session (SASL2/Bind2, stream resumption) are new
//! states and actions here.

use super::conn::End;
use super::features::{self, Security};
use crate::auth::{self, Exchange, Failure, Prefetched, Step};
use crate::ns;
use crate::stanza::{self, ErrorType};
use crate::storage::Credentials;
use crate::xmlstream::StreamEvent;
use minidom::Element;
use std::collections::HashMap;

/// The configuration negotiation depends on.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The served domain (lower case): the stream's `to` and the bound JID's domain.
    pub(crate) domain: String,
    /// XEP-0077 in-band registration is enabled (`registration`).
    pub(crate) registration: bool,
    /// Failed SASL attempts before the stream is closed (`[limits] max_auth_failures`).
    pub(crate) max_auth_failures: u32,
    /// Stored passwords are accepted (`[auth] methods` has `password`): SCRAM is offered.
    pub(crate) scram: bool,
}

/// Where negotiation ends: an authenticated account bound to a resource. The session loop
/// starts from it.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    /// The account's localpart.
    pub(crate) user: String,
    /// `user@domain`
    pub(crate) bare: String,
    /// `user@domain/resource`
    pub(crate) full: String,
    /// The bind IQ's result, the first thing the session sends.
    pub(crate) result: Element,
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
    /// Claim the resource for the account in the session table, then call
    /// [`Negotiation::claimed`] or [`Negotiation::claim_refused`].
    Claim { user: String, resource: String },
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

enum State {
    /// Waiting for the client's stream header: before authentication (again after
    /// STARTTLS), or once authenticated (`Some(user)`).
    Header(Option<String>),
    /// Pre-auth features sent: STARTTLS, SASL `<auth/>` or a registration IQ may come.
    Auth,
    /// `<proceed/>` sent; the driver upgrades the connection.
    Tls,
    /// PLAIN `<auth/>` read; the driver checks it.
    Plain,
    /// SCRAM `<auth/>` read; the driver looks the named account up.
    Credentials {
        mechanism: String,
        initial: Vec<u8>,
        user: String,
    },
    /// A challenge went out; `<response/>` or `<abort/>` comes next.
    Challenge {
        mechanism: String,
        exchange: Exchange,
    },
    /// Authenticated stream features sent: waiting for the bind IQ.
    Bind(String),
    /// The driver claims the resource for the bind IQ.
    Claim {
        user: String,
        resource: String,
        iq: Element,
    },
    /// Bound, or ended: nothing more to negotiate.
    Done,
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
                },
                StreamEvent::Stanza(el),
            ) => self.response(mechanism, exchange, &el),
            (State::Bind(user), StreamEvent::Stanza(el)) => self.bind(user, el),
            // The driver feeds nothing while it carries out an action.
            (
                State::Tls
                | State::Plain
                | State::Credentials { .. }
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
                features::pre_auth(
                    self.security,
                    self.settings.registration,
                    self.settings.scram,
                )
            }
            Some(user) => {
                self.state = State::Bind(user);
                features::authenticated()
            }
        };
        out.push(Action::Send(stanza::to_xml(&features)));
        out
    }

    /// Before authentication: STARTTLS, SASL `<auth/>`, or XEP-0077 registration; anything
    /// else is `not-authorized` (RFC 6120 6.4.x).
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

    /// SASL `<auth/>`: checks the mechanism and the initial response, then asks for the
    /// PLAIN message to be checked, or for the credentials of the account SCRAM names.
    fn auth(&mut self, el: &Element) -> Vec<Action> {
        let mechanism = el.attr("mechanism").unwrap_or("").to_owned();
        if !self.security.auth_allowed() {
            return self.sasl_failed("encryption-required");
        }
        let offered = (self.settings.scram && auth::SCRAM_MECHANISMS.contains(&mechanism.as_str()))
            || (mechanism == "PLAIN" && self.security.plain_allowed());
        if !offered {
            return self.sasl_failed(Failure::InvalidMechanism.condition());
        }
        let initial = match auth::decode_payload(&el.text()) {
            Ok(p) => p,
            Err(f) => return self.sasl_failed(f.condition()),
        };
        if mechanism == "PLAIN" {
            if let Err(f) = auth::plain::PlainMessage::parse(&initial) {
                return self.sasl_failed(f.condition());
            }
            self.state = State::Plain;
            return vec![Action::VerifyPlain(initial)];
        }
        let Some(user) = auth::initial_username(&mechanism, &initial) else {
            return self.sasl_failed(Failure::MalformedRequest.condition());
        };
        self.state = State::Credentials {
            mechanism,
            initial,
            user: user.clone(),
        };
        vec![Action::FetchCredentials(user)]
    }

    /// The credentials asked for by [`Action::FetchCredentials`]. A SCRAM exchange for an
    /// account that does not exist runs on decoy credentials, so it fails only at the end,
    /// like a wrong password.
    pub(crate) fn credentials(&mut self, lookup: Lookup) -> Vec<Action> {
        let State::Credentials {
            mechanism,
            initial,
            user,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return end("internal-server-error", None);
        };
        let creds = match lookup {
            Lookup::Found(c) => Some(c),
            Lookup::NoSuchAccount if mechanism.starts_with("SCRAM-") => {
                auth::decoy_credentials(&user)
            }
            Lookup::NoSuchAccount => None,
            Lookup::Failed => return self.sasl_failed("temporary-auth-failure"),
        };
        match Exchange::start(&mechanism, &initial, Prefetched { user, creds }) {
            Ok((exchange, step)) => self.sasl_step(mechanism, exchange, step),
            Err(f) => self.sasl_failed(f.condition()),
        }
    }

    /// The outcome of [`Action::VerifyPlain`].
    pub(crate) fn plain_verified(
        &mut self,
        outcome: Result<auth::plain::PlainSuccess, Failure>,
    ) -> Vec<Action> {
        if !matches!(self.state, State::Plain) {
            return end("internal-server-error", None);
        }
        match outcome {
            Ok(ok) => {
                tracing::info!(user = ok.user, mechanism = "PLAIN", with = ?ok.with, "authenticated");
                self.succeeded(ok.user, &[])
            }
            Err(f) => {
                tracing::info!(
                    mechanism = "PLAIN",
                    condition = f.condition(),
                    "authentication failed"
                );
                self.sasl_failed(f.condition())
            }
        }
    }

    /// SASL `<success/>`: the stream restarts, authenticated as `user`.
    fn succeeded(&mut self, user: String, data: &[u8]) -> Vec<Action> {
        let success = format!(
            "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</success>",
            auth::encode_payload(data)
        );
        self.state = State::Header(Some(user));
        vec![Action::Send(success), Action::Restart]
    }

    /// A `<response/>` (or `<abort/>`) to the challenge that went out.
    fn response(&mut self, mechanism: String, mut exchange: Exchange, el: &Element) -> Vec<Action> {
        if el.is("abort", ns::SASL) {
            return self.sasl_failed("aborted");
        }
        if !el.is("response", ns::SASL) {
            return end("not-authorized", None);
        }
        let data = match auth::decode_payload(&el.text()) {
            Ok(d) => d,
            Err(f) => return self.sasl_failed(f.condition()),
        };
        match exchange.step(&data) {
            Ok(step) => self.sasl_step(mechanism, exchange, step),
            Err(f) => {
                tracing::info!(mechanism, "authentication failed");
                self.sasl_failed(f.condition())
            }
        }
    }

    fn sasl_step(&mut self, mechanism: String, exchange: Exchange, step: Step) -> Vec<Action> {
        match step {
            Step::Success { user, data } => {
                tracing::info!(user, mechanism, "authenticated");
                self.succeeded(user, &data)
            }
            Step::Challenge(c) => {
                let challenge = format!(
                    "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</challenge>",
                    auth::encode_payload(&c)
                );
                self.state = State::Challenge {
                    mechanism,
                    exchange,
                };
                vec![Action::Send(challenge)]
            }
        }
    }

    /// A SASL `<failure/>`; the client may try again, up to `max_auth_failures` times.
    fn sasl_failed(&mut self, condition: &str) -> Vec<Action> {
        let mut out = vec![Action::Send(format!(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{condition}/></failure>"
        ))];
        self.failures += 1;
        if self.failures >= self.settings.max_auth_failures {
            out.push(Action::End(End::Error(
                "policy-violation",
                Some("too many failed authentication attempts".into()),
            )));
        } else {
            self.state = State::Auth;
        }
        out
    }

    /// After authentication only resource binding (RFC 6120 7) may come. A bad or missing
    /// `<bind/>` gets an IQ error and the client may try again.
    fn bind(&mut self, user: String, el: Element) -> Vec<Action> {
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
        self.state = State::Claim {
            user: user.clone(),
            resource: resource.clone(),
            iq: el,
        };
        vec![Action::Claim { user, resource }]
    }

    /// The resource of [`Action::Claim`] is the session's: negotiation is over.
    pub(crate) fn claimed(&mut self) -> Option<Bound> {
        let State::Claim { user, resource, iq } = std::mem::replace(&mut self.state, State::Done)
        else {
            return None;
        };
        let bare = format!("{user}@{}", self.settings.domain);
        let full = format!("{bare}/{resource}");
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
        Some(Bound {
            user,
            bare,
            full,
            result,
        })
    }

    /// The account already has as many resources as it may (`max`): the bind IQ gets
    /// `resource-constraint` (RFC 6120 7.6.2.1) and the client may try again.
    pub(crate) fn claim_refused(&mut self, max: usize) -> Vec<Action> {
        let State::Claim { user, iq, .. } = std::mem::replace(&mut self.state, State::Done) else {
            return end("internal-server-error", None);
        };
        let text = format!("at most {max} sessions per account");
        let reply = stanza::error_reply(&iq, ErrorType::Wait, "resource-constraint", Some(&text));
        self.state = State::Bind(user);
        vec![Action::Send(stanza::to_xml(&reply))]
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
