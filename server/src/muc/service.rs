//! The MUC service: its settings, the state its tasks share, storage preparation and the
//! loop that feeds stanzas to the room registry.
//!
//! Where the rest is: [`super::registry`] routes stanzas to rooms and loads and unloads
//! them; [`super::create`] decides room creation and the per-account quotas;
//! [`super::room_task`] runs one room and commits its writes in batches;
//! [`super::service_iq`] answers stanzas to the service itself; [`super::outlet`] is where
//! the output goes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use minidom::Element;
use tokio::sync::mpsc;

use super::ids::IdGen;
use super::outlet::Outlet;
use super::registry::Registry;
use super::store;
use crate::storage::Db;

/// `[muc]` settings in the server config.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Seconds a room with no occupants stays in memory after its last stanza.
    pub idle_unload_secs: f64,
    /// Messages replayed on join (XEP-0045 history); the archive keeps everything.
    pub history_size: usize,
    /// Largest MAM page served, whatever `<max/>` asks.
    pub mam_max_page: usize,
    /// Stanzas queued towards one room.
    pub room_queue: usize,
    /// Who may create rooms: `local` (accounts of this server), `anyone` or `nobody`.
    pub create: String,
    /// Defaults for new rooms.
    pub default_persistent: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            idle_unload_secs: 300.0,
            history_size: 20,
            mam_max_page: 250,
            room_queue: 512,
            create: "local".into(),
            default_persistent: true,
        }
    }
}

/// Observable state, for operators and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub loaded_rooms: AtomicUsize,
}

impl Stats {
    pub fn loaded_rooms(&self) -> usize {
        self.loaded_rooms.load(Ordering::Acquire)
    }
}

/// What every task of the service shares.
#[derive(Clone)]
pub struct Shared {
    pub muc_domain: String,
    pub server_domain: String,
    pub db: Db,
    pub outlet: Arc<dyn Outlet>,
    pub ids: Arc<IdGen>,
    pub settings: Arc<Settings>,
    pub stats: Arc<Stats>,
    /// Per-account limits on subscriptions and rooms (`[limits]`).
    pub quotas: Arc<crate::limits::MucQuotas>,
    /// The server's series (rooms loaded, events fanned out, archive writes).
    pub metrics: crate::metrics::Metrics,
}

/// Prepares storage (migrations, id floor, stale temporary rooms) before serving.
pub async fn prepare(shared: &Shared) -> anyhow::Result<()> {
    shared
        .db
        .migrate(store::COMPONENT, store::MIGRATIONS)
        .await?;
    shared
        .db
        .migrate(crate::limits::COMPONENT, crate::limits::MIGRATIONS)
        .await?;
    let floor = shared.db.call(|c| Ok(store::max_archive_id(c)?)).await?;
    shared.ids.raise_floor(floor);
    let dropped = shared
        .db
        .call(|c| Ok(store::drop_stale_temporary_rooms(c)?))
        .await?;
    if !dropped.is_empty() {
        tracing::info!(rooms = ?dropped, "removed temporary rooms left empty by a restart");
    }
    Ok(())
}

/// Removes subscriptions of accounts deleted while the server was down. It scans every
/// subscription (about a second for a million), so it runs beside the service instead of
/// before it: a room that meets such a subscriber first drops it itself (S13).
pub async fn purge_deleted_accounts(shared: &Shared) {
    let domain = shared.server_domain.clone();
    match shared
        .db
        .call(move |c| Ok(store::purge_deleted_accounts(c, &domain)?))
        .await
    {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "removed subscriptions of deleted accounts"),
        Err(e) => tracing::error!(error = %e, "purging subscriptions of deleted accounts failed"),
    }
}

/// Serves stanzas from `rx` until it closes or `shutdown` fires.
pub async fn run(
    shared: Shared,
    mut rx: mpsc::Receiver<Element>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (mut registry, mut internal_rx) = Registry::new(shared);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(stanza) => registry.dispatch(stanza).await,
                None => break,
            },
            Some(m) = internal_rx.recv() => registry.internal(m).await,
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
}
