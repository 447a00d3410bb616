//! Configurable limits that exist, each with its default and a configured value: the
//! largest MAM page (`[muc] mam_max_page`) and the per-session outgoing queue
//! (`[limits] session_queue`). (Stanza size, depth, pre-auth timeout, auth failures and the
//! offline queue are covered by the core's tests.)

#[path = "scenarios/support.rs"]
mod support;

use std::time::Duration;

use mucsub_server::testkit::Incoming;
use support::*;

#[test]
fn defaults_are_sane() {
    let c = mucsub_server::config::Config::parse("").expect("defaults");
    assert!(c.limits.max_stanza >= 64 * 1024 && c.limits.max_stanza <= 1 << 20);
    assert!(c.limits.max_stanza_pre_auth <= 16 * 1024);
    assert!(c.limits.max_depth >= 16 && c.limits.max_depth <= 256);
    assert!(c.limits.session_queue >= 64);
    let muc = mucsub_server::muc::Settings::default();
    assert!(muc.mam_max_page >= 50 && muc.mam_max_page <= 1000);
}

async fn page(
    c: &mut mucsub_server::testkit::RawClient,
    r: &str,
    max: Option<usize>,
) -> (usize, bool) {
    let id = c.next_id();
    let set = max
        .map(|m| format!("<set xmlns='{RSM}'><max>{m}</max></set>"))
        .unwrap_or_default();
    let (reply, before) = iq_collect(
        c,
        &format!("<iq type='set' id='{id}' to='{r}'><query xmlns='{MAM}' queryid='{id}'>{set}</query></iq>"),
    )
    .await;
    assert_result(&reply);
    let n = before
        .iter()
        .filter(|m| {
            m.get_child("result", MAM)
                .is_some_and(|x| x.attr("queryid") == Some(id.as_str()))
        })
        .count();
    let complete = reply.get_child("fin", MAM).and_then(|f| f.attr("complete")) == Some("true");
    (n, complete)
}

#[tokio::test]
async fn mam_page_is_capped_by_config() {
    let s = server_with(&["alice"], |c| {
        c.muc
            .insert("mam_max_page".into(), toml::Value::Integer(10));
    })
    .await;
    let mut a = login(&s, "alice", "a").await;
    let r = room("capped");
    join(&mut a, &r, "alice").await;
    for i in 0..25 {
        post(&mut a, &r, &format!("m{i}")).await;
        a.expect_message().await;
    }
    assert_eq!(
        page(&mut a, &r, Some(1000)).await,
        (10, false),
        "asked for 1000"
    );
    assert_eq!(page(&mut a, &r, None).await, (10, false), "no max given");
    assert_eq!(
        page(&mut a, &r, Some(3)).await,
        (3, false),
        "smaller pages still work"
    );
}

#[tokio::test]
async fn mam_page_default_cap() {
    let s = server(&["alice"]).await;
    let mut a = login(&s, "alice", "a").await;
    let r = room("default-cap");
    join(&mut a, &r, "alice").await;
    let cap = mucsub_server::muc::Settings::default().mam_max_page;
    for i in 0..cap + 5 {
        post(&mut a, &r, &format!("m{i}")).await;
    }
    // Wait for the last echo so everything is archived.
    let last = format!("m{}", cap + 4);
    a.expect("last echo", |e| {
        e.get_child("body", CLIENT)
            .is_some_and(|b| b.text() == last)
    })
    .await;
    assert_eq!(page(&mut a, &r, Some(100_000)).await, (cap, false));
}

/// A session that never reads does not make the server buffer without bound: once its
/// queue is full, further stanzas for it are dropped (or it is disconnected), and the
/// sender keeps being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_queue_bounds_a_reader_that_never_reads() {
    let s = server_with(&["alice", "bob"], |c| c.limits.session_queue = 16).await;
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    // Big messages so the socket buffers fill quickly and the queue has to take the rest.
    let body = "q".repeat(60 * 1024);
    for i in 0..400 {
        a.send(&format!(
            "<message to='bob@localhost/b' type='chat' id='q{i}'><body>{body}</body></message>"
        ))
        .await;
    }
    let r = a
        .iq("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_result(&r);
    let mut got = 0;
    while let Some(inc) = b.next_incoming(Duration::from_secs(2)).await {
        match inc {
            Incoming::Element(el) if el.name() == "message" => got += 1,
            Incoming::Element(_) | Incoming::Open => {}
            Incoming::Close | Incoming::Eof => break,
        }
    }
    assert!(got < 400, "all 400 delivered: nothing was bounded");
}
