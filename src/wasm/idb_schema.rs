//! The IndexedDB schema and its migrations.
//!
//! IndexedDB versions the whole database: opening with a higher version runs one
//! `upgradeneeded` transaction that must bring any older layout to the current one. Each
//! version below is one step, applied in order from the version found on disk, so a
//! database written by any earlier SDK release opens with this one. A step may change the
//! layout (stores, indexes) and rewrite records; all of it runs inside the single
//! versionchange transaction, so a crash or reload mid-migration leaves the old version
//! intact and the next open starts over.
//!
//! Layout (current version, 6):
//! - `account`: `{key, value}` records: `jid` (whose data this is), `seq` (last insertion
//!   sequence number handed out).
//! - `subscriptions`: keyPath `room`; a serialised `SubscriptionRecord` under `rec`.
//! - `chunks` (since v4): a room's events, many to a record, so storing a page or a burst
//!   of live events costs one `put` rather than one per event (a request, a structured
//!   clone and a result task each). keyPath `id` (auto-increment). Fields: `room`; `evs`,
//!   one JSON text of `[{seq, ord, ev}]` (`idb_records::Slot`: insertion number, order
//!   within the timestamp following the archive, the serialised `RoomEvent`); `pos`, the
//!   `[room, ts, ord]` of each event; `dk`, each event's dedup keys as `room\0key`, plus
//!   `room\0~unarchived` when the chunk holds a message or subject without an archive id.
//!   Indexes, all multiEntry: `by_order` on `pos` (history order), `dedup` on `dk`. A
//!   `getAll` on a multiEntry index would clone a chunk once per matching entry, so readers
//!   take the index's primary keys (`getAllKeys`) and then fetch each chunk once.
//!   Since v6 (issue 22): `shown`, the `[room, ts, ord]` of each event an app sees (all but
//!   change events: corrections, retractions, reactions), indexed by `by_shown`, which is
//!   what listing, paging, read markers and unread counts walk; and `fk`, indexed by
//!   `fold`: `room\0m:ID` for each id a message answers to (its message id and origin-id;
//!   its stanza-id too as written before issue 24, since then found through its `dedup`
//!   entry `sid:ID` alone, which every reader asks as well, so both layouts read the same
//!   without a migration), `room\0c:ID` for the id each change names, and
//!   `room\0~changes` once when the chunk holds a change. Changes are stored like any
//!   event (deduplicated, ordered) and every message is kept folded with all the stored
//!   changes that name it.
//! - `messages` (v1-v3, replaced by `chunks`): one record per event, keyPath `k` =
//!   `[room, stanzaId]`, or `[room, seq]` for events without an archive id. Fields: `room`,
//!   `ts` (ms), `seq`, `ord` (since v3), `ev` (serialised `RoomEvent`), `dk` (since v2).
//!   Indexes: `by_order` on `[room, ts, ord]` (since v3; v1-v2 had `by_time` on
//!   `[room, ts, seq]`), `dedup` on `dk` (multiEntry, since v2).
//! - `reads` (since v3): keyPath `room`; the room's serialised `ReadMarker` under `marker`.
//! - `cursors`: keyPath `room`; a serialised `Cursor` under `cursor`.
//! - `gaps`: auto-increment key (insertion order = oldest first), index `by_room` on `room`;
//!   a serialised `Gap` under `gap`.
//! - `device` (since v5): `{key, value}` records; `wake` holds the JSON of
//!   [`crate::session::Wake`]: the device's `<user-agent id>`, its FAST token and the
//!   stream-management state (SM-ID, `h`, unacknowledged stanzas) a reload or a wake
//!   resumes with. Never a password: there is no field for one.

use idb::{
    Cursor, Database, DatabaseEvent, Event, Factory, IndexParams, KeyPath, ObjectStore,
    ObjectStoreParams, Request, Transaction,
};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbOpenDbRequest, IdbVersionChangeEvent};

use super::error::SdkError;
use super::idb_records;
use super::idb_req::{found, listed, req};

/// The schema version this SDK writes.
pub const CURRENT_VERSION: u32 = 6;

/// Object store names.
pub mod stores {
    /// Account metadata.
    pub const ACCOUNT: &str = "account";
    /// Subscriptions.
    pub const SUBSCRIPTIONS: &str = "subscriptions";
    /// Room events, one record each (v1-v3).
    pub const MESSAGES: &str = "messages";
    /// Room events, many to a record (since v4).
    pub const CHUNKS: &str = "chunks";
    /// Resync cursors.
    pub const CURSORS: &str = "cursors";
    /// Recorded gaps.
    pub const GAPS: &str = "gaps";
    /// Read markers (since v3).
    pub const READS: &str = "reads";
    /// What the device wakes with: token, device id, stream state (since v5).
    pub const DEVICE: &str = "device";
}

/// Index names.
pub mod indexes {
    /// `messages` by `[room, ts, seq]` (v1–v2 only).
    pub const BY_TIME: &str = "by_time";
    /// `messages` by `[room, ts, ord]` (v3); `chunks` by each `[room, ts, ord]` (since v4).
    pub const BY_ORDER: &str = "by_order";
    /// `messages`, then `chunks`, by each dedup key (multiEntry).
    pub const DEDUP: &str = "dedup";
    /// `gaps` by `room`.
    pub const BY_ROOM: &str = "by_room";
    /// `chunks` by each `[room, ts, ord]` of the events an app sees (since v6).
    pub const BY_SHOWN: &str = "by_shown";
    /// `chunks` by the ids their messages answer to and their changes name (since v6).
    pub const FOLD: &str = "fold";
}

/// Open (creating or migrating) the database `name` at `version`. Production code always
/// passes [`CURRENT_VERSION`]; tests pass older versions to build databases as an older
/// SDK release left them.
pub async fn open_at(name: &str, version: u32) -> Result<Database, SdkError> {
    if version == 0 || version > CURRENT_VERSION {
        return Err(SdkError::bad_request(format!(
            "schema version {version} is not one this SDK knows (1..={CURRENT_VERSION})"
        )));
    }
    let factory = Factory::new()?;
    let opening = IdbOpenDbRequest::from(factory.open(name, Some(version))?);
    let failure: Rc<RefCell<Option<SdkError>>> = Rc::default();
    let failure_in_upgrade = failure.clone();
    let on_upgrade =
        Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |event: IdbVersionChangeEvent| {
            if let Err(e) = start_upgrade(&event.into(), version, failure_in_upgrade.clone()) {
                *failure_in_upgrade.borrow_mut() = Some(e);
            }
        });
    opening.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    // No `blocked` handler: another connection (an old tab) still holding the previous
    // version open is closed by its `versionchange` handler (see
    // `close_on_version_change`), after which the upgrade proceeds; nothing to do but wait.
    // Awaited through the store's one request future (idb_req.rs), as every request is.
    let opened = req(opening).await.and_then(Database::try_from);
    drop(on_upgrade);
    if let Some(e) = failure.borrow_mut().take() {
        if let Ok(db) = &opened {
            db.close();
        }
        return Err(e);
    }
    let mut db = opened.map_err(|e| SdkError::store(format!("opening '{name}': {e}")))?;
    close_on_version_change(&mut db);
    Ok(db)
}

/// A newer SDK in another tab wants to upgrade: let it, by closing this connection (the
/// other tab's upgrade would otherwise block until this page is gone). Later requests on
/// this connection fail with a store error, which the client reports.
fn close_on_version_change(db: &mut Database) {
    db.on_version_change(|event| {
        if let Some(raw) = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::IdbDatabase>().ok())
        {
            raw.close();
        }
    });
}

fn start_upgrade(
    event: &idb::event::VersionChangeEvent,
    target: u32,
    failure: Rc<RefCell<Option<SdkError>>>,
) -> Result<(), SdkError> {
    let from = event.old_version()?;
    let db = event.database()?;
    let tx = event
        .target()?
        .transaction()
        .ok_or_else(|| SdkError::store("no versionchange transaction in upgradeneeded"))?;
    // Structural steps are synchronous; record rewrites await requests. Both must run
    // while the versionchange transaction is active, which it stays through the microtasks
    // that resolve its own requests, so the whole chain runs in one local task.
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = migrate(&db, &tx, from, target).await {
            *failure.borrow_mut() = Some(e);
            // Aborting makes the open request fail and leaves the old version on disk.
            let _ = tx.abort();
        }
    });
    Ok(())
}

/// Apply every step after `from` up to and including `to`.
async fn migrate(db: &Database, tx: &Transaction, from: u32, to: u32) -> Result<(), SdkError> {
    if from < 1 && to >= 1 {
        v1_initial_layout(db)?;
    }
    if from < 2 && to >= 2 {
        v2_dedup_index(tx).await?;
    }
    if from < 3 && to >= 3 {
        v3_archive_order_and_reads(db, tx).await?;
    }
    if from < 4 && to >= 4 {
        v4_chunks(db, tx).await?;
    }
    if from < 5 && to >= 5 {
        v5_device(db)?;
    }
    if from < 6 && to >= 6 {
        v6_shown_and_fold(tx).await?;
    }
    Ok(())
}

/// v1: the first layout. Events are keyed by room and archive id and ordered by time; the
/// dedup of events that have no archive id relied on the primary key alone.
fn v1_initial_layout(db: &Database) -> Result<(), SdkError> {
    let mut p = ObjectStoreParams::new();
    p.key_path(Some(KeyPath::new_single("key")));
    db.create_object_store(stores::ACCOUNT, p)?;

    let mut p = ObjectStoreParams::new();
    p.key_path(Some(KeyPath::new_single("room")));
    db.create_object_store(stores::SUBSCRIPTIONS, p)?;

    let mut p = ObjectStoreParams::new();
    p.key_path(Some(KeyPath::new_single("k")));
    let messages = db.create_object_store(stores::MESSAGES, p)?;
    messages.create_index(
        indexes::BY_TIME,
        KeyPath::new_array(["room", "ts", "seq"]),
        None,
    )?;

    let mut p = ObjectStoreParams::new();
    p.key_path(Some(KeyPath::new_single("room")));
    db.create_object_store(stores::CURSORS, p)?;

    let mut p = ObjectStoreParams::new();
    p.auto_increment(true);
    let gaps = db.create_object_store(stores::GAPS, p)?;
    gaps.create_index(indexes::BY_ROOM, KeyPath::new_single("room"), None)?;
    Ok(())
}

/// v2: a multiEntry index over every dedup key of an event (origin-id, sender + message id,
/// MucSub item id, archive id), so a live copy without an archive id and its archived copy
/// are recognised as one event. Existing records get their `dk` field computed from the
/// stored event.
async fn v2_dedup_index(tx: &Transaction) -> Result<(), SdkError> {
    let messages = tx.object_store(stores::MESSAGES)?;
    let mut params = IndexParams::new();
    params.multi_entry(true);
    messages.create_index(indexes::DEDUP, KeyPath::new_single("dk"), Some(params))?;

    each_record(&messages, |record| {
        let ev = idb_records::event_of(&record)?;
        idb_records::set_dedup_keys(&record, &ev)?;
        Ok(record)
    })
    .await
}

/// v3: events of one millisecond are ordered as the archive ordered them (`ord`, placed by
/// `crate::store::order`) instead of by insertion, and read markers get their own store.
/// Existing records keep the order they had: `ord` starts as their insertion number.
async fn v3_archive_order_and_reads(db: &Database, tx: &Transaction) -> Result<(), SdkError> {
    let messages = tx.object_store(stores::MESSAGES)?;
    messages.delete_index(indexes::BY_TIME)?;
    messages.create_index(
        indexes::BY_ORDER,
        KeyPath::new_array(["room", "ts", "ord"]),
        None,
    )?;
    let mut p = ObjectStoreParams::new();
    p.key_path(Some(KeyPath::new_single("room")));
    db.create_object_store(stores::READS, p)?;

    each_record(&messages, |record| {
        let seq = idb_records::seq_of(&record)?;
        idb_records::set_field(&record, "ord", &wasm_bindgen::JsValue::from_f64(seq))?;
        Ok(record)
    })
    .await
}

/// Events a v4 migration puts in one chunk.
const MIGRATED_CHUNK: usize = 100;

/// v4: events move from one record each to chunks of a room's events (see the layout
/// above), keeping their insertion numbers and order; `messages` is dropped.
async fn v4_chunks(db: &Database, tx: &Transaction) -> Result<(), SdkError> {
    let mut p = ObjectStoreParams::new();
    p.key_path(Some(KeyPath::new_single("id")));
    p.auto_increment(true);
    let chunks = db.create_object_store(stores::CHUNKS, p)?;
    for (name, path) in [(indexes::BY_ORDER, "pos"), (indexes::DEDUP, "dk")] {
        let mut params = IndexParams::new();
        params.multi_entry(true);
        chunks.create_index(name, KeyPath::new_single(path), Some(params))?;
    }
    // History order, so each chunk holds neighbouring events of one room.
    let records = listed(
        req(tx
            .object_store(stores::MESSAGES)?
            .index(indexes::BY_ORDER)?
            .get_all(None, None)?)
        .await?,
    );
    let mut current: Option<idb_records::Chunk> = None;
    let mut puts = Vec::new();
    for record in &records {
        let slot = idb_records::Slot {
            seq: idb_records::seq_of(record)? as u64,
            ord: idb_records::ord_of(record)?,
            ev: idb_records::event_of(record)?,
        };
        let full = current
            .as_ref()
            .is_some_and(|c| c.room != slot.ev.room || c.slots.len() == MIGRATED_CHUNK);
        if full {
            if let Some(c) = current.take() {
                puts.push(chunks.put(&idb_records::chunk_record(&c)?, None)?);
            }
        }
        current
            .get_or_insert_with(|| idb_records::Chunk {
                id: None,
                room: slot.ev.room.clone(),
                slots: Vec::new(),
            })
            .slots
            .push(slot);
    }
    if let Some(c) = current.take() {
        puts.push(chunks.put(&idb_records::chunk_record(&c)?, None)?);
    }
    for put in puts {
        req(put).await?;
    }
    db.delete_object_store(stores::MESSAGES)?;
    Ok(())
}

/// v5: a store for what the device wakes with (FAST token, device id, stream-management
/// state), so a reload or a wake signs in without the password (issue 26). Nothing to
/// rewrite: older databases had no such state.
fn v5_device(db: &Database) -> Result<(), SdkError> {
    let mut p = ObjectStoreParams::new();
    p.key_path(Some(KeyPath::new_single("key")));
    db.create_object_store(stores::DEVICE, p)?;
    Ok(())
}

/// v6: change events (issue 22) are stored beside the messages they fold into. Two new
/// multiEntry indexes on `chunks`: `by_shown` (the positions of the events an app sees,
/// which listing and unread counts walk instead of `by_order`) and `fold` (message ids and
/// change targets). Every chunk is rewritten with its `shown` and `fk` fields; its events
/// are kept as they are (an older SDK stored no change events: it showed a correction as
/// a message of its own, and what it was a correction of is not in the stored event).
async fn v6_shown_and_fold(tx: &Transaction) -> Result<(), SdkError> {
    let chunks = tx.object_store(stores::CHUNKS)?;
    for (name, path) in [(indexes::BY_SHOWN, "shown"), (indexes::FOLD, "fk")] {
        let mut params = IndexParams::new();
        params.multi_entry(true);
        chunks.create_index(name, KeyPath::new_single(path), Some(params))?;
    }
    each_record(&chunks, |record| {
        let chunk = idb_records::chunk_of(&record)?;
        idb_records::chunk_record(&chunk)
    })
    .await
}

/// Rewrite every record of `store` with what `rewrite` makes of it, one at a time through
/// a cursor (each update awaited before the cursor moves on).
async fn each_record(
    store: &ObjectStore,
    rewrite: impl Fn(JsValue) -> Result<JsValue, SdkError>,
) -> Result<(), SdkError> {
    let Some(cursor) = found(req(store.open_cursor(None, None)?).await?) else {
        return Ok(());
    };
    let cursor = Cursor::try_from(cursor)?;
    loop {
        req(cursor.update(&rewrite(cursor.value()?)?)?).await?;
        // The same cursor object moves on; `null` when it ran past the store's end.
        if found(req(cursor.next(None)?).await?).is_none() {
            return Ok(());
        }
    }
}
