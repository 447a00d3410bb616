//! SASL on the server side: SCRAM-SHA-256, SCRAM-SHA-1 (the `sasl` crate's server
//! mechanisms, fed with the stored salted passwords) and PLAIN, checked in one place for
//! every SASL profile: [`plain::verify_plain`], which accepts the stored password
//! or, with `[auth] methods` naming `jwt`, a token signed by the app's backend
//! (`auth/jwt.rs`). `auth/settings.rs` holds the `[auth]` table.

pub mod jwt;
pub mod plain;
pub mod settings;

use crate::storage::Credentials;
use base64::Engine;
use sasl::common::{ChannelBinding, Identity};
use sasl::secret::{Pbkdf2Sha1, Pbkdf2Sha256};
use sasl::server::mechanisms::Scram;
use sasl::server::{Provider, ProviderError, Response};

/// Mechanisms in order of preference.
pub const SCRAM_MECHANISMS: [&str; 2] = ["SCRAM-SHA-256", "SCRAM-SHA-1"];

/// Credentials fetched for the user named in the first message; `sasl`'s providers are
/// synchronous, so the database lookup happens before the mechanism runs.
#[derive(Clone)]
pub struct Prefetched {
    pub user: String,
    pub creds: Option<Credentials>,
}

impl Prefetched {
    fn get(&self, identity: &Identity) -> Result<&Credentials, ProviderError> {
        match (identity, &self.creds) {
            (Identity::Username(u), Some(c))
                if normalize_user(u).as_deref() == Some(&self.user) =>
            {
                Ok(c)
            }
            _ => Err(ProviderError::AuthenticationFailed),
        }
    }
}

impl Provider<Pbkdf2Sha1> for Prefetched {
    fn provide(&self, identity: &Identity) -> Result<Pbkdf2Sha1, ProviderError> {
        let c = self.get(identity)?;
        Ok(Pbkdf2Sha1 {
            salt: c.salt.clone(),
            iterations: c.iterations,
            digest: c.salted_sha1.clone(),
        })
    }
}
sasl::impl_validator_using_provider!(Prefetched, Pbkdf2Sha1);

impl Provider<Pbkdf2Sha256> for Prefetched {
    fn provide(&self, identity: &Identity) -> Result<Pbkdf2Sha256, ProviderError> {
        let c = self.get(identity)?;
        Ok(Pbkdf2Sha256 {
            salt: c.salt.clone(),
            iterations: c.iterations,
            digest: c.salted_sha256.clone(),
        })
    }
}
sasl::impl_validator_using_provider!(Prefetched, Pbkdf2Sha256);

/// Credentials for a user that does not exist: a SCRAM exchange then runs to its end and
/// fails like a wrong password, instead of revealing at the first step that there is no
/// such account. The salt is stable per name, as a real account's would be.
pub fn decoy_credentials(user: &str) -> Option<Credentials> {
    use sha2::Digest;
    let salt = sha2::Sha256::digest(format!("mucsub decoy salt {user}").as_bytes());
    let password = format!("{:032x}", rand::random::<u128>());
    Credentials::derive_with(&password, &salt[..16], crate::storage::accounts::ITERATIONS).ok()
}

/// Lower-cases and checks a localpart; `None` when it cannot be an account name.
pub fn normalize_user(u: &str) -> Option<String> {
    let u = u.trim().to_lowercase();
    let ok = !u.is_empty()
        && u.len() <= 1023
        && !u
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"&'/:<>@".contains(c));
    ok.then_some(u)
}

/// The user named by a mechanism's initial message, if it can be read.
pub fn initial_username(mechanism: &str, payload: &[u8]) -> Option<String> {
    match mechanism {
        "PLAIN" => {
            let mut parts = payload.split(|&b| b == 0);
            let _authzid = parts.next()?;
            let authcid = std::str::from_utf8(parts.next()?).ok()?;
            normalize_user(authcid)
        }
        m if m.starts_with("SCRAM-") => {
            let text = std::str::from_utf8(payload).ok()?;
            // gs2-header "n,," / "y,," then "n=user,r=nonce"
            let bare = text.splitn(3, ',').nth(2)?;
            let n = bare.split(',').find_map(|kv| kv.strip_prefix("n="))?;
            normalize_user(&n.replace("=2C", ",").replace("=3D", "="))
        }
        _ => None,
    }
}

/// Why authentication failed, as the SASL `<failure/>` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    InvalidMechanism,
    MalformedRequest,
    NotAuthorized,
    IncorrectEncoding,
    /// Storage failed while checking: the client may try again later.
    TemporaryAuthFailure,
}

impl Failure {
    pub fn condition(self) -> &'static str {
        match self {
            Failure::InvalidMechanism => "invalid-mechanism",
            Failure::MalformedRequest => "malformed-request",
            Failure::NotAuthorized => "not-authorized",
            Failure::IncorrectEncoding => "incorrect-encoding",
            Failure::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }
}

/// What to send after a SASL step.
#[derive(Debug)]
pub enum Step {
    Challenge(Vec<u8>),
    Success { user: String, data: Vec<u8> },
}

/// One SCRAM exchange in progress (PLAIN is one step: [`plain::verify_plain`]).
pub struct Exchange {
    mech: Box<dyn sasl::server::Mechanism + Send>,
    user: String,
}

impl Exchange {
    /// Starts `mechanism` with the initial response and the credentials of the user it
    /// names (looked up by the caller).
    pub fn start(
        mechanism: &str,
        initial: &[u8],
        prefetched: Prefetched,
    ) -> Result<(Exchange, Step), Failure> {
        let user = prefetched.user.clone();
        let mech: Box<dyn sasl::server::Mechanism + Send> = match mechanism {
            "SCRAM-SHA-1" | "SCRAM-SHA-256" => {
                // The sasl crate (0.5) accepts a gs2 header of "n" (client does no channel
                // binding) only when configured with channel-binding data, and "y" only
                // without; we offer no -PLUS mechanism, so both are legitimate. Empty
                // tls-unique data makes "n,," verify exactly as RFC 5802 requires.
                let cb = match initial.first() {
                    Some(b'n') => ChannelBinding::TlsUnique(Vec::new()),
                    Some(b'y') => ChannelBinding::None,
                    _ => return Err(Failure::MalformedRequest),
                };
                if mechanism == "SCRAM-SHA-1" {
                    Box::new(Scram::<sasl::common::scram::Sha1, _>::new(prefetched, cb))
                } else {
                    Box::new(Scram::<sasl::common::scram::Sha256, _>::new(prefetched, cb))
                }
            }
            _ => return Err(Failure::InvalidMechanism),
        };
        let mut ex = Exchange { mech, user };
        let step = ex.step(initial)?;
        Ok((ex, step))
    }

    /// Feeds a client `<response/>`.
    pub fn step(&mut self, data: &[u8]) -> Result<Step, Failure> {
        match self.mech.respond(data) {
            Ok(Response::Proceed(c)) => Ok(Step::Challenge(c)),
            Ok(Response::Success(_, data)) => Ok(Step::Success {
                user: self.user.clone(),
                data,
            }),
            Err(e) => {
                tracing::debug!(error = %e, "SASL step failed");
                Err(Failure::NotAuthorized)
            }
        }
    }
}

/// Decodes a SASL element's text: empty or `=` is an empty payload.
pub fn decode_payload(text: &str) -> Result<Vec<u8>, Failure> {
    let t = text.trim();
    if t.is_empty() || t == "=" {
        return Ok(Vec::new());
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|_| Failure::IncorrectEncoding)
}

pub fn encode_payload(data: &[u8]) -> String {
    if data.is_empty() {
        "=".into()
    } else {
        base64::engine::general_purpose::STANDARD.encode(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sasl::client::mechanisms::Scram as ClientScram;
    use sasl::client::Mechanism as _;
    use sasl::common::Credentials as ClientCreds;

    fn run_scram(cb: ChannelBinding, password: &str) -> Result<String, Failure> {
        let creds = ClientCreds::default()
            .with_username("alice")
            .with_password(password)
            .with_channel_binding(cb);
        let mut client =
            ClientScram::<sasl::common::scram::Sha256>::from_credentials(creds).unwrap();
        let first = client.initial();
        let pre = Prefetched {
            user: initial_username("SCRAM-SHA-256", &first).unwrap(),
            creds: Some(Credentials::derive("pw").unwrap()),
        };
        let (mut ex, step) = Exchange::start("SCRAM-SHA-256", &first, pre)?;
        let Step::Challenge(ch) = step else {
            panic!("expected a challenge")
        };
        let resp = client.response(&ch).unwrap();
        match ex.step(&resp)? {
            Step::Success { user, data } => {
                client.success(&data).unwrap();
                Ok(user)
            }
            Step::Challenge(_) => panic!("unexpected second challenge"),
        }
    }

    #[test]
    fn scram_with_both_gs2_flags() {
        assert_eq!(run_scram(ChannelBinding::None, "pw").unwrap(), "alice");
        assert_eq!(
            run_scram(ChannelBinding::Unsupported, "pw").unwrap(),
            "alice"
        );
        assert_eq!(
            run_scram(ChannelBinding::None, "nope"),
            Err(Failure::NotAuthorized)
        );
    }

    #[test]
    fn plain_is_not_an_exchange() {
        let pre = Prefetched {
            user: "bob".into(),
            creds: Some(Credentials::derive("secret").unwrap()),
        };
        assert_eq!(
            initial_username("PLAIN", b"\0Bob\0secret").as_deref(),
            Some("bob")
        );
        assert_eq!(
            Exchange::start("PLAIN", b"\0bob\0secret", pre.clone()).err(),
            Some(Failure::InvalidMechanism)
        );
        assert_eq!(
            Exchange::start("DIGEST-MD5", b"", pre).err(),
            Some(Failure::InvalidMechanism)
        );
    }
}
