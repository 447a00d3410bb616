//! Observability: `/metrics` scraped over real HTTP and parsed as a Prometheus scraper
//! does, before and after real traffic (TCP and WebSocket sessions, a room with
//! subscribers, offline storage); who may scrape it; `/health` following the database.

use mucsub_server::auth::settings::Secret;
use mucsub_server::testkit::{http_get, Mech, RawClient, TestServer};
use prometheus_parse::{Scrape, Value};

const ROOM: &str = "ops@conference.localhost";

/// `/metrics`, checked to be a complete OpenMetrics text, parsed.
async fn scrape(s: &TestServer) -> Scrape {
    let r = http_get(s.http_addr(), "/metrics", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .starts_with("application/openmetrics-text"),
        "{:?}",
        r.headers
    );
    assert!(r.body.ends_with("# EOF\n"), "a complete exposition");
    Scrape::parse(r.body.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

/// The value of `name` with these labels (a counter, gauge or untyped sample; a
/// histogram's observation count). 0 when the series does not exist yet.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => panic!("{name} is not a summary"),
        })
        .sum()
}

async fn subscribe(c: &mut RawClient, nick: &str) {
    let r = c
        .iq(&format!(
            "<iq type='set' id='sub-{nick}' to='{ROOM}'><subscribe xmlns='urn:xmpp:mucsub:0' nick='{nick}'>\
             <event node='urn:xmpp:mucsub:nodes:messages'/></subscribe></iq>"
        ))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r:?}");
}

#[tokio::test]
async fn counters_move_with_traffic() {
    let s = TestServer::start().await;
    for u in ["alice", "bob", "carol"] {
        s.add_user(u, "pw").await;
    }
    let before = scrape(&s).await;
    assert_eq!(value(&before, "mucsub_sessions", &[]), 0.0);
    assert_eq!(value(&before, "mucsub_offline_messages", &[]), 0.0);

    let mut alice = s.login("alice", "pw").await;
    let mut bob = RawClient::login_ws(&s.ws_url(), "bob", "pw", Mech::Plain, None)
        .await
        .unwrap();
    bob.send("<presence/>").await;
    subscribe(&mut alice, "alice").await;
    subscribe(&mut bob, "bob").await;
    for i in 0..3 {
        alice
            .send(&format!(
                "<message to='{ROOM}' type='groupchat' id='m{i}'><body>hello {i}</body></message>"
            ))
            .await;
    }
    bob.expect("the third message", |el| {
        el.name() == "message" && String::from(el).contains("hello 2")
    })
    .await;
    // carol is offline: a chat message waits for her.
    alice
        .send("<message to='carol@localhost' type='chat' id='c1'><body>later</body></message>")
        .await;
    // The API engineer's seam, as the API module will call it.
    s.ctx().metrics.api_request("register", true, 200);

    let mut after = scrape(&s).await;
    for _ in 0..50 {
        if value(&after, "mucsub_offline_messages", &[]) >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = scrape(&s).await;
    }
    let tcp = [("transport", "tcp")];
    let ws = [("transport", "websocket")];
    assert_eq!(value(&after, "mucsub_sessions", &tcp), 1.0);
    assert_eq!(value(&after, "mucsub_sessions", &ws), 1.0);
    for (name, labels) in [
        ("mucsub_stanzas_received_total", &tcp[..]),
        ("mucsub_stanzas_received_total", &ws[..]),
        ("mucsub_stanzas_sent_total", &tcp[..]),
        ("mucsub_stanzas_sent_total", &ws[..]),
    ] {
        assert!(
            value(&after, name, labels) > value(&before, name, labels),
            "{name} {labels:?} moved"
        );
    }
    // alice's three messages to the room, plus her chat message.
    assert!(value(&after, "mucsub_stanzas_received_total", &tcp) >= 4.0);
    assert_eq!(value(&after, "mucsub_rooms_loaded", &[]), 1.0);
    assert_eq!(value(&after, "mucsub_archive_writes_total", &[]), 3.0);
    // Each message to both subscribers.
    assert!(value(&after, "mucsub_events_fanned_out_total", &[]) >= 6.0);
    assert!(
        value(&after, "mucsub_db_commit_seconds", &[])
            > value(&before, "mucsub_db_commit_seconds", &[])
    );
    assert_eq!(value(&after, "mucsub_offline_messages", &[]), 1.0);
    assert_eq!(
        value(
            &after,
            "mucsub_api_requests_total",
            &[("command", "register"), ("status", "200")]
        ),
        1.0
    );

    // Sessions leave the gauge when they end.
    bob.close().await;
    alice.close().await;
    let mut last = scrape(&s).await;
    for _ in 0..50 {
        if value(&last, "mucsub_sessions", &[]) == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        last = scrape(&s).await;
    }
    assert_eq!(value(&last, "mucsub_sessions", &[]), 0.0);
}

#[tokio::test]
async fn who_may_scrape() {
    let s = TestServer::start().await;
    let proxied = http_get(
        s.http_addr(),
        "/metrics",
        &[("x-forwarded-for", "203.0.113.9")],
    )
    .await;
    assert_eq!(
        proxied.status, 403,
        "a request through a local proxy is not local"
    );

    let s = TestServer::start_with(|c| {
        c.metrics.insert("token".into(), "scrape-me".into());
    })
    .await;
    assert_eq!(http_get(s.http_addr(), "/metrics", &[]).await.status, 401);
    let wrong = http_get(
        s.http_addr(),
        "/metrics",
        &[("authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(wrong.status, 401);
    let ok = http_get(
        s.http_addr(),
        "/metrics",
        &[("authorization", "Bearer scrape-me")],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.body.contains("# TYPE mucsub_sessions gauge"),
        "{}",
        ok.body
    );

    let s = TestServer::start_with(|c| {
        c.metrics.insert("enabled".into(), false.into());
    })
    .await;
    assert_eq!(http_get(s.http_addr(), "/metrics", &[]).await.status, 404);
    // The secret never shows in the config's debug output.
    let c = mucsub_server::metrics::module::MetricsConfig {
        token: Some(Secret::new("scrape-me")),
        ..Default::default()
    };
    assert!(!format!("{c:?}").contains("scrape-me"));
}

#[tokio::test]
async fn health_follows_the_database() {
    let s = TestServer::start().await;
    let ok = http_get(s.http_addr(), "/health", &[]).await;
    assert_eq!(ok.status, 200);
    let json: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(json["database"], "ok");

    // Another process holds the database's write lock: the server cannot commit anything,
    // so it is not ready.
    let other = rusqlite::Connection::open(s.config().db_path()).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let down = http_get(s.http_addr(), "/health", &[]).await;
    assert_eq!(down.status, 503, "{}", down.body);
    let json: serde_json::Value = serde_json::from_str(&down.body).unwrap();
    assert_eq!(json["status"], "unavailable");
    other.execute_batch("COMMIT").unwrap();

    // Ready again once the lock is gone (the writer may still finish its wait first).
    let mut status = 0;
    for _ in 0..100 {
        status = http_get(s.http_addr(), "/health", &[]).await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
}
