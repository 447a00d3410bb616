//! How the MUC service registers itself with the core (see [`crate::module`]): it reads
//! `[muc]`, registers the `conference.<domain>` component with the router and lists it in
//! the server's disco#items, provides its [`MucHandle`] (the HTTP API's way in), then serves
//! on its own task.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::handle::{MucHandle, REQUESTS};
use super::ids::IdGen;
use super::outlet::RouterOutlet;
use super::service;
use super::shared::{publish_stats, Settings, Shared, Stats};
use crate::module::{Module, Registrar};
use crate::ServerContext;

/// Capacity of the router → MUC service queue.
const INBOX: usize = 4096;

/// The MUC service (XEP-0045, MucSub, MAM) at `ctx.config.muc_service`.
pub struct MucModule;

impl Module for MucModule {
    fn name(&self) -> &'static str {
        "muc"
    }

    fn start<'a>(
        &'a self,
        ctx: &'a ServerContext,
        reg: &'a mut Registrar,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let handle = spawn(ctx)?;
            reg.disco_item(&ctx.config.muc_service, "Chatrooms");
            reg.provide(handle);
            Ok(())
        })
    }

    fn config_defaults(&self) -> Option<(&'static str, serde_json::Value)> {
        crate::module::table_defaults("muc", Settings::default())
    }
}

/// Starts the service and returns the handle other parts of the server reach it through.
/// Storage is prepared before the first stanza is read; configuration errors (`[muc]`
/// table) fail here.
fn spawn(ctx: &ServerContext) -> anyhow::Result<MucHandle> {
    let mut settings: Settings = ctx.config.module_table("muc", &ctx.config.muc)?;
    if !ctx.config.muc.contains_key("mam_max_page") {
        settings.mam_max_page = ctx.config.limits.mam_max_page;
    }
    if !matches!(settings.create.as_str(), "local" | "anyone" | "nobody") {
        anyhow::bail!(
            "{}[muc] create must be one of local, anyone, nobody",
            ctx.config.origin()
        );
    }
    let stats = Arc::new(Stats::default());
    publish_stats(ctx.config.db_path(), stats.clone());
    let shared = Shared {
        muc_domain: ctx.config.muc_service.clone(),
        server_domain: ctx.config.domain.clone(),
        store: ctx.storage.muc.clone(),
        cluster: ctx.cluster.clone(),
        outlet: Arc::new(RouterOutlet::new(ctx.router.clone(), ctx.accounts.clone())),
        ids: Arc::new(IdGen::new(0)),
        occupant_ids: Arc::default(),
        settings: Arc::new(settings),
        stats,
        quotas: Arc::new(crate::limits::MucQuotas::new(&ctx.config.limits)),
        metrics: ctx.metrics.clone(),
    };
    let rx = ctx.router.register_component(&shared.muc_domain, INBOX);
    let (requests_tx, requests) = tokio::sync::mpsc::channel(REQUESTS);
    let (ready_tx, ready) = tokio::sync::watch::channel(None);
    let handle = MucHandle::new(
        shared.muc_domain.clone(),
        shared.store.clone(),
        requests_tx,
        ready,
    );
    let shutdown = ctx.shutdown.clone();
    if let (Some(cluster), Some(directory)) = (&ctx.cluster, &ctx.storage.directory) {
        super::reap::spawn(
            handle.clone(),
            cluster.clone(),
            directory.clone(),
            ctx.config.domain.clone(),
            shared.muc_domain.clone(),
            shutdown.clone(),
        );
    }
    tokio::spawn(async move {
        let prepared = service::prepare(&shared).await;
        ready_tx.send_replace(Some(prepared.is_ok()));
        if let Err(e) = prepared {
            tracing::error!(error = %e, "MUC storage could not be prepared; MUC disabled");
            return;
        }
        tracing::info!(domain = shared.muc_domain, "MUC service ready");
        let purge = shared.clone();
        tokio::spawn(async move { service::purge_deleted_accounts(&purge).await });
        service::run(shared, rx, requests, shutdown).await;
    });
    Ok(handle)
}
