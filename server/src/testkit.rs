//! Test kit for integration tests (any `server/tests/*.rs` file): a real server on
//! ephemeral loopback ports with a temporary data dir, and a raw XMPP client.
//!
//! ```no_run
//! # async fn demo() {
//! use mucsub_server::testkit::{TestServer, Mech};
//! let server = TestServer::start().await;            // domain localhost, MUC conference.localhost
//! server.add_user("alice", "pw").await;
//! let mut a = server.login("alice", "pw").await;     // TCP, SASL PLAIN, bound, available
//! a.send("<message to='bob@localhost' type='chat'><body>hi</body></message>").await;
//! let el = a.recv().await;                           // next stanza as a minidom Element
//! # }
//! ```
//!
//! Everything panics with a clear message on failure or after [`TIMEOUT`] (generous, only
//! there to turn hangs into failures).

use crate::config::Config;
use crate::ns;
use crate::server::{Server, ServerHandle};
use crate::storage::Credentials;
use crate::xmlstream::{Framing, Limits, StreamEvent, StreamParser};
use crate::ServerContext;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use minidom::Element;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static HOOK: std::sync::Once = std::sync::Once::new();

/// Counts panics in this process (server tasks included, whose panics tokio would
/// otherwise only print) from the first [`TestServer::start`] on.
pub fn panics() -> usize {
    PANICS.load(std::sync::atomic::Ordering::SeqCst)
}

fn count_panics() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            default(info);
        }));
    });
}

/// An in-process server.
pub struct TestServer {
    handle: Option<ServerHandle>,
    config: Config,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Domain `localhost`, MUC `conference.localhost`, ports `127.0.0.1:0`, temp data dir.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with config changes (limits, registration, …).
    pub async fn start_with(f: impl FnOnce(&mut Config)) -> TestServer {
        count_panics();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        f(&mut config);
        let handle = Server::start(config.clone()).await.expect("server starts");
        TestServer {
            handle: Some(handle),
            config,
            _dir: Some(dir),
        }
    }

    fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("server is running")
    }

    pub fn ctx(&self) -> &ServerContext {
        &self.handle().ctx
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    pub fn c2s_addr(&self) -> SocketAddr {
        self.handle().c2s_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.handle().http_addr
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.http_addr())
    }

    /// Creates an account (panics if it exists).
    pub async fn add_user(&self, name: &str, password: &str) {
        let created = self
            .ctx()
            .accounts
            .create(name, Credentials::derive(password).expect("derive"))
            .await
            .expect("create account");
        assert!(created, "account {name} already exists");
    }

    /// Stops the server (closing every stream) and starts it again on the same data dir;
    /// the ports change.
    pub async fn restart(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
        self.handle = Some(
            Server::start(self.config.clone())
                .await
                .expect("server restarts"),
        );
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }

    /// TCP on loopback, SASL PLAIN, resource bound, initial presence sent: ready to chat.
    pub async fn login(&self, user: &str, password: &str) -> RawClient {
        let mut c = self.login_bound(user, password, None).await;
        c.send("<presence/>").await;
        c
    }

    /// TCP, SASL PLAIN, bound to `resource` (or a server-generated one); no presence yet.
    pub async fn login_bound(
        &self,
        user: &str,
        password: &str,
        resource: Option<&str>,
    ) -> RawClient {
        RawClient::login_tcp(self.c2s_addr(), user, password, Mech::Plain, None, resource)
            .await
            .expect("login")
    }

    /// The development certificate the server generated (PEM), for STARTTLS clients.
    pub fn dev_cert(&self) -> Vec<u8> {
        std::fs::read(self.data_dir().join("dev-cert.pem")).expect("dev certificate")
    }
}

/// The config [`TestServer`] uses, with `data_dir` as the data directory.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.listeners.c2s = "127.0.0.1:0".parse().expect("addr");
    config.listeners.http = "127.0.0.1:0".parse().expect("addr");
    config.http.static_dir = data_dir.join("www");
    config.normalize().expect("valid config");
    config
}

/// The real binary in a child process (for `kill -9` tests). Integration tests in
/// `server/tests/` pass `env!("CARGO_BIN_EXE_mucsub-server")` as `bin`.
pub struct ChildServer {
    child: tokio::process::Child,
    pub c2s_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl ChildServer {
    /// Starts `bin run` on ephemeral loopback ports with `data_dir`; waits until it
    /// prints its addresses.
    pub async fn spawn(bin: &Path, data_dir: &Path) -> ChildServer {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let cfg = data_dir.join("test-config.toml");
        std::fs::write(
            &cfg,
            format!(
                "data_dir = '{}'\n[listeners]\nc2s = '127.0.0.1:0'\nhttp = '127.0.0.1:0'\n",
                data_dir.display()
            ),
        )
        .expect("write config");
        let mut child = tokio::process::Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .stdout(std::process::Stdio::piped())
            // The server's log, appended across restarts, for post-mortems of failed tests.
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(data_dir.join("server.log"))
                    .map(std::process::Stdio::from)
                    .unwrap_or_else(|_| std::process::Stdio::null()),
            )
            .kill_on_drop(true)
            .spawn()
            .expect("spawn server binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let (mut c2s, mut http) = (None, None);
        tokio::time::timeout(TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(a) = line.strip_prefix("xmpp c2s listening on ") {
                    c2s = a.trim().parse().ok();
                }
                if let Some(a) = line.strip_prefix("http listening on http://") {
                    http = a.trim().trim_end_matches('/').parse().ok();
                }
                if c2s.is_some() && http.is_some() {
                    break;
                }
            }
        })
        .await
        .expect("server binary printed its addresses");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ChildServer {
            child,
            c2s_addr: c2s.expect("c2s address"),
            http_addr: http.expect("http address"),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Runs `bin user add NAME PASSWORD` on `data_dir` (server not running or running:
    /// SQLite handles both).
    pub async fn add_user(bin: &Path, data_dir: &Path, name: &str, password: &str) {
        let status = tokio::process::Command::new(bin)
            .args(["user", "add", name, "--password", password, "--data-dir"])
            .arg(data_dir)
            .output()
            .await
            .expect("run user add");
        assert!(
            status.status.success(),
            "user add failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    /// SIGKILL, no chance to clean up; waits for the process to be gone.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("kill");
        let _ = self.child.wait().await;
    }

    /// SIGTERM (graceful) and waits for exit; returns whether it exited successfully.
    pub async fn terminate(mut self) -> bool {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        match tokio::time::timeout(TIMEOUT, self.child.wait()).await {
            Ok(Ok(s)) => s.success(),
            _ => false,
        }
    }
}

/// SASL mechanism a [`RawClient`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    Plain,
    ScramSha1,
    ScramSha256,
}

enum Conn {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Ws(Box<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>>),
    Gone,
}

/// What the server sent, beyond stanzas.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A top-level element (stanzas, features, SASL elements, `stream:error`).
    Element(Element),
    /// The server's stream header / `<open/>`.
    Open,
    /// `</stream:stream>` / `<close/>`.
    Close,
    /// The connection closed.
    Eof,
}

/// A raw XMPP client over TCP (optionally STARTTLS) or WebSocket.
pub struct RawClient {
    conn: Conn,
    parser: StreamParser,
    /// The bound full JID (empty before binding).
    pub jid: String,
    domain: String,
    id_counter: u64,
}

const CLIENT_LIMITS: Limits = Limits {
    max_stanza: 64 << 20,
    max_depth: 256,
};

impl RawClient {
    /// Opens a TCP connection and sends the stream header (no features read yet).
    pub async fn connect_tcp(addr: SocketAddr) -> RawClient {
        let s = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timeout")
            .expect("connect");
        RawClient {
            conn: Conn::Tcp(s),
            parser: StreamParser::new(Framing::Stream, CLIENT_LIMITS),
            jid: String::new(),
            domain: "localhost".into(),
            id_counter: 0,
        }
    }

    /// Opens a WebSocket (subprotocol `xmpp`) to a `ws://…/ws` URL.
    pub async fn connect_ws(url: &str) -> RawClient {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.into_client_request().expect("ws url");
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "xmpp".parse().expect("header"));
        let (ws, resp) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(req))
            .await
            .expect("ws connect timeout")
            .expect("ws connect");
        assert_eq!(
            resp.headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            Some("xmpp"),
            "server selects the xmpp subprotocol"
        );
        RawClient {
            conn: Conn::Ws(Box::new(ws)),
            parser: StreamParser::new(Framing::WebSocket, CLIENT_LIMITS),
            jid: String::new(),
            domain: "localhost".into(),
            id_counter: 0,
        }
    }

    fn is_ws(&self) -> bool {
        matches!(self.conn, Conn::Ws(_))
    }

    /// Sends a stream header (TCP) or `<open/>` (WebSocket) to `localhost`.
    pub async fn open(&mut self) {
        let d = self.domain.clone();
        self.open_to(&d).await
    }

    pub async fn open_to(&mut self, domain: &str) {
        if self.is_ws() {
            self.parser = StreamParser::new(Framing::WebSocket, CLIENT_LIMITS);
            self.send(&format!(
                "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{domain}' version='1.0'/>"
            ))
            .await;
        } else {
            self.parser = StreamParser::new(Framing::Stream, CLIENT_LIMITS);
            self.send(&format!(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>"
            ))
            .await;
        }
    }

    /// Sends raw bytes (anything, including invalid XML). Ignores a closed connection.
    pub async fn send_bytes(&mut self, data: &[u8]) {
        let _ = match &mut self.conn {
            Conn::Tcp(s) => s.write_all(data).await,
            Conn::Tls(s) => s.write_all(data).await,
            Conn::Ws(ws) => ws
                .send(tokio_tungstenite::tungstenite::Message::Text(
                    String::from_utf8_lossy(data).into_owned().into(),
                ))
                .await
                .map_err(std::io::Error::other),
            Conn::Gone => Ok(()),
        };
    }

    /// Sends an XML string (one stanza or any element). Over WebSocket, where every frame
    /// is a document of its own, a stanza written without `xmlns` gets `jabber:client`.
    pub async fn send(&mut self, xml: &str) {
        if self.is_ws() {
            let wrapped = format!("<w xmlns='jabber:client'>{xml}</w>");
            if let Ok(w) = wrapped.parse::<Element>() {
                let mut children = w.children();
                if let (Some(el), None) = (children.next(), children.next()) {
                    let xml = crate::stanza::to_xml(el);
                    return self.send_bytes(xml.as_bytes()).await;
                }
            }
        }
        self.send_bytes(xml.as_bytes()).await
    }

    /// Sends an element.
    pub async fn send_el(&mut self, el: &Element) {
        let xml = crate::stanza::to_xml(el);
        self.send(&xml).await
    }

    /// Next thing from the server, or `None` after `wait`.
    pub async fn next_incoming(&mut self, wait: Duration) -> Option<Incoming> {
        tokio::time::timeout(wait, self.read_incoming()).await.ok()
    }

    async fn read_incoming(&mut self) -> Incoming {
        loop {
            if let Some(ev) = self.parser.next_event() {
                return match ev {
                    StreamEvent::Open(_) => Incoming::Open,
                    StreamEvent::Stanza(el) => Incoming::Element(el),
                    StreamEvent::Close => Incoming::Close,
                };
            }
            let mut buf = [0u8; 16384];
            let data: Vec<u8> = match &mut self.conn {
                Conn::Tcp(s) => match s.read(&mut buf).await {
                    Ok(n) if n > 0 => buf[..n].to_vec(),
                    _ => Vec::new(),
                },
                Conn::Tls(s) => match s.read(&mut buf).await {
                    Ok(n) if n > 0 => buf[..n].to_vec(),
                    _ => Vec::new(),
                },
                Conn::Ws(ws) => loop {
                    match ws.next().await {
                        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                            break t.as_bytes().to_vec()
                        }
                        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
                        | None
                        | Some(Err(_)) => break Vec::new(),
                        Some(Ok(_)) => continue,
                    }
                },
                Conn::Gone => Vec::new(),
            };
            if data.is_empty() {
                self.conn = Conn::Gone;
                return Incoming::Eof;
            }
            if let Err(e) = self.parser.feed(&data) {
                panic!(
                    "server sent bad XML: {e}: {}",
                    String::from_utf8_lossy(&data)
                );
            }
        }
    }

    /// The next top-level element; panics on timeout, stream end or a stream header.
    pub async fn recv(&mut self) -> Element {
        match self.next_incoming(TIMEOUT).await {
            Some(Incoming::Element(el)) => el,
            other => panic!("{}: expected an element, got {other:?}", self.jid),
        }
    }

    /// The next element within `wait`, or `None` (use to assert that nothing arrives).
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Element> {
        match self.next_incoming(wait).await {
            Some(Incoming::Element(el)) => Some(el),
            None => None,
            Some(other) => panic!("{}: expected an element, got {other:?}", self.jid),
        }
    }

    /// Receives until an element matches `pred` (others are skipped and logged).
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Element(el)) if pred(&el) => return el,
                Some(Incoming::Element(el)) if el.is("error", ns::STREAM) => panic!(
                    "{}: waiting for {what}, got a stream error: {}",
                    self.jid,
                    crate::stanza::to_xml(&el)
                ),
                Some(Incoming::Element(el)) => {
                    tracing::debug!(skipped = %crate::stanza::to_xml(&el), "expect: skipping")
                }
                Some(Incoming::Open) => {}
                other => panic!("{}: waiting for {what}, got {other:?}", self.jid),
            }
        }
    }

    /// Skips to the next `<message/>` with a body.
    pub async fn expect_message(&mut self) -> Element {
        self.expect("a message with a body", |e| {
            e.name() == "message" && e.get_child("body", ns::CLIENT).is_some()
        })
        .await
    }

    /// Skips to the IQ reply with this id.
    pub async fn expect_iq(&mut self, id: &str) -> Element {
        self.expect(&format!("iq reply {id}"), |e| {
            e.name() == "iq"
                && e.attr("id") == Some(id)
                && matches!(e.attr("type"), Some("result") | Some("error"))
        })
        .await
    }

    /// Sends an IQ (its `id` attribute must be set) and returns the reply.
    pub async fn iq(&mut self, xml: &str) -> Element {
        let el: Element = xml_with_ns(xml);
        let id = el.attr("id").expect("iq needs an id").to_owned();
        self.send(xml).await;
        self.expect_iq(&id).await
    }

    /// A fresh id for stanzas.
    pub fn next_id(&mut self) -> String {
        self.id_counter += 1;
        format!("tk{}", self.id_counter)
    }

    /// Reads until the stream ends and returns the stream error condition (panics if the
    /// stream ends without one). The connection is closed afterwards.
    pub async fn expect_stream_error(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Element(el)) if el.is("error", ns::STREAM) => {
                    let cond = el
                        .children()
                        .find(|c| c.ns() == ns::STREAMS_ERR && c.name() != "text")
                        .map(|c| c.name().to_owned())
                        .unwrap_or_default();
                    // The stream must then end.
                    match self.next_incoming(TIMEOUT).await {
                        Some(Incoming::Close) | Some(Incoming::Eof) => {}
                        other => panic!("after stream error {cond}: {other:?}"),
                    }
                    return cond;
                }
                Some(Incoming::Element(_)) | Some(Incoming::Open) => {}
                other => panic!("{}: waiting for a stream error, got {other:?}", self.jid),
            }
        }
    }

    /// Waits for the server to end the stream (`</stream:stream>` / `<close/>` or EOF),
    /// skipping stanzas.
    pub async fn expect_stream_end(&mut self) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Close) | Some(Incoming::Eof) => return,
                Some(Incoming::Element(el)) if el.is("error", ns::STREAM) => {
                    panic!("unexpected stream error: {}", crate::stanza::to_xml(&el))
                }
                Some(_) => {}
                None => panic!("{}: the stream did not end", self.jid),
            }
        }
    }

    /// Collects whatever arrives until nothing has for `quiet`.
    pub async fn drain_for(&mut self, quiet: Duration) -> Vec<Element> {
        let mut out = Vec::new();
        while let Some(Incoming::Element(el)) = self.next_incoming(quiet).await {
            out.push(el);
        }
        out
    }

    /// [`RawClient::drain_for`] 300 ms.
    pub async fn drain(&mut self) -> Vec<Element> {
        self.drain_for(Duration::from_millis(300)).await
    }

    /// Reads the stream header and the features that follow.
    pub async fn read_features(&mut self) -> Element {
        self.expect("stream features", |e| e.is("features", ns::STREAM))
            .await
    }

    /// Upgrades a TCP connection with STARTTLS, trusting `ca_pem` for `localhost`.
    pub async fn starttls(&mut self, ca_pem: &[u8]) {
        use tokio_rustls::rustls;
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await;
        let el = self.recv().await;
        assert!(el.is("proceed", ns::TLS), "expected proceed: {el:?}");
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut &ca_pem[..]) {
            roots.add(c.expect("pem")).expect("add root");
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let Conn::Tcp(s) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            panic!("STARTTLS needs a plain TCP connection");
        };
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = tokio::time::timeout(TIMEOUT, connector.connect(name, s))
            .await
            .expect("tls timeout")
            .expect("tls handshake");
        self.conn = Conn::Tls(Box::new(tls));
        self.open().await;
    }

    /// Runs SASL; returns `Ok(())` on success or `Err(condition)` on `<failure/>`.
    pub async fn authenticate(
        &mut self,
        user: &str,
        password: &str,
        mech: Mech,
    ) -> Result<(), String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        match mech {
            Mech::Plain => {
                let payload = b64.encode(format!("\0{user}\0{password}"));
                self.send(&format!(
                    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"
                ))
                .await;
                let el = self.recv().await;
                sasl_outcome(&el)
            }
            Mech::ScramSha1 | Mech::ScramSha256 => {
                use sasl::client::Mechanism;
                let creds = sasl::common::Credentials::default()
                    .with_username(user)
                    .with_password(password)
                    .with_channel_binding(sasl::common::ChannelBinding::None);
                let (name, mut m): (&str, Box<dyn Mechanism>) = if mech == Mech::ScramSha1 {
                    (
                        "SCRAM-SHA-1",
                        Box::new(
                            sasl::client::mechanisms::Scram::<sasl::common::scram::Sha1>::from_credentials(creds)
                                .expect("scram"),
                        ),
                    )
                } else {
                    (
                        "SCRAM-SHA-256",
                        Box::new(
                            sasl::client::mechanisms::Scram::<sasl::common::scram::Sha256>::from_credentials(creds)
                                .expect("scram"),
                        ),
                    )
                };
                let first = b64.encode(m.initial());
                self.send(&format!(
                    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{name}'>{first}</auth>"
                ))
                .await;
                let el = self.recv().await;
                if !el.is("challenge", ns::SASL) {
                    return sasl_outcome(&el);
                }
                let ch = b64.decode(el.text().trim()).expect("challenge base64");
                let resp = m.response(&ch).expect("client response");
                self.send(&format!(
                    "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
                    b64.encode(resp)
                ))
                .await;
                let el = self.recv().await;
                sasl_outcome(&el)?;
                let data = b64.decode(el.text().trim()).expect("success base64");
                m.success(&data)
                    .map_err(|e| format!("server signature rejected: {e}"))
            }
        }
    }

    /// Binds `resource` (or lets the server pick); returns the full JID.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let res = resource
            .map(|r| format!("<resource>{}</resource>", crate::stanza::escape_attr(r)))
            .unwrap_or_default();
        let reply = self
            .iq(&format!(
                "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{res}</bind></iq>"
            ))
            .await;
        assert_eq!(reply.attr("type"), Some("result"), "bind failed: {reply:?}");
        let jid = reply
            .get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("jid", ns::BIND))
            .map(|j| j.text())
            .expect("bound jid");
        self.jid = jid.clone();
        jid
    }

    /// Connects over TCP, optionally STARTTLS (`tls_ca` = the server's certificate PEM),
    /// authenticates and binds. No presence is sent.
    pub async fn login_tcp(
        addr: SocketAddr,
        user: &str,
        password: &str,
        mech: Mech,
        tls_ca: Option<&[u8]>,
        resource: Option<&str>,
    ) -> Result<RawClient, String> {
        let mut c = RawClient::connect_tcp(addr).await;
        c.open().await;
        let f = c.read_features().await;
        if let Some(ca) = tls_ca {
            assert!(f.has_child("starttls", ns::TLS), "STARTTLS offered");
            c.starttls(ca).await;
            c.read_features().await;
        }
        c.authenticate(user, password, mech).await?;
        c.open().await;
        c.read_features().await;
        c.bind(resource).await;
        Ok(c)
    }

    /// Connects over WebSocket, authenticates and binds. No presence is sent.
    pub async fn login_ws(
        url: &str,
        user: &str,
        password: &str,
        mech: Mech,
        resource: Option<&str>,
    ) -> Result<RawClient, String> {
        let mut c = RawClient::connect_ws(url).await;
        c.open().await;
        c.read_features().await;
        c.authenticate(user, password, mech).await?;
        c.open().await;
        c.read_features().await;
        c.bind(resource).await;
        Ok(c)
    }

    /// Sends `</stream:stream>` / `<close/>` and waits for the server's.
    pub async fn close(mut self) {
        if self.is_ws() {
            self.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
                .await;
        } else {
            self.send("</stream:stream>").await;
        }
        self.expect_stream_end().await;
    }

    /// Drops the connection without closing the stream (a lost connection).
    pub fn disconnect(self) {}
}

fn sasl_outcome(el: &Element) -> Result<(), String> {
    if el.is("success", ns::SASL) {
        Ok(())
    } else if el.is("failure", ns::SASL) {
        Err(el
            .children()
            .next()
            .map(|c| c.name().to_owned())
            .unwrap_or_default())
    } else {
        panic!("unexpected SASL reply: {}", crate::stanza::to_xml(el))
    }
}

/// Parses an XML snippet written without `xmlns` as `jabber:client`.
pub fn xml_with_ns(xml: &str) -> Element {
    let wrapped = format!("<w xmlns='jabber:client'>{xml}</w>");
    let w: Element = wrapped.parse().expect("valid XML snippet");
    w.children().next().cloned().expect("one element")
}
