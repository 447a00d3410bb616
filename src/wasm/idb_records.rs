//! How core values are laid out as IndexedDB records (see `idb_schema` for the layout).
//!
//! Subscriptions, cursors, gaps and read markers go through serde-wasm-bindgen under one
//! field (`rec`, `cursor`, `gap`, `marker`). Events are stored in chunks (schema v4): a
//! chunk's events are one JSON text (`evs`), because building every field of every event
//! as a JS object costs a call across the wasm boundary each, and nothing reads them but
//! the SDK; the fields IndexedDB indexes on (`pos`, `shown`, `dk`, `fk`) are written beside it as plain JS
//! arrays. The per-event `messages` records of schema v1-v3 are only read by migrations.

use js_sys::{Array, Object, Reflect};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::event::RoomEvent;

use super::error::SdkError;

/// Serialise a core value for storage, as [`super::js_types::to_js`] does for the app
/// (maps as objects, so records stay readable in devtools). An absent optional field
/// without `skip_serializing_if` is stored as `null` (serde-wasm-bindgen stored
/// `undefined` before issue 24's size work); [`decode`] reads both as `None`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, SdkError> {
    super::js_types::to_js(value)
}

/// Deserialise a stored core value (`js_de.rs`).
pub fn decode<T: DeserializeOwned>(value: JsValue) -> Result<T, SdkError> {
    super::js_de::from_value(value).map_err(|e| SdkError::store(format!("record encoding: {e}")))
}

/// Read field `name` of a record.
pub fn field(record: &JsValue, name: &str) -> Result<JsValue, SdkError> {
    Reflect::get(record, &JsValue::from_str(name))
        .map_err(|_| SdkError::store(format!("record has no readable '{name}'")))
}

/// Set field `name` of a record.
pub fn set_field(record: &JsValue, name: &str, value: &JsValue) -> Result<(), SdkError> {
    Reflect::set(record, &JsValue::from_str(name), value)
        .map_err(|_| SdkError::store(format!("cannot set '{name}' on a record")))?;
    Ok(())
}

/// A new empty record.
pub fn record() -> JsValue {
    Object::new().into()
}

/// The dedup index entries of an event: each of its dedup keys, scoped to its room.
pub fn dedup_entries(ev: &RoomEvent) -> Vec<String> {
    ev.dedup_keys()
        .into_iter()
        .map(|k| scoped_key(&ev.room, &k))
        .collect()
}

/// One dedup index entry.
pub fn scoped_key(room: &str, key: &str) -> String {
    // Not `format!`: a chunk of 200 events writes some 600 of these, and the formatting
    // machinery was most of their cost.
    let mut k = String::with_capacity(room.len() + 1 + key.len());
    k.push_str(room);
    k.push('\u{0}');
    k.push_str(key);
    k
}

/// Write the `dk` field (v2 dedup index) of a message record.
pub fn set_dedup_keys(record: &JsValue, ev: &RoomEvent) -> Result<(), SdkError> {
    let arr: Array = dedup_entries(ev)
        .iter()
        .map(|k| JsValue::from_str(k))
        .collect();
    set_field(record, "dk", &arr)
}

/// The event stored in a message record.
pub fn event_of(record: &JsValue) -> Result<RoomEvent, SdkError> {
    decode(field(record, "ev")?)
}

/// The insertion number of a message record.
pub fn seq_of(record: &JsValue) -> Result<f64, SdkError> {
    field(record, "seq")?
        .as_f64()
        .ok_or_else(|| SdkError::store("message record without a numeric 'seq'"))
}

/// The order-within-timestamp of a message record (v3).
pub fn ord_of(record: &JsValue) -> Result<f64, SdkError> {
    field(record, "ord")?
        .as_f64()
        .ok_or_else(|| SdkError::store("message record without a numeric 'ord'"))
}

/// `[room]` .. `[room, []]`: every `[room, …]` key of the `by_order` index (arrays sort
/// after numbers and strings, and a prefix sorts first).
pub fn room_bounds(room: &str) -> (JsValue, JsValue) {
    let lower = Array::of1(&JsValue::from_str(room));
    let upper = Array::of2(&JsValue::from_str(room), &Array::new());
    (lower.into(), upper.into())
}

/// `[room, lo]` .. `[room, hi, []]`: the `by_order` keys of `room` with `lo <= ts <= hi`.
pub fn time_bounds(room: &str, lo: f64, hi: f64) -> (JsValue, JsValue) {
    let room = JsValue::from_str(room);
    let lower = Array::of2(&room, &JsValue::from_f64(lo));
    let upper = Array::of3(&room, &JsValue::from_f64(hi), &Array::new());
    (lower.into(), upper.into())
}

/// One stored event of a chunk: its insertion number (the store's identity for it), its
/// order within its timestamp (`crate::store::order`) and the event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Slot {
    /// Insertion number, unique in the database.
    pub seq: u64,
    /// Order within the event's timestamp.
    pub ord: f64,
    /// The event.
    pub ev: RoomEvent,
}

impl Slot {
    /// Its place in the room's history order: `(timestamp, ord)`.
    pub fn position(&self) -> (f64, f64) {
        (self.ev.timestamp.millis() as f64, self.ord)
    }
}

/// A chunk of one room's events (schema v4). `id` is `None` until IndexedDB assigns one.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Primary key (auto-increment).
    pub id: Option<f64>,
    /// Room of every event.
    pub room: String,
    /// The events, in no particular order (their positions order them).
    pub slots: Vec<Slot>,
}

/// The dedup index entry a chunk gets when it holds a message or subject event without an
/// archive id: an archive copy may be the same event, found by a key other than the id.
pub fn unarchived_key(room: &str) -> String {
    scoped_key(room, "~unarchived")
}

/// Events a room archives (messages and subjects): only these can have an archive copy.
pub fn archivable(ev: &RoomEvent) -> bool {
    matches!(
        ev.kind,
        crate::event::EventKind::Message { .. } | crate::event::EventKind::Subject { .. }
    )
}

/// What IndexedDB indexes of a chunk, serialised together in one JSON text.
#[derive(Serialize)]
struct ChunkHead<'a> {
    room: &'a str,
    pos: Vec<(&'a str, i64, f64)>,
    shown: Vec<(&'a str, i64, f64)>,
    dk: Vec<String>,
    fk: Vec<String>,
}

/// Is this an event an app sees on its own (everything but a change, which is folded
/// into the message it names)?
pub fn shown(ev: &RoomEvent) -> bool {
    crate::store::fold::target_of(ev).is_none()
}

/// The ids a message answers to when a change names it (see `crate::store::answers_to`).
pub fn message_ids(ev: &RoomEvent) -> impl Iterator<Item = &str> {
    let message = matches!(ev.kind, crate::event::EventKind::Message { .. });
    crate::store::fold::own_ids(ev).filter(move |_| message)
}

/// The `fold` index entry of a message answering to `id` (schema v6).
pub fn target_key(room: &str, id: &str) -> String {
    scoped_key(room, &format!("m:{id}"))
}

/// The `fold` index entry of a change naming `id` (schema v6).
pub fn change_key(room: &str, id: &str) -> String {
    scoped_key(room, &format!("c:{id}"))
}

/// The `fold` index entry of a chunk holding at least one change (schema v6): a room
/// without one skips the lookups that fold changes into messages.
pub fn changes_key(room: &str) -> String {
    scoped_key(room, "~changes")
}

/// The ids of a message that need a `fold` index entry: its message id and origin-id (once
/// when they are the same), not its stanza-id. A change naming a stanza-id finds the
/// message through its `dedup` entry `sid:ID`, which every reader of the `fold` index asks
/// too (issue 24: each fold key costs the chunk's `put` about as much as the event's
/// other index entries together). The message and origin ids cannot be found there: their
/// dedup keys are scoped by the sender's nick, which the change naming them need not share
/// (an occupant that changed nick, a reaction of another occupant).
pub fn unindexed_ids(ev: &RoomEvent) -> impl Iterator<Item = &str> {
    let sid = ev.stanza_id.as_deref();
    let mid = ev.message_id.as_deref().filter(|m| Some(*m) != sid);
    let oid = ev
        .origin_id
        .as_deref()
        .filter(|o| Some(*o) != sid && Some(*o) != mid);
    let message = matches!(ev.kind, crate::event::EventKind::Message { .. });
    mid.into_iter().chain(oid).filter(move |_| message)
}

/// The `fold` index entries of an event: the ids it answers to as a message that the
/// `dedup` index does not find (see [`unindexed_ids`]), or the id it names as a change.
fn fold_entries(room: &str, ev: &RoomEvent, into: &mut Vec<String>) {
    match crate::store::fold::target_of(ev) {
        Some(t) => into.push(change_key(room, t)),
        None => into.extend(unindexed_ids(ev).map(|id| target_key(room, id))),
    }
}

/// The record of a chunk: `{id?, room, pos, shown, dk, fk, evs}`.
pub fn chunk_record(chunk: &Chunk) -> Result<JsValue, SdkError> {
    let room = chunk.room.as_str();
    let mut dk = Vec::with_capacity(chunk.slots.len() * 3);
    let mut fk = Vec::new();
    let mut unarchived = false;
    for s in &chunk.slots {
        dk.extend(s.ev.dedup_keys().iter().map(|k| scoped_key(room, k)));
        unarchived |= s.ev.stanza_id.is_none() && archivable(&s.ev);
        fold_entries(room, &s.ev, &mut fk);
    }
    if unarchived {
        dk.push(unarchived_key(room));
    }
    if chunk.slots.iter().any(|s| !shown(&s.ev)) {
        fk.push(changes_key(room));
    }
    let position = |s: &Slot| (room, s.ev.timestamp.millis(), s.ord);
    let head = ChunkHead {
        room,
        pos: chunk.slots.iter().map(position).collect(),
        shown: chunk
            .slots
            .iter()
            .filter(|s| shown(&s.ev))
            .map(position)
            .collect(),
        dk,
        fk,
    };
    let text = serde_json::to_string(&head)
        .map_err(|e| SdkError::store(format!("encoding a chunk: {e}")))?;
    let record = js_sys::JSON::parse(&text)
        .map_err(|_| SdkError::store("a chunk's index fields did not parse"))?;
    let evs = serde_json::to_string(&chunk.slots)
        .map_err(|e| SdkError::store(format!("encoding a chunk's events: {e}")))?;
    set_field(&record, "evs", &JsValue::from_str(&evs))?;
    if let Some(id) = chunk.id {
        set_field(&record, "id", &JsValue::from_f64(id))?;
    }
    Ok(record)
}

/// Read a chunk record back.
pub fn chunk_of(record: &JsValue) -> Result<Chunk, SdkError> {
    let id = field(record, "id")?
        .as_f64()
        .ok_or_else(|| SdkError::store("chunk record without a numeric 'id'"))?;
    let room = field(record, "room")?
        .as_string()
        .ok_or_else(|| SdkError::store("chunk record without a 'room'"))?;
    let evs = field(record, "evs")?
        .as_string()
        .ok_or_else(|| SdkError::store("chunk record without an 'evs' text"))?;
    // Parsed by the browser's JSON.parse and decoded like every other stored value: a
    // serde_json deserializer would add ~15 KB gzipped to the package for what is only
    // read back at page boundaries and for history.
    let parsed = js_sys::JSON::parse(&evs)
        .map_err(|_| SdkError::store(format!("chunk of {room}: 'evs' is not JSON")))?;
    let slots: Vec<Slot> = decode(parsed)?;
    Ok(Chunk {
        id: Some(id),
        room,
        slots,
    })
}

/// `(ts, ord)` of a `by_order` key `[room, ts, ord]`.
pub fn key_position(key: &JsValue) -> Result<(f64, f64), SdkError> {
    let arr = Array::from(key);
    match (arr.get(1).as_f64(), arr.get(2).as_f64()) {
        (Some(ts), Some(ord)) => Ok((ts, ord)),
        _ => Err(SdkError::store(
            "a history index key is not [room, ts, ord]",
        )),
    }
}

/// `[room, ts, ord]`, a `by_order` key.
pub fn position_key(room: &str, (ts, ord): (f64, f64)) -> JsValue {
    Array::of3(
        &JsValue::from_str(room),
        &JsValue::from_f64(ts),
        &JsValue::from_f64(ord),
    )
    .into()
}
