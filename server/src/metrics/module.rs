//! `/metrics` on the HTTP listener, registered through the module seam (see
//! [`crate::module`]), with its access rule (`[metrics]`):
//!
//! - `token` set: every scrape sends `Authorization: Bearer <token>` (401 otherwise);
//! - else `public = true`: anyone who reaches the HTTP listener may scrape;
//! - else (the default): loopback peers only, and not through a proxy (a request with
//!   `Forwarded` / `X-Forwarded-For` came from elsewhere): 403 otherwise.

use super::Metrics;
use crate::auth::settings::Secret;
use crate::module::{Module, Registrar};
use crate::ServerContext;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// `[metrics]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics`.
    pub enabled: bool,
    /// A bearer token scrapers must send; when set, it is required from every peer.
    pub token: Option<Secret>,
    /// Without a token: let any peer scrape (not only loopback ones).
    pub public: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            token: None,
            public: false,
        }
    }
}

/// Who may scrape, decided from the request alone.
pub fn access(
    cfg: &MetricsConfig,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), StatusCode> {
    if let Some(token) = &cfg.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        return if constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
            Ok(())
        } else {
            Err(StatusCode::UNAUTHORIZED)
        };
    }
    if cfg.public {
        return Ok(());
    }
    let proxied =
        headers.contains_key(header::FORWARDED) || headers.contains_key("x-forwarded-for");
    if peer.ip().is_loopback() && !proxied {
        Ok(())
    } else {
        Err(StatusCode::FORBIDDEN)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves `/metrics` (unless `[metrics] enabled = false`).
pub struct MetricsModule;

#[derive(Clone)]
struct Scrape {
    ctx: ServerContext,
    cfg: std::sync::Arc<MetricsConfig>,
}

impl Module for MetricsModule {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a ServerContext,
        reg: &'a mut Registrar,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let cfg: MetricsConfig = ctx.config.module_table("metrics", &ctx.config.metrics)?;
            if !cfg.enabled {
                return Ok(());
            }
            let state = Scrape {
                ctx: ctx.clone(),
                cfg: std::sync::Arc::new(cfg),
            };
            reg.routes(
                axum::Router::new()
                    .route("/metrics", axum::routing::get(scrape))
                    .with_state(state),
            );
            Ok(())
        })
    }

    fn config_defaults(&self) -> Option<(&'static str, serde_json::Value)> {
        crate::module::table_defaults("metrics", MetricsConfig::default())
    }
}

async fn scrape(
    State(s): State<Scrape>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(status) = access(&s.cfg, peer, &headers) {
        return (status, "metrics: access denied\n").into_response();
    }
    refresh(&s.ctx, &s.ctx.metrics).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.ctx.metrics.encode(),
    )
        .into_response()
}

/// Series read from storage at scrape time rather than kept up to date on every change.
async fn refresh(ctx: &ServerContext, m: &Metrics) {
    match ctx.offline.total().await {
        Ok(n) => {
            m.offline_messages.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "metrics: counting offline messages failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_by_default_a_token_when_set_anyone_when_public() {
        let lo: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let far: SocketAddr = "192.0.2.7:9".parse().unwrap();
        let default = MetricsConfig::default();
        assert_eq!(access(&default, lo, &HeaderMap::new()), Ok(()));
        assert_eq!(
            access(&default, far, &HeaderMap::new()),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            access(&default, lo, &headers(&[("x-forwarded-for", "192.0.2.7")])),
            Err(StatusCode::FORBIDDEN),
            "a local reverse proxy does not make a remote scraper local"
        );
        let token = MetricsConfig {
            token: Some(Secret::new("s3cret")),
            ..MetricsConfig::default()
        };
        assert_eq!(
            access(&token, lo, &HeaderMap::new()),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            access(&token, far, &headers(&[("authorization", "Bearer s3cret")])),
            Ok(())
        );
        assert_eq!(
            access(&token, lo, &headers(&[("authorization", "Bearer s3cre")])),
            Err(StatusCode::UNAUTHORIZED)
        );
        let public = MetricsConfig {
            public: true,
            ..MetricsConfig::default()
        };
        assert_eq!(access(&public, far, &HeaderMap::new()), Ok(()));
    }
}
