//! The HTTP listener: XMPP over WebSocket at `/ws` (subprotocol `xmpp`), `/health`
//! (readiness: 200 while the database answers, 503 otherwise), the routes modules
//! registered (`/metrics`, `/push/vapid`, …), and the demo app's static files.

use crate::c2s::{conn::post_auth_limits, connection, ws::WsTransport};
use crate::ServerContext;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::serve::{ListenerExt, TapIo};
use axum::Router;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tower_http::services::{ServeDir, ServeFile};

/// The HTTP listener with `TCP_NODELAY` on every accepted connection, as the c2s TCP
/// listener has. Without it the kernel holds a small frame that follows another unacknowledged
/// one until the peer's delayed ACK (40 ms on Linux): the stream's `<open/>` and
/// `<features/>` go out as two WebSocket frames, so every login over WebSocket waited
/// twice, about 85 ms (BENCHMARKS.md, "Fifth pass").
/// (A named type, not `impl Listener`: axum's `ConnectInfo<SocketAddr>` is implemented for
/// `TapIo` itself.)
pub(crate) fn nodelay(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    fn set(tcp: &mut TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    }
    listener.tap_io(set as fn(&mut TcpStream))
}

/// The core's routes, the routes modules registered (`module_routes`), and the app's
/// static files for every other path.
pub(crate) fn app(ctx: ServerContext, module_routes: Router) -> Router {
    let dir = &ctx.config.http.static_dir;
    let router = Router::new()
        .route("/ws", get(ws_handler))
        .route("/health", get(health));
    let router = if dir.join("index.html").is_file() {
        router.fallback_service(
            ServeDir::new(dir).not_found_service(ServeFile::new(dir.join("index.html"))),
        )
    } else {
        router.fallback(not_built)
    };
    router.with_state(ctx).merge(module_routes)
}

/// How long `/health` waits for the database before calling it unavailable.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: the database can take writes (`storage::Engine::check`).
async fn health(State(ctx): State<ServerContext>) -> Response {
    let engine = ctx.storage.engine.clone();
    let check = async move { engine.check().await };
    let problem = match tokio::time::timeout(HEALTH_TIMEOUT, check).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} s", HEALTH_TIMEOUT.as_secs())),
    };
    let json = [(header::CONTENT_TYPE, "application/json")];
    match problem {
        None => (json, "{\"status\":\"ok\",\"database\":\"ok\"}").into_response(),
        Some(p) => {
            tracing::warn!(problem = p, "health: the database is not available");
            let body = serde_json::json!({"status": "unavailable", "database": p});
            (StatusCode::SERVICE_UNAVAILABLE, json, body.to_string()).into_response()
        }
    }
}

async fn not_built(State(ctx): State<ServerContext>) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Html(format!(
            "<!doctype html><title>mucsub-server</title><h1>mucsub-server</h1>\
             <p>The web app is not built (looked in <code>{}</code>). XMPP over WebSocket \
             is at <code>/ws</code>.</p>",
            crate::stanza::escape_attr(&ctx.config.http.static_dir.display().to_string())
        )),
    )
}

async fn ws_handler(
    State(ctx): State<ServerContext>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // RFC 7395 3.3.1: the client must offer the `xmpp` subprotocol.
    let offers_xmpp = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "xmpp");
    if !offers_xmpp {
        return (
            StatusCode::BAD_REQUEST,
            "the 'xmpp' WebSocket subprotocol is required",
        )
            .into_response();
    }
    let limits = post_auth_limits(&ctx);
    let admission = connection::admit(&ctx, peer.ip());
    ws.protocols(["xmpp"])
        // Frames over the stanza limit are refused by the parser with a stream error;
        // far larger ones are cut off by the WebSocket layer itself.
        .max_message_size(limits.max_stanza * 2 + 4096)
        .max_frame_size(limits.max_stanza * 2 + 4096)
        .on_upgrade(move |socket| async move {
            tracing::debug!(%peer, "WebSocket connection");
            let t = WsTransport::new(socket, peer, limits);
            admission.serve(ctx, t).await
        })
}

#[cfg(test)]
mod tests {
    use super::nodelay;
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_have_nodelay_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = nodelay(listener);
        let client = tokio::spawn(tokio::net::TcpStream::connect(addr));
        let (accepted, peer) = listener.accept().await;
        let client = client.await.unwrap().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(
            accepted.nodelay().unwrap(),
            "TCP_NODELAY is off on the accepted stream"
        );
    }
}
