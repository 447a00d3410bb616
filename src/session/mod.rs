//! The XMPP client session as a state machine: stream open, SASL (SCRAM-SHA-256,
//! SCRAM-SHA-1; PLAIN only when the transport is TLS or loopback), resource binding and
//! the initial presence with priority 0 (bare-JID delivery of MucSub events needs an
//! available resource; a short-lived session turns it off with
//! [`SessionConfig::initial_presence`]). Frames in, text to write and events out; no
//! sockets, no clock.

pub(crate) mod backoff;
pub(crate) mod fastxml;
pub mod framing;
pub(crate) mod iq;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use jid::{BareJid, FullJid};
use minidom::Element;
use sasl::client::mechanisms::{Plain, Scram};
use sasl::client::Mechanism;
use sasl::common::scram::{Sha1, Sha256};
use sasl::common::ChannelBinding;

pub use framing::{Frame, Framing};

use crate::protocol::ns;

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
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOut {
    /// Write this text (one WebSocket message, or bytes on TCP).
    Write(String),
    /// TCP only: reset the inbound parser (stream restart after SASL).
    ResetParser,
    /// Bound (and available, unless [`SessionConfig::initial_presence`] is off).
    Ready(FullJid),
    /// A stanza for the layer above (only once ready).
    Stanza(Element),
    /// The session is over; close the transport.
    Ended(Option<SessionError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    AwaitOpen { authenticated: bool },
    AwaitFeatures { authenticated: bool },
    Sasl,
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
}

impl Session {
    /// A session that has not started.
    pub fn new(cfg: SessionConfig) -> Self {
        Session {
            cfg,
            state: State::Idle,
            mech: None,
            bound: None,
            csi: false,
        }
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

    /// The transport just connected.
    pub fn start(&mut self) -> Vec<SessionOut> {
        self.state = State::AwaitOpen {
            authenticated: false,
        };
        vec![SessionOut::Write(
            self.cfg.framing.open(self.cfg.jid.domain().as_str()),
        )]
    }

    /// Serialize a stanza for sending (only meaningful once ready).
    pub fn send(&self, stanza: &Element) -> SessionOut {
        SessionOut::Write(framing::serialize(stanza))
    }

    /// Close politely.
    pub fn close(&mut self) -> Vec<SessionOut> {
        let was_open = !matches!(self.state, State::Idle | State::Ended);
        self.state = State::Ended;
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
        self.state = State::Ended;
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
                self.state = State::Ended;
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
                self.state = State::Ended;
                vec![SessionOut::Ended(Some(SessionError::Stream(cond)))]
            }
            (State::AwaitFeatures { authenticated }, Frame::Element(e))
                if e.is("features", ns::STREAM) =>
            {
                if authenticated {
                    self.bind(&e)
                } else {
                    self.authenticate(&e)
                }
            }
            (State::Sasl, Frame::Element(e)) if e.ns() == ns::SASL => self.sasl_step(&e),
            (State::Binding, Frame::Element(e))
                if e.name() == "iq" && e.attr("id") == Some("bind-1") =>
            {
                self.bound_result(&e)
            }
            (State::Ready, Frame::Element(e)) => vec![SessionOut::Stanza(e)],
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
        let offered: Vec<String> = features
            .get_child("mechanisms", ns::SASL)
            .map(|m| {
                m.children()
                    .filter(|c| c.is("mechanism", ns::SASL))
                    .map(Element::text)
                    .collect()
            })
            .unwrap_or_default();
        let user = self
            .cfg
            .jid
            .node()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let pass = self.cfg.password.clone();
        let has = |m: &str| offered.iter().any(|o| o == m);
        let mech: Box<dyn Mechanism> = if self.cfg.token {
            if !(has("PLAIN") && self.cfg.secure) {
                return self.fail(SessionError::TokenNeedsPlain(offered));
            }
            Box::new(Plain::new(user, pass))
        } else if has("SCRAM-SHA-256") {
            match Scram::<Sha256>::new(user, pass, ChannelBinding::None) {
                Ok(m) => Box::new(m),
                Err(e) => return self.fail(SessionError::AuthFailed(format!("{e:?}"))),
            }
        } else if has("SCRAM-SHA-1") {
            match Scram::<Sha1>::new(user, pass, ChannelBinding::None) {
                Ok(m) => Box::new(m),
                Err(e) => return self.fail(SessionError::AuthFailed(format!("{e:?}"))),
            }
        } else if has("PLAIN") && self.cfg.secure {
            Box::new(Plain::new(user, pass))
        } else {
            return self.fail(SessionError::NoMechanism(offered));
        };
        let mut mech = mech;
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
        vec![self.send(&auth)]
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
                    vec![self.send(&r)]
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

    fn bind(&mut self, features: &Element) -> Vec<SessionOut> {
        if !features.has_child("bind", ns::BIND) {
            return self.fail(SessionError::BindFailed("server offers no binding".into()));
        }
        self.csi = features.has_child("csi", ns::CSI);
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
        vec![self.send(&iq)]
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
        vec![self.send(&presence), SessionOut::Ready(jid)]
    }
}

#[cfg(test)]
mod tests;
