//! A client of a running server's HTTP API, for the CLI (`mucsub-server room …`, as
//! `ejabberdctl` talks to its running node) and the tests: one `POST /api/<command>` per
//! connection over plain HTTP (the API listens on the HTTP listener, loopback by default;
//! HTTPS is a reverse proxy's job).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::reply::Reply;

/// The longest a call may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read.
const MAX_ANSWER: usize = 16 << 20;

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0} is not an http://host:port URL")]
    Url(String),
    #[error("no server answers at {url}: {error}")]
    Unreachable { url: String, error: String },
    #[error("{0}")]
    Http(String),
}

/// POSTs `args` to `command` at `base` (`http://host:port`), with `token` as the bearer
/// token; the server's answer (any status).
pub async fn call(
    base: &str,
    token: Option<&str>,
    command: &str,
    args: &Value,
) -> Result<Reply, CallError> {
    let uri: hyper::Uri = base.parse().map_err(|_| CallError::Url(base.to_owned()))?;
    let authority = match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(a)) => a.clone(),
        _ => return Err(CallError::Url(base.to_owned())),
    };
    let addr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let path = format!("{}/api/{command}", uri.path().trim_end_matches('/'));
    let exchange = async {
        let io =
            tokio::net::TcpStream::connect(&addr)
                .await
                .map_err(|e| CallError::Unreachable {
                    url: base.to_owned(),
                    error: e.to_string(),
                })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| CallError::Http(e.to_string()))?;
        tokio::spawn(conn);
        let mut req = Request::post(path)
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::from(args.to_string())))
            .map_err(|e| CallError::Http(e.to_string()))?;
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| CallError::Http(e.to_string()))?;
        let status = res.status().as_u16();
        let body = Limited::new(res.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| CallError::Http(e.to_string()))?
            .to_bytes();
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok(Reply { status, body })
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| CallError::Http(format!("no answer within {} s", TIMEOUT.as_secs())))?
}
