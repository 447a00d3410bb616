//! Connections for the load generator. Login and setup go through the SDK's sans-IO session
//! (`mucsub::session`) and its framing, so every benchmark client negotiates exactly as the
//! SDK does; measurement phases then switch to a raw byte reader that only scans for the
//! sender's timestamp marker, so the generator spends as little CPU per event as possible
//! (the two cores are shared with the server under test).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use jid::BareJid;
use minidom::Element;
use mucsub::session::framing::{parse_ws_message, Framing, TcpFramer};
use mucsub::session::{Frame, Session, SessionConfig, SessionOut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest element accepted during setup (MAM pages can be large).
const MAX_ELEMENT: usize = 8 << 20;

/// Where the server under test listens.
#[derive(Debug, Clone)]
pub enum Target {
    /// `host:port`, plain XMPP over TCP (loopback only: PLAIN/SCRAM without TLS).
    Tcp(String),
    /// `ws://host:port/path`.
    Ws(String),
}

impl Target {
    /// `tcp://host:port` or `ws://…`; a bare `host:port` means TCP.
    pub fn parse(s: &str) -> Result<Target> {
        if s.starts_with("ws://") {
            Ok(Target::Ws(s.to_owned()))
        } else if let Some(rest) = s.strip_prefix("tcp://") {
            Ok(Target::Tcp(rest.to_owned()))
        } else if s.contains("://") {
            bail!("unsupported target {s} (use tcp://host:port or ws://host:port/path)")
        } else {
            Ok(Target::Tcp(s.to_owned()))
        }
    }

    fn framing(&self) -> Framing {
        match self {
            Target::Tcp(_) => Framing::Tcp,
            Target::Ws(_) => Framing::WebSocket,
        }
    }
}

enum Link {
    Tcp {
        stream: TcpStream,
        framer: Box<TcpFramer>,
    },
    Ws(Box<Ws>),
}

impl Link {
    async fn open(target: &Target) -> Result<Link> {
        match target {
            Target::Tcp(addr) => {
                let stream = TcpStream::connect(addr)
                    .await
                    .with_context(|| format!("connecting to {addr}"))?;
                stream.set_nodelay(true).ok();
                Ok(Link::Tcp {
                    stream,
                    framer: Box::new(TcpFramer::new(MAX_ELEMENT)),
                })
            }
            Target::Ws(url) => {
                let mut req = url.as_str().into_client_request()?;
                req.headers_mut()
                    .insert("Sec-WebSocket-Protocol", "xmpp".parse()?);
                let (ws, _) = tokio_tungstenite::connect_async(req)
                    .await
                    .with_context(|| format!("connecting to {url}"))?;
                Ok(Link::Ws(Box::new(ws)))
            }
        }
    }

    async fn write(&mut self, text: &str) -> Result<()> {
        match self {
            Link::Tcp { stream, .. } => stream.write_all(text.as_bytes()).await?,
            Link::Ws(ws) => ws.send(Message::text(text.to_owned())).await?,
        }
        Ok(())
    }

    async fn read_frames(&mut self) -> Result<Vec<Frame>> {
        match self {
            Link::Tcp { stream, framer } => {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 {
                        return Ok(vec![Frame::Close]);
                    }
                    let frames = framer.feed(&buf[..n]).map_err(|e| anyhow!("{e}"))?;
                    if !frames.is_empty() {
                        return Ok(frames);
                    }
                }
            }
            Link::Ws(ws) => loop {
                match ws.next().await {
                    None => return Ok(vec![Frame::Close]),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(Message::Text(t))) => {
                        return Ok(vec![
                            parse_ws_message(t.as_str()).map_err(|e| anyhow!("{e}"))?
                        ])
                    }
                    Some(Ok(Message::Close(_))) => return Ok(vec![Frame::Close]),
                    Some(Ok(_)) => continue,
                }
            },
        }
    }
}

/// A logged-in, available session (priority 0), driven by the SDK session state machine.
pub struct Xmpp {
    link: Link,
    session: Session,
    pending: std::collections::VecDeque<Element>,
    /// The bound full JID.
    pub jid: String,
}

/// How long any single setup step may take before the run is abandoned.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

impl Xmpp {
    /// Connect and log in (SCRAM when offered, PLAIN on loopback), bind, send presence.
    pub async fn login(target: &Target, domain: &str, user: &str, password: &str) -> Result<Xmpp> {
        tokio::time::timeout(
            STEP_TIMEOUT,
            Self::login_inner(target, domain, user, password),
        )
        .await
        .map_err(|_| anyhow!("login of {user} timed out"))?
    }

    async fn login_inner(
        target: &Target,
        domain: &str,
        user: &str,
        password: &str,
    ) -> Result<Xmpp> {
        let jid = BareJid::new(&format!("{user}@{domain}"))?;
        let mut session = Session::new(SessionConfig {
            jid,
            password: password.to_owned(),
            resource: None,
            framing: target.framing(),
            secure: true,
            initial_presence: true,
            token: false,
        });
        let mut link = Link::open(target).await?;
        let mut pending = std::collections::VecDeque::new();
        let mut outs = session.start();
        loop {
            let mut bound = None;
            for o in outs.drain(..) {
                match o {
                    SessionOut::Write(w) => link.write(&w).await?,
                    SessionOut::ResetParser => {
                        if let Link::Tcp { framer, .. } = &mut link {
                            framer.reset();
                        }
                    }
                    SessionOut::Ready(j) => bound = Some(j.to_string()),
                    SessionOut::Stanza(s) => pending.push_back(s),
                    // Not asked for: this login neither manages its stream nor wants a token.
                    SessionOut::Resumed(_)
                    | SessionOut::Token(_)
                    | SessionOut::TokenRejected(_) => {}
                    SessionOut::Ended(e) => {
                        bail!(
                            "login of {user} failed: {}",
                            e.map(|e| e.to_string()).unwrap_or_default()
                        )
                    }
                }
            }
            if let Some(jid) = bound {
                return Ok(Xmpp {
                    link,
                    session,
                    pending,
                    jid,
                });
            }
            for f in link.read_frames().await? {
                outs.extend(session.handle(f));
            }
        }
    }

    /// Write raw XML.
    pub async fn send(&mut self, xml: &str) -> Result<()> {
        self.link.write(xml).await
    }

    /// The next stanza.
    pub async fn recv(&mut self) -> Result<Element> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            for f in self.link.read_frames().await? {
                for o in self.session.handle(f) {
                    match o {
                        SessionOut::Stanza(s) => self.pending.push_back(s),
                        SessionOut::Write(w) => self.link.write(&w).await?,
                        SessionOut::Ended(e) => {
                            bail!(
                                "session ended: {}",
                                e.map(|e| e.to_string()).unwrap_or_default()
                            )
                        }
                        SessionOut::ResetParser
                        | SessionOut::Ready(_)
                        | SessionOut::Resumed(_)
                        | SessionOut::Token(_)
                        | SessionOut::TokenRejected(_) => {}
                    }
                }
            }
        }
    }

    /// Send an IQ (whose id is `id`) and wait for its reply, skipping other stanzas.
    pub async fn iq(&mut self, xml: &str, id: &str) -> Result<Element> {
        self.send(xml).await?;
        let wait = async {
            loop {
                let e = self.recv().await?;
                if e.name() == "iq" && e.attr("id") == Some(id) {
                    return Ok::<_, anyhow::Error>(e);
                }
            }
        };
        tokio::time::timeout(STEP_TIMEOUT, wait)
            .await
            .map_err(|_| anyhow!("no reply to iq {id}"))?
    }

    /// Like [`Xmpp::iq`] but an error reply is an error.
    pub async fn iq_ok(&mut self, xml: &str, id: &str) -> Result<Element> {
        let r = self.iq(xml, id).await?;
        if r.attr("type") != Some("result") {
            bail!(
                "iq {id} failed: {}",
                mucsub::session::framing::serialize(&r)
            );
        }
        Ok(r)
    }

    /// Switch to raw mode for measurement. Only call when no measured traffic can already be
    /// buffered in the framer (i.e. before the senders start).
    pub fn into_raw(self) -> (RawReader, RawWriter) {
        match self.link {
            Link::Tcp { stream, .. } => {
                let (r, w) = stream.into_split();
                (RawReader::Tcp(r), RawWriter::Tcp(w))
            }
            Link::Ws(ws) => {
                let (w, r) = ws.split();
                (RawReader::Ws(r), RawWriter::Ws(w))
            }
        }
    }
}

/// The reading half in raw mode.
pub enum RawReader {
    /// TCP bytes.
    Tcp(OwnedReadHalf),
    /// WebSocket messages.
    Ws(SplitStream<Box<Ws>>),
}

impl RawReader {
    /// Append whatever arrives next to `buf`; `false` on end of stream.
    pub async fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        match self {
            RawReader::Tcp(r) => {
                let start = buf.len();
                buf.resize(start + 64 * 1024, 0);
                let n = r.read(&mut buf[start..]).await?;
                buf.truncate(start + n);
                Ok(n > 0)
            }
            RawReader::Ws(r) => loop {
                match r.next().await {
                    None => return Ok(false),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(Message::Text(t))) => {
                        buf.extend_from_slice(t.as_bytes());
                        return Ok(true);
                    }
                    Some(Ok(Message::Close(_))) => return Ok(false),
                    Some(Ok(_)) => continue,
                }
            },
        }
    }
}

/// The writing half in raw mode.
pub enum RawWriter {
    /// TCP.
    Tcp(OwnedWriteHalf),
    /// WebSocket.
    Ws(SplitSink<Box<Ws>, Message>),
}

impl RawWriter {
    /// Write one stanza.
    pub async fn send(&mut self, xml: String) -> Result<()> {
        match self {
            RawWriter::Tcp(w) => w.write_all(xml.as_bytes()).await?,
            RawWriter::Ws(w) => w.send(Message::text(xml)).await?,
        }
        Ok(())
    }
}

/// Escape text for an attribute or element body.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}
