//! Components (as the MUC service uses them), directed presence cleanup, in-band
//! registration and the HTTP endpoints.

use mucsub_server::ns;
use mucsub_server::testkit::{RawClient, TestServer, TIMEOUT};

async fn next(rx: &mut tokio::sync::mpsc::Receiver<minidom::Element>) -> minidom::Element {
    tokio::time::timeout(TIMEOUT, rx.recv())
        .await
        .expect("component received a stanza")
        .expect("channel open")
}

#[tokio::test]
async fn component_gets_stamped_stanzas_and_unavailable_when_session_ends() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut rx = s.ctx().router.register_component("probe.localhost", 16);
    let mut a = s.login_bound("alice", "pw", Some("desk")).await;
    a.send("<presence to='Room@Probe.localhost/Nick' from='eve@localhost/x'/>")
        .await;
    let p = next(&mut rx).await;
    assert_eq!(p.name(), "presence");
    assert_eq!(p.attr("from"), Some("alice@localhost/desk"));
    assert_eq!(p.attr("to"), Some("room@probe.localhost/Nick"));
    a.send("<message to='room@probe.localhost' type='groupchat'><body>hi</body></message>")
        .await;
    let m = next(&mut rx).await;
    assert_eq!(m.attr("type"), Some("groupchat"));
    assert_eq!(m.attr("from"), Some("alice@localhost/desk"));
    // The component answers through the router.
    let reply = mucsub_server::testkit::xml_with_ns(
        "<message from='room@probe.localhost/Nick' to='alice@localhost/desk' type='groupchat'><body>echo</body></message>",
    );
    s.ctx().router.route(reply).await;
    let e = a.expect_message().await;
    assert_eq!(e.attr("from"), Some("room@probe.localhost/Nick"));
    // Connection lost without a goodbye: the room still learns the occupant left.
    a.disconnect();
    let gone = next(&mut rx).await;
    assert_eq!(gone.name(), "presence");
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert_eq!(gone.attr("from"), Some("alice@localhost/desk"));
    assert_eq!(gone.attr("to"), Some("room@probe.localhost/Nick"));
}

#[tokio::test]
async fn broadcast_unavailable_leaves_rooms_once() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut rx = s.ctx().router.register_component("probe.localhost", 16);
    let mut a = s.login("alice", "pw").await;
    a.send("<presence to='r1@probe.localhost/a'/>").await;
    a.send("<presence to='r2@probe.localhost/a'/>").await;
    a.send("<presence to='r2@probe.localhost/a' type='unavailable'/>")
        .await;
    for _ in 0..3 {
        next(&mut rx).await;
    }
    a.send("<presence type='unavailable'/>").await;
    let p = next(&mut rx).await;
    assert_eq!(p.attr("to"), Some("r1@probe.localhost/a"));
    assert_eq!(p.attr("type"), Some("unavailable"));
    a.close().await;
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "nothing more after the rooms were left"
    );
}

#[tokio::test]
async fn in_band_registration_only_when_enabled() {
    let off = TestServer::start().await;
    let mut c = RawClient::connect_tcp(off.c2s_addr()).await;
    c.open().await;
    let f = c.read_features().await;
    assert!(!f.has_child("register", ns::REGISTER_FEATURE));
    c.send("<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>x</username><password>y</password></query></iq>")
        .await;
    assert_eq!(c.expect_stream_error().await, "not-authorized");

    let on = TestServer::start_with(|c| c.registration = true).await;
    let mut c = RawClient::connect_tcp(on.c2s_addr()).await;
    c.open().await;
    let f = c.read_features().await;
    assert!(f.has_child("register", ns::REGISTER_FEATURE));
    let form = c
        .iq("<iq type='get' id='f'><query xmlns='jabber:iq:register'/></iq>")
        .await;
    assert!(form
        .get_child("query", ns::REGISTER)
        .unwrap()
        .has_child("password", ns::REGISTER));
    let r = c
        .iq("<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>Newbie</username><password>s3cret</password></query></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let r = c
        .iq("<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>newbie</username><password>other</password></query></iq>")
        .await;
    assert!(r
        .get_child("error", ns::CLIENT)
        .unwrap()
        .has_child("conflict", ns::STANZAS_ERR));
    let mut n = on.login("newbie", "s3cret").await;
    let r = n
        .iq("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tokio::time::timeout(TIMEOUT, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn health_static_files_and_ws_subprotocol() {
    let s = TestServer::start().await;
    let h = http_get(s.http_addr(), "/health").await;
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    assert!(h.contains("\"ok\""));
    let page = http_get(s.http_addr(), "/").await;
    assert!(page.starts_with("HTTP/1.1 404"), "{page}");
    assert!(page.contains("not built"));
    // A WebSocket without the xmpp subprotocol is refused.
    let ws = http_get(s.http_addr(), "/ws").await;
    assert!(ws.starts_with("HTTP/1.1 4"), "{ws}");

    let www = s.config().http.static_dir.clone();
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "<h1>the app</h1>").unwrap();
    let mut s = s;
    s.restart().await;
    let page = http_get(s.http_addr(), "/").await;
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("the app"),
        "{page}"
    );
}
