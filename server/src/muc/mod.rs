//! The MUC service (XEP-0045) at `conference.<domain>`, with MucSub (`urn:xmpp:mucsub:0`)
//! and the room archive (XEP-0313).
//!
//! Reading order: [`room`] (a room as a state machine, sans I/O) with its rules by subject
//! (`admit`, `presence`, `message`, `fanout`, `iq`, `admin`, `mucsub`), `event` (the
//! wrapped event), [`mam`] (the archive), [`store`] (SQLite tables), then the tasks:
//! [`module`] (how the service registers itself and starts), [`shared`] (settings and the
//! state every task holds), [`service`] (storage preparation, the service loop),
//! `registry` (loading and unloading rooms), `create` (room creation and quotas),
//! `room_task` (one task per room, batch commits), `mailbox` (what the registry and the
//! room tasks tell each other), `service_iq` (stanzas to the service), [`outlet`] (where
//! output goes); `handle` and `request` are how the rest of the server (the HTTP API) asks
//! a room for something through its task, with the same rules as a stanza.
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
mod deliver;
mod edits;
mod event;
mod fanout;
mod forward;
mod handle;
pub mod ids;
mod iq;
mod mailbox;
pub mod mam;
mod message;
mod moderation;
mod module;
mod mucsub;
pub mod occupant_id;
pub mod outlet;
mod presence;
mod reap;
mod registry;
mod request;
mod resend;
pub mod room;
mod room_task;
#[cfg(test)]
mod room_tests;
mod service;
mod service_iq;
mod shared;
pub mod store;
mod xml;

pub use handle::{
    Answer, MucHandle, NewRoom, OccupantInfo, RequestError, RoomRequest, SubscriberInfo,
};
pub use module::MucModule;
pub use shared::{loaded_rooms, Settings, Stats};
