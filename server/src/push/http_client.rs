//! A minimal HTTP/1.1 client for RFC 8030 deliveries: one POST per connection, HTTPS with
//! the webpki roots (push services are public HTTPS endpoints), plain HTTP only when the
//! configuration allows it (the loopback push service of the tests).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// The part of a push service's answer that decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds, when given as a number (RFC 9110 §10.2.3).
    pub retry_after: Option<u64>,
    /// `Location` of the created push message resource (RFC 8030 §5), if any.
    pub location: Option<String>,
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// POSTs `body` to `url` with `headers`; the whole exchange is bounded by `timeout`.
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    allow_http: bool,
    timeout: Duration,
) -> Result<Answer, String> {
    tokio::time::timeout(timeout, post_inner(url, headers, body, allow_http))
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

async fn post_inner(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    allow_http: bool,
) -> Result<Answer, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad endpoint URL: {e}"))?;
    let host = uri.host().ok_or("endpoint URL has no host")?.to_string();
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if allow_http => false,
        Some("http") => return Err("plain http endpoints are not allowed".into()),
        _ => return Err("endpoint URL is not http(s)".into()),
    };
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    // IPv6 literals come bracketed in the URI; the socket address and SNI want them bare.
    let bare_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tcp = TcpStream::connect((bare_host.as_str(), port))
        .await
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or(host.clone());
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut req = Request::post(path).header(hyper::header::HOST, authority);
    for (name, value) in headers {
        req = req.header(*name, value.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("building the request: {e}"))?;
    if https {
        let name = rustls::pki_types::ServerName::try_from(bare_host)
            .map_err(|e| format!("bad TLS server name: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        exchange(tls, req).await
    } else {
        exchange(tcp, req).await
    }
}

async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(conn);
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("sending the push: {e}"));
    let res = match res {
        Ok(r) => r,
        Err(e) => {
            driver.abort();
            return Err(e);
        }
    };
    let header = |name: hyper::header::HeaderName| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
    };
    let answer = Answer {
        status: res.status().as_u16(),
        retry_after: header(hyper::header::RETRY_AFTER).and_then(|v| v.parse().ok()),
        location: header(hyper::header::LOCATION),
    };
    // Read (a bounded amount of) the body so the server sees a clean exchange.
    let _ = Limited::new(res.into_body(), 64 * 1024).collect().await;
    driver.abort();
    Ok(answer)
}
