//! The `[auth]` and `[auth.jwt]` tables: which sign-ins the server accepts, and how it checks
//! the tokens an app's backend signs for its users (ejabberd's `auth_method: [jwt, …]`,
//! `jwt_key` and `jwt_jid_field`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// `[auth]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted sign-ins, as ejabberd's `auth_method` list: `password` (accounts with a
    /// stored password: SCRAM, or PLAIN over TLS or loopback) and `jwt` (a JSON Web Token
    /// signed by the app's backend, sent as the SASL PLAIN password, so over TLS or
    /// loopback only). With both, a PLAIN password is tried as a token first, then as the
    /// stored password.
    pub methods: Vec<Method>,
    /// `[auth.jwt]`
    pub jwt: JwtConfig,
}

/// A way to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Password,
    Jwt,
}

/// The signature algorithms a token may use (exactly the configured one is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Algorithm {
    HS256,
    ES256,
    RS256,
}

/// `[auth.jwt]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// `HS256` (a secret shared with the app's backend), `ES256` or `RS256` (the backend
    /// signs with its private key; the server holds the public key).
    pub algorithm: Algorithm,
    /// The HS256 shared secret, in the config itself.
    pub secret: Option<Secret>,
    /// A file holding the HS256 shared secret (a trailing newline is ignored).
    pub secret_file: Option<PathBuf>,
    /// The verification key: a PEM public key (ES256, RS256) or a JWK (any algorithm, the
    /// format of ejabberd's `jwt_key`).
    pub key_file: Option<PathBuf>,
    /// The claim holding the user's JID (ejabberd's `jwt_jid_field`).
    pub jid_field: String,
    /// Create the account on its first sign-in with a valid token. Off: the account must
    /// exist (made by the CLI or the API).
    pub provision: bool,
    /// Seconds of clock difference forgiven when checking `exp` and `nbf`.
    pub leeway_secs: u64,
    /// When set, tokens must carry this `iss`.
    pub issuer: Option<String>,
    /// When set, tokens must carry this `aud`.
    pub audience: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            methods: vec![Method::Password],
            jwt: JwtConfig::default(),
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            algorithm: Algorithm::HS256,
            secret: None,
            secret_file: None,
            key_file: None,
            jid_field: "jid".into(),
            provision: false,
            leeway_secs: 0,
            issuer: None,
            audience: None,
        }
    }
}

impl AuthConfig {
    pub fn allows(&self, m: Method) -> bool {
        self.methods.contains(&m)
    }
}

/// A secret from the config: never printed (`Debug` and serialisation show `***`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}
