//! Occupants whose node died (issue 19): every lease period each node reads, from the
//! session directory, the sessions of incarnations whose lease has expired, and has each
//! room it owns drop those of them that are occupants, with status 333. Every node looks
//! (a room's owner need not be the node that noticed), and the directory keeps a dead
//! node's rows for several lease periods so each of them sees it; dropping someone who is
//! not in the room does nothing, so looking again is harmless.

use std::sync::Arc;

use jid::{BareJid, FullJid};

use super::handle::{MucHandle, RoomRequest};
use crate::cluster::Membership;
use crate::storage::SessionDirectory;

/// How many lease periods a dead node's directory rows are kept.
const KEEP_PERIODS: u32 = 10;

pub(super) fn spawn(
    handle: MucHandle,
    cluster: Arc<Membership>,
    directory: Arc<dyn SessionDirectory>,
    domain: String,
    muc_domain: String,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(cluster.ttl());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let dead = match directory.dead(cluster.ttl() * KEEP_PERIODS).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(error = %e, "reading dead nodes' sessions failed");
                    continue;
                }
            };
            let jids: Vec<FullJid> = dead
                .iter()
                .filter_map(|(user, resource)| {
                    FullJid::new(&format!("{user}@{domain}/{resource}")).ok()
                })
                .collect();
            if jids.is_empty() {
                continue;
            }
            let rooms = cluster.rooms().await.unwrap_or_default();
            for room in rooms {
                let Ok(jid) = BareJid::new(&format!("{room}@{muc_domain}")) else {
                    continue;
                };
                let req = RoomRequest::Gone { jids: jids.clone() };
                if let Err(e) = handle.request(&jid, req).await {
                    tracing::debug!(room, error = ?e, "dropping a dead node's occupants failed");
                }
            }
        }
    });
}
