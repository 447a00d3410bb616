//! Tokens an app's backend signs for its users (JSON Web Tokens, RFC 7519), checked the
//! way ejabberd's `auth_method: jwt` checks them: a valid signature by the configured key
//! and algorithm (no other algorithm, never `none`), an `exp` in the future, and the user's
//! JID in the configured claim (`jid` by default). The cryptography is the `jsonwebtoken`
//! crate's; this file only chooses the key and the rules, and reads the JID claim.

use super::settings::{Algorithm, JwtConfig};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use std::path::Path;

/// Why a token was not accepted (for the server's log; the client only hears
/// `not-authorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("not a JSON Web Token")]
    Malformed,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("signed with another algorithm than the configured one")]
    WrongAlgorithm,
    #[error("expired")]
    Expired,
    #[error("not valid yet (nbf)")]
    NotYetValid,
    #[error("claim {0} is missing")]
    MissingClaim(String),
    #[error("wrong issuer or audience")]
    WrongIssuerOrAudience,
    #[error("the token is for {0}, not for this account")]
    OtherUser(String),
    #[error("{0}")]
    Other(String),
}

/// Checks tokens against `[auth.jwt]`; built once at startup.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    jid_field: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("jid_field", &self.jid_field)
            .finish_non_exhaustive()
    }
}

fn jsonwebtoken_alg(a: Algorithm) -> jsonwebtoken::Algorithm {
    match a {
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
    }
}

fn read(path: &Path, key: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("[auth.jwt] {key}: cannot read {}: {e}", path.display()))
}

impl JwtVerifier {
    /// The verifier `[auth.jwt]` describes. Errors name the key at fault.
    pub fn from_config(c: &JwtConfig) -> anyhow::Result<JwtVerifier> {
        let given = [
            c.secret.is_some(),
            c.secret_file.is_some(),
            c.key_file.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            anyhow::bail!(
                "[auth.jwt] needs exactly one of secret, secret_file, key_file (the `jwt` sign-in \
                 method is on)"
            );
        }
        let alg = c.algorithm;
        let key = if let Some(s) = &c.secret {
            hmac_key(alg, s.expose().as_bytes(), "secret")?
        } else if let Some(p) = &c.secret_file {
            let bytes = read(p, "secret_file")?;
            let text = String::from_utf8_lossy(&bytes);
            hmac_key(
                alg,
                text.trim_end_matches(['\r', '\n']).as_bytes(),
                "secret_file",
            )?
        } else if let Some(p) = &c.key_file {
            key_from_file(alg, &read(p, "key_file")?, p)?
        } else {
            unreachable!("checked above")
        };
        if c.jid_field.trim().is_empty() {
            anyhow::bail!("[auth.jwt] jid_field must not be empty");
        }
        let mut validation = Validation::new(jsonwebtoken_alg(alg));
        validation.leeway = c.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_aud = c.audience.is_some();
        if let Some(aud) = &c.audience {
            validation.set_audience(&[aud]);
        }
        if let Some(iss) = &c.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(JwtVerifier {
            key,
            validation,
            jid_field: c.jid_field.clone(),
        })
    }

    /// Accepts `token` as a sign-in of `user@domain` (`user` normalised, as SASL gives it)
    /// when its signature, its times and its JID claim all hold.
    pub fn verify(&self, token: &str, user: &str, domain: &str) -> Result<(), Rejected> {
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &self.key,
            &self.validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => Rejected::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Rejected::WrongAlgorithm,
            ErrorKind::ExpiredSignature => Rejected::Expired,
            ErrorKind::ImmatureSignature => Rejected::NotYetValid,
            ErrorKind::MissingRequiredClaim(c) => Rejected::MissingClaim(c.clone()),
            ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                Rejected::WrongIssuerOrAudience
            }
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_)
            | ErrorKind::InvalidAlgorithmName => Rejected::Malformed,
            other => Rejected::Other(format!("{other:?}")),
        })?;
        let Some(claimed) = data.claims.get(&self.jid_field).and_then(|v| v.as_str()) else {
            return Err(Rejected::MissingClaim(self.jid_field.clone()));
        };
        // As ejabberd: the claim is a JID whose (normalised) user and domain are the
        // account's; a resource in it is ignored.
        let jid = jid::Jid::new(claimed).map_err(|_| Rejected::OtherUser(claimed.to_owned()))?;
        let same_user = jid
            .node()
            .is_some_and(|n| n.as_str().to_lowercase() == user);
        let same_domain = jid.domain().as_str().eq_ignore_ascii_case(domain);
        if same_user && same_domain {
            Ok(())
        } else {
            Err(Rejected::OtherUser(claimed.to_owned()))
        }
    }
}

fn hmac_key(alg: Algorithm, secret: &[u8], key: &str) -> anyhow::Result<DecodingKey> {
    if alg != Algorithm::HS256 {
        anyhow::bail!("[auth.jwt] {key} is a shared secret, for algorithm HS256 only (algorithm is {alg:?}: use key_file)");
    }
    if secret.len() < 32 {
        // RFC 7518 3.2: a key of the same size as the hash output (256 bits) or larger.
        anyhow::bail!("[auth.jwt] {key}: an HS256 secret must be at least 32 bytes long");
    }
    Ok(DecodingKey::from_secret(secret))
}

/// A PEM public key for ES256/RS256, or a JWK (ejabberd's `jwt_key` format) for any.
fn key_from_file(alg: Algorithm, bytes: &[u8], path: &Path) -> anyhow::Result<DecodingKey> {
    let bad = |what: &str| {
        anyhow::anyhow!(
            "[auth.jwt] key_file {}: {what} (algorithm {alg:?})",
            path.display()
        )
    };
    let text = String::from_utf8_lossy(bytes);
    if text.trim_start().starts_with('{') {
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(&text).map_err(|e| bad(&format!("not a JWK: {e}")))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| bad(&format!("unusable JWK: {e}")))?;
        if key.family() != jsonwebtoken_alg(alg).family() {
            return Err(bad("the JWK is for another algorithm"));
        }
        if alg == Algorithm::HS256 && key.as_bytes().len() < 32 {
            return Err(bad("an HS256 secret must be at least 32 bytes long"));
        }
        return Ok(key);
    }
    match alg {
        Algorithm::ES256 => DecodingKey::from_ec_pem(bytes)
            .map_err(|e| bad(&format!("not a PEM EC public key: {e}"))),
        Algorithm::RS256 => DecodingKey::from_rsa_pem(bytes)
            .map_err(|e| bad(&format!("not a PEM RSA public key: {e}"))),
        Algorithm::HS256 => Err(bad(
            "HS256 takes secret, secret_file, or a JWK of kty \"oct\" here",
        )),
    }
}

/// A token for `jid`, valid for `ttl_secs` from now (negative: already expired), signed
/// with `key` by `alg`, the JID in the claim `jid_field`. What an app's backend does; the
/// CLI (`mucsub-server token mint`) and the tests use it.
pub fn mint(
    alg: Algorithm,
    key: &EncodingKey,
    jid_field: &str,
    jid: &str,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut claims = serde_json::Map::new();
    claims.insert(jid_field.to_owned(), jid.into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ttl_secs).into());
    Ok(jsonwebtoken::encode(
        &Header::new(jsonwebtoken_alg(alg)),
        &claims,
        key,
    )?)
}

/// The signing key for [`mint`]: the HS256 secret, or a PEM private key for ES256/RS256.
pub fn signing_key(alg: Algorithm, secret_or_pem: &[u8]) -> anyhow::Result<EncodingKey> {
    Ok(match alg {
        Algorithm::HS256 => EncodingKey::from_secret(secret_or_pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(secret_or_pem)?,
        Algorithm::RS256 => EncodingKey::from_rsa_pem(secret_or_pem)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::settings::Secret;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn hs256() -> JwtVerifier {
        JwtVerifier::from_config(&JwtConfig {
            secret: Some(Secret::new(SECRET)),
            ..JwtConfig::default()
        })
        .unwrap()
    }

    fn token(jid: &str, ttl: i64) -> String {
        let key = signing_key(Algorithm::HS256, SECRET.as_bytes()).unwrap();
        mint(Algorithm::HS256, &key, "jid", jid, ttl).unwrap()
    }

    #[test]
    fn accepts_the_users_own_token_only() {
        let v = hs256();
        assert_eq!(
            v.verify(&token("alice@localhost", 60), "alice", "localhost"),
            Ok(())
        );
        // JIDs compare normalised; a resource in the claim is ignored.
        assert_eq!(
            v.verify(&token("Alice@LocalHost/web", 60), "alice", "localhost"),
            Ok(())
        );
        assert_eq!(
            v.verify(&token("bob@localhost", 60), "alice", "localhost"),
            Err(Rejected::OtherUser("bob@localhost".into()))
        );
        assert!(matches!(
            v.verify(&token("alice@elsewhere", 60), "alice", "localhost"),
            Err(Rejected::OtherUser(_))
        ));
        assert_eq!(
            v.verify(&token("alice@localhost", -10), "alice", "localhost"),
            Err(Rejected::Expired)
        );
        assert_eq!(
            v.verify("password", "alice", "localhost"),
            Err(Rejected::Malformed)
        );
    }

    #[test]
    fn refuses_other_keys_and_algorithms() {
        let v = hs256();
        let forged = mint(
            Algorithm::HS256,
            &EncodingKey::from_secret(b"another secret, 32 bytes or more!"),
            "jid",
            "alice@localhost",
            60,
        )
        .unwrap();
        assert_eq!(
            v.verify(&forged, "alice", "localhost"),
            Err(Rejected::BadSignature)
        );
        let hs512 = jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS512),
            &serde_json::json!({"jid": "alice@localhost", "exp": u32::MAX}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            v.verify(&hs512, "alice", "localhost"),
            Err(Rejected::WrongAlgorithm)
        );
        // alg "none": a header jsonwebtoken does not even parse.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJqaWQiOiJhbGljZUBsb2NhbGhvc3QiLCJleHAiOjQxMDI0NDQ4MDB9.";
        assert!(v.verify(none, "alice", "localhost").is_err());
        let no_exp = jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &serde_json::json!({"jid": "alice@localhost"}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            v.verify(&no_exp, "alice", "localhost"),
            Err(Rejected::MissingClaim("exp".into()))
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let e = JwtVerifier::from_config(&JwtConfig::default()).unwrap_err();
        assert!(e.to_string().contains("exactly one of secret"), "{e}");
        let short = JwtConfig {
            secret: Some(Secret::new("short")),
            ..JwtConfig::default()
        };
        assert!(JwtVerifier::from_config(&short)
            .unwrap_err()
            .to_string()
            .contains("secret"));
        let es_with_secret = JwtConfig {
            algorithm: Algorithm::ES256,
            secret: Some(Secret::new(SECRET)),
            ..JwtConfig::default()
        };
        let e = JwtVerifier::from_config(&es_with_secret).unwrap_err();
        assert!(e.to_string().contains("HS256 only"), "{e}");
        let missing = JwtConfig {
            algorithm: Algorithm::ES256,
            key_file: Some("/nonexistent/key.pem".into()),
            ..JwtConfig::default()
        };
        let e = JwtVerifier::from_config(&missing).unwrap_err();
        assert!(e.to_string().contains("[auth.jwt] key_file"), "{e}");
    }
}
