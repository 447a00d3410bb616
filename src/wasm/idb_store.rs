//! IndexedDB storage for the browser: the core's [`Store`] on the `idb` crate.
//!
//! Every trait call is one IndexedDB transaction; [`Store::apply_page`] writes the events
//! of a resync page, the room's cursor and any gap in a single readwrite transaction, so a
//! reload in the middle of a resync leaves either the whole page or none of it.

use idb::{CursorDirection, Database, KeyRange, Query, Transaction, TransactionMode};
use wasm_bindgen::JsValue;

use crate::event::RoomEvent;
use crate::store::{Cursor, Gap, RoomState, Snapshot, Store, StoreError, SubscriptionRecord};

use super::error::SdkError;
use super::idb_records::{self as rec, decode, encode, field, set_field};
use super::idb_schema::{self, indexes, stores, CURRENT_VERSION};

/// The IndexedDB store. One per database name; dropping it closes the connection.
#[derive(Debug)]
pub struct IdbStore {
    db: Database,
    name: String,
}

impl Drop for IdbStore {
    fn drop(&mut self) {
        self.db.close();
    }
}

impl From<SdkError> for StoreError {
    fn from(e: SdkError) -> Self {
        StoreError(e.message)
    }
}

impl From<idb::Error> for StoreError {
    fn from(e: idb::Error) -> Self {
        StoreError(format!("IndexedDB: {e}"))
    }
}

impl IdbStore {
    /// Open (create or migrate) the database `name`.
    pub async fn open(name: &str) -> Result<Self, SdkError> {
        if name.is_empty() {
            return Err(SdkError::bad_request("the store name must not be empty"));
        }
        let db = idb_schema::open_at(name, CURRENT_VERSION).await?;
        Ok(IdbStore {
            db,
            name: name.to_owned(),
        })
    }

    /// Delete the database `name` (every connection must be closed first).
    pub async fn delete(name: &str) -> Result<(), SdkError> {
        idb::Factory::new()?.delete(name)?.await?;
        Ok(())
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version of the open database.
    pub fn version(&self) -> Result<u32, SdkError> {
        Ok(self.db.version()?)
    }

    /// The JID whose data this database holds, if recorded.
    pub async fn account(&self) -> Result<Option<String>, SdkError> {
        let tx = self.tx(&[stores::ACCOUNT], TransactionMode::ReadOnly)?;
        let value = meta_get(&tx, "jid").await?;
        Ok(value.and_then(|v| v.as_string()))
    }

    /// Record the JID whose data this database holds.
    pub async fn set_account(&self, jid: &str) -> Result<(), SdkError> {
        let tx = self.tx(&[stores::ACCOUNT], TransactionMode::ReadWrite)?;
        let r = meta_put(&tx, "jid", &JsValue::from_str(jid)).await;
        finish(tx, r).await
    }

    /// Up to `limit` events of `room` older than the event with archive id `before` (the
    /// newest when `None`), oldest first, and whether older stored events remain; when they
    /// do, the oldest returned event has an archive id to page on with. An unknown `before`
    /// is `item-not-found`.
    pub async fn events_before(
        &self,
        room: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<RoomEvent>, bool), SdkError> {
        let tx = self.tx(&[stores::MESSAGES], TransactionMode::ReadOnly)?;
        let messages = tx.object_store(stores::MESSAGES)?;
        let (lower, mut upper) = rec::room_bounds(room);
        let mut upper_open = false;
        if let Some(id) = before {
            let key = js_sys::Array::of2(&JsValue::from_str(room), &JsValue::from_str(id));
            let anchor = messages
                .get(Query::Key(key.into()))?
                .await?
                .ok_or_else(|| {
                    SdkError::new(
                        super::error::Code::ItemNotFound,
                        format!("no stored event with id '{id}' in {room}"),
                    )
                })?;
            upper = rec::time_key(&anchor)?;
            upper_open = true;
        }
        let range = KeyRange::bound(&lower, &upper, Some(false), Some(upper_open))?;
        let index = messages.index(indexes::BY_TIME)?;
        let mut out = Vec::new();
        let mut more = false;
        if let Some(cursor) = index
            .open_cursor(Some(Query::KeyRange(range)), Some(CursorDirection::Prev))?
            .await?
        {
            let mut cursor = cursor.into_managed();
            while let Some(value) = cursor.value()? {
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(rec::event_of(&value)?);
                cursor.next(None).await?;
            }
        }
        // `out` is newest first. When older events remain, end the page on an event with
        // an archive id: the caller pages on with `before` = that id, and events without
        // one (live presence, subscriber notices) would otherwise be unreachable or repeated.
        if more {
            while out.len() > 1 && out.last().is_some_and(|e| e.stanza_id.is_none()) {
                out.pop();
            }
        }
        out.reverse();
        Ok((out, more))
    }

    fn tx(&self, names: &[&str], mode: TransactionMode) -> Result<Transaction, SdkError> {
        Ok(self.db.transaction(names, mode)?)
    }

    async fn apply_page_inner(
        &self,
        tx: &Transaction,
        room: &str,
        events: &[RoomEvent],
        cursor: Option<&Cursor>,
        gap: Option<&Gap>,
    ) -> Result<Vec<RoomEvent>, SdkError> {
        let messages = tx.object_store(stores::MESSAGES)?;
        let dedup = messages.index(indexes::DEDUP)?;
        let mut seq = meta_get(tx, "seq")
            .await?
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let mut fresh = Vec::new();
        for ev in events {
            match find_same(&dedup, ev).await? {
                Some((record, mut stored)) => {
                    let had_archive_id = stored.stanza_id.is_some();
                    if stored.absorb(ev) {
                        let updated = rec::message_record(&stored, rec::seq_of(&record)?)?;
                        if !had_archive_id && stored.stanza_id.is_some() {
                            // The primary key holds the archive id: re-key the record.
                            messages.delete(Query::Key(field(&record, "k")?))?.await?;
                        }
                        messages.put(&updated, None)?.await?;
                    }
                }
                None => {
                    seq += 1.0;
                    messages.put(&rec::message_record(ev, seq)?, None)?.await?;
                    fresh.push(ev.clone());
                }
            }
        }
        meta_put(tx, "seq", &JsValue::from_f64(seq)).await?;

        let cursors = tx.object_store(stores::CURSORS)?;
        let existing = cursors.get(Query::Key(JsValue::from_str(room)))?.await?;
        if cursor.is_some() || existing.is_none() {
            let r = rec::record();
            set_field(&r, "room", &JsValue::from_str(room))?;
            let c = match cursor {
                Some(c) => encode(c)?,
                None => JsValue::NULL,
            };
            set_field(&r, "cursor", &c)?;
            cursors.put(&r, None)?.await?;
        }
        if let Some(g) = gap {
            let r = rec::record();
            set_field(&r, "room", &JsValue::from_str(room))?;
            set_field(&r, "gap", &encode(g)?)?;
            tx.object_store(stores::GAPS)?.put(&r, None)?.await?;
        }
        Ok(fresh)
    }

    async fn room_state_in(&self, tx: &Transaction, room: &str) -> Result<RoomState, SdkError> {
        let cursors = tx.object_store(stores::CURSORS)?;
        let cursor = match cursors.get(Query::Key(JsValue::from_str(room)))?.await? {
            Some(r) => cursor_of(&r)?,
            None => None,
        };
        let gaps = tx
            .object_store(stores::GAPS)?
            .index(indexes::BY_ROOM)?
            .get_all(Some(Query::Key(JsValue::from_str(room))), None)?
            .await?
            .into_iter()
            .map(|r| decode::<Gap>(field(&r, "gap")?))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RoomState {
            room: room.to_owned(),
            cursor,
            gaps,
        })
    }
}

fn cursor_of(record: &JsValue) -> Result<Option<Cursor>, SdkError> {
    let c = field(record, "cursor")?;
    if c.is_null() || c.is_undefined() {
        Ok(None)
    } else {
        Ok(Some(decode(c)?))
    }
}

/// The stored event that is the same as `ev` (by the core's dedup rule), with its record.
/// Keys are tried strongest first, as the memory store does, so an archive id match wins.
async fn find_same(
    dedup: &idb::Index,
    ev: &RoomEvent,
) -> Result<Option<(JsValue, RoomEvent)>, SdkError> {
    for key in rec::dedup_entries(ev) {
        let candidates = dedup
            .get_all(Some(Query::Key(JsValue::from_str(&key))), None)?
            .await?;
        for record in candidates {
            let stored = rec::event_of(&record)?;
            if stored.same_as(ev) {
                return Ok(Some((record, stored)));
            }
        }
    }
    Ok(None)
}

async fn meta_get(tx: &Transaction, key: &str) -> Result<Option<JsValue>, SdkError> {
    let account = tx.object_store(stores::ACCOUNT)?;
    match account.get(Query::Key(JsValue::from_str(key)))?.await? {
        Some(r) => Ok(Some(field(&r, "value")?)),
        None => Ok(None),
    }
}

async fn meta_put(tx: &Transaction, key: &str, value: &JsValue) -> Result<(), SdkError> {
    let r = rec::record();
    set_field(&r, "key", &JsValue::from_str(key))?;
    set_field(&r, "value", value)?;
    tx.object_store(stores::ACCOUNT)?.put(&r, None)?.await?;
    Ok(())
}

/// Commit a readwrite transaction after `result`, or abort it when `result` failed, so a
/// failed call never leaves half its writes behind.
async fn finish<T>(tx: Transaction, result: Result<T, SdkError>) -> Result<T, SdkError> {
    match result {
        Ok(v) => {
            let outcome = tx.commit()?.await?;
            if outcome.is_committed() {
                Ok(v)
            } else {
                Err(SdkError::store("transaction aborted"))
            }
        }
        Err(e) => {
            // The transaction may already be aborted by the failed request; either way
            // nothing of it is kept.
            let _ = tx.abort();
            Err(e)
        }
    }
}

impl Store for IdbStore {
    async fn load(&self) -> Result<Snapshot, StoreError> {
        let tx = self.tx(
            &[stores::SUBSCRIPTIONS, stores::CURSORS, stores::GAPS],
            TransactionMode::ReadOnly,
        )?;
        let subscriptions = tx
            .object_store(stores::SUBSCRIPTIONS)?
            .get_all(None, None)?
            .await?
            .into_iter()
            .map(|r| decode::<SubscriptionRecord>(field(&r, "rec")?))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rooms: Vec<String> = tx
            .object_store(stores::CURSORS)?
            .get_all_keys(None, None)?
            .await?
            .into_iter()
            .filter_map(|k| k.as_string())
            .collect();
        for g in tx.object_store(stores::GAPS)?.get_all(None, None)?.await? {
            if let Some(room) = field(&g, "room")?.as_string() {
                if !rooms.contains(&room) {
                    rooms.push(room);
                }
            }
        }
        rooms.sort();
        let mut states = Vec::with_capacity(rooms.len());
        for room in rooms {
            states.push(self.room_state_in(&tx, &room).await?);
        }
        Ok(Snapshot {
            subscriptions,
            rooms: states,
        })
    }

    async fn put_subscription(&self, sub: &SubscriptionRecord) -> Result<(), StoreError> {
        let tx = self.tx(&[stores::SUBSCRIPTIONS], TransactionMode::ReadWrite)?;
        let result = async {
            let r = rec::record();
            set_field(&r, "room", &JsValue::from_str(&sub.room))?;
            set_field(&r, "rec", &encode(sub)?)?;
            tx.object_store(stores::SUBSCRIPTIONS)?
                .put(&r, None)?
                .await?;
            Ok(())
        }
        .await;
        Ok(finish(tx, result).await?)
    }

    async fn remove_subscription(&self, room: &str) -> Result<(), StoreError> {
        let tx = self.tx(&[stores::SUBSCRIPTIONS], TransactionMode::ReadWrite)?;
        let result = async {
            tx.object_store(stores::SUBSCRIPTIONS)?
                .delete(Query::Key(JsValue::from_str(room)))?
                .await?;
            Ok(())
        }
        .await;
        Ok(finish(tx, result).await?)
    }

    async fn apply_page(
        &self,
        room: &str,
        events: &[RoomEvent],
        cursor: Option<&Cursor>,
        gap: Option<&Gap>,
    ) -> Result<Vec<RoomEvent>, StoreError> {
        if let Some(bad) = events.iter().find(|e| e.room != room) {
            return Err(StoreError(format!(
                "event of {} in a page of {room}",
                bad.room
            )));
        }
        let tx = self.tx(
            &[
                stores::ACCOUNT,
                stores::MESSAGES,
                stores::CURSORS,
                stores::GAPS,
            ],
            TransactionMode::ReadWrite,
        )?;
        let result = self.apply_page_inner(&tx, room, events, cursor, gap).await;
        Ok(finish(tx, result).await?)
    }

    async fn events(&self, room: &str, limit: usize) -> Result<Vec<RoomEvent>, StoreError> {
        Ok(self.events_before(room, None, limit).await?.0)
    }

    async fn room_state(&self, room: &str) -> Result<RoomState, StoreError> {
        let tx = self.tx(&[stores::CURSORS, stores::GAPS], TransactionMode::ReadOnly)?;
        Ok(self.room_state_in(&tx, room).await?)
    }
}
