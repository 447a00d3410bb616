//! The HTTP API, in the shape of ejabberd's `mod_http_api`: `POST /api/<command>` with a
//! JSON object of arguments answers JSON, so backend code written for ejabberd runs against
//! this server unchanged (the commands, their arguments and answers: `docs/api.md`, and
//! `GET /api/openapi.json`).
//!
//! Files, in the order a call goes through them: [`access`] (the `[api]` tokens: who may
//! call what), [`table`] (the command table, the one description of the API), [`command`]
//! (the JSON arguments read into one typed `Command`), [`apply`] (runs it on the server's
//! own services), [`reply`] (ejabberd's answer shapes); [`http`] (the routes),
//! [`openapi`] (the description generated from the table), [`room_options`] (ejabberd's room
//! option names as the owner's configuration form), [`stanza`] (`send_stanza`'s XML),
//! [`client`] (a client of the API) and [`cli`] (`mucsub-server room …`, through it).
//!
//! Room commands never touch a room's state themselves: they go to the room's task as typed
//! requests (`crate::muc::MucHandle`), which apply the room's own rules, commit in the same
//! batch transaction as stanzas and notify occupants and subscribers before the call is
//! answered.

pub mod access;
mod apply;
pub mod cli;
pub mod client;
pub mod command;
mod http;
mod openapi;
pub mod reply;
mod room_options;
mod stanza;
pub mod table;

use futures_util::future::BoxFuture;

use crate::module::{Module, Registrar};
use crate::ServerContext;

pub use reply::Reply;

/// Registers the API's routes on the HTTP listener.
pub struct ApiModule;

impl Module for ApiModule {
    fn name(&self) -> &'static str {
        "api"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a ServerContext,
        reg: &'a mut Registrar,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let settings: access::Settings = ctx.config.module_table("api", &ctx.config.api)?;
            let access = access::Access::new(&settings, |c| table::spec(c).is_some())
                .map_err(|e| anyhow::anyhow!("{}{e}", ctx.config.origin()))?;
            if !access.enabled() {
                tracing::info!("HTTP API: no [api] token configured, every call is refused");
            }
            reg.routes(http::routes(ctx.clone(), access));
            Ok(())
        })
    }

    fn config_defaults(&self) -> Option<(&'static str, serde_json::Value)> {
        crate::module::table_defaults("api", access::Settings::default())
    }
}
