//! Web Push message encryption (RFC 8291, `aes128gcm` of RFC 8188) and VAPID (RFC 8292).
//!
//! Both sides are here: the application server side (encrypt, sign) that the built-in app
//! server uses, and the user agent / push service side (decrypt, verify) that the loopback
//! push-service receiver in the tests uses in place of a browser vendor's service. The RFC
//! 8291 Appendix A test vector pins every derivation step (see the tests at the bottom), so
//! the two sides are not merely consistent with each other.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size written in the `aes128gcm` header. One record holds the whole message,
/// so this is also the largest encrypted body (push services accept 4096 bytes).
pub const RECORD_SIZE: u32 = 4096;
/// Header: salt (16) + rs (4) + idlen (1) + uncompressed P-256 point (65).
const HEADER_LEN: usize = 16 + 4 + 1 + 65;
const TAG_LEN: usize = 16;
/// The largest plaintext that fits one record (one byte goes to the 0x02 delimiter).
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - HEADER_LEN - TAG_LEN - 1;

/// What can go wrong with Web Push data; every input-dependent failure is one of these.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebPushError {
    #[error("invalid base64url in {0}")]
    Base64(&'static str),
    #[error("p256dh is not an uncompressed P-256 public key")]
    BadPublicKey,
    #[error("auth secret must be 16 bytes")]
    BadAuthSecret,
    #[error("private key is not a valid P-256 scalar")]
    BadPrivateKey,
    #[error("payload of {0} bytes exceeds the {MAX_PLAINTEXT}-byte limit of one record")]
    TooLarge(usize),
    #[error("encrypted body is malformed: {0}")]
    Malformed(&'static str),
    #[error("decryption failed (wrong keys or tampered body)")]
    Decrypt,
    #[error("VAPID authorization rejected: {0}")]
    Vapid(String),
}

/// Base64url without padding, the encoding of every key in Web Push.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url with or without padding (browsers emit none; some tools add it).
pub fn b64url_decode(text: &str, what: &'static str) -> Result<Vec<u8>, WebPushError> {
    let t = text.trim();
    if t.ends_with('=') {
        URL_SAFE.decode(t)
    } else {
        URL_SAFE_NO_PAD.decode(t)
    }
    .map_err(|_| WebPushError::Base64(what))
}

/// The keys of a browser's `PushSubscription` (`getKey('p256dh')`, `getKey('auth')`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionKeys {
    pub p256dh: PublicKey,
    pub auth: [u8; 16],
}

impl SubscriptionKeys {
    /// Parses the base64url strings of `PushSubscription.toJSON().keys`.
    pub fn parse(p256dh: &str, auth: &str) -> Result<Self, WebPushError> {
        let key = b64url_decode(p256dh, "p256dh")?;
        // RFC 8291 §3.2: the key is sent uncompressed; reject anything else explicitly.
        if key.len() != 65 || key[0] != 0x04 {
            return Err(WebPushError::BadPublicKey);
        }
        let p256dh = PublicKey::from_sec1_bytes(&key).map_err(|_| WebPushError::BadPublicKey)?;
        let auth: [u8; 16] = b64url_decode(auth, "auth")?
            .try_into()
            .map_err(|_| WebPushError::BadAuthSecret)?;
        Ok(SubscriptionKeys { p256dh, auth })
    }

    pub fn p256dh_bytes(&self) -> Vec<u8> {
        point_bytes(&self.p256dh)
    }
}

fn point_bytes(key: &PublicKey) -> Vec<u8> {
    key.to_encoded_point(false).as_bytes().to_vec()
}

/// Parses a raw 32-byte P-256 private key.
pub fn secret_from_bytes(bytes: &[u8]) -> Result<SecretKey, WebPushError> {
    SecretKey::from_slice(bytes).map_err(|_| WebPushError::BadPrivateKey)
}

/// A fresh random P-256 private key.
pub fn random_secret() -> SecretKey {
    loop {
        let bytes: [u8; 32] = rand::random();
        // All but ~2^-32 of 256-bit strings are valid scalars; retry on the rest.
        if let Ok(k) = SecretKey::from_slice(&bytes) {
            return k;
        }
    }
}

/// The intermediate values of RFC 8291 §3.4 and RFC 8188 §2.2, exposed for the test vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub ecdh_secret: [u8; 32],
    pub ikm: [u8; 32],
    pub cek: [u8; 16],
    pub nonce: [u8; 12],
}

/// Derives the content key and nonce from the ECDH secret, the auth secret, both public keys
/// and the salt. `ua_public`/`as_public` are the 65-byte uncompressed points.
pub fn derive(
    ecdh_secret: [u8; 32],
    auth: &[u8; 16],
    ua_public: &[u8],
    as_public: &[u8],
    salt: &[u8; 16],
) -> Derived {
    // RFC 8291 §3.4: IKM = HKDF(salt=auth, ikm=ecdh, info="WebPush: info\0"||ua||as, 32).
    let mut key_info = Vec::with_capacity(14 + 130);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), &ecdh_secret)
        .expand(&key_info, &mut ikm)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    // RFC 8188 §2.2 and §2.3, with the salt of the header.
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .expect("16 bytes is a valid HKDF-SHA256 length");
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes is a valid HKDF-SHA256 length");
    Derived {
        ecdh_secret,
        ikm,
        cek,
        nonce,
    }
}

fn ecdh(secret: &SecretKey, public: &PublicKey) -> [u8; 32] {
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    let mut out = [0u8; 32];
    out.copy_from_slice(shared.raw_secret_bytes());
    out
}

/// Encrypts `plaintext` for a subscription with a given sender key and salt (deterministic:
/// used by [`encrypt`] with fresh random values, and by the RFC test vector).
pub fn encrypt_with(
    plaintext: &[u8],
    keys: &SubscriptionKeys,
    sender: &SecretKey,
    salt: [u8; 16],
) -> Result<Vec<u8>, WebPushError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(WebPushError::TooLarge(plaintext.len()));
    }
    let as_public = point_bytes(&sender.public_key());
    let ua_public = keys.p256dh_bytes();
    let d = derive(
        ecdh(sender, &keys.p256dh),
        &keys.auth,
        &ua_public,
        &as_public,
        &salt,
    );
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    // Delimiter of the last (and only) record, no padding.
    record.push(0x02);
    let cipher = Aes128Gcm::new_from_slice(&d.cek).expect("16-byte key");
    let sealed = cipher
        .encrypt(Nonce::from_slice(&d.nonce), record.as_slice())
        .map_err(|_| WebPushError::Malformed("AES-GCM refused the record"))?;
    let mut body = Vec::with_capacity(HEADER_LEN + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// Encrypts `plaintext` for a subscription (RFC 8291) with a fresh sender key and salt.
pub fn encrypt(plaintext: &[u8], keys: &SubscriptionKeys) -> Result<Vec<u8>, WebPushError> {
    encrypt_with(plaintext, keys, &random_secret(), rand::random())
}

/// The user agent's side: decrypts an `aes128gcm` body with the subscription's private key
/// and auth secret. Used by the test push service; a browser does the same.
pub fn decrypt(
    body: &[u8],
    ua_secret: &SecretKey,
    auth: &[u8; 16],
) -> Result<Vec<u8>, WebPushError> {
    if body.len() < 21 {
        return Err(WebPushError::Malformed("shorter than the header"));
    }
    let salt: [u8; 16] = body[..16].try_into().expect("16 bytes");
    let rs = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
    let idlen = body[20] as usize;
    let rest = &body[21..];
    if idlen != 65 || rest.len() < idlen {
        return Err(WebPushError::Malformed(
            "key id is not a 65-byte P-256 point",
        ));
    }
    let (as_public, sealed) = rest.split_at(idlen);
    if sealed.len() < TAG_LEN + 1 {
        return Err(WebPushError::Malformed("record too short"));
    }
    // RFC 8291 §4: exactly one record.
    if sealed.len() > rs {
        return Err(WebPushError::Malformed("more than one record"));
    }
    let as_key = PublicKey::from_sec1_bytes(as_public)
        .map_err(|_| WebPushError::Malformed("key id is not a P-256 point"))?;
    let ua_public = point_bytes(&ua_secret.public_key());
    let d = derive(ecdh(ua_secret, &as_key), auth, &ua_public, as_public, &salt);
    let cipher = Aes128Gcm::new_from_slice(&d.cek).expect("16-byte key");
    let mut record = cipher
        .decrypt(Nonce::from_slice(&d.nonce), sealed)
        .map_err(|_| WebPushError::Decrypt)?;
    // Strip padding: zeros after the delimiter, which must be 0x02 for the last record.
    while record.last() == Some(&0) {
        record.pop();
    }
    match record.pop() {
        Some(0x02) => Ok(record),
        _ => Err(WebPushError::Malformed("missing last-record delimiter")),
    }
}

/// The application server's VAPID key pair (RFC 8292), ES256 on P-256.
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
    public_b64: String,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("VapidKey")
            .field("public", &self.public_b64)
            .finish()
    }
}

/// The claims of a VAPID token that a push service checks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VapidClaims {
    pub aud: String,
    pub exp: i64,
    pub sub: String,
}

impl VapidKey {
    pub fn generate() -> Self {
        Self::from_secret(random_secret())
    }

    pub fn from_secret(secret: SecretKey) -> Self {
        let public_b64 = b64url(&point_bytes(&secret.public_key()));
        VapidKey {
            signing: SigningKey::from(secret),
            public_b64,
        }
    }

    /// Restores a key from its raw 32-byte private scalar.
    pub fn from_private_bytes(bytes: &[u8]) -> Result<Self, WebPushError> {
        Ok(Self::from_secret(secret_from_bytes(bytes)?))
    }

    /// The raw private scalar, for persisting.
    pub fn private_bytes(&self) -> Vec<u8> {
        self.signing.to_bytes().to_vec()
    }

    /// The public key as base64url of the uncompressed point: what a browser takes as
    /// `applicationServerKey` and what goes in `k=`.
    pub fn public_b64(&self) -> &str {
        &self.public_b64
    }

    /// A signed JWT (ES256, JOSE raw r||s signature) for the given claims.
    pub fn sign_jwt(&self, claims: &VapidClaims) -> String {
        let header = b64url(br#"{"typ":"JWT","alg":"ES256"}"#);
        let body = b64url(
            serde_json::to_string(claims)
                .expect("claims serialise")
                .as_bytes(),
        );
        let input = format!("{header}.{body}");
        let sig: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", b64url(&sig.to_bytes()))
    }

    /// The `Authorization` header value for a push to `endpoint` (RFC 8292 §3).
    pub fn authorization(
        &self,
        endpoint: &str,
        subject: &str,
        now_secs: i64,
        validity_secs: i64,
    ) -> Result<String, WebPushError> {
        let claims = VapidClaims {
            aud: origin_of(endpoint)?,
            exp: now_secs + validity_secs,
            sub: subject.to_string(),
        };
        Ok(format!(
            "vapid t={}, k={}",
            self.sign_jwt(&claims),
            self.public_b64
        ))
    }
}

/// The ASCII origin (`scheme://host[:port]`) of a push endpoint URL: the JWT `aud`.
pub fn origin_of(endpoint: &str) -> Result<String, WebPushError> {
    let uri: hyper::Uri = endpoint
        .parse()
        .map_err(|_| WebPushError::Vapid(format!("endpoint {endpoint:?} is not a URL")))?;
    let scheme = uri
        .scheme_str()
        .filter(|s| *s == "https" || *s == "http")
        .ok_or_else(|| WebPushError::Vapid("endpoint must be http(s)".into()))?;
    let host = uri
        .host()
        .ok_or_else(|| WebPushError::Vapid("endpoint has no host".into()))?;
    let default_port = if scheme == "https" { 443 } else { 80 };
    Ok(match uri.port_u16() {
        Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The push service's side of RFC 8292: parses `vapid t=…, k=…`, checks the ES256 signature
/// with `k`, and the claims (`aud` = the origin the request was sent to, `exp` in the
/// future and at most 24 hours ahead, a `sub` contact). Returns the public key and claims.
pub fn verify_authorization(
    header: &str,
    expected_aud: &str,
    now_secs: i64,
) -> Result<(String, VapidClaims), WebPushError> {
    let bad = |m: &str| WebPushError::Vapid(m.to_string());
    let params = header
        .strip_prefix("vapid ")
        .ok_or_else(|| bad("scheme is not vapid"))?;
    let mut token = None;
    let mut key = None;
    for part in params.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("t=") {
            token = Some(v);
        } else if let Some(v) = part.strip_prefix("k=") {
            key = Some(v);
        }
    }
    let (token, key) = token.zip(key).ok_or_else(|| bad("t= or k= missing"))?;
    let verifying = VerifyingKey::from_sec1_bytes(&b64url_decode(key, "k")?)
        .map_err(|_| bad("k is not a P-256 key"))?;
    let mut pieces = token.split('.');
    let (h, c, s) = match (pieces.next(), pieces.next(), pieces.next(), pieces.next()) {
        (Some(h), Some(c), Some(s), None) => (h, c, s),
        _ => return Err(bad("token is not a compact JWS")),
    };
    let header: serde_json::Value = serde_json::from_slice(&b64url_decode(h, "JWT header")?)
        .map_err(|_| bad("JWT header is not JSON"))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
        return Err(bad("alg is not ES256"));
    }
    let sig = Signature::from_slice(&b64url_decode(s, "JWT signature")?)
        .map_err(|_| bad("signature is not 64 bytes"))?;
    verifying
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| bad("signature does not verify"))?;
    let claims: VapidClaims = serde_json::from_slice(&b64url_decode(c, "JWT claims")?)
        .map_err(|_| bad("claims are not aud/exp/sub JSON"))?;
    if claims.aud != expected_aud {
        return Err(WebPushError::Vapid(format!(
            "aud {:?} is not {expected_aud:?}",
            claims.aud
        )));
    }
    if claims.exp <= now_secs || claims.exp > now_secs + 24 * 3600 {
        return Err(bad("exp is in the past or more than 24 hours ahead"));
    }
    if !(claims.sub.starts_with("mailto:") || claims.sub.starts_with("https:")) {
        return Err(bad("sub is not a mailto: or https: contact"));
    }
    Ok((key.to_string(), claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8291 Appendix A.
    const PLAINTEXT: &str = "When I grow up, I want to be a watermelon";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const ECDH_SECRET: &str = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs";
    const IKM: &str = "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg";
    const CEK: &str = "oIhVW04MRdy2XN9CiKLxTg";
    const NONCE: &str = "4h_95klXJ5E_qnoN";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml\
                        mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT\
                        pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn d(s: &str) -> Vec<u8> {
        b64url_decode(s, "test").unwrap()
    }

    #[test]
    fn rfc8291_keys_match_their_public_halves() {
        let a = secret_from_bytes(&d(AS_PRIVATE)).unwrap();
        let u = secret_from_bytes(&d(UA_PRIVATE)).unwrap();
        assert_eq!(b64url(&point_bytes(&a.public_key())), AS_PUBLIC);
        assert_eq!(b64url(&point_bytes(&u.public_key())), UA_PUBLIC);
    }

    #[test]
    fn rfc8291_intermediate_values() {
        let a = secret_from_bytes(&d(AS_PRIVATE)).unwrap();
        let keys = SubscriptionKeys::parse(UA_PUBLIC, AUTH).unwrap();
        let secret = ecdh(&a, &keys.p256dh);
        assert_eq!(b64url(&secret), ECDH_SECRET);
        let salt: [u8; 16] = d(SALT).try_into().unwrap();
        let got = derive(secret, &keys.auth, &d(UA_PUBLIC), &d(AS_PUBLIC), &salt);
        assert_eq!(b64url(&got.ikm), IKM);
        assert_eq!(b64url(&got.cek), CEK);
        assert_eq!(b64url(&got.nonce), NONCE);
    }

    #[test]
    fn rfc8291_encrypts_to_the_published_body() {
        let a = secret_from_bytes(&d(AS_PRIVATE)).unwrap();
        let keys = SubscriptionKeys::parse(UA_PUBLIC, AUTH).unwrap();
        let salt: [u8; 16] = d(SALT).try_into().unwrap();
        let body = encrypt_with(PLAINTEXT.as_bytes(), &keys, &a, salt).unwrap();
        assert_eq!(b64url(&body), BODY);
    }

    #[test]
    fn rfc8291_published_body_decrypts() {
        let u = secret_from_bytes(&d(UA_PRIVATE)).unwrap();
        let auth: [u8; 16] = d(AUTH).try_into().unwrap();
        let plain = decrypt(&d(BODY), &u, &auth).unwrap();
        assert_eq!(plain, PLAINTEXT.as_bytes());
    }

    #[test]
    fn random_encryption_round_trips_and_tampering_fails() {
        let ua = random_secret();
        let auth: [u8; 16] = rand::random();
        let keys = SubscriptionKeys::parse(&b64url(&point_bytes(&ua.public_key())), &b64url(&auth))
            .unwrap();
        let body = encrypt(b"{\"room\":\"r\"}", &keys).unwrap();
        assert_eq!(decrypt(&body, &ua, &auth).unwrap(), b"{\"room\":\"r\"}");
        let mut bad = body.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decrypt(&bad, &ua, &auth), Err(WebPushError::Decrypt));
        let other: [u8; 16] = rand::random();
        assert_eq!(decrypt(&body, &ua, &other), Err(WebPushError::Decrypt));
        assert!(decrypt(&body[..30], &ua, &auth).is_err());
    }

    #[test]
    fn oversized_payload_is_refused() {
        let keys = SubscriptionKeys::parse(UA_PUBLIC, AUTH).unwrap();
        let big = vec![b'x'; MAX_PLAINTEXT + 1];
        assert_eq!(
            encrypt(&big, &keys),
            Err(WebPushError::TooLarge(MAX_PLAINTEXT + 1))
        );
        let max = encrypt(&vec![b'x'; MAX_PLAINTEXT], &keys).unwrap();
        assert_eq!(max.len(), RECORD_SIZE as usize);
    }

    #[test]
    fn subscription_keys_reject_bad_input() {
        assert_eq!(
            SubscriptionKeys::parse("not base64!", AUTH),
            Err(WebPushError::Base64("p256dh"))
        );
        // A compressed point (33 bytes) is not what browsers send.
        let a = secret_from_bytes(&d(AS_PRIVATE)).unwrap();
        let compressed = b64url(a.public_key().to_encoded_point(true).as_bytes());
        assert_eq!(
            SubscriptionKeys::parse(&compressed, AUTH),
            Err(WebPushError::BadPublicKey)
        );
        assert_eq!(
            SubscriptionKeys::parse(UA_PUBLIC, "AAAA"),
            Err(WebPushError::BadAuthSecret)
        );
        // Padded base64url is accepted too.
        assert!(SubscriptionKeys::parse(UA_PUBLIC, "BTBZMqHH6r4Tts7J_aSIgg==").is_ok());
    }

    #[test]
    fn vapid_token_verifies_and_rejects_forgeries() {
        let key = VapidKey::generate();
        let endpoint = "https://push.example.net:8443/wpush/v2/abc";
        let now = 1_700_000_000;
        let header = key
            .authorization(endpoint, "mailto:admin@localhost", now, 12 * 3600)
            .unwrap();
        let (k, claims) =
            verify_authorization(&header, "https://push.example.net:8443", now).unwrap();
        assert_eq!(k, key.public_b64());
        assert_eq!(claims.exp, now + 12 * 3600);
        assert_eq!(claims.sub, "mailto:admin@localhost");
        // Wrong audience, expired, and a key that did not sign it.
        assert!(verify_authorization(&header, "https://other.example", now).is_err());
        assert!(
            verify_authorization(&header, "https://push.example.net:8443", now + 13 * 3600)
                .is_err()
        );
        let other = VapidKey::generate();
        let forged = header.replace(key.public_b64(), other.public_b64());
        assert!(verify_authorization(&forged, "https://push.example.net:8443", now).is_err());
        assert!(verify_authorization("Bearer x", "https://push.example.net:8443", now).is_err());
    }

    #[test]
    fn vapid_key_persists_through_its_private_bytes() {
        let key = VapidKey::generate();
        let again = VapidKey::from_private_bytes(&key.private_bytes()).unwrap();
        assert_eq!(key.public_b64(), again.public_b64());
        assert_eq!(key.public_b64().len(), 87);
        assert!(VapidKey::from_private_bytes(&[0u8; 32]).is_err());
        assert!(VapidKey::from_private_bytes(&[1u8; 5]).is_err());
    }

    #[test]
    fn origins_drop_default_ports_and_paths() {
        assert_eq!(
            origin_of("https://fcm.googleapis.com/fcm/send/x").unwrap(),
            "https://fcm.googleapis.com"
        );
        assert_eq!(
            origin_of("https://h.example:443/p").unwrap(),
            "https://h.example"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:4000/p").unwrap(),
            "http://127.0.0.1:4000"
        );
        assert!(origin_of("ftp://h/x").is_err());
        assert!(origin_of("not a url").is_err());
    }
}
