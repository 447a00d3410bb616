//! Push from the hook to the push service: XEP-0357 registrations on SQLite, the built-in
//! app server, real HTTP on loopback to a push service that verifies VAPID and decrypts.
//! The router's part (which accounts get the hook) is covered by `push_server.rs`.

mod push_support;

use minidom::Element;
use mucsub_server::config::Config;
use mucsub_server::metrics::{Metrics, ResultLabel};
use mucsub_server::push::appserver::Outcome;
use mucsub_server::push::{Push, Report};
use mucsub_server::storage::{Credentials, OfflineStore};
use mucsub_server::testkit::TestStorage;
use push_support::PushService;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

struct Fixture {
    push: Push,
    metrics: Metrics,
    offline: Arc<dyn OfflineStore>,
    service: PushService,
    reports: broadcast::Receiver<Report>,
    _storage: TestStorage,
    _dir: tempfile::TempDir,
}

fn config(extra: &str) -> Config {
    let mut c = Config::parse(&format!(
        "domain = 'localhost'\n[push]\nallow_http_endpoints = true\n\
         retry_base_ms = 10\nretry_max_ms = 50\nmax_attempts = 3\n{extra}"
    ))
    .unwrap();
    c.normalize().unwrap();
    c
}

async fn fixture(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStorage::open(dir.path()).await;
    for u in ["bob", "carol"] {
        let creds = Credentials::derive_with("pw", b"0123456789abcdef", 1).unwrap();
        ts.storage.accounts.create(u, creds).await.unwrap();
    }
    let offline = ts.storage.offline.clone();
    let metrics = Metrics::new();
    let push = Push::start(
        ts.storage.push.clone(),
        &config(extra),
        Some(offline.clone()),
        metrics.clone(),
    )
    .await
    .unwrap();
    let service = PushService::start().await;
    service.expect_vapid_key(push.vapid_public_key());
    let reports = push.reports();
    Fixture {
        push,
        metrics,
        offline,
        service,
        reports,
        _storage: ts,
        _dir: dir,
    }
}

fn wrapped(user: &str, room: &str, nick: &str, node: &str, id: &str, body: &str) -> Element {
    let inner = if node.ends_with("subject") {
        format!("<subject>{body}</subject>")
    } else {
        format!("<body>{body}</body>")
    };
    format!(
        "<message xmlns='jabber:client' from='{room}' to='{user}@localhost' id='{id}'>\
         <event xmlns='http://jabber.org/protocol/pubsub#event'><items node='{node}'>\
         <item id='{id}'><message xmlns='jabber:client' from='{room}/{nick}' \
         to='{user}@localhost' type='groupchat' id='o-{id}'>{inner}\
         <stanza-id xmlns='urn:xmpp:sid:0' by='{room}' id='{id}'/></message>\
         </item></items></event></message>"
    )
    .parse()
    .unwrap()
}

const MESSAGES: &str = "urn:xmpp:mucsub:nodes:messages";
const ROOM: &str = "garden@conference.localhost";

impl Fixture {
    /// What the router does for an account with no available resource: store, then hook.
    async fn offline_event(&self, user: &str, stanza: &Element) {
        self.offline.push(user, String::from(stanza)).await.unwrap();
        self.push.notify(user, stanza);
    }

    async fn enable(&self, user: &str, sub: &push_support::Subscription, node: &str, body: bool) {
        let iq = sub.enable_iq(self.push.service_jid(), node, body);
        let reply = self.push.handle_iq(user, &iq).await;
        assert_eq!(
            reply.attr("type"),
            Some("result"),
            "{}",
            String::from(&reply)
        );
    }

    async fn next_report(&mut self) -> Report {
        tokio::time::timeout(Duration::from_secs(30), self.reports.recv())
            .await
            .expect("a delivery report within 30 s")
            .expect("report channel open")
    }
}

#[tokio::test]
async fn offline_subscriber_gets_a_push_per_message() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-phone");
    f.enable("bob", &sub, "bob-phone", true).await;

    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "alice", MESSAGES, "s1", "first"),
    )
    .await;
    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "carol", MESSAGES, "s2", "second"),
    )
    .await;

    let one = f.service.next().await;
    let two = f.service.next().await;
    assert_eq!(one.json["room"], ROOM);
    assert_eq!(one.json["sender"], "alice");
    assert_eq!(one.json["body"], "first");
    assert_eq!(one.json["kind"], "message");
    assert_eq!(one.json["id"], "s1");
    // message-count is the number of messages waiting in offline storage when the push
    // goes out: at least this one, and both by the time of the second.
    assert!(one.json["count"].as_u64().unwrap() >= 1);
    assert_eq!(two.json["sender"], "carol");
    assert_eq!(two.json["body"], "second");
    assert_eq!(two.json["count"], 2);
    // RFC 8030 headers: a TTL, an urgency, and one topic per room.
    assert_eq!(one.ttl.as_deref(), Some("86400"));
    assert_eq!(one.urgency.as_deref(), Some("normal"));
    assert_eq!(one.topic.as_deref().map(str::len), Some(32));
    assert_eq!(one.topic, two.topic);
    assert_eq!(
        f.next_report().await.outcome,
        Outcome::Delivered { status: 201 }
    );
}

#[tokio::test]
async fn subject_changes_are_pushed_and_presence_events_are_not() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-laptop");
    f.enable("bob", &sub, "bob-laptop", true).await;

    let presence: Element = format!(
        "<message xmlns='jabber:client' from='{ROOM}' to='bob@localhost'>\
         <event xmlns='http://jabber.org/protocol/pubsub#event'>\
         <items node='urn:xmpp:mucsub:nodes:presence'><item id='p1'>\
         <presence xmlns='jabber:client' from='{ROOM}/alice'/></item></items></event></message>"
    )
    .parse()
    .unwrap();
    f.push.notify("bob", &presence);
    f.offline_event(
        "bob",
        &wrapped(
            "bob",
            ROOM,
            "alice",
            "urn:xmpp:mucsub:nodes:subject",
            "s3",
            "Spring plans",
        ),
    )
    .await;
    // Notifications of one account are delivered in order, so the first push being the
    // subject change shows the presence event produced none.
    let first = f.service.next().await;
    assert_eq!(first.json["kind"], "subject");
    assert_eq!(first.json["body"], "Spring plans");
}

#[tokio::test]
async fn include_body_false_keeps_the_body_out_of_the_payload() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-private");
    f.enable("bob", &sub, "bob-private", false).await;
    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "alice", MESSAGES, "s4", "the secret is 42"),
    )
    .await;
    let r = f.service.next().await;
    assert!(!r.plaintext.contains("secret"), "{}", r.plaintext);
    assert!(r.json.get("body").is_none());
    assert_eq!(r.json["room"], ROOM);
    assert_eq!(r.json["sender"], "alice");
}

#[tokio::test]
async fn disabled_registration_gets_nothing() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-old");
    f.enable("bob", &sub, "bob-old", true).await;
    let disable: Element = format!(
        "<iq xmlns='jabber:client' type='set' id='d1'>\
         <disable xmlns='urn:xmpp:push:0' jid='{}' node='bob-old'/></iq>",
        f.push.service_jid()
    )
    .parse()
    .unwrap();
    let reply = f.push.handle_iq("bob", &disable).await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(reply.attr("id"), Some("d1"));
    assert!(f.push.registrations("bob").await.unwrap().is_empty());

    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "alice", MESSAGES, "s5", "unseen"),
    )
    .await;
    // A later registration receives only what comes after it, in order: the first push it
    // sees is the later message, so the one sent while disabled went nowhere.
    let sub2 = f.service.subscribe("bob-new");
    f.enable("bob", &sub2, "bob-new", true).await;
    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "alice", MESSAGES, "s6", "seen"),
    )
    .await;
    let r = f.service.next().await;
    assert_eq!(r.subscription, "bob-new");
    assert_eq!(r.json["body"], "seen");
    assert!(f.service.drain().is_empty());
}

#[tokio::test]
async fn gone_subscription_is_removed() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-expired");
    f.enable("bob", &sub, "bob-expired", true).await;
    f.service.script(&[410]);
    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "alice", MESSAGES, "s7", "hello"),
    )
    .await;
    assert_eq!(f.service.next().await.status, 410);
    let report = f.next_report().await;
    assert_eq!(report.outcome, Outcome::Gone { status: 410 });
    assert!(report.removed);
    assert!(f.push.registrations("bob").await.unwrap().is_empty());
}

#[tokio::test]
async fn not_found_also_removes_and_other_devices_stay() {
    let mut f = fixture("").await;
    let a = f.service.subscribe("bob-a");
    let b = f.service.subscribe("bob-b");
    f.enable("bob", &a, "bob-a", true).await;
    f.enable("bob", &b, "bob-b", true).await;
    f.service.script(&[404]);
    f.offline_event("bob", &wrapped("bob", ROOM, "alice", MESSAGES, "s8", "hi"))
        .await;
    let first = f.service.next().await;
    let second = f.service.next().await;
    assert_eq!(first.subscription, "bob-a");
    assert_eq!(first.status, 404);
    assert_eq!(second.subscription, "bob-b");
    assert_eq!(second.status, 201);
    assert!(f.next_report().await.removed);
    let left = f.push.registrations("bob").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].node, "bob-b");
}

#[tokio::test]
async fn retries_on_5xx_and_429_then_delivers() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-flaky");
    f.enable("bob", &sub, "bob-flaky", true).await;
    f.service.script(&[503, 429]);
    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "alice", MESSAGES, "s9", "eventually"),
    )
    .await;
    let statuses = [
        f.service.next().await.status,
        f.service.next().await.status,
        f.service.next().await.status,
    ];
    assert_eq!(statuses, [503, 429, 201]);
    assert_eq!(
        f.next_report().await.outcome,
        Outcome::Delivered { status: 201 }
    );
    assert_eq!(f.push.registrations("bob").await.unwrap().len(), 1);
    // One notification sent, whatever the retries (mucsub_push_notifications_total).
    assert_eq!(pushes(&f.metrics), (1, 0));
}

/// `mucsub_push_notifications_total` by result: (sent, failed).
fn pushes(m: &Metrics) -> (u64, u64) {
    let get = |result| m.push.get_or_create(&ResultLabel { result }).get();
    (get("sent"), get("failed"))
}

#[tokio::test]
async fn retries_are_bounded_and_keep_the_registration() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-down");
    f.enable("bob", &sub, "bob-down", true).await;
    f.service.script(&[500, 502, 503, 500]);
    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "alice", MESSAGES, "s10", "lost"),
    )
    .await;
    let report = f.next_report().await;
    assert_eq!(
        report.outcome,
        Outcome::Failed {
            reason: "push service answered 503".into(),
            attempts: 3
        }
    );
    let tried: Vec<u16> = f
        .service
        .drain()
        .into_iter()
        .map(|r| r.unwrap().status)
        .collect();
    assert_eq!(tried, [500, 502, 503]);
    assert_eq!(f.push.registrations("bob").await.unwrap().len(), 1);
    assert_eq!(pushes(&f.metrics), (0, 1));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-413");
    f.enable("bob", &sub, "bob-413", true).await;
    f.service.script(&[413]);
    f.offline_event(
        "bob",
        &wrapped("bob", ROOM, "alice", MESSAGES, "s11", "big"),
    )
    .await;
    let report = f.next_report().await;
    assert!(matches!(
        report.outcome,
        Outcome::Failed { attempts: 1, .. }
    ));
    assert_eq!(f.service.drain().len(), 1);
}

#[tokio::test]
async fn enable_refuses_bad_subscriptions_and_unreachable_services() {
    let f = fixture("").await;
    let sub = f.service.subscribe("x");
    let cases = [
        (
            // Not our app server: no server-to-server here.
            sub.enable_iq("push.elsewhere.example", "n", false),
            "cancel",
            "remote-server-not-found",
        ),
        (
            "<iq xmlns='jabber:client' type='set' id='e'>\
             <enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'/></iq>"
                .parse()
                .unwrap(),
            "modify",
            "not-acceptable",
        ),
        (
            "<iq xmlns='jabber:client' type='set' id='e'>\
             <enable xmlns='urn:xmpp:push:0' node='n'/></iq>"
                .parse()
                .unwrap(),
            "modify",
            "bad-request",
        ),
    ];
    for (iq, kind, cond) in cases {
        let reply = f.push.handle_iq("bob", &iq).await;
        assert_eq!(reply.attr("type"), Some("error"));
        let error = reply.get_child("error", "jabber:client").unwrap();
        assert_eq!(error.attr("type"), Some(kind));
        assert!(
            error
                .get_child(cond, "urn:ietf:params:xml:ns:xmpp-stanzas")
                .is_some(),
            "{}",
            String::from(&reply)
        );
        assert!(error
            .get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
            .is_some());
    }
    // A corrupted p256dh is refused before anything is stored.
    let mut bad = sub.clone();
    bad.auth = [0; 16];
    let iq =
        String::from(&bad.enable_iq("push.localhost", "n", false)).replace(&sub.p256dh(), "AAAA");
    let reply = f.push.handle_iq("bob", &iq.parse().unwrap()).await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert!(f.push.registrations("bob").await.unwrap().is_empty());
}

#[tokio::test]
async fn http_endpoints_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStorage::open(dir.path()).await;
    let creds = Credentials::derive_with("pw", b"0123456789abcdef", 1).unwrap();
    ts.storage.accounts.create("bob", creds).await.unwrap();
    let push = Push::start(
        ts.storage.push.clone(),
        &Config::default(),
        None,
        Metrics::new(),
    )
    .await
    .unwrap();
    let service = PushService::start().await;
    let sub = service.subscribe("plain");
    let reply = push
        .handle_iq("bob", &sub.enable_iq("push.localhost", "n", false))
        .await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert!(String::from(&reply).contains("https"));
}

#[tokio::test]
async fn vapid_key_persists_and_is_published_over_http_and_disco() {
    let dir = tempfile::tempdir().unwrap();
    let ts = TestStorage::open(dir.path()).await;
    let first = {
        let push = Push::start(ts.storage.push.clone(), &config(""), None, Metrics::new())
            .await
            .unwrap();
        push.vapid_public_key().to_string()
    };
    // Storage opened again (a restart).
    let reopened = mucsub_server::storage::open(&ts.config).await.unwrap();
    let push = Push::start(reopened.push, &config(""), None, Metrics::new())
        .await
        .unwrap();
    assert_eq!(push.vapid_public_key(), first);
    assert_eq!(first.len(), 87);

    // GET /push/vapid over real HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app: axum::Router = push.routes();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /push/vapid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["publicKey"], first);
    assert_eq!(json["service"], "push.localhost");

    // disco#info of push.localhost carries the same key.
    let disco: Element = "<iq xmlns='jabber:client' type='get' id='d' from='bob@localhost/r' \
         to='push.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        .parse()
        .unwrap();
    let reply = push.handle_component(&disco).await.unwrap();
    let xml = String::from(&reply);
    assert!(xml.contains("urn:xmpp:push:0"), "{xml}");
    assert!(xml.contains(&first), "{xml}");
    assert_eq!(reply.attr("to"), Some("bob@localhost/r"));
}

#[tokio::test]
async fn component_accepts_publishes_only_from_the_server() {
    let mut f = fixture("").await;
    let sub = f.service.subscribe("bob-c");
    let publish = |from: &str| -> Element {
        format!(
            "<iq xmlns='jabber:client' type='set' id='p' from='{from}' to='push.localhost'>\
             <pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='bob-c'><item>\
             <notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
             <field var='message-count'><value>5</value></field>\
             <field var='last-message-sender'><value>{ROOM}</value></field>\
             </x></notification></item></publish>\
             <publish-options><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='endpoint'><value>{}</value></field>\
             <field var='p256dh'><value>{}</value></field>\
             <field var='auth'><value>{}</value></field>\
             </x></publish-options></pubsub></iq>",
            sub.endpoint,
            sub.p256dh(),
            sub.auth_b64()
        )
        .parse()
        .unwrap()
    };
    let refused = f
        .push
        .handle_component(&publish("mallory@localhost/laptop"))
        .await
        .unwrap();
    assert_eq!(refused.attr("type"), Some("error"));
    assert!(String::from(&refused).contains("forbidden"));

    let ok = f
        .push
        .handle_component(&publish("bob@localhost"))
        .await
        .unwrap();
    assert_eq!(ok.attr("type"), Some("result"));
    let r = f.service.next().await;
    assert_eq!(r.json["count"], 5);
    assert_eq!(r.json["sender"], ROOM);
}
