//! The HTTP API's doors, over real HTTP: who may call (no token, a wrong one, a token limited
//! to some commands, loopback when the operator opens it), what a malformed call gets
//! (unknown command 404, bad JSON 400, a missing argument 400 naming it), the OpenAPI
//! description, the calls counted in `/metrics`, and `docs/api.md` naming every command.

use mucsub_server::api::table::COMMANDS;
use mucsub_server::config::Config;
use mucsub_server::testkit::{
    api_call, http_get, http_request, with_api, with_api_and_limited, TestServer, API_TOKEN,
};
use serde_json::{json, Value};

const LIMITED: &str = "limited-to-send-message-0123456789";

/// The testkit's full-access token and one limited to `send_message`.
fn two_tokens(c: &mut Config) {
    with_api_and_limited(c, LIMITED, &["send_message"]);
}

fn error_code(v: &Value) -> Option<i64> {
    (v["status"] == "error")
        .then(|| v["code"].as_i64())
        .flatten()
}

#[tokio::test]
async fn a_call_needs_a_token_and_a_limited_token_only_its_commands() {
    let s = TestServer::start_with(two_tokens).await;
    let addr = s.http_addr();
    let args = json!({"host": "localhost"});

    let none = api_call(addr, None, "registered_users", args.clone()).await;
    assert_eq!(
        (none.status, error_code(&none.body)),
        (401, Some(10)),
        "{none:?}"
    );
    let wrong = api_call(
        addr,
        Some("not-a-token-we-have"),
        "registered_users",
        args.clone(),
    )
    .await;
    assert_eq!((wrong.status, error_code(&wrong.body)), (401, Some(10)));
    // Another scheme is no token either.
    let basic = http_request(
        addr,
        "POST",
        "/api/registered_users",
        &[("authorization", "Basic YWxpY2U6cHc=")],
        &args.to_string(),
    )
    .await;
    assert_eq!(basic.status, 401);

    let ok = api_call(addr, Some(API_TOKEN), "registered_users", args.clone()).await;
    assert_eq!((ok.status, ok.body.clone()), (200, json!([])));

    let refused = api_call(addr, Some(LIMITED), "registered_users", args).await;
    assert_eq!((refused.status, error_code(&refused.body)), (403, Some(32)));
    s.add_user("bob", "pw").await;
    let mut bob = s.login("bob", "pw").await;
    let sent = api_call(
        addr,
        Some(LIMITED),
        "send_message",
        json!({"type": "chat", "from": "app@localhost", "to": "bob@localhost", "subject": "", "body": "from the app"}),
    )
    .await;
    assert_eq!((sent.status, sent.body), (200, json!(0)));
    bob.expect("the app's message", |m| {
        m.name() == "message" && m.attr("from") == Some("app@localhost")
    })
    .await;

    // Calls are counted by command and status; a made-up name is `unknown`.
    let _ = api_call(addr, Some(API_TOKEN), "no_such_command", json!({})).await;
    let metrics = http_get(addr, "/metrics", &[]).await.body;
    for line in [
        "mucsub_api_requests_total{command=\"registered_users\",status=\"401\"} 3",
        "mucsub_api_requests_total{command=\"registered_users\",status=\"403\"} 1",
        "mucsub_api_requests_total{command=\"send_message\",status=\"200\"} 1",
        "mucsub_api_requests_total{command=\"unknown\",status=\"404\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn malformed_calls_get_ejabberds_answers() {
    let s = TestServer::start_with(with_api).await;
    let unknown = s.api("no_such_command", json!({})).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body,
        json!({"status": "error", "code": 40, "message": "Endpoint not found."})
    );
    let bad = http_request(
        s.http_addr(),
        "POST",
        "/api/create_room",
        &[("authorization", &format!("Bearer {API_TOKEN}"))],
        "{bad json",
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.starts_with("\"Invalid JSON input"), "{}", bad.body);
    let missing = s.api("create_room", json!({"name": "p1"})).await;
    assert_eq!(
        (missing.status, missing.body),
        (400, json!("Request have missing argument: service"))
    );
    let extra = s
        .api(
            "create_room",
            json!({"name": "p1", "service": "conference.localhost", "host": "localhost", "extra": 1}),
        )
        .await;
    assert_eq!(extra.body, json!("Request have unknown arguments: [extra]"));
    // Nothing was created by the refused calls.
    let rooms = s
        .api("muc_online_rooms", json!({"service": "global"}))
        .await;
    assert_eq!(rooms.body, json!([]));
    // Commands are POSTed.
    let get = http_get(s.http_addr(), "/api/registered_users", &[]).await;
    assert_eq!(get.status, 405);
}

#[tokio::test]
async fn without_tokens_every_call_is_refused_unless_loopback_is_opened() {
    let closed = TestServer::start().await;
    let r = api_call(
        closed.http_addr(),
        None,
        "registered_users",
        json!({"host": "localhost"}),
    )
    .await;
    assert_eq!(r.status, 401);

    let open = TestServer::start_with(|c| {
        c.api.insert("open_on_loopback".into(), true.into());
    })
    .await;
    let r = api_call(
        open.http_addr(),
        None,
        "registered_users",
        json!({"host": "localhost"}),
    )
    .await;
    assert_eq!((r.status, r.body), (200, json!([])));
    // Through a reverse proxy on this host, the caller is not local.
    let proxied = http_request(
        open.http_addr(),
        "POST",
        "/api/registered_users",
        &[("x-forwarded-for", "192.0.2.7")],
        r#"{"host":"localhost"}"#,
    )
    .await;
    assert_eq!(proxied.status, 401);
}

#[tokio::test]
async fn openapi_describes_every_command_of_the_table() {
    let s = TestServer::start().await;
    let r = http_get(s.http_addr(), "/api/openapi.json", &[]).await;
    assert_eq!(r.status, 200);
    let doc: Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(paths.len(), COMMANDS.len());
    for spec in COMMANDS {
        let op = &paths[&format!("/api/{}", spec.name)]["post"];
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        for arg in spec.args {
            assert!(
                schema["properties"].get(arg.name).is_some(),
                "{}.{}",
                spec.name,
                arg.name
            );
        }
    }
}

#[test]
fn docs_api_md_describes_every_command() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
    let md = std::fs::read_to_string(path).expect("docs/api.md");
    for spec in COMMANDS {
        let heading = format!("### `{}`", spec.name);
        let start = md
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/api.md has no section for {}", spec.name));
        let rest = &md[start + heading.len()..];
        let section = &rest[..rest.find("\n#").unwrap_or(rest.len())];
        for arg in spec.args {
            assert!(
                section.contains(&format!("\"{}\"", arg.name)),
                "docs/api.md's {} section does not name its argument {}",
                spec.name,
                arg.name
            );
        }
    }
}
