//! How core values are laid out as IndexedDB records (see `idb_schema` for the layout).
//!
//! Core types go through serde-wasm-bindgen under one field (`ev`, `rec`, `cursor`, `gap`);
//! the fields IndexedDB indexes on (`room`, `ts`, `seq`, `dk`, `k`) are written beside them
//! as plain JS values, because key paths cannot reach into serde's output reliably.

use js_sys::{Array, Object, Reflect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::event::RoomEvent;

use super::error::SdkError;

/// Serialise a core value for storage (maps as objects, so records stay readable in
/// devtools and stable across serde-wasm-bindgen defaults).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, SdkError> {
    let ser = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    Ok(value.serialize(&ser)?)
}

/// Deserialise a stored core value.
pub fn decode<T: DeserializeOwned>(value: JsValue) -> Result<T, SdkError> {
    Ok(serde_wasm_bindgen::from_value(value)?)
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

/// The primary key of a stored event: `[room, stanzaId]`, or `[room, seq]` (a number) when
/// the event has no archive id yet.
pub fn message_key(ev: &RoomEvent, seq: f64) -> JsValue {
    let key = Array::new();
    key.push(&JsValue::from_str(&ev.room));
    match &ev.stanza_id {
        Some(id) => key.push(&JsValue::from_str(id)),
        None => key.push(&JsValue::from_f64(seq)),
    };
    key.into()
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
    format!("{room}\u{0}{key}")
}

/// Write the `dk` field (v2 dedup index) of a message record.
pub fn set_dedup_keys(record: &JsValue, ev: &RoomEvent) -> Result<(), SdkError> {
    let arr: Array = dedup_entries(ev)
        .iter()
        .map(|k| JsValue::from_str(k))
        .collect();
    set_field(record, "dk", &arr)
}

/// A full message record for `ev`, inserted as number `seq`, at `ord` within its timestamp.
pub fn message_record(ev: &RoomEvent, seq: f64, ord: f64) -> Result<JsValue, SdkError> {
    let rec = record();
    set_field(&rec, "k", &message_key(ev, seq))?;
    set_field(&rec, "room", &JsValue::from_str(&ev.room))?;
    set_field(&rec, "ts", &JsValue::from_f64(ev.timestamp.millis() as f64))?;
    set_field(&rec, "seq", &JsValue::from_f64(seq))?;
    set_field(&rec, "ord", &JsValue::from_f64(ord))?;
    set_field(&rec, "ev", &encode(ev)?)?;
    set_dedup_keys(&rec, ev)?;
    Ok(rec)
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

/// The timestamp of a message record.
pub fn ts_of(record: &JsValue) -> Result<f64, SdkError> {
    field(record, "ts")?
        .as_f64()
        .ok_or_else(|| SdkError::store("message record without a numeric 'ts'"))
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

/// The `by_order` index key of a message record.
pub fn order_key(record: &JsValue) -> Result<JsValue, SdkError> {
    Ok(Array::of3(
        &field(record, "room")?,
        &field(record, "ts")?,
        &field(record, "ord")?,
    )
    .into())
}
