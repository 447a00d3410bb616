//! Account commands of the HTTP API (`register`, `change_password`, `registered_users`,
//! `unregister`) against a real server, checked where they matter: signing in over XMPP.
//! An account the API registers can sign in (PLAIN and SCRAM), a changed password replaces
//! the old one, an unregistered account's live sessions end and it can no longer sign in;
//! each refusal (the account exists, an unknown user or host, an empty password) is
//! ejabberd's answer and changes nothing.

use mucsub_server::testkit::{with_api, Mech, RawClient, TestServer};
use serde_json::json;

async fn sign_in(s: &TestServer, user: &str, password: &str, mech: Mech) -> Result<(), String> {
    let c = RawClient::login_tcp(s.c2s_addr(), user, password, mech, None, None).await?;
    c.close().await;
    Ok(())
}

fn account(user: &str, password: &str) -> serde_json::Value {
    json!({"user": user, "host": "localhost", "password": password})
}

#[tokio::test]
async fn register_and_registered_users() {
    let s = TestServer::start_with(with_api).await;
    assert!(sign_in(&s, "bob", "first", Mech::Plain).await.is_err());
    let r = s.api("register", account("bob", "first")).await;
    assert_eq!(
        (r.status, r.body),
        (200, json!("User bob@localhost successfully registered"))
    );
    sign_in(&s, "bob", "first", Mech::Plain)
        .await
        .expect("PLAIN with the registered password");
    sign_in(&s, "bob", "first", Mech::ScramSha256)
        .await
        .expect("SCRAM-SHA-256 with the registered password");

    // Registering again is refused and keeps the first password.
    let again = s.api("register", account("Bob", "other")).await;
    assert_eq!(
        (again.status, again.body),
        (
            409,
            json!({"status": "error", "code": 10090, "message": "User bob@localhost already registered"})
        )
    );
    assert!(sign_in(&s, "bob", "other", Mech::Plain).await.is_err());
    sign_in(&s, "bob", "first", Mech::Plain)
        .await
        .expect("the first password still");

    let other_host = s
        .api(
            "register",
            json!({"user": "carol", "host": "nosuch", "password": "pw"}),
        )
        .await;
    assert_eq!(
        (other_host.status, other_host.body),
        (
            500,
            json!({"status": "error", "code": 10001, "message": "Unknown virtual host"})
        )
    );
    for (user, password, why) in [
        ("carol", "", "The password must not be empty"),
        ("ca rol", "pw", "Malformed username"),
    ] {
        let r = s.api("register", account(user, password)).await;
        assert_eq!(r.status, 500, "{r:?}");
        assert_eq!(r.body["code"], 10001, "{r:?}");
        assert_eq!(
            r.body["message"],
            format!("Can't register user {user}@localhost: {why}")
        );
    }

    let r = s.api("register", account("alice", "pw")).await;
    assert_eq!(r.status, 200);
    let users = s
        .api("registered_users", json!({"host": "localhost"}))
        .await;
    assert_eq!((users.status, users.body), (200, json!(["alice", "bob"])));
    let other = s.api("registered_users", json!({"host": "nosuch"})).await;
    assert_eq!(
        (other.status, other.body),
        (400, json!("Unknown virtual host"))
    );
    let missing = s.api("registered_users", json!({})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!("Request have missing argument: host"))
    );
}

#[tokio::test]
async fn change_password_replaces_the_old_one() {
    let s = TestServer::start_with(with_api).await;
    s.add_user("bob", "first").await;
    let change = |user: &str, host: &str, newpass: &str| json!({"user": user, "host": host, "newpass": newpass});
    let r = s
        .api("change_password", change("bob", "localhost", "second"))
        .await;
    assert_eq!((r.status, r.body), (200, json!(0)));
    assert_eq!(
        sign_in(&s, "bob", "first", Mech::Plain).await,
        Err("not-authorized".to_owned())
    );
    sign_in(&s, "bob", "second", Mech::Plain)
        .await
        .expect("PLAIN with the new password");
    sign_in(&s, "bob", "second", Mech::ScramSha1)
        .await
        .expect("SCRAM-SHA-1 with the new password");

    for (args, status, body) in [
        (
            change("nobody", "localhost", "x"),
            404,
            json!("unknown_user"),
        ),
        (change("bob", "nosuch", "x"), 404, json!("unknown_user")),
        (
            change("bob", "localhost", ""),
            400,
            json!("The password must not be empty"),
        ),
        (
            json!({"user": "bob", "host": "localhost"}),
            400,
            json!("Request have missing argument: newpass"),
        ),
    ] {
        let r = s.api("change_password", args.clone()).await;
        assert_eq!((r.status, r.body), (status, body), "{args}");
    }
    // The refusals changed nothing.
    sign_in(&s, "bob", "second", Mech::Plain)
        .await
        .expect("still the second password");
    assert_eq!(
        s.api("registered_users", json!({"host": "localhost"}))
            .await
            .body,
        json!(["bob"])
    );
}

#[tokio::test]
async fn unregister_ends_the_accounts_sessions_and_sign_in() {
    let s = TestServer::start_with(with_api).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.login("bob", "pw").await;
    let mut alice = s.login("alice", "pw").await;

    let r = s
        .api("unregister", json!({"user": "bob", "host": "localhost"}))
        .await;
    assert_eq!((r.status, r.body), (200, json!("")));
    assert_eq!(bob.expect_stream_error().await, "not-authorized");
    assert_eq!(
        sign_in(&s, "bob", "pw", Mech::Plain).await,
        Err("not-authorized".to_owned())
    );
    assert_eq!(
        s.api("registered_users", json!({"host": "localhost"}))
            .await
            .body,
        json!(["alice"])
    );
    // Another account's session is untouched.
    let id = alice.next_id();
    let pong = alice
        .iq(&format!(
            "<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    assert_eq!(pong.attr("type"), Some("result"), "{pong:?}");

    // Removing an account that is not there is done too (as ejabberd); another host is not.
    let r = s
        .api("unregister", json!({"user": "bob", "host": "localhost"}))
        .await;
    assert_eq!((r.status, r.body), (200, json!("")));
    let r = s
        .api("unregister", json!({"user": "alice", "host": "nosuch"}))
        .await;
    assert_eq!((r.status, r.body), (400, json!("Unknown virtual host")));
    sign_in(&s, "alice", "pw", Mech::Plain)
        .await
        .expect("alice was not removed");
    // The name is free again, with a fresh password.
    let r = s.api("register", account("bob", "new")).await;
    assert_eq!(r.status, 200);
    sign_in(&s, "bob", "new", Mech::Plain)
        .await
        .expect("the new bob");
    // An account with no subscriptions (or none at all) has an empty list.
    for user in ["bob", "nobody"] {
        let r = s
            .api(
                "get_user_subscriptions",
                json!({"user": user, "host": "localhost"}),
            )
            .await;
        assert_eq!((r.status, r.body), (200, json!([])), "{user}");
    }
}
