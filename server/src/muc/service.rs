//! The MUC service's own lifecycle: storage preparation and the loop that feeds stanzas to
//! the room registry.
//!
//! Where the rest is: [`super::shared`] holds the settings and the state every task
//! shares; [`super::registry`] routes stanzas to rooms and loads and unloads
//! them; [`super::create`] decides room creation and the per-account quotas;
//! [`super::room_task`] runs one room and commits its writes in batches;
//! [`super::service_iq`] answers stanzas to the service itself; [`super::outlet`] is where
//! the output goes.

use minidom::Element;
use tokio::sync::mpsc;

use super::handle::ServiceRequest;
use super::registry::Registry;
use super::shared::Shared;

/// Prepares storage (id floor, stale temporary rooms) before serving; the tables were
/// migrated when storage was opened.
pub async fn prepare(shared: &Shared) -> anyhow::Result<()> {
    let floor = shared.store.max_archive_id().await?;
    shared.ids.raise_floor(floor);
    let dropped = shared.store.drop_stale_temporary_rooms().await?;
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
    match shared.store.purge_deleted_accounts(&domain).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "removed subscriptions of deleted accounts"),
        Err(e) => tracing::error!(error = %e, "purging subscriptions of deleted accounts failed"),
    }
}

/// Serves stanzas from `rx` and typed requests from `requests` (`handle.rs`) until `rx`
/// closes or `shutdown` fires.
pub(super) async fn run(
    shared: Shared,
    mut rx: mpsc::Receiver<Element>,
    mut requests: mpsc::Receiver<ServiceRequest>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (mut registry, mut reports) = Registry::new(shared);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(stanza) => registry.dispatch(stanza).await,
                None => break,
            },
            Some(r) = requests.recv() => registry.request(r).await,
            Some(r) = reports.recv() => registry.report(r).await,
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
}
