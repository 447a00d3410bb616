//! What every task of the MUC service holds: its settings (`[muc]`), its observable
//! counters and the handles it works through. A leaf: it names none of the tasks, so the
//! registry, the room tasks and the service IQs all depend on it and not on each other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::ids::IdGen;
use super::occupant_id::OccupantIds;
use super::outlet::Outlet;
use crate::storage::MucStore;

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
    /// The MUC tables and the archive (SQLite or PostgreSQL).
    pub store: Arc<dyn MucStore>,
    /// This node's cluster membership: rooms are claimed before they are loaded and
    /// committed under their fence. `None` on SQLite (every room is this node's).
    pub cluster: Option<Arc<crate::cluster::Membership>>,
    pub outlet: Arc<dyn Outlet>,
    pub ids: Arc<IdGen>,
    /// XEP-0421 occupant-ids (the key is loaded by `service::prepare`).
    pub occupant_ids: Arc<OccupantIds>,
    pub settings: Arc<Settings>,
    pub stats: Arc<Stats>,
    /// Per-account limits on subscriptions and rooms (`[limits]`).
    pub quotas: Arc<crate::limits::MucQuotas>,
    /// The server's series (rooms loaded, events fanned out, archive writes).
    pub metrics: crate::metrics::Metrics,
}

/// Stats of running services by database path, so tests and operators can observe a
/// server they only hold a context (or a data directory) of.
static STATS: Mutex<Option<HashMap<PathBuf, Arc<Stats>>>> = Mutex::new(None);

/// Makes `stats` observable through [`loaded_rooms`] under the service's database path.
pub(super) fn publish_stats(db_path: PathBuf, stats: Arc<Stats>) {
    STATS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(db_path, stats);
}

/// Rooms currently loaded in memory by the service running on `db_path`
/// (`Config::db_path()`), or `None` when no service was started for it.
pub fn loaded_rooms(db_path: &Path) -> Option<usize> {
    STATS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(db_path))
        .map(|s| s.loaded_rooms())
}
