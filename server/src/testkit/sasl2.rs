//! SASL2 (XEP-0388) on the raw client, with what it can carry inline: Bind 2 (XEP-0386)
//! with stream management and CSI, an XEP-0198 resumption, and FAST (XEP-0484) tokens —
//! requested after a password sign-in, or used instead of the password.

use super::client::RawClient;
use crate::ns;
use base64::Engine;
use minidom::Element;
use mucsub_protocol::bind2::BindRequest;
use mucsub_protocol::fast::{self, FastAuth, RequestToken, HT_SHA_256_NONE};
use mucsub_protocol::sasl2::{Authenticate, Failure, SaslData, Success, UserAgent};
use mucsub_protocol::sm::{Enable, Resume};
use std::net::SocketAddr;

/// A user-agent id for tests (a UUID).
pub const TEST_DEVICE: &str = "d4565fa7-4d72-4749-b3d3-740edbf87770";

/// How a SASL2 sign-in proves who it is.
#[derive(Debug, Clone)]
pub enum Proof {
    Plain(String),
    ScramSha256(String),
    /// A FAST token, with `<fast count invalidate/>`.
    Token {
        token: String,
        count: Option<u32>,
        invalidate: bool,
    },
}

/// One SASL2 `<authenticate/>` and what it carries.
#[derive(Debug, Clone)]
pub struct Sasl2Login {
    pub user: String,
    pub proof: Proof,
    /// `<user-agent id>` (FAST needs one).
    pub device: Option<String>,
    /// Bind 2 with this tag, stream management (resumable) when `sm`, `<inactive/>` when
    /// `inactive`.
    pub bind: Option<(String, bool, bool)>,
    /// `<resume previd h/>`.
    pub resume: Option<(String, u32)>,
    /// `<request-token mechanism='HT-SHA-256-NONE'/>`.
    pub request_token: bool,
}

impl Sasl2Login {
    /// PLAIN, from [`TEST_DEVICE`], binding with tag `test` and resumable stream
    /// management; nothing else.
    pub fn plain(user: &str, password: &str) -> Sasl2Login {
        Sasl2Login {
            user: user.into(),
            proof: Proof::Plain(password.into()),
            device: Some(TEST_DEVICE.into()),
            bind: Some(("test".into(), true, false)),
            resume: None,
            request_token: false,
        }
    }

    /// [`Sasl2Login::plain`] with a FAST token instead of the password.
    pub fn token(user: &str, token: &str, count: Option<u32>) -> Sasl2Login {
        Sasl2Login {
            proof: Proof::Token {
                token: token.into(),
                count,
                invalidate: false,
            },
            ..Sasl2Login::plain(user, "")
        }
    }
}

impl RawClient {
    /// Opens a WebSocket and signs in with SASL2.
    pub async fn sasl2_ws(url: &str, login: &Sasl2Login) -> (RawClient, Result<Success, Failure>) {
        let mut c = RawClient::connect_ws(url).await;
        c.open().await;
        let f = c.read_features().await;
        assert!(f.has_child("authentication", ns::SASL2), "SASL2 offered");
        let r = c.sasl2(login).await;
        (c, r)
    }

    /// Opens a TCP connection (loopback: SASL2 without TLS) and signs in with SASL2.
    pub async fn sasl2_tcp(
        addr: SocketAddr,
        login: &Sasl2Login,
    ) -> (RawClient, Result<Success, Failure>) {
        let mut c = RawClient::connect_tcp(addr).await;
        c.open().await;
        let f = c.read_features().await;
        assert!(f.has_child("authentication", ns::SASL2), "SASL2 offered");
        let r = c.sasl2(login).await;
        (c, r)
    }

    /// Runs one SASL2 authentication on a stream whose features were read. On success the
    /// client takes the bound or resumed JID and starts counting when stream management
    /// came with it; without either, the stream features that follow are read too.
    pub async fn sasl2(&mut self, login: &Sasl2Login) -> Result<Success, Failure> {
        let mut scram = None;
        let (mechanism, initial) = match &login.proof {
            Proof::Plain(pw) => ("PLAIN", format!("\0{}\0{pw}", login.user).into_bytes()),
            Proof::ScramSha256(pw) => {
                use sasl::client::Mechanism;
                let creds = sasl::common::Credentials::default()
                    .with_username(login.user.clone())
                    .with_password(pw.clone())
                    .with_channel_binding(sasl::common::ChannelBinding::None);
                let mut m = sasl::client::mechanisms::Scram::<sasl::common::scram::Sha256>::from_credentials(creds)
                    .expect("scram");
                let first = m.initial();
                scram = Some(m);
                ("SCRAM-SHA-256", first)
            }
            Proof::Token { token, .. } => (
                HT_SHA_256_NONE,
                fast::initial_response(&login.user, token, b""),
            ),
        };
        let request = Authenticate {
            mechanism: mechanism.into(),
            initial_response: Some(initial),
            user_agent: login.device.as_ref().map(|id| UserAgent {
                id: Some(id.clone()),
                software: Some("mucsub-testkit".into()),
                device: None,
            }),
            resume: login.resume.as_ref().map(|(previd, h)| Resume {
                previd: previd.clone(),
                h: *h,
            }),
            bind: login.bind.as_ref().map(|(tag, sm, inactive)| BindRequest {
                tag: Some(tag.clone()),
                sm: sm.then_some(Enable {
                    resume: true,
                    max: None,
                }),
                inactive: inactive.then_some(true),
            }),
            request_token: login.request_token.then(|| RequestToken {
                mechanism: HT_SHA_256_NONE.into(),
            }),
            fast: match &login.proof {
                Proof::Token {
                    count, invalidate, ..
                } => Some(FastAuth {
                    count: *count,
                    invalidate: *invalidate,
                }),
                _ => None,
            },
        };
        self.send_el(&Element::from(request)).await;
        let mut el = self.recv().await;
        if let Some(m) = scram.as_mut() {
            use sasl::client::Mechanism;
            if el.is("challenge", ns::SASL2) {
                let ch = SaslData::try_from(el.clone()).expect("challenge").data;
                let resp = m.response(&ch).expect("client response");
                self.send_el(&Element::from(SaslData::response(resp))).await;
                el = self.recv().await;
            }
            if el.is("success", ns::SASL2) {
                let s = Success::try_from(el.clone()).expect("success");
                m.success(&s.additional_data.unwrap_or_default())
                    .expect("the server signature verifies");
            }
        }
        if el.is("failure", ns::SASL2) {
            return Err(Failure::try_from(el).expect("failure"));
        }
        assert!(
            el.is("success", ns::SASL2),
            "SASL2 outcome: {}",
            crate::stanza::to_xml(&el)
        );
        let success = Success::try_from(el).expect("success parses");
        if let Proof::Token { token, .. } = &login.proof {
            assert_eq!(
                success.additional_data.as_deref(),
                Some(&fast::responder_proof(token, b"")[..]),
                "the server proves it knows the token"
            );
        }
        if let Some(r) = &success.resumed {
            self.jid = success.authorization_identifier.clone();
            let h = login.resume.as_ref().map_or(0, |(_, h)| *h);
            assert_eq!(r.previd, login.resume.as_ref().unwrap().0);
            self.sm_start(h, false);
        } else if let Some(b) = &success.bound {
            self.jid = success.authorization_identifier.clone();
            if b.enabled.is_some() {
                self.sm_start(0, false);
            }
        } else {
            self.read_features().await;
        }
        Ok(success)
    }
}

/// Base64 as SASL2 writes it (tests that build elements by hand).
pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}
