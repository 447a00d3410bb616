//! The XMPP client session as a state machine: stream open, SASL (SCRAM-SHA-256,
//! SCRAM-SHA-1; PLAIN only when the transport is TLS or loopback), resource binding and
//! the initial presence with priority 0 (bare-JID delivery of MucSub events needs an
//! available resource; a short-lived session turns it off with
//! [`SessionConfig::initial_presence`]). Frames in, text to write and events out; no
//! sockets, no clock.
//!
//! Where the server offers them, SASL2 + Bind 2 + FAST (`sasl2`, docs/protocol.md X11–X12)
//! authenticate, resume or bind in one round trip; XEP-0198 stream management (`sm`, X10)
//! counts both ways and resumes after a lost connection, inline in SASL2 or with
//! `<resume/>` after RFC 6120 SASL (ejabberd 23.01). What a later connection needs to wake
//! ([`Wake`]) is carried by the caller from one `Session` to the next; with a FAST token
//! for a server known to offer SASL2, the sign-in goes out with the stream header
//! (`pipeline`): one round trip once the socket is open.

pub(crate) mod backoff;
pub(crate) mod fastxml;
pub mod framing;
pub(crate) mod iq;
mod managed;
mod pipeline;
mod sasl2;
pub mod sm;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use jid::{BareJid, FullJid};
use minidom::Element;
use sasl::client::mechanisms::{Plain, Scram};
use sasl::client::Mechanism;
use sasl::common::scram::{Sha1, Sha256};
use sasl::common::ChannelBinding;

pub use framing::{Frame, Framing};
pub use sasl2::{FastToken, Sasl2Offer, Wake};
pub use sm::StreamState;

use crate::protocol::ns;
use crate::protocol::sasl2::Authentication;
use crate::protocol::sm::Enable;

/// Account and transport facts the session needs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The account.
    pub jid: BareJid,
    /// Its password, or a token (see `token`).
    pub password: String,
    /// Requested resource (the server picks one when `None`).
    pub resource: Option<String>,
    /// TCP or WebSocket framing.
    pub framing: Framing,
    /// The transport is TLS or loopback: PLAIN is allowed.
    pub secure: bool,
    /// Send the initial presence on binding: `true` for a chat client (MucSub events to
    /// the bare JID need an available resource); `false` for a session that runs a few
    /// IQs and leaves (push registration): never available, it is never handed the
    /// account's offline messages nor counted as a session the user is at.
    pub initial_presence: bool,
    /// `password` is a token the app's backend signed (a JWT, as ejabberd's `auth_method:
    /// jwt` and mucsub-server's `[auth.jwt]` take it): the server can only check it as it
    /// is, so it goes with PLAIN — over TLS or loopback only — and never with SCRAM.
    pub token: bool,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No mechanism we may use is offered.
    #[error("no usable SASL mechanism (offered: {0:?})")]
    NoMechanism(Vec<String>),
    /// The server requires STARTTLS, which this transport cannot do.
    #[error("server requires STARTTLS")]
    TlsRequired,
    /// SASL failure (the condition name), or a server signature that did not verify.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// A token may only travel with PLAIN over TLS or loopback, and this server or
    /// connection offers no such way.
    #[error(
        "authentication failed: a token needs SASL PLAIN over TLS or loopback (offered: {0:?})"
    )]
    TokenNeedsPlain(Vec<String>),
    /// Resource binding failed.
    #[error("resource binding failed: {0}")]
    BindFailed(String),
    /// `<stream:error/>` with this condition.
    #[error("stream error: {0}")]
    Stream(String),
    /// The server sent something out of place.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The server closed the stream.
    #[error("stream closed by the server")]
    Closed,
    /// The `<authenticate/>` sent with the stream header met features that no longer offer
    /// SASL2 with the token's mechanism: the offer is forgotten and the next connection
    /// waits for the features (the client reconnects at once).
    #[error("the server no longer offers SASL2 with FAST: signing in again")]
    Sasl2Withdrawn,
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOut {
    /// Write this text (one WebSocket message, or bytes on TCP).
    Write(String),
    /// TCP only: reset the inbound parser (stream restart after SASL).
    ResetParser,
    /// Bound (and available, unless [`SessionConfig::initial_presence`] is off): a new
    /// session; what the former one missed must come from the archive.
    Ready(FullJid),
    /// The former stream was resumed (XEP-0198): same full JID, presence and rooms; what
    /// it missed follows as stanzas, and ours it never acknowledged were written again.
    Resumed(FullJid),
    /// The server issued a FAST token (first sign-in or rotation): persist it.
    Token(FastToken),
    /// The server refused our FAST token (the condition): it was dropped, the next
    /// sign-in needs the credentials.
    TokenRejected(String),
    /// A stanza for the layer above (only once ready).
    Stanza(Element),
    /// The session is over; close the transport.
    Ended(Option<SessionError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    AwaitOpen {
        authenticated: bool,
    },
    AwaitFeatures {
        authenticated: bool,
    },
    Sasl,
    /// A SASL2 `<authenticate/>` is out.
    Sasl2,
    /// A `<resume/>` after RFC 6120 SASL is out; `bind` is whether binding is offered.
    Resuming {
        bind: bool,
    },
    Binding,
    Ready,
    Ended,
}

/// The session state machine.
pub struct Session {
    cfg: SessionConfig,
    state: State,
    mech: Option<Box<dyn Mechanism>>,
    bound: Option<FullJid>,
    /// The authenticated stream's features offered XEP-0352.
    csi: bool,
    /// The authenticated stream's features offered XEP-0198 (RFC 6120 path).
    sm_offered: bool,
    /// Token, device and stream to wake with; updated as the server answers.
    wake: Wake,
    /// The FAST token this authentication uses.
    fast_in_use: Option<FastToken>,
    /// An `<authenticate/>` went out with the stream header; the features are still due.
    pipelined: bool,
}

impl Session {
    /// A session that has not started.
    pub fn new(cfg: SessionConfig) -> Self {
        Session::with_wake(cfg, Wake::default())
    }

    /// A session that will try to wake with `wake` (token, stream to resume).
    pub fn with_wake(cfg: SessionConfig, wake: Wake) -> Self {
        Session {
            cfg,
            state: State::Idle,
            mech: None,
            bound: None,
            csi: false,
            sm_offered: false,
            wake,
            fast_in_use: None,
            pipelined: false,
        }
    }

    /// What a later connection wakes with, as it stands now.
    pub fn wake(&self) -> &Wake {
        &self.wake
    }

    /// What a later connection wakes with, to replace.
    pub fn wake_mut(&mut self) -> &mut Wake {
        &mut self.wake
    }

    /// Takes what a later connection wakes with (for the next `Session`).
    pub fn take_wake(&mut self) -> Wake {
        std::mem::take(&mut self.wake)
    }

    /// The bound JID once ready.
    pub fn jid(&self) -> Option<&FullJid> {
        self.bound.as_ref()
    }

    /// Whether the server offered XEP-0352 Client State Indication (known once binding
    /// started; a server without it would end the stream on `<inactive/>`).
    pub fn csi_offered(&self) -> bool {
        self.csi
    }

    /// Whether stanzas may be sent.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// The transport just connected: the stream header, and with it the token sign-in
    /// when the server is known to take it (`pipeline`).
    pub fn start(&mut self) -> Vec<SessionOut> {
        self.state = State::AwaitOpen {
            authenticated: false,
        };
        self.opening()
    }

    /// A negotiation element: never counted.
    fn write(&self, e: &Element) -> SessionOut {
        SessionOut::Write(framing::serialize(e))
    }

    /// This connection ends: a stream it had resumed or bound ends with it on the server.
    /// (Before that, a stream waiting to be resumed belongs to a former connection and
    /// stays resumable.)
    fn end(&mut self) {
        if self.state == State::Ready {
            self.wake.stream = None;
        }
        self.state = State::Ended;
    }

    /// Close politely.
    pub fn close(&mut self) -> Vec<SessionOut> {
        let was_open = !matches!(self.state, State::Idle | State::Ended);
        self.end();
        if was_open {
            vec![
                SessionOut::Write(self.cfg.framing.close()),
                SessionOut::Ended(None),
            ]
        } else {
            vec![SessionOut::Ended(None)]
        }
    }

    /// The transport went away.
    pub fn transport_closed(&mut self) -> Vec<SessionOut> {
        if self.state == State::Ended {
            return Vec::new();
        }
        self.state = State::Ended;
        vec![SessionOut::Ended(Some(SessionError::Closed))]
    }

    fn fail(&mut self, e: SessionError) -> Vec<SessionOut> {
        self.end();
        vec![
            SessionOut::Write(self.cfg.framing.close()),
            SessionOut::Ended(Some(e)),
        ]
    }

    /// One frame from the server.
    pub fn handle(&mut self, frame: Frame) -> Vec<SessionOut> {
        match (self.state, frame) {
            (State::Ended | State::Idle, _) => Vec::new(),
            (_, Frame::Close) => {
                self.end();
                vec![SessionOut::Ended(Some(SessionError::Closed))]
            }
            (State::AwaitOpen { authenticated }, Frame::Open { .. }) => {
                self.state = State::AwaitFeatures { authenticated };
                Vec::new()
            }
            (_, Frame::Open { .. }) => {
                self.fail(SessionError::Protocol("unexpected stream open".into()))
            }
            (_, Frame::Element(e)) if e.is("error", ns::STREAM) => {
                let cond = e
                    .children()
                    .find(|c| c.ns() == ns::STREAMS_ERR && c.name() != "text")
                    .map(|c| c.name().to_owned())
                    .unwrap_or_else(|| "undefined-condition".into());
                self.end();
                vec![SessionOut::Ended(Some(SessionError::Stream(cond)))]
            }
            (State::AwaitFeatures { authenticated }, Frame::Element(e))
                if e.is("features", ns::STREAM) =>
            {
                if authenticated {
                    self.bind(&e)
                } else if self.pipelined {
                    self.pipelined_features(&e)
                } else {
                    self.authenticate(&e)
                }
            }
            (State::Sasl, Frame::Element(e)) if e.ns() == ns::SASL => self.sasl_step(&e),
            (State::Sasl2, Frame::Element(e)) if e.ns() == ns::SASL2 => self.sasl2_step(&e),
            (State::Resuming { bind }, Frame::Element(e)) if e.ns() == ns::SM => {
                self.legacy_resume_answer(&e, bind)
            }
            (State::Binding, Frame::Element(e))
                if e.name() == "iq" && e.attr("id") == Some("bind-1") =>
            {
                self.bound_result(&e)
            }
            (State::Ready, Frame::Element(e)) if e.ns() == ns::SM => self.sm_nonza(&e),
            // After a SASL2 success that bound, no features are due; tolerate them.
            (State::Ready, Frame::Element(e)) if e.is("features", ns::STREAM) => Vec::new(),
            (State::Ready, Frame::Element(e)) => {
                if sm::counts(&e) {
                    if let Some(st) = self.wake.stream.as_mut() {
                        st.on_received();
                    }
                }
                vec![SessionOut::Stanza(e)]
            }
            (_, Frame::Element(e)) => self.fail(SessionError::Protocol(format!(
                "unexpected <{}/> during negotiation",
                e.name()
            ))),
        }
    }

    fn authenticate(&mut self, features: &Element) -> Vec<SessionOut> {
        if let Some(tls) = features.get_child("starttls", ns::TLS) {
            if tls.has_child("required", ns::TLS) && !self.cfg.secure {
                return self.fail(SessionError::TlsRequired);
            }
        }
        // SASL2 where offered (the server offers it only where PLAIN may travel): one
        // round trip to a bound or resumed stream.
        let sasl2 = features
            .get_child("authentication", ns::SASL2)
            .filter(|_| self.wake.manage);
        if let Some(auth) = sasl2 {
            match Authentication::try_from(auth) {
                Ok(auth) => {
                    self.remember_offer(Some(&auth));
                    return self.sasl2_authenticate(&auth);
                }
                Err(e) => return self.fail(SessionError::Protocol(e.to_string())),
            }
        }
        self.remember_offer(None);
        let offered: Vec<String> = features
            .get_child("mechanisms", ns::SASL)
            .map(|m| {
                m.children()
                    .filter(|c| c.is("mechanism", ns::SASL))
                    .map(Element::text)
                    .collect()
            })
            .unwrap_or_default();
        let mut mech = match self.password_mechanism(&offered) {
            Ok(m) => m,
            Err(e) => return self.fail(e),
        };
        let initial = mech.initial();
        let auth = Element::builder("auth", ns::SASL)
            .attr(
                crate::protocol::xml::ncname("mechanism"),
                mech.name().to_owned(),
            )
            .append(if initial.is_empty() {
                "=".to_owned()
            } else {
                B64.encode(initial)
            })
            .build();
        self.mech = Some(mech);
        self.state = State::Sasl;
        vec![self.write(&auth)]
    }

    /// The mechanism for the password (or app token) among those offered: SCRAM-SHA-256,
    /// SCRAM-SHA-1, PLAIN over TLS or loopback; an app token with PLAIN only.
    fn password_mechanism(&self, offered: &[String]) -> Result<Box<dyn Mechanism>, SessionError> {
        let user = self.username();
        let pass = self.cfg.password.clone();
        if pass.is_empty() {
            // No password and no token the server takes: only the user can help.
            return Err(SessionError::AuthFailed(
                "credentials needed (no password, and no token the server takes)".into(),
            ));
        }
        let has = |m: &str| offered.iter().any(|o| o == m);
        let scram_err = |e| SessionError::AuthFailed(format!("{e:?}"));
        Ok(if self.cfg.token {
            if !(has("PLAIN") && self.cfg.secure) {
                return Err(SessionError::TokenNeedsPlain(offered.to_vec()));
            }
            Box::new(Plain::new(user, pass))
        } else if has("SCRAM-SHA-256") {
            Box::new(Scram::<Sha256>::new(user, pass, ChannelBinding::None).map_err(scram_err)?)
        } else if has("SCRAM-SHA-1") {
            Box::new(Scram::<Sha1>::new(user, pass, ChannelBinding::None).map_err(scram_err)?)
        } else if has("PLAIN") && self.cfg.secure {
            Box::new(Plain::new(user, pass))
        } else {
            return Err(SessionError::NoMechanism(offered.to_vec()));
        })
    }

    fn sasl_step(&mut self, e: &Element) -> Vec<SessionOut> {
        let data = match e.text().trim() {
            "" | "=" => Vec::new(),
            t => match B64.decode(t) {
                Ok(d) => d,
                Err(_) => return self.fail(SessionError::Protocol("bad base64 in SASL".into())),
            },
        };
        let Some(mech) = self.mech.as_mut() else {
            return self.fail(SessionError::Protocol("SASL without mechanism".into()));
        };
        match e.name() {
            "challenge" => match mech.response(&data) {
                Ok(resp) => {
                    let r = Element::builder("response", ns::SASL)
                        .append(B64.encode(resp))
                        .build();
                    vec![self.write(&r)]
                }
                Err(err) => self.fail(SessionError::AuthFailed(format!("{err:?}"))),
            },
            "success" => match mech.success(&data) {
                Ok(()) => {
                    self.mech = None;
                    self.state = State::AwaitOpen {
                        authenticated: true,
                    };
                    vec![
                        SessionOut::ResetParser,
                        SessionOut::Write(self.cfg.framing.open(self.cfg.jid.domain().as_str())),
                    ]
                }
                Err(err) => self.fail(SessionError::AuthFailed(format!(
                    "server signature: {err:?}"
                ))),
            },
            "failure" => {
                let cond = e
                    .children()
                    .find(|c| c.name() != "text")
                    .map(|c| c.name().to_owned())
                    .unwrap_or_else(|| "not-authorized".into());
                self.fail(SessionError::AuthFailed(cond))
            }
            other => self.fail(SessionError::Protocol(format!(
                "unexpected SASL <{other}/>"
            ))),
        }
    }

    fn bind_request(&mut self, offered: bool) -> Vec<SessionOut> {
        if !offered {
            return self.fail(SessionError::BindFailed("server offers no binding".into()));
        }
        let mut bind = Element::builder("bind", ns::BIND);
        if let Some(r) = &self.cfg.resource {
            bind = bind.append(
                Element::builder("resource", ns::BIND)
                    .append(r.clone())
                    .build(),
            );
        }
        let iq = Element::builder("iq", crate::protocol::ns::JABBER_CLIENT)
            .attr(crate::protocol::xml::ncname("type"), "set")
            .attr(crate::protocol::xml::ncname("id"), "bind-1")
            .append(bind.build())
            .build();
        self.state = State::Binding;
        vec![self.write(&iq)]
    }

    fn bound_result(&mut self, iq: &Element) -> Vec<SessionOut> {
        if iq.attr("type") != Some("result") {
            return self.fail(SessionError::BindFailed("server refused".into()));
        }
        let jid = iq
            .get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("jid", ns::BIND))
            .map(Element::text)
            .and_then(|j| FullJid::new(&j).ok());
        let Some(jid) = jid else {
            return self.fail(SessionError::BindFailed("no full JID in the result".into()));
        };
        let mut out = Vec::new();
        if self.sm_offered {
            // Counting starts with `<enable/>`: the presence below is our stanza number 1.
            let enable = Enable {
                resume: true,
                max: None,
            };
            out.push(self.write(&enable.into()));
            self.wake.stream = Some(StreamState::enabling(jid.clone()));
        }
        out.extend(self.bound_ready(jid));
        out
    }

    /// Bound: a new session. Sends the initial presence (unless turned off) and says so.
    fn bound_ready(&mut self, jid: FullJid) -> Vec<SessionOut> {
        self.bound = Some(jid.clone());
        self.state = State::Ready;
        if !self.cfg.initial_presence {
            return vec![SessionOut::Ready(jid)];
        }
        let presence = Element::builder("presence", crate::protocol::ns::JABBER_CLIENT)
            .append(
                Element::builder("priority", crate::protocol::ns::JABBER_CLIENT)
                    .append("0")
                    .build(),
            )
            .build();
        let mut out = self.send(&presence);
        out.push(SessionOut::Ready(jid));
        out
    }
}

#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod sm_tests;
#[cfg(test)]
mod tests;
