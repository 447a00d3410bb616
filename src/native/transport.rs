//! TCP and WebSocket connections for the native runtime.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::session::framing::{parse_ws_message, Frame, TcpFramer};

/// Largest element accepted from the server.
const MAX_ELEMENT: usize = 4 << 20;

/// Where to connect.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// `host:port`, plain TCP (RFC 6120 framing; no STARTTLS in this runtime).
    Tcp(String),
    /// `ws://host:port/path` (RFC 7395).
    WebSocket(String),
}

impl Endpoint {
    /// PLAIN is acceptable only on loopback (this runtime has no TLS).
    pub fn is_loopback(&self) -> bool {
        let host = match self {
            Endpoint::Tcp(a) => a.rsplit_once(':').map(|(h, _)| h).unwrap_or(a),
            Endpoint::WebSocket(u) => u
                .split_once("://")
                .map(|(_, r)| r)
                .unwrap_or(u)
                .split(['/', '?'])
                .next()
                .unwrap_or("")
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(""),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }
}

// One per client, never moved around: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Conn {
    Tcp {
        stream: TcpStream,
        framer: TcpFramer,
        buf: Vec<u8>,
    },
    Ws(Box<WebSocketStream<MaybeTlsStream<TcpStream>>>),
}

impl Conn {
    pub(super) async fn open(ep: &Endpoint) -> Result<Conn, String> {
        match ep {
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).ok();
                Ok(Conn::Tcp {
                    stream,
                    framer: TcpFramer::new(MAX_ELEMENT),
                    buf: vec![0; 16 * 1024],
                })
            }
            Endpoint::WebSocket(url) => {
                let mut req = url
                    .as_str()
                    .into_client_request()
                    .map_err(|e| e.to_string())?;
                req.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    "xmpp".parse().map_err(|_| "header".to_string())?,
                );
                let (ws, _) = tokio_tungstenite::connect_async(req)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Conn::Ws(Box::new(ws)))
            }
        }
    }

    /// Cancel-safe: nothing is lost if the future is dropped before completing.
    pub(super) async fn read(&mut self) -> Result<Vec<Frame>, String> {
        match self {
            Conn::Tcp {
                stream,
                framer,
                buf,
            } => loop {
                let n = stream.read(buf).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed".into());
                }
                let frames = framer.feed(&buf[..n]).map_err(|e| e.to_string())?;
                if !frames.is_empty() {
                    return Ok(frames);
                }
            },
            Conn::Ws(ws) => loop {
                match ws.next().await {
                    None => return Err("connection closed".into()),
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(Message::Text(t))) => {
                        return parse_ws_message(t.as_str())
                            .map(|f| vec![f])
                            .map_err(|e| e.to_string())
                    }
                    Some(Ok(Message::Close(_))) => return Ok(vec![Frame::Close]),
                    Some(Ok(_)) => continue,
                }
            },
        }
    }

    pub(super) async fn write(&mut self, text: &str) -> Result<(), String> {
        match self {
            Conn::Tcp { stream, .. } => stream
                .write_all(text.as_bytes())
                .await
                .map_err(|e| e.to_string()),
            Conn::Ws(ws) => ws
                .send(Message::text(text.to_owned()))
                .await
                .map_err(|e| e.to_string()),
        }
    }

    pub(super) fn reset_parser(&mut self) {
        if let Conn::Tcp { framer, .. } = self {
            framer.reset();
        }
    }

    pub(super) async fn close(&mut self) {
        match self {
            Conn::Tcp { stream, .. } => {
                let _ = stream.shutdown().await;
            }
            Conn::Ws(ws) => {
                let _ = SinkExt::close(ws.as_mut()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(Endpoint::Tcp("127.0.0.1:5222".into()).is_loopback());
        assert!(Endpoint::Tcp("localhost:5222".into()).is_loopback());
        assert!(Endpoint::Tcp("[::1]:5222".into()).is_loopback());
        assert!(Endpoint::WebSocket("ws://127.0.0.1:5280/ws".into()).is_loopback());
        assert!(!Endpoint::WebSocket("ws://example.org/ws".into()).is_loopback());
        assert!(!Endpoint::Tcp("10.0.0.1:5222".into()).is_loopback());
    }
}
