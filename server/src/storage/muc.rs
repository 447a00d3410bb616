//! The MUC service's durable state (rooms, configuration, affiliations, MucSub
//! subscriptions, the archive): the [`MucStore`] contract both engines implement
//! (`sqlite/muc.rs`, `postgres/muc.rs`).
//!
//! A room task turns the stanzas of a batch into a list of [`StoreOp`]s and hands them to
//! [`MucStore::commit`], which applies them **in one transaction** and returns once that
//! transaction is durable; only then does anything of the batch leave (docs/protocol.md
//! S16). That transaction is also where a cluster checks room ownership (the epoch fence)
//! before writing: every room write goes through `commit`.

use mucsub_protocol::mam::Metadata;

use super::archive::{Item, Page, UnknownId};
use super::ownership::Fence;
use super::types::BoxFuture;
use crate::muc::affiliation::Affiliation;
use crate::muc::config_form::RoomConfig;
use crate::muc::mam::query::ArchiveQuery;

/// One archived message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMsg {
    /// The archive id (and XEP-0359 stanza-id): strictly increasing within a room.
    pub id: i64,
    pub room: String,
    pub stamp_us: i64,
    pub nick: String,
    /// Bare JID of the real sender (for `with` and moderation), never shown to anyone who
    /// may not see real JIDs.
    pub sender: String,
    /// The sender's XEP-0359 origin-id, when it is to be deduplicated: a second message
    /// with the same (room, sender, origin-id) is not archived again; [`MucStore::commit`]
    /// reports the stored one as a [`Duplicate`].
    pub origin_id: Option<String>,
    /// The id the sender gave the message (its XEP-0359 origin-id, else its `id`): what a
    /// XEP-0308 correction names, so [`MucStore::archived`] finds the corrected message.
    pub client_id: Option<String>,
    /// The stanza as broadcast, without `to`.
    pub stanza: String,
}

/// How [`MucStore::archived`] names a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveKey {
    /// By the room's stanza-id (archive id).
    Id(i64),
    /// By the id its sender gave it; `sender`'s own message first when several senders
    /// used the same id.
    Client { id: String, sender: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubscription {
    pub jid: String,
    pub nick: String,
    pub nodes: Vec<String>,
}

/// What [`MucStore::load_room`] gives: the room and its newest archived messages
/// (oldest first).
pub type LoadedRoom = (StoredRoom, Vec<Item>);

/// A room as loaded from storage.
#[derive(Debug, Clone)]
pub struct StoredRoom {
    pub name: String,
    pub config: RoomConfig,
    pub subject: String,
    pub subject_nick: String,
    pub affiliations: Vec<(String, Affiliation)>,
    /// In the order they were first made (a changed subscription keeps its place).
    pub subscriptions: Vec<StoredSubscription>,
}

/// One durable change.
#[derive(Debug, Clone)]
pub enum StoreOp {
    /// Creates the room or replaces its configuration.
    SaveRoom {
        name: String,
        config: RoomConfig,
    },
    SetSubject {
        room: String,
        subject: String,
        nick: String,
    },
    /// `Affiliation::None` removes the affiliation.
    SetAffiliation {
        room: String,
        jid: String,
        affiliation: Affiliation,
    },
    /// Creates or changes (nick, nodes) a subscription.
    SetSubscription {
        room: String,
        sub: StoredSubscription,
    },
    RemoveSubscription {
        room: String,
        jid: String,
    },
    Archive(ArchivedMsg),
    /// Replaces archived message `id`'s stanza with its tombstone (XEP-0424 §5.1): a
    /// retracted or moderated message keeps its place, id and sender.
    Tombstone {
        room: String,
        id: i64,
        stanza: String,
    },
    /// Removes the room with everything attached to it, archive included.
    DestroyRoom {
        room: String,
    },
}

/// An [`StoreOp::Archive`] that was not written because the room already holds a message
/// of that sender with that origin-id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The id the refused message carried.
    pub attempted: i64,
    /// The message stored earlier.
    pub stored: ArchivedMsg,
}

/// What a commit found out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    pub duplicates: Vec<Duplicate>,
}

/// A service-level subscription with the room's newest archive entry (docs/protocol.md S19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSubscription {
    pub room: String,
    pub nick: String,
    pub nodes: Vec<String>,
    /// (id, stamp in µs) of the room's newest archived message.
    pub last: Option<(i64, i64)>,
}

/// The MUC service's storage.
pub trait MucStore: Send + Sync {
    /// Applies `ops`, in order, in one transaction, and returns when it is durable. On
    /// error nothing of it was written.
    fn commit(&self, ops: Vec<StoreOp>) -> BoxFuture<'_, anyhow::Result<Committed>> {
        self.commit_as(None, ops)
    }
    /// [`MucStore::commit`] under a room's ownership `fence` (a cluster's room,
    /// `storage::ownership`): the same transaction first checks that the fence still holds
    /// and otherwise writes nothing and fails with
    /// [`super::ownership::LostOwnership`]. Archived messages record the fence's epoch.
    /// Only engines with [`super::ownership::RoomOwnership`] take a fence.
    fn commit_as<'a>(
        &'a self,
        fence: Option<&'a Fence>,
        ops: Vec<StoreOp>,
    ) -> BoxFuture<'a, anyhow::Result<Committed>>;
    /// Commits `ops` (a new room's writes, under `fence` as [`MucStore::commit_as`]) only
    /// if `creator` owns fewer than `max_owned` rooms, counted in the same transaction;
    /// `Ok(Err(owned))` otherwise.
    fn commit_within_room_quota<'a>(
        &'a self,
        fence: Option<&'a Fence>,
        creator: &'a str,
        max_owned: usize,
        ops: Vec<StoreOp>,
    ) -> BoxFuture<'a, anyhow::Result<Result<(), usize>>>;
    /// The room `name`, with its newest `history` archived messages (oldest first).
    fn load_room<'a>(
        &'a self,
        name: &'a str,
        history: usize,
    ) -> BoxFuture<'a, anyhow::Result<Option<LoadedRoom>>>;
    /// Every room `jid` is subscribed to, by room name, without loading any room.
    fn subscriptions_of<'a>(
        &'a self,
        jid: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<AccountSubscription>>>;
    /// How many subscriptions `jid` holds across all rooms.
    fn subscription_count<'a>(&'a self, jid: &'a str) -> BoxFuture<'a, anyhow::Result<usize>>;
    /// How many rooms `jid` owns (affiliation `owner`).
    fn rooms_owned_by<'a>(&'a self, jid: &'a str) -> BoxFuture<'a, anyhow::Result<usize>>;
    /// Public rooms for disco#items: (name, title), by name.
    fn public_rooms(&self) -> BoxFuture<'_, anyhow::Result<Vec<(String, String)>>>;
    /// Every room's name, public or not, sorted (the HTTP API's room list).
    fn room_names(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>>;
    /// The largest archive id stored in any room (0 when none), to seed the id generator.
    fn max_archive_id(&self) -> BoxFuture<'_, anyhow::Result<i64>>;
    /// Removes temporary (non-persistent) rooms without subscribers (their occupants are
    /// gone with the process that held them); returns their names, sorted. On PostgreSQL
    /// a room another node holds under a live lease stays (its occupants are there).
    fn drop_stale_temporary_rooms(&self) -> BoxFuture<'_, anyhow::Result<Vec<String>>>;
    /// Removes subscriptions of `domain`'s accounts that no longer exist; returns how many.
    fn purge_deleted_accounts<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<usize>>;
    /// One page of room `room`'s archive; `Ok(Err(_))` when the query names an id the
    /// room's archive does not hold.
    fn archive_page<'a>(
        &'a self,
        room: &'a str,
        query: &'a ArchiveQuery,
    ) -> BoxFuture<'a, anyhow::Result<Result<Page, UnknownId>>>;
    /// The room's oldest and newest archived messages (XEP-0313 metadata).
    fn archive_bounds<'a>(&'a self, room: &'a str) -> BoxFuture<'a, anyhow::Result<Metadata>>;
    /// One archived message of room `room` (the target of a correction, retraction or
    /// moderation), `None` when the archive holds none by that key.
    fn archived<'a>(
        &'a self,
        room: &'a str,
        key: &'a ArchiveKey,
    ) -> BoxFuture<'a, anyhow::Result<Option<ArchivedMsg>>>;
    /// The service secret called `name`: the stored one, or `fresh` stored now when there
    /// is none (the first writer wins, so every node of a cluster gets the same one).
    fn secret<'a>(
        &'a self,
        name: &'a str,
        fresh: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<Vec<u8>>>;
}

/// The subscription nodes as stored: one space-separated text.
pub(crate) fn join_nodes(nodes: &[String]) -> String {
    nodes.join(" ")
}

pub(crate) fn split_nodes(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// A room's configuration as stored (TOML text).
pub(crate) fn config_text(config: &RoomConfig) -> String {
    toml::to_string(config).unwrap_or_default()
}

/// Reads a stored configuration; an unreadable one falls back to the defaults.
pub(crate) fn parse_config(room: &str, text: &str) -> RoomConfig {
    toml::from_str::<RoomConfig>(text).unwrap_or_else(|e| {
        tracing::warn!(room, error = %e, "unreadable room config; using defaults");
        RoomConfig::default()
    })
}

/// Whether a stored configuration is a temporary room's (unreadable: kept).
pub(crate) fn is_temporary(text: &str) -> bool {
    toml::from_str::<RoomConfig>(text).is_ok_and(|c| !c.persistent)
}
