//! `[limits] max_connections_per_ip`: TCP and WebSocket connections from one address count
//! together; the one over the limit gets a `policy-violation` stream error (a local policy,
//! RFC 6120 4.9.3.12), the others keep working, and closing one frees its slot.

#[path = "scenarios/support.rs"]
mod support;

use std::net::IpAddr;
use std::time::Duration;

use mucsub_server::testkit::{Mech, RawClient, TestServer};
use support::*;

const LOOPBACK: &str = "127.0.0.1";

async fn wait_open(s: &TestServer, n: usize) {
    let ip: IpAddr = LOOPBACK.parse().expect("ip");
    for _ in 0..500 {
        if s.ctx().per_ip.open(ip) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "expected {n} open connections from {LOOPBACK}, have {}",
        s.ctx().per_ip.open(ip)
    );
}

async fn ping(c: &mut RawClient, id: &str) {
    let r = c
        .iq(&format!(
            "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    assert_result(&r);
}

#[tokio::test]
async fn connections_per_ip_over_tcp_and_websocket() {
    let s = server_with(&["alice", "bob"], |c| c.limits.max_connections_per_ip = 3).await;
    let mut tcp = login(&s, "alice", "tcp").await;
    let mut ws = RawClient::login_ws(&s.ws_url(), "bob", "pw", Mech::Plain, Some("ws"))
        .await
        .expect("WebSocket login");
    // A connection that has not authenticated holds a slot too.
    let mut idle = RawClient::connect_tcp(s.c2s_addr()).await;
    idle.open().await;
    idle.read_features().await;
    wait_open(&s, 3).await;

    let mut extra = RawClient::connect_tcp(s.c2s_addr()).await;
    extra.open().await;
    assert_eq!(extra.expect_stream_error().await, "policy-violation");
    let mut extra_ws = RawClient::connect_ws(&s.ws_url()).await;
    extra_ws.open().await;
    assert_eq!(extra_ws.expect_stream_error().await, "policy-violation");

    // The three are untouched.
    ping(&mut tcp, "t1").await;
    ping(&mut ws, "w1").await;
    idle.send(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHB3</auth>",
    )
    .await;
    assert!(idle
        .recv()
        .await
        .is("success", "urn:ietf:params:xml:ns:xmpp-sasl"));

    // Closing the WebSocket frees a slot: a new TCP login gets it, and then the address
    // is full again.
    ws.close().await;
    wait_open(&s, 2).await;
    let mut again = login(&s, "bob", "again").await;
    ping(&mut again, "a1").await;
    let mut over = RawClient::connect_ws(&s.ws_url()).await;
    over.open().await;
    assert_eq!(over.expect_stream_error().await, "policy-violation");
    ping(&mut tcp, "t2").await;
    assert_eq!(mucsub_server::testkit::panics(), 0);
}

#[tokio::test]
async fn refused_connections_do_not_hold_slots() {
    let s = server_with(&["alice"], |c| c.limits.max_connections_per_ip = 1).await;
    let a = login(&s, "alice", "a").await;
    for _ in 0..20 {
        let mut c = RawClient::connect_tcp(s.c2s_addr()).await;
        c.open().await;
        assert_eq!(c.expect_stream_error().await, "policy-violation");
    }
    wait_open(&s, 1).await;
    a.close().await;
    wait_open(&s, 0).await;
    let mut b = login(&s, "alice", "b").await;
    ping(&mut b, "b1").await;
}

#[test]
fn default_allows_many_connections_per_address() {
    let c = mucsub_server::config::Config::parse("").expect("defaults");
    // Enough for a household or office behind one NAT address, not for a flood.
    assert!((64..=4096).contains(&c.limits.max_connections_per_ip));
}
