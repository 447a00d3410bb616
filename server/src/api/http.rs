//! The API's routes on the HTTP listener: `POST /api/<command>` and
//! `GET /api/openapi.json`. A call is checked in this order: credentials (401), the
//! command (404), the token's right to it (403), its arguments (400); then it runs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use super::access::{Access, Caller};
use super::apply::apply;
use super::command::{Command, Site};
use super::reply::Reply;
use super::table;
use crate::xmlstream::Limits;
use crate::ServerContext;

struct Api {
    ctx: ServerContext,
    access: Access,
}

/// The routes, for the module to register.
pub fn routes(ctx: ServerContext, access: Access) -> Router {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/{command}", post(call))
        .with_state(Arc::new(Api { ctx, access }))
}

async fn openapi() -> impl IntoResponse {
    Reply::ok(super::openapi::document())
}

async fn call(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(command): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let spec = table::spec(&command);
    let (caller, reply) = match api.access.authenticate(&headers, peer.ip()) {
        Err(r) => (None, r),
        Ok(caller) => (Some(caller), run(&api, caller, spec, &body).await),
    };
    // A made-up command name is neither logged nor counted as itself.
    let name = spec.map_or("unknown", |s| s.name);
    observe(&api.ctx, name, spec.is_some(), reply.status);
    let caller = caller.map_or_else(|| "nobody".to_owned(), |c| c.to_string());
    if reply.status >= 500 {
        tracing::warn!(command = name, %peer, caller, status = reply.status, "API call failed");
    } else {
        tracing::info!(command = name, %peer, caller, status = reply.status, "API call");
    }
    reply
}

async fn run(api: &Api, caller: Caller, spec: Option<&'static table::Spec>, body: &[u8]) -> Reply {
    let Some(spec) = spec else {
        return Reply::unknown_command();
    };
    if let Err(r) = api.access.permit(caller, spec.name) {
        return r;
    }
    let config = &api.ctx.config;
    let site = Site {
        domain: &config.domain,
        muc: &config.muc_service,
    };
    let limits = Limits {
        max_stanza: config.limits.max_stanza,
        max_depth: config.limits.max_depth,
    };
    match Command::parse(spec, body, &site, limits) {
        Ok(cmd) => apply(cmd, &api.ctx).await,
        Err(r) => r,
    }
}

/// Counts each call once in `mucsub_api_requests_total{command,status}` (`unknown` for a
/// name the table does not have, so callers cannot make up series).
fn observe(ctx: &ServerContext, command: &str, known: bool, status: u16) {
    ctx.metrics.api_request(command, known, status);
}
