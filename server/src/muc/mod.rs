//! The MUC service (XEP-0045) at `conference.<domain>`, with MucSub (`urn:xmpp:mucsub:0`)
//! and the room archive (XEP-0313).
//!
//! Reading order: [`room`] (a room as a state machine, sans I/O) with its rules by subject
//! (`admit`, `presence`, `message`, `fanout`, `iq`, `admin`, `mucsub`), `event` (the
//! wrapped event), [`mam`] (the archive), [`store`] (SQLite tables), then the tasks:
//! [`service`] (settings, shared state, the service loop), `registry` (loading and
//! unloading rooms), `create` (room creation and quotas), `room_task` (one task per room,
//! batch commits), `service_iq` (stanzas to the service), [`outlet`] (where output goes).
//! The wire elements are `mucsub_protocol`'s (shared with the SDK); namespaces are
//! `crate::ns`.
//!
//! Settings (`[muc]` table of the server config, all optional):
//!
//! ```toml
//! [muc]
//! idle_unload_secs = 300.0   # an empty room leaves memory after this long without stanzas
//! history_size = 20          # messages replayed on join (the archive keeps everything)
//! mam_max_page = 250         # largest MAM page (prefer [limits] mam_max_page)
//! room_queue = 512           # stanzas queued towards one room
//! create = "local"           # who may create rooms: local | anyone | nobody
//! default_persistent = true  # new rooms are persistent (as ejabberd's reference config)
//! ```
//!
//! Observability: [`loaded_rooms`] tells how many rooms a running service holds in memory.

mod admin;
mod admit;
pub mod affiliation;
pub mod config_form;
mod create;
mod event;
mod fanout;
pub mod ids;
mod iq;
pub mod mam;
mod message;
mod mucsub;
mod node;
pub mod outlet;
mod presence;
mod registry;
pub mod room;
mod room_task;
#[cfg(test)]
mod room_tests;
pub mod service;
mod service_iq;
pub mod store;
mod xml;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use service::{Settings, Stats};

/// Capacity of the router → MUC service queue.
const INBOX: usize = 4096;

/// Stats of running services by database path, so tests and operators can observe a
/// server they only hold a context (or a data directory) of.
static STATS: Mutex<Option<HashMap<PathBuf, Arc<Stats>>>> = Mutex::new(None);

/// Starts the MUC service on `ctx.config.muc_service`. Storage migrations run before the
/// first stanza is read; configuration errors (`[muc]` table) fail here.
pub fn spawn(ctx: &crate::ServerContext) -> anyhow::Result<()> {
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
    STATS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(ctx.config.db_path(), stats.clone());
    let shared = service::Shared {
        muc_domain: ctx.config.muc_service.clone(),
        server_domain: ctx.config.domain.clone(),
        db: ctx.db.clone(),
        outlet: Arc::new(outlet::RouterOutlet::new(
            ctx.router.clone(),
            ctx.accounts.clone(),
        )),
        ids: Arc::new(ids::IdGen::new(0)),
        settings: Arc::new(settings),
        stats,
        quotas: Arc::new(crate::limits::MucQuotas::new(&ctx.config.limits)),
        metrics: ctx.metrics.clone(),
    };
    let rx = ctx.router.register_component(&shared.muc_domain, INBOX);
    let shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = service::prepare(&shared).await {
            tracing::error!(error = %e, "MUC storage could not be prepared; MUC disabled");
            return;
        }
        tracing::info!(domain = shared.muc_domain, "MUC service ready");
        let purge = shared.clone();
        tokio::spawn(async move { service::purge_deleted_accounts(&purge).await });
        service::run(shared, rx, shutdown).await;
    });
    Ok(())
}

/// Rooms currently loaded in memory by the service running on `db_path`
/// (`Config::db_path()`), or `None` when no service was started for it.
pub fn loaded_rooms(db_path: &std::path::Path) -> Option<usize> {
    STATS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(db_path))
        .map(|s| s.loaded_rooms())
}
