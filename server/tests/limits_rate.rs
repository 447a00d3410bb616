//! `[limits] rate_*`: per-connection inbound rate shaping. A flooding client is slowed
//! down (the server stops reading it), not disconnected, and others are served meanwhile.
//!
//! Every assertion is an upper bound on the flooder's throughput, measured from before
//! it sent anything to when a reply was *read* by the test (so never later than the server
//! processed it): a loaded machine can only make the server slower, which these bounds
//! allow. Nothing asserts that anything is fast.

#[path = "scenarios/support.rs"]
mod support;

use std::time::Duration;

use mucsub_server::testkit::{Incoming, Mech, RawClient};
use support::*;
use tokio::time::Instant;

/// Reads replies to the flood until all `n` came (ids `p0..p{n}`), checking after each that
/// the number processed so far fits `allowed(elapsed)`. Returns the elapsed time.
async fn collect_flood(
    f: &mut RawClient,
    n: usize,
    t0: Instant,
    allowed: impl Fn(f64) -> f64,
) -> f64 {
    let mut got = 0;
    while got < n {
        match f.next_incoming(Duration::from_secs(60)).await {
            Some(Incoming::Element(el))
                if el.name() == "iq" && el.attr("id").is_some_and(|i| i.starts_with('p')) =>
            {
                assert_result(&el);
                got += 1;
                let elapsed = t0.elapsed().as_secs_f64();
                let cap = allowed(elapsed);
                assert!(
                    got as f64 <= cap,
                    "{got} stanzas processed after {elapsed:.3}s; the rate allows at most {cap:.1}"
                );
            }
            Some(Incoming::Element(el)) => {
                assert!(
                    !el.is("error", "http://etherx.jabber.org/streams"),
                    "the flooder was disconnected instead of slowed down: {el:?}"
                );
            }
            Some(Incoming::Open) => {}
            other => panic!("flooder's stream ended after {got} replies: {other:?}"),
        }
    }
    t0.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stanza_rate_slows_a_flooder_and_serves_others() {
    const RATE: f64 = 20.0;
    const BURST: f64 = 10.0;
    const N: usize = 70;
    let s = server_with(&["alice", "bob"], |c| {
        c.limits.rate_stanzas_per_sec = RATE as u32;
        c.limits.rate_stanza_burst = BURST as u32;
        c.limits.rate_bytes_per_sec = 0;
    })
    .await;
    let mut w = login(&s, "alice", "w").await;
    let mut f = login(&s, "bob", "flood").await;
    let t0 = Instant::now();
    let flood: String = (0..N)
        .map(|i| format!("<iq type='get' id='p{i}'><ping xmlns='urn:xmpp:ping'/></iq>"))
        .collect();
    f.send_bytes(flood.as_bytes()).await;
    // Someone else, meanwhile, is served at once.
    for i in 0..3 {
        let r = w
            .iq(&format!(
                "<iq type='get' id='w{i}'><ping xmlns='urn:xmpp:ping'/></iq>"
            ))
            .await;
        assert_result(&r);
    }
    // At most the burst plus the rate since the flood started (+1: the stanza that goes
    // into debt is processed before the pause, +1 for rounding).
    let elapsed = collect_flood(&mut f, N, t0, |t| BURST + RATE * t + 2.0).await;
    let floor = (N as f64 - BURST - 2.0) / RATE;
    assert!(
        elapsed >= floor,
        "{N} stanzas done in {elapsed:.3}s; the rate needs at least {floor:.3}s"
    );
    // Still connected and still served afterwards.
    let r = f
        .iq("<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_result(&r);
    assert_eq!(mucsub_server::testkit::panics(), 0);
}

/// The byte rate, over WebSocket: padded stanzas are held to the configured bytes/s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_rate_slows_a_websocket_flooder() {
    const RATE: f64 = 20_000.0;
    const BURST: f64 = 10_000.0;
    const N: usize = 40;
    let s = server_with(&["alice", "bob"], |c| {
        c.limits.rate_stanzas_per_sec = 0;
        c.limits.rate_bytes_per_sec = RATE as u64;
        c.limits.rate_byte_burst = BURST as u64;
    })
    .await;
    let mut w = RawClient::login_ws(&s.ws_url(), "alice", "pw", Mech::Plain, Some("w"))
        .await
        .expect("alice over WebSocket");
    let mut f = RawClient::login_ws(&s.ws_url(), "bob", "pw", Mech::Plain, Some("flood"))
        .await
        .expect("bob over WebSocket");
    let pad = "x".repeat(2000);
    let stanzas: Vec<String> = (0..N)
        .map(|i| format!("<iq type='get' id='p{i}' pad='{pad}'><ping xmlns='urn:xmpp:ping'/></iq>"))
        .collect();
    // What the server reads of each frame: the test kit re-serialises each stanza (adding
    // `xmlns`), so count a little less than what was written.
    let smin = stanzas[0].len() as f64 - 20.0;
    let t0 = Instant::now();
    // Frames are sent from a task: with reads paused, the sender itself is held back.
    let sender = tokio::spawn(async move {
        for st in &stanzas {
            f.send(st).await;
        }
        f
    });
    let r = w
        .iq("<iq type='get' id='w1'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_result(&r);
    let mut f = tokio::time::timeout(Duration::from_secs(60), sender)
        .await
        .expect("sending finished")
        .expect("sender task");
    // A stanza is read only once the bytes of those before it fit the bucket.
    let elapsed = collect_flood(&mut f, N, t0, |t| (BURST + RATE * t) / smin + 2.0).await;
    let floor = ((N - 1) as f64 * smin - BURST) / RATE;
    assert!(
        elapsed >= floor,
        "{N} padded stanzas done in {elapsed:.3}s; the byte rate needs at least {floor:.3}s"
    );
    let r = w
        .iq("<iq type='get' id='w2'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_result(&r);
    assert_eq!(mucsub_server::testkit::panics(), 0);
}

#[test]
fn rate_defaults_are_on_and_generous() {
    let c = mucsub_server::config::Config::parse("").expect("defaults");
    let l = &c.limits;
    assert!(l.rate_stanzas_per_sec >= 50 && l.rate_stanza_burst >= l.rate_stanzas_per_sec);
    // A burst always fits the largest stanza.
    assert!(l.rate_bytes_per_sec > 0 && l.rate_byte_burst >= l.max_stanza as u64);
    let c = mucsub_server::config::Config::parse(
        "[limits]\nrate_stanzas_per_sec = 0\nrate_bytes_per_sec = 7\nrate_byte_burst = 9\n",
    )
    .expect("parse");
    assert_eq!(c.limits.rate_stanzas_per_sec, 0);
    assert_eq!(c.limits.rate_bytes_per_sec, 7);
    assert_eq!(c.limits.rate_byte_burst, 9);
}
