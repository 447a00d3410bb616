//! SASL PLAIN (RFC 4616) on the server: the one place a PLAIN message is checked, for
//! every way of negotiating it (the legacy RFC 6120 `<auth/>` and SASL2 alike call
//! [`verify_plain`]). The password is tried as the app's token (`[auth] methods` has
//! `jwt`: [`super::jwt`]), then as the account's stored password (`password`), as ejabberd
//! does with `auth_method: [jwt, sql]`. The caller makes sure PLAIN only runs over TLS or
//! loopback.

use super::jwt::JwtVerifier;
use super::settings::{AuthConfig, Method};
use super::{normalize_user, Failure};
use crate::storage::{AccountStore, Credentials};

/// A PLAIN message: `authzid NUL authcid NUL password`.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainMessage {
    /// The identity to act as; empty, the user, or the user's bare JID (no proxying).
    pub authzid: String,
    /// The account's localpart, normalised.
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for PlainMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainMessage")
            .field("authzid", &self.authzid)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl PlainMessage {
    /// Reads a PLAIN message; `malformed-request` when it has not three UTF-8 parts or the
    /// user name cannot be an account's.
    pub fn parse(payload: &[u8]) -> Result<PlainMessage, Failure> {
        let mut parts = payload.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Failure::MalformedRequest);
        };
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| Failure::MalformedRequest);
        let user = normalize_user(&text(authcid)?).ok_or(Failure::MalformedRequest)?;
        Ok(PlainMessage {
            authzid: text(authzid)?,
            user,
            password: text(password)?,
        })
    }
}

/// How a PLAIN sign-in succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedInWith {
    Password,
    /// A token; `provisioned`: its account was created by this sign-in.
    Token {
        provisioned: bool,
    },
}

/// A successful PLAIN sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainSuccess {
    /// The account's localpart.
    pub user: String,
    pub with: SignedInWith,
}

/// What `[auth]` allows, ready to check PLAIN messages; built once at startup
/// (`ServerContext::auth`).
#[derive(Debug)]
pub struct Authenticator {
    domain: String,
    passwords: bool,
    jwt: Option<JwtVerifier>,
    provision: bool,
}

/// What to do with a PLAIN message, decided without I/O from the message and the stored
/// credentials ([`Authenticator::decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept(SignedInWith),
    /// A valid token for an account that does not exist yet: create it, then accept.
    Provision,
    Reject,
}

impl Authenticator {
    /// Reads `[auth]` (the token key is loaded and checked here, so a bad one stops the
    /// server from starting).
    pub fn new(domain: &str, c: &AuthConfig) -> anyhow::Result<Authenticator> {
        if c.methods.is_empty() {
            anyhow::bail!("[auth] methods must name at least one of \"password\", \"jwt\"");
        }
        let jwt = if c.allows(Method::Jwt) {
            Some(JwtVerifier::from_config(&c.jwt)?)
        } else {
            None
        };
        Ok(Authenticator {
            domain: domain.to_owned(),
            passwords: c.allows(Method::Password),
            jwt,
            provision: c.jwt.provision,
        })
    }

    /// Stored passwords are accepted: SCRAM may be offered.
    pub fn passwords(&self) -> bool {
        self.passwords
    }

    /// Tokens are accepted (as the PLAIN password).
    pub fn tokens(&self) -> bool {
        self.jwt.is_some()
    }

    /// The decision for `msg` given the account's stored credentials (`None`: no account).
    pub fn decide(&self, msg: &PlainMessage, creds: Option<&Credentials>) -> Decision {
        let authzid = msg.authzid.to_lowercase();
        if !(authzid.is_empty()
            || authzid == msg.user
            || authzid == format!("{}@{}", msg.user, self.domain))
        {
            tracing::info!(
                user = msg.user,
                authzid,
                "PLAIN: acting as another identity is not supported"
            );
            return Decision::Reject;
        }
        if msg.password.is_empty() {
            return Decision::Reject;
        }
        if let Some(jwt) = &self.jwt {
            match jwt.verify(&msg.password, &msg.user, &self.domain) {
                Ok(()) => {
                    return match (creds, self.provision) {
                        (Some(_), _) => {
                            Decision::Accept(SignedInWith::Token { provisioned: false })
                        }
                        (None, true) => Decision::Provision,
                        (None, false) => {
                            tracing::info!(user = msg.user, "valid token for an account that does not exist ([auth.jwt] provision is off)");
                            Decision::Reject
                        }
                    };
                }
                // Not a token at all: the stored password may still match.
                Err(super::jwt::Rejected::Malformed) => {}
                Err(why) => tracing::info!(user = msg.user, %why, "token refused"),
            }
        }
        if self.passwords && creds.is_some_and(|c| c.verify(&msg.password)) {
            return Decision::Accept(SignedInWith::Password);
        }
        Decision::Reject
    }
}

/// **The PLAIN verification seam**: checks a PLAIN message (the raw SASL payload) against
/// `[auth]` — token, then stored password — and, when `[auth.jwt] provision` is on,
/// creates the account of a valid token's first sign-in. Every SASL profile calls this;
/// `not-authorized` for anything refused, `temporary-auth-failure` when storage failed.
pub async fn verify_plain(
    auth: &Authenticator,
    accounts: &dyn AccountStore,
    payload: &[u8],
) -> Result<PlainSuccess, Failure> {
    let msg = PlainMessage::parse(payload)?;
    let creds = accounts.credentials(&msg.user).await.map_err(|e| {
        tracing::error!(error = %e, "credential lookup failed");
        Failure::TemporaryAuthFailure
    })?;
    let with = match auth.decide(&msg, creds.as_ref()) {
        Decision::Accept(with) => with,
        Decision::Reject => return Err(Failure::NotAuthorized),
        Decision::Provision => {
            // The account gets a random password nobody knows: it signs in with tokens
            // (or a password an operator sets later).
            let unusable = format!(
                "{:032x}{:032x}",
                rand::random::<u128>(),
                rand::random::<u128>()
            );
            let creds =
                Credentials::derive(&unusable).map_err(|_| Failure::TemporaryAuthFailure)?;
            match accounts.create(&msg.user, creds).await {
                Ok(created) => {
                    if created {
                        tracing::info!(
                            user = msg.user,
                            "account provisioned on its first token sign-in"
                        );
                    }
                    SignedInWith::Token {
                        provisioned: created,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "provisioning the account failed");
                    return Err(Failure::TemporaryAuthFailure);
                }
            }
        }
    };
    Ok(PlainSuccess {
        user: msg.user,
        with,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::{mint, signing_key};
    use crate::auth::settings::{Algorithm, JwtConfig, Secret};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn auth(methods: &[Method], provision: bool) -> Authenticator {
        let c = AuthConfig {
            methods: methods.to_vec(),
            jwt: JwtConfig {
                secret: Some(Secret::new(SECRET)),
                provision,
                ..JwtConfig::default()
            },
        };
        Authenticator::new("localhost", &c).unwrap()
    }

    fn msg(authzid: &str, user: &str, password: &str) -> PlainMessage {
        PlainMessage::parse(format!("{authzid}\0{user}\0{password}").as_bytes()).unwrap()
    }

    fn token(jid: &str) -> String {
        let key = signing_key(Algorithm::HS256, SECRET.as_bytes()).unwrap();
        mint(Algorithm::HS256, &key, "jid", jid, 60).unwrap()
    }

    #[test]
    fn parses_plain_messages() {
        let m = msg("", "Alice", "pw");
        assert_eq!(
            (m.authzid.as_str(), m.user.as_str(), m.password.as_str()),
            ("", "alice", "pw")
        );
        for bad in [&b"alice\0pw"[..], b"\0\0pw", b"\0a\0b\0c", b"\0a\xff\0pw"] {
            assert_eq!(
                PlainMessage::parse(bad),
                Err(Failure::MalformedRequest),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn token_then_password() {
        let both = auth(&[Method::Password, Method::Jwt], false);
        let pw = Credentials::derive("pw").unwrap();
        let t = token("alice@localhost");
        assert_eq!(
            both.decide(&msg("", "alice", &t), Some(&pw)),
            Decision::Accept(SignedInWith::Token { provisioned: false })
        );
        assert_eq!(
            both.decide(&msg("", "alice", "pw"), Some(&pw)),
            Decision::Accept(SignedInWith::Password)
        );
        assert_eq!(
            both.decide(&msg("", "alice", "nope"), Some(&pw)),
            Decision::Reject
        );
        // bob's token does not sign alice in.
        assert_eq!(
            both.decide(&msg("", "alice", &token("bob@localhost")), Some(&pw)),
            Decision::Reject
        );
        // No proxy authorisation.
        assert_eq!(
            both.decide(&msg("bob", "alice", "pw"), Some(&pw)),
            Decision::Reject
        );
        assert_eq!(
            both.decide(&msg("alice@localhost", "alice", "pw"), Some(&pw)),
            Decision::Accept(SignedInWith::Password)
        );

        let tokens_only = auth(&[Method::Jwt], false);
        assert!(!tokens_only.passwords());
        assert_eq!(
            tokens_only.decide(&msg("", "alice", "pw"), Some(&pw)),
            Decision::Reject
        );
        assert_eq!(
            tokens_only.decide(&msg("", "alice", &t), None),
            Decision::Reject
        );
        let provisioning = auth(&[Method::Jwt], true);
        assert_eq!(
            provisioning.decide(&msg("", "alice", &t), None),
            Decision::Provision
        );

        let passwords_only = auth(&[Method::Password], false);
        assert!(!passwords_only.tokens());
        assert_eq!(
            passwords_only.decide(&msg("", "alice", &t), Some(&pw)),
            Decision::Reject
        );
    }
}
