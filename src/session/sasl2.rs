//! The session's XEP-0388 SASL2 path (docs/protocol.md X11, X12): one `<authenticate/>`
//! carrying the device's `<user-agent id>`, a FAST token (`HT-SHA-256-NONE`) or the
//! password/app token, an inline XEP-0198 `<resume/>` of the former stream and a Bind 2
//! `<bind/>` with `<enable resume='true'/>` as its fallback, and a `<request-token/>` on a
//! password sign-in; then one `<success/>` that resumes or binds with no stream restart.
//! The elements are the protocol crate's typed ones, the same the server reads.

use jid::FullJid;
use minidom::Element;
use serde::{Deserialize, Serialize};

use super::sm::StreamState;
use super::{Session, SessionError, SessionOut, State};
use crate::protocol::bind2::{BindFeature, BindRequest};
use crate::protocol::fast::{self, FastAuth, FastFeature, RequestToken, HT_SHA_256_NONE};
use crate::protocol::ns;
use crate::protocol::sasl2::{Authenticate, Authentication, Failure, SaslData, Success, UserAgent};
use crate::protocol::sm::{Enable, Resume};

/// A FAST token as the server issued it (XEP-0484): the secret the device signs in with
/// instead of the password. Persisted by the driver; never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastToken {
    /// The secret (the HMAC key of the HT mechanism).
    pub token: String,
    /// When it stops working (XEP-0082 date-time, as the server wrote it).
    pub expiry: String,
    /// The mechanism it is bound to.
    pub mechanism: String,
}

/// What lets a device wake without its password: its `<user-agent id>` (a UUID the driver
/// generates once and keeps), its FAST token, and the stream it may resume. The client
/// carries it from one connection to the next; the driver persists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Wake {
    /// Use SASL2, Bind 2, FAST and XEP-0198 where the server offers them. Off for
    /// [`Session::new`] (short sessions, the load generator's raw clients): a managed
    /// stream that loses its socket waits on the server instead of ending.
    pub manage: bool,
    /// The device's `<user-agent id>` (FAST tokens are bound to it); no FAST without it.
    pub device_id: Option<String>,
    /// The FAST token, when the server issued one.
    pub token: Option<FastToken>,
    /// The managed stream a new connection tries to resume.
    pub stream: Option<StreamState>,
    /// What the server offered in SASL2 the last time its features were read: with a FAST
    /// token for one of its mechanisms, a wake sends the `<authenticate/>` with the stream
    /// header instead of waiting for the features (`pipeline.rs`). `None` for a server
    /// without SASL2 (ejabberd 23.01), which is then never sent one unasked.
    pub sasl2: Option<Sasl2Offer>,
    /// Revoke the device's tokens on this token sign-in (`<fast invalidate='true'/>`).
    pub invalidate: bool,
    /// The Bind 2 tag: the server derives the resource from the tag and the device id, so
    /// two pages of one browser (one device id) need tags of their own or each bind would
    /// take the other's resource over. Without a tag, a session that asks for a resource
    /// binds it the RFC 6120 way after SASL2 (Bind 2 cannot ask for one). Not saved.
    #[serde(skip)]
    pub tag: Option<String>,
}

/// What a server's SASL2 `<authentication/>` feature offered, as far as a token sign-in
/// needs it (no password mechanisms: a pipelined sign-in never uses one). Kept with the
/// token, so a later connection knows before the features come what they will offer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sasl2Offer {
    /// XEP-0198 resumption may ride in `<authenticate/>`.
    pub inline_sm: bool,
    /// Bind 2, with the namespaces its request may carry inline.
    pub bind: Option<Vec<String>>,
    /// The FAST token mechanisms.
    pub fast: Vec<String>,
}

impl From<&Authentication> for Sasl2Offer {
    fn from(a: &Authentication) -> Self {
        Sasl2Offer {
            inline_sm: a.inline_sm,
            bind: a.bind.as_ref().map(|b| b.inline.clone()),
            fast: a
                .fast
                .as_ref()
                .map(|f| f.mechanisms.clone())
                .unwrap_or_default(),
        }
    }
}

impl Sasl2Offer {
    /// The feature as it was offered (without password mechanisms).
    pub(super) fn authentication(&self) -> Authentication {
        Authentication {
            mechanisms: Vec::new(),
            inline_sm: self.inline_sm,
            bind: self.bind.clone().map(|inline| BindFeature { inline }),
            fast: Some(FastFeature {
                mechanisms: self.fast.clone(),
                tls_0rtt: false,
            }),
        }
    }
}

/// The Bind 2 tag when the app asked for no resource: the server derives a stable resource
/// `TAG.SUFFIX` from it and the device id.
const DEFAULT_TAG: &str = "mucsub";

impl Session {
    /// The server offers SASL2: authenticate with the token when we hold one the server
    /// takes, else with the password (or app token) as on the RFC 6120 path.
    pub(super) fn sasl2_authenticate(&mut self, auth: &Authentication) -> Vec<SessionOut> {
        self.csi = auth
            .bind
            .as_ref()
            .is_some_and(|b| b.inline.iter().any(|f| f == ns::CSI));
        let user = self.username();
        let fast_mechs = auth.fast.as_ref().map(|f| &f.mechanisms[..]).unwrap_or(&[]);
        let token = match (&self.wake.token, &self.wake.device_id) {
            (Some(t), Some(_)) if fast_mechs.contains(&t.mechanism) => Some(t.clone()),
            _ => None,
        };
        let mut req = Authenticate {
            user_agent: self.wake.device_id.clone().map(|id| UserAgent {
                id: Some(id),
                software: Some("mucsub".into()),
                device: None,
            }),
            ..Authenticate::default()
        };
        if let Some(t) = token {
            req.mechanism = t.mechanism.clone();
            req.initial_response = Some(fast::initial_response(&user, &t.token, b""));
            req.fast = Some(FastAuth {
                count: None,
                invalidate: self.wake.invalidate,
            });
            self.fast_in_use = Some(t);
        } else {
            let mut mech = match self.password_mechanism(&auth.mechanisms) {
                Ok(m) => m,
                Err(e) => return self.fail(e),
            };
            req.mechanism = mech.name().to_owned();
            req.initial_response = Some(mech.initial());
            if self.wake.device_id.is_some()
                && fast_mechs.iter().any(|m| m == HT_SHA_256_NONE)
                && !self.wake.invalidate
            {
                req.request_token = Some(RequestToken {
                    mechanism: HT_SHA_256_NONE.into(),
                });
            }
            self.mech = Some(mech);
        }
        if auth.inline_sm {
            if let Some(s) = self.wake.stream.as_ref().filter(|s| s.resumable()) {
                req.resume = Some(Resume {
                    previd: s.id.clone().unwrap_or_default(),
                    h: s.inbound,
                });
            }
        }
        // Bind 2 derives the resource from a tag and the device: a resource the app asked
        // for (with no tag set) is bound the RFC 6120 way once the features follow.
        let bind2 = auth
            .bind
            .as_ref()
            .filter(|_| self.wake.tag.is_some() || self.cfg.resource.is_none());
        if let Some(b) = bind2 {
            req.bind = Some(BindRequest {
                tag: Some(
                    self.wake
                        .tag
                        .clone()
                        .or_else(|| self.cfg.resource.clone())
                        .unwrap_or_else(|| DEFAULT_TAG.into()),
                ),
                sm: b.inline.iter().any(|f| f == ns::SM).then_some(Enable {
                    resume: true,
                    max: None,
                }),
                inactive: None,
            });
        }
        self.state = State::Sasl2;
        vec![self.write(&Element::from(req))]
    }

    /// A SASL2 `<challenge/>`, `<success/>` or `<failure/>`.
    pub(super) fn sasl2_step(&mut self, e: &Element) -> Vec<SessionOut> {
        match e.name() {
            "challenge" => {
                let data = match SaslData::try_from(e) {
                    Ok(d) => d.data,
                    Err(err) => return self.fail(SessionError::Protocol(err.to_string())),
                };
                let Some(mech) = self.mech.as_mut() else {
                    return self.fail(SessionError::Protocol("challenge to a token".into()));
                };
                match mech.response(&data) {
                    Ok(resp) => vec![self.write(&SaslData::response(resp).into())],
                    Err(err) => self.fail(SessionError::AuthFailed(format!("{err:?}"))),
                }
            }
            "success" => match Success::try_from(e) {
                Ok(s) => self.sasl2_success(s),
                Err(err) => self.fail(SessionError::Protocol(err.to_string())),
            },
            "failure" => {
                let cond = Failure::try_from(e)
                    .map(|f| f.condition)
                    .unwrap_or_else(|_| "not-authorized".into());
                let mut out = Vec::new();
                if self.fast_in_use.take().is_some() {
                    // Unknown, revoked, expired or forged: it will never work again.
                    self.wake.token = None;
                    out.push(SessionOut::TokenRejected(cond.clone()));
                }
                out.extend(self.fail(SessionError::AuthFailed(cond)));
                out
            }
            other => self.fail(SessionError::Protocol(format!(
                "unexpected SASL2 <{other}/>"
            ))),
        }
    }

    fn sasl2_success(&mut self, s: Success) -> Vec<SessionOut> {
        let additional = s.additional_data.clone().unwrap_or_default();
        if let Some(t) = self.fast_in_use.take() {
            // Mutual authentication: only the holder of the token computes this.
            let expected = fast::responder_proof(&t.token, b"");
            if !fast::equal_constant_time(&additional, &expected) {
                return self.fail(SessionError::AuthFailed(
                    "the server's FAST proof does not verify".into(),
                ));
            }
            if self.wake.invalidate {
                self.wake.token = None;
            }
        } else if let Some(mut mech) = self.mech.take() {
            if let Err(err) = mech.success(&additional) {
                return self.fail(SessionError::AuthFailed(format!(
                    "server signature: {err:?}"
                )));
            }
        }
        let mut out = Vec::new();
        if let Some(t) = s.token {
            let token = FastToken {
                token: t.token,
                expiry: t.expiry,
                mechanism: HT_SHA_256_NONE.into(),
            };
            self.wake.token = Some(token.clone());
            out.push(SessionOut::Token(token));
        }
        if let Some(r) = s.resumed {
            let Some(mut stream) = self.wake.stream.take() else {
                return self.fail(SessionError::Protocol("resumed without a stream".into()));
            };
            let resend = stream.on_resumed(r.h);
            let jid = stream.jid.clone();
            self.wake.stream = Some(stream);
            out.extend(self.resumed(jid, resend));
            return out;
        }
        if s.failed.is_some() {
            // The former stream is gone (timed out or replaced): a new one starts, and
            // what it missed comes from the archive.
            self.wake.stream = None;
        }
        let Some(bound) = s.bound else {
            // Authenticated, nothing bound: the stream features follow on this stream.
            self.state = State::AwaitFeatures {
                authenticated: true,
            };
            return out;
        };
        let Ok(jid) = FullJid::new(&s.authorization_identifier) else {
            out.extend(self.fail(SessionError::BindFailed(format!(
                "'{}' is not a full JID",
                s.authorization_identifier
            ))));
            return out;
        };
        self.wake.stream = bound.enabled.map(|en| {
            let mut st = StreamState::enabling(jid.clone());
            st.on_enabled(&en);
            st
        });
        out.extend(self.bound_ready(jid));
        out
    }

    /// The SASL username: the account's local part.
    pub(super) fn username(&self) -> String {
        self.cfg
            .jid
            .node()
            .map(|n| n.to_string())
            .unwrap_or_default()
    }
}
