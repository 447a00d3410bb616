//! The HTTP API from the tests: a server configured with a token, and calls through the
//! API's own client (`mucsub_server::api::client`, the one the CLI uses).

use super::basics::TIMEOUT;
use super::server::TestServer;
use crate::api::client::call;
use crate::api::Reply;
use crate::config::Config;
use serde_json::Value;
use std::net::SocketAddr;

/// The bearer token [`with_api`] configures.
pub const API_TOKEN: &str = "testkit-api-token-0123456789abcdef";

/// A config change for [`TestServer::start_with`]: the HTTP API with [`API_TOKEN`], which
/// may call every command.
pub fn with_api(config: &mut Config) {
    config.api.insert(
        "tokens".into(),
        toml::Value::Array(vec![toml::Value::String(API_TOKEN.into())]),
    );
}

/// [`with_api`], and a second token, `secret`, that may only call `commands`.
pub fn with_api_and_limited(config: &mut Config, secret: &str, commands: &[&str]) {
    with_api(config);
    let mut limited = toml::Table::new();
    limited.insert("secret".into(), secret.into());
    limited.insert(
        "commands".into(),
        toml::Value::Array(commands.iter().map(|&c| c.into()).collect()),
    );
    config
        .api
        .insert("token".into(), toml::Value::Array(vec![limited.into()]));
}

/// `POST /api/<command>` with `args` to the HTTP listener at `addr`, with `token`;
/// panics when no answer comes.
pub async fn api_call(addr: SocketAddr, token: Option<&str>, command: &str, args: Value) -> Reply {
    let base = format!("http://{addr}");
    match tokio::time::timeout(TIMEOUT, call(&base, token, command, &args)).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => panic!("API call {command}: {e}"),
        Err(_) => panic!("API call {command}: no answer in {TIMEOUT:?}"),
    }
}

impl TestServer {
    /// Calls `command` with [`API_TOKEN`] (the server must have been started [`with_api`]).
    pub async fn api(&self, command: &str, args: Value) -> Reply {
        api_call(self.http_addr(), Some(API_TOKEN), command, args).await
    }
}
