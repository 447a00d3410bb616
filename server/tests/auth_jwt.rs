//! Sign-in with the app's own tokens (`[auth] methods = [..., "jwt"]`, `[auth.jwt]`): a JSON
//! Web Token signed by the app's backend, sent as the SASL PLAIN password, as ejabberd's
//! `auth_method: jwt` takes it — in RFC 6120 SASL and in SASL2 (XEP-0388) alike, where a
//! FAST token (XEP-0484) asked for in that sign-in then replaces it. Real logins over TCP
//! and WebSocket against a real server.
//! (That PLAIN is never offered to a remote peer without TLS is the negotiation machine's
//! decision: `c2s::negotiate_tests::a_tokens_only_server_takes_plain_where_plain_is_allowed…`.)

use mucsub_protocol::sasl2::Authentication;
use mucsub_server::auth::jwt::{mint, signing_key};
use mucsub_server::auth::settings::{Algorithm, AuthConfig, JwtConfig, Method, Secret};
use mucsub_server::config::Config;
use mucsub_server::testkit::{mechanisms, Mech, Proof, RawClient, Sasl2Login, TestServer};
use std::path::PathBuf;

const SECRET: &str = "the app backend's secret, 32+ bytes";

fn hs256(methods: &[Method], provision: bool) -> impl FnOnce(&mut Config) {
    let methods = methods.to_vec();
    move |c: &mut Config| {
        c.auth = AuthConfig {
            methods,
            jwt: JwtConfig {
                secret: Some(Secret::new(SECRET)),
                provision,
                ..JwtConfig::default()
            },
        }
    }
}

fn token(jid: &str, ttl: i64) -> String {
    let key = signing_key(Algorithm::HS256, SECRET.as_bytes()).unwrap();
    mint(Algorithm::HS256, &key, "jid", jid, ttl).unwrap()
}

async fn plain(s: &TestServer, user: &str, password: &str) -> Result<RawClient, String> {
    RawClient::login_tcp(s.c2s_addr(), user, password, Mech::Plain, None, None).await
}

/// A well-formed token signed with another secret than the server's.
fn forged(jid: &str) -> String {
    let key = signing_key(Algorithm::HS256, b"not the app's secret, but as long").unwrap();
    mint(Algorithm::HS256, &key, "jid", jid, 300).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[tokio::test]
async fn a_valid_token_signs_in_over_tcp_and_websocket_beside_passwords() {
    let s = TestServer::start_with(hs256(&[Method::Password, Method::Jwt], false)).await;
    s.add_user("alice", "pw").await;
    let t = token("alice@localhost", 300);
    let mut a = plain(&s, "alice", &t).await.expect("token over TCP");
    assert!(a.jid.starts_with("alice@localhost/"));
    // The session is a normal one: the server answers it.
    let pong = a
        .iq("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(pong.attr("type"), Some("result"));
    RawClient::login_ws(&s.ws_url(), "alice", &t, Mech::Plain, None)
        .await
        .expect("token over WebSocket");
    // Passwords still work beside tokens, by SCRAM and by PLAIN.
    RawClient::login_tcp(s.c2s_addr(), "alice", "pw", Mech::ScramSha256, None, None)
        .await
        .expect("SCRAM with the password");
    plain(&s, "alice", "pw")
        .await
        .expect("PLAIN with the password");
}

#[tokio::test]
async fn expired_forged_and_other_users_tokens_are_not_authorized() {
    let s = TestServer::start_with(hs256(&[Method::Password, Method::Jwt], false)).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw-b").await;
    let expired = token("alice@localhost", -30);
    let forged = forged("alice@localhost");
    let bobs = token("bob@localhost", 300);
    let other_domain = token("alice@example.org", 300);
    for (what, t) in [
        ("expired", &expired),
        ("forged", &forged),
        ("bob's", &bobs),
        ("another domain's", &other_domain),
    ] {
        let e = plain(&s, "alice", t).await.err();
        assert_eq!(e.as_deref(), Some("not-authorized"), "{what} token");
    }
    // A token names one account: bob's token signs bob in, and only him.
    plain(&s, "bob", &bobs).await.expect("bob's own token");
}

#[tokio::test]
async fn only_the_configured_algorithm_and_key_are_accepted() {
    // RS256 with the public key in the config.
    let public = fixture("jwt-rs256-public.pem");
    let s = TestServer::start_with(|c| {
        c.auth.methods = vec![Method::Jwt];
        c.auth.jwt = JwtConfig {
            algorithm: Algorithm::RS256,
            key_file: Some(public.clone()),
            ..JwtConfig::default()
        };
    })
    .await;
    s.add_user("alice", "pw").await;
    let private = std::fs::read(fixture("jwt-rs256-private.pem")).unwrap();
    let good = mint(
        Algorithm::RS256,
        &signing_key(Algorithm::RS256, &private).unwrap(),
        "jid",
        "alice@localhost",
        300,
    )
    .unwrap();
    plain(&s, "alice", &good).await.expect("RS256 token");

    // The classic confusion: HS256 "signed" with the public key as the shared secret.
    let public_pem = std::fs::read(&public).unwrap();
    let confused = mint(
        Algorithm::HS256,
        &signing_key(Algorithm::HS256, &public_pem).unwrap(),
        "jid",
        "alice@localhost",
        300,
    )
    .unwrap();
    // An ES256 token from some other key.
    let other = rcgen::KeyPair::generate().unwrap();
    let es256 = mint(
        Algorithm::ES256,
        &signing_key(Algorithm::ES256, other.serialize_pem().as_bytes()).unwrap(),
        "jid",
        "alice@localhost",
        300,
    )
    .unwrap();
    // alg "none": header {"alg":"none"}, no signature.
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        good.split('.').nth(1).unwrap()
    );
    for (what, t) in [
        ("HS256 with the public key", &confused),
        ("ES256", &es256),
        ("none", &none),
    ] {
        let e = plain(&s, "alice", t).await.err();
        assert_eq!(e.as_deref(), Some("not-authorized"), "{what}");
    }
    // Tokens only: the stored password is refused, and SCRAM is not even offered.
    assert_eq!(
        plain(&s, "alice", "pw").await.err().as_deref(),
        Some("not-authorized")
    );
    let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
    c.open().await;
    let features = c.read_features().await;
    let mechs = mechanisms(&features);
    assert_eq!(mechs, ["PLAIN"]);
}

#[tokio::test]
async fn es256_public_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let pair = rcgen::KeyPair::generate().unwrap();
    let public = dir.path().join("app-public.pem");
    std::fs::write(&public, pair.public_key_pem()).unwrap();
    let s = TestServer::start_with(|c| {
        c.auth.methods = vec![Method::Jwt];
        c.auth.jwt = JwtConfig {
            algorithm: Algorithm::ES256,
            key_file: Some(public.clone()),
            jid_field: "sub".into(),
            ..JwtConfig::default()
        };
    })
    .await;
    s.add_user("carol", "pw").await;
    let key = signing_key(Algorithm::ES256, pair.serialize_pem().as_bytes()).unwrap();
    let t = mint(Algorithm::ES256, &key, "sub", "carol@localhost", 300).unwrap();
    plain(&s, "carol", &t)
        .await
        .expect("ES256 token, JID in `sub`");
    // The JID in another claim than the configured one does not count.
    let t = mint(Algorithm::ES256, &key, "jid", "carol@localhost", 300).unwrap();
    assert_eq!(
        plain(&s, "carol", &t).await.err().as_deref(),
        Some("not-authorized")
    );
}

#[tokio::test]
async fn provisioning_creates_the_account_on_its_first_token_sign_in_only_when_on() {
    let off = TestServer::start_with(hs256(&[Method::Jwt], false)).await;
    let t = token("newbie@localhost", 300);
    assert_eq!(
        plain(&off, "newbie", &t).await.err().as_deref(),
        Some("not-authorized")
    );
    assert!(off
        .ctx()
        .accounts
        .credentials("newbie")
        .await
        .unwrap()
        .is_none());

    let on = TestServer::start_with(hs256(&[Method::Jwt], true)).await;
    let mut c = plain(&on, "newbie", &t).await.expect("provisioned");
    assert!(on
        .ctx()
        .accounts
        .credentials("newbie")
        .await
        .unwrap()
        .is_some());
    // A real account: it can subscribe to a room, which outlives the session.
    let room = "lobby@conference.localhost";
    let r = c
        .iq(&format!(
            "<iq type='set' id='s1' to='{room}'><subscribe xmlns='urn:xmpp:mucsub:0' nick='newbie'>\
             <event node='urn:xmpp:mucsub:nodes:messages'/></subscribe></iq>"
        ))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
    c.close().await;
    // Signs in again with a fresh token; no second account, no error.
    plain(&on, "newbie", &token("newbie@localhost", 300))
        .await
        .expect("second sign-in");
    assert_eq!(on.ctx().accounts.list().await.unwrap(), ["newbie"]);
    // An invalid token provisions nothing.
    let forged = forged("mallory@localhost");
    assert!(plain(&on, "mallory", &forged).await.is_err());
    assert!(on
        .ctx()
        .accounts
        .credentials("mallory")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_token_signs_in_over_sasl2_and_a_fast_token_from_that_sign_in_works_without_it() {
    // Tokens only, accounts made on first sign-in: the app's backend is the only source of
    // credentials, and the device keeps a FAST token, never the app's token.
    let s = TestServer::start_with(hs256(&[Method::Jwt], true)).await;
    let mut c = RawClient::connect_ws(&s.ws_url()).await;
    c.open().await;
    let features = c.read_features().await;
    let sasl2 = Authentication::try_from(
        features
            .get_child("authentication", mucsub_server::ns::SASL2)
            .expect("SASL2 offered"),
    )
    .unwrap();
    assert_eq!(
        sasl2.mechanisms,
        ["PLAIN"],
        "SASL2 offers what SASL offers: no SCRAM without stored passwords"
    );
    assert!(sasl2.fast.is_some(), "FAST offered");
    c.close().await;

    // The app's token as the PLAIN password inside SASL2, asking for a FAST token.
    let mut first = Sasl2Login::plain("dana", &token("dana@localhost", 300));
    first.request_token = true;
    let (mut a, r) = RawClient::sasl2_ws(&s.ws_url(), &first).await;
    let success = r.expect("the app's token signs in over SASL2");
    assert!(success
        .authorization_identifier
        .starts_with("dana@localhost/"));
    assert!(success.bound.is_some(), "Bind 2 ran");
    let fast = success
        .token
        .expect("a FAST token after a JWT sign-in")
        .token;
    let pong = a
        .iq("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(pong.attr("type"), Some("result"));
    a.close().await;
    assert_eq!(
        s.ctx().accounts.list().await.unwrap(),
        ["dana"],
        "provisioned by its first SASL2 sign-in"
    );

    // Later, the FAST token alone signs in (over TCP too).
    let (b, r) = RawClient::sasl2_tcp(s.c2s_addr(), &Sasl2Login::token("dana", &fast, None)).await;
    r.expect("the FAST token signs in without the app's token");
    b.close().await;

    // A bad app token is a SASL2 failure, as it is for SASL; SCRAM is refused.
    for (what, t) in [
        ("expired", token("dana@localhost", -30)),
        ("forged", forged("dana@localhost")),
        ("another user's", token("erin@localhost", 300)),
    ] {
        let (_, r) = RawClient::sasl2_ws(&s.ws_url(), &Sasl2Login::plain("dana", &t)).await;
        assert_eq!(
            r.err().map(|f| f.condition).as_deref(),
            Some("not-authorized"),
            "{what}"
        );
    }
    let scram = Sasl2Login {
        proof: Proof::ScramSha256("pw".into()),
        ..Sasl2Login::plain("dana", "")
    };
    let (_, r) = RawClient::sasl2_ws(&s.ws_url(), &scram).await;
    assert_eq!(
        r.err().map(|f| f.condition).as_deref(),
        Some("invalid-mechanism")
    );
}

#[tokio::test]
async fn sasl2_plain_takes_the_token_or_the_password_beside_each_other() {
    let s = TestServer::start_with(hs256(&[Method::Password, Method::Jwt], false)).await;
    s.add_user("alice", "pw").await;
    let t = token("alice@localhost", 300);
    let (a, r) = RawClient::sasl2_tcp(s.c2s_addr(), &Sasl2Login::plain("alice", &t)).await;
    r.expect("token in SASL2 PLAIN");
    a.close().await;
    let (a, r) = RawClient::sasl2_ws(&s.ws_url(), &Sasl2Login::plain("alice", "pw")).await;
    r.expect("password in SASL2 PLAIN");
    a.close().await;
    let (_, r) = RawClient::sasl2_ws(&s.ws_url(), &Sasl2Login::plain("alice", "nope")).await;
    assert_eq!(
        r.err().map(|f| f.condition).as_deref(),
        Some("not-authorized")
    );
}
