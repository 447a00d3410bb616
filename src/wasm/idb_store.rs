//! IndexedDB storage for the browser: the core's [`Store`] on the `idb` crate.
//!
//! Every trait call is one IndexedDB transaction; [`Store::apply_page`] writes the events
//! of a resync page, the room's cursor and any gap in a single readwrite transaction, so a
//! reload in the middle of a resync leaves either the whole page or none of it, and
//! [`Store::apply_pages`] writes a whole batch of pages in one.

use std::cmp::Ordering;

use idb::{CursorDirection, KeyCursor, KeyRange, ObjectStore, Query, Transaction, TransactionMode};
use wasm_bindgen::JsValue;

use crate::event::RoomEvent;
use crate::store::{
    answers_to, marker_of, Applied, Cursor, Gap, Own, Page, PageResult, ReadMarker, RoomState,
    Snapshot, Store, StoreError, SubscriptionRecord,
};

use super::error::SdkError;
use super::idb_apply::apply_pages;
use super::idb_chunks::{ChunkIds, Chunks};
use super::idb_conn::Connection;
use super::idb_lookup::{chunk_ids, fetch, receive};
use super::idb_records::{self as rec, decode, encode, field, set_field, Slot};
use super::idb_req::{ended, found, listed, req};
use super::idb_schema::{indexes, stores};

/// The IndexedDB store. One per database name; dropping it closes the connection.
#[derive(Debug)]
pub struct IdbStore {
    db: Connection,
    name: String,
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
        let db = Connection::open(name).await?;
        Ok(IdbStore {
            db,
            name: name.to_owned(),
        })
    }

    /// Delete the database `name` (every connection must be closed first).
    pub async fn delete(name: &str) -> Result<(), SdkError> {
        req(web_sys::IdbOpenDbRequest::from(
            idb::Factory::new()?.delete(name)?,
        ))
        .await?;
        Ok(())
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version of the open database.
    pub fn version(&self) -> Result<u32, SdkError> {
        self.db.version()
    }

    /// The JID whose data this database holds, if recorded.
    pub async fn account(&self) -> Result<Option<String>, SdkError> {
        let tx = self
            .tx(&[stores::ACCOUNT], TransactionMode::ReadOnly)
            .await?;
        let value = meta_get(&tx, "jid").await?;
        Ok(value.and_then(|v| v.as_string()))
    }

    /// Record the JID whose data this database holds.
    pub async fn set_account(&self, jid: &str) -> Result<(), SdkError> {
        let tx = self
            .tx(&[stores::ACCOUNT], TransactionMode::ReadWrite)
            .await?;
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
        let tx = self
            .tx(&[stores::CHUNKS], TransactionMode::ReadOnly)
            .await?;
        let chunks = tx.object_store(stores::CHUNKS)?;
        let index = chunks.index(indexes::BY_SHOWN)?;
        let (lower, room_upper) = rec::room_bounds(room);
        let anchor = match before {
            Some(id) => {
                let (at, _) = find_by_id(&chunks, room, id).await?.ok_or_else(|| {
                    SdkError::new(
                        super::error::Code::ItemNotFound,
                        format!("no stored event with id '{id}' in {room}"),
                    )
                })?;
                Some(at)
            }
            None => None,
        };
        let upper = || match anchor {
            Some(at) => rec::position_key(room, at),
            None => room_upper.clone(),
        };
        let below = |from: &JsValue| {
            KeyRange::bound(from, &upper(), Some(false), Some(anchor.is_some()))
                .map(Query::KeyRange)
        };
        // The (limit+1)-th newest position below the anchor: from there up is all this
        // page reads (one more than asked, to know whether older events remain).
        let Some(cursor) = found(
            req(index.open_key_cursor(Some(below(&lower)?), Some(CursorDirection::Prev))?).await?,
        ) else {
            return Ok((Vec::new(), false));
        };
        if limit == 0 {
            return Ok((Vec::new(), true));
        }
        let cursor = KeyCursor::try_from(cursor)?;
        // The same cursor object moves on; `null` when it ran past the range.
        let moved = req(cursor.advance(u32::try_from(limit).unwrap_or(u32::MAX))?).await?;
        let floor = match found(moved) {
            Some(_) => Some(rec::key_position(&cursor.key()?)?),
            None => None,
        };
        let from = floor.map_or(lower, |f| rec::position_key(room, f));
        let named = req(index.get_all_keys(Some(below(&from)?), None)?).await?;
        let loaded = load(&chunks, chunk_ids(named)).await?;
        let mut slots: Vec<&Slot> = loaded
            .values()
            .flat_map(|c| c.slots.iter())
            .filter(|s| {
                let p = s.position();
                s.ev.room == room
                    && rec::shown(&s.ev)
                    && floor.is_none_or(|f| !is_before(p, f))
                    && anchor.is_none_or(|a| is_before(p, a))
            })
            .collect();
        // Newest first.
        crate::sort::sort_by(&mut slots, |a, b| {
            b.position()
                .partial_cmp(&a.position())
                .unwrap_or(Ordering::Equal)
        });
        let more = slots.len() > limit;
        let mut out: Vec<RoomEvent> = slots
            .into_iter()
            .take(limit)
            .map(|s| s.ev.clone())
            .collect();
        // When older events remain, end the page on an event with an archive id: the
        // caller pages on with `before` = that id, and events without one (live presence,
        // subscriber notices) would otherwise be unreachable or repeated.
        if more {
            while out.len() > 1 && out.last().is_some_and(|e| e.stanza_id.is_none()) {
                out.pop();
            }
        }
        out.reverse();
        Ok((out, more))
    }

    /// The stored event `up_to` designates (see [`answers_to`]), or the newest one, with
    /// its position.
    async fn find_target(
        chunks: &ObjectStore,
        room: &str,
        up_to: Option<&str>,
    ) -> Result<Option<((f64, f64), RoomEvent)>, SdkError> {
        let index = chunks.index(indexes::BY_SHOWN)?;
        let (lower, upper) = rec::room_bounds(room);
        let range = || KeyRange::bound(&lower, &upper, None, None).map(Query::KeyRange);
        let named = match up_to {
            Some(id) => {
                if let Some(hit) = find_by_id(chunks, room, id).await? {
                    return Ok(Some(hit));
                }
                // A message id or origin-id: look through the room's events.
                chunk_ids(req(index.get_all_keys(Some(range()?), None)?).await?)
            }
            None => {
                let newest =
                    req(index.open_key_cursor(Some(range()?), Some(CursorDirection::Prev))?)
                        .await?;
                match found(newest) {
                    Some(c) => KeyCursor::try_from(c)?
                        .primary_key()?
                        .as_f64()
                        .map(|k| k as u64)
                        .into_iter()
                        .collect(),
                    None => return Ok(None),
                }
            }
        };
        let loaded = load(chunks, named).await?;
        Ok(newest_of(
            loaded.values().flat_map(|c| c.slots.iter()).filter(|s| {
                s.ev.room == room
                    && rec::shown(&s.ev)
                    && up_to.is_none_or(|id| answers_to(&s.ev, id))
            }),
        ))
    }

    /// The room's read marker and the position of its event (`None` when that event is not
    /// stored any more).
    async fn marker_in(
        tx: &Transaction,
        room: &str,
    ) -> Result<Option<(ReadMarker, Option<(f64, f64)>)>, SdkError> {
        let Some(r) = found(
            req(tx
                .object_store(stores::READS)?
                .get(Query::Key(JsValue::from_str(room)))?)
            .await?,
        ) else {
            return Ok(None);
        };
        let marker: ReadMarker = decode(field(&r, "marker")?)?;
        let chunks = tx.object_store(stores::CHUNKS)?;
        let scoped = rec::scoped_key(room, &marker.key);
        let named = req(chunks
            .index(indexes::DEDUP)?
            .get_all_keys(Some(Query::Key(JsValue::from_str(&scoped))), None)?)
        .await?;
        let loaded = load(&chunks, chunk_ids(named)).await?;
        let at = newest_of(loaded.values().flat_map(|c| c.slots.iter()).filter(|s| {
            s.ev.room == room && rec::shown(&s.ev) && s.ev.dedup_keys().contains(&marker.key)
        }))
        .map(|(p, _)| p);
        Ok(Some((marker, at)))
    }

    /// Apply several pages in ONE transaction, with the same result as applying them one
    /// after another: the new events of each page, in input order. All or nothing: a page
    /// of the batch that fails aborts the whole transaction.
    async fn apply_in_one_transaction(&self, pages: &[&Page]) -> Result<Vec<Applied>, StoreError> {
        for p in pages {
            p.check_room()?;
        }
        let tx = self
            .tx(
                &[
                    stores::ACCOUNT,
                    stores::CHUNKS,
                    stores::CURSORS,
                    stores::GAPS,
                ],
                TransactionMode::ReadWrite,
            )
            .await?;
        let result = apply_pages(&tx, pages).await;
        Ok(finish(tx, result).await?)
    }

    pub(super) async fn tx(
        &self,
        names: &[&str],
        mode: TransactionMode,
    ) -> Result<Transaction, SdkError> {
        self.db.transaction(names, mode).await
    }

    /// Release the database while the page sits in the back/forward cache (idb_conn.rs).
    pub fn park(&self) {
        self.db.park();
    }

    /// The page is shown again: the next use opens the database again.
    pub fn unpark(&self) {
        self.db.unpark();
    }

    async fn room_state_in(&self, tx: &Transaction, room: &str) -> Result<RoomState, SdkError> {
        let cursors = tx.object_store(stores::CURSORS)?;
        let cursor = match found(req(cursors.get(Query::Key(JsValue::from_str(room)))?).await?) {
            Some(r) => cursor_of(&r)?,
            None => None,
        };
        let gaps = listed(
            req(tx
                .object_store(stores::GAPS)?
                .index(indexes::BY_ROOM)?
                .get_all(Some(Query::Key(JsValue::from_str(room))), None)?)
            .await?,
        )
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

/// Does position `a` come before `b` in history order?
fn is_before(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// The newest of some stored events, with its position.
fn newest_of<'a>(slots: impl Iterator<Item = &'a Slot>) -> Option<((f64, f64), RoomEvent)> {
    slots
        .max_by(|a, b| {
            a.position()
                .partial_cmp(&b.position())
                .unwrap_or(Ordering::Equal)
        })
        .map(|s| (s.position(), s.ev.clone()))
}

/// Each chunk an index lookup named, fetched once.
async fn load(chunks: &ObjectStore, named: ChunkIds) -> Result<Chunks, SdkError> {
    let mut loaded = Chunks::default();
    receive(fetch(chunks, named)?, &mut loaded).await?;
    Ok(loaded)
}

/// The stored event of `room` with archive id `id`, with its position.
async fn find_by_id(
    chunks: &ObjectStore,
    room: &str,
    id: &str,
) -> Result<Option<((f64, f64), RoomEvent)>, SdkError> {
    let key = rec::scoped_key(room, &format!("sid:{id}"));
    let named = req(chunks
        .index(indexes::DEDUP)?
        .get_all_keys(Some(Query::Key(JsValue::from_str(&key))), None)?)
    .await?;
    let loaded = load(chunks, chunk_ids(named)).await?;
    Ok(newest_of(
        loaded.values().flat_map(|c| c.slots.iter()).filter(|s| {
            s.ev.room == room && rec::shown(&s.ev) && s.ev.stanza_id.as_deref() == Some(id)
        }),
    ))
}

fn cursor_of(record: &JsValue) -> Result<Option<Cursor>, SdkError> {
    let c = field(record, "cursor")?;
    if c.is_null() || c.is_undefined() {
        Ok(None)
    } else {
        Ok(Some(decode(c)?))
    }
}

async fn meta_get(tx: &Transaction, key: &str) -> Result<Option<JsValue>, SdkError> {
    let account = tx.object_store(stores::ACCOUNT)?;
    match found(req(account.get(Query::Key(JsValue::from_str(key)))?).await?) {
        Some(r) => Ok(Some(field(&r, "value")?)),
        None => Ok(None),
    }
}

async fn meta_put(tx: &Transaction, key: &str, value: &JsValue) -> Result<(), SdkError> {
    let r = rec::record();
    set_field(&r, "key", &JsValue::from_str(key))?;
    set_field(&r, "value", value)?;
    req(tx.object_store(stores::ACCOUNT)?.put(&r, None)?).await?;
    Ok(())
}

/// Commit a readwrite transaction after `result`, or abort it when `result` failed, so a
/// failed call never leaves half its writes behind.
pub(super) async fn finish<T>(tx: Transaction, result: Result<T, SdkError>) -> Result<T, SdkError> {
    match result {
        Ok(v) => {
            if ended(tx.commit()?).await? {
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
        let tx = self
            .tx(
                &[stores::SUBSCRIPTIONS, stores::CURSORS, stores::GAPS],
                TransactionMode::ReadOnly,
            )
            .await?;
        let subscriptions = listed(
            req(tx
                .object_store(stores::SUBSCRIPTIONS)?
                .get_all(None, None)?)
            .await?,
        )
        .into_iter()
        .map(|r| decode::<SubscriptionRecord>(field(&r, "rec")?))
        .collect::<Result<Vec<_>, _>>()?;
        let mut rooms: Vec<String> =
            listed(req(tx.object_store(stores::CURSORS)?.get_all_keys(None, None)?).await?)
                .into_iter()
                .filter_map(|k| k.as_string())
                .collect();
        for g in listed(req(tx.object_store(stores::GAPS)?.get_all(None, None)?).await?) {
            if let Some(room) = field(&g, "room")?.as_string() {
                if !rooms.contains(&room) {
                    rooms.push(room);
                }
            }
        }
        crate::sort::sort_by(&mut rooms, |a, b| a.cmp(b));
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
        let tx = self
            .tx(&[stores::SUBSCRIPTIONS], TransactionMode::ReadWrite)
            .await?;
        let result = async {
            let r = rec::record();
            set_field(&r, "room", &JsValue::from_str(&sub.room))?;
            set_field(&r, "rec", &encode(sub)?)?;
            req(tx.object_store(stores::SUBSCRIPTIONS)?.put(&r, None)?).await?;
            Ok(())
        }
        .await;
        Ok(finish(tx, result).await?)
    }

    async fn remove_subscription(&self, room: &str) -> Result<(), StoreError> {
        let tx = self
            .tx(&[stores::SUBSCRIPTIONS], TransactionMode::ReadWrite)
            .await?;
        let result = async {
            req(tx
                .object_store(stores::SUBSCRIPTIONS)?
                .delete(Query::Key(JsValue::from_str(room)))?)
            .await?;
            Ok(())
        }
        .await;
        Ok(finish(tx, result).await?)
    }

    async fn apply_page(&self, page: &Page) -> PageResult {
        Ok(self
            .apply_in_one_transaction(&[page])
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// One transaction for the whole batch (a batch of live events costs one commit, not
    /// one per event). When it fails, each page is tried on its own, so one bad page does
    /// not cost the others; a lone page gets that second try too (a write aborted as the
    /// page went into the back/forward cache goes through once the page is back:
    /// idb_conn.rs).
    async fn apply_pages(&self, pages: &[&Page]) -> Vec<PageResult> {
        match self.apply_in_one_transaction(pages).await {
            Ok(fresh) => fresh.into_iter().map(Ok).collect(),
            Err(_) => {
                let mut one_by_one = Vec::with_capacity(pages.len());
                for p in pages {
                    one_by_one.push(self.apply_page(p).await);
                }
                one_by_one
            }
        }
    }

    async fn events(&self, room: &str, limit: usize) -> Result<Vec<RoomEvent>, StoreError> {
        Ok(self.events_before(room, None, limit).await?.0)
    }

    async fn room_state(&self, room: &str) -> Result<RoomState, StoreError> {
        let tx = self
            .tx(&[stores::CURSORS, stores::GAPS], TransactionMode::ReadOnly)
            .await?;
        Ok(self.room_state_in(&tx, room).await?)
    }

    async fn mark_read(&self, room: &str, up_to: Option<&str>) -> Result<bool, StoreError> {
        let tx = self
            .tx(&[stores::CHUNKS, stores::READS], TransactionMode::ReadWrite)
            .await?;
        let result = async {
            let chunks = tx.object_store(stores::CHUNKS)?;
            let Some((at, target)) = Self::find_target(&chunks, room, up_to).await? else {
                return Ok(up_to.is_none());
            };
            if let Some((_, Some(current))) = Self::marker_in(&tx, room).await? {
                if !is_before(current, at) {
                    return Ok(true);
                }
            }
            let Some(marker) = marker_of(&target) else {
                return Ok(true);
            };
            let r = rec::record();
            set_field(&r, "room", &JsValue::from_str(room))?;
            set_field(&r, "marker", &encode(&marker)?)?;
            req(tx.object_store(stores::READS)?.put(&r, None)?).await?;
            Ok(true)
        }
        .await;
        Ok(finish(tx, result).await?)
    }

    async fn read_marker(&self, room: &str) -> Result<Option<ReadMarker>, StoreError> {
        let tx = self
            .tx(&[stores::CHUNKS, stores::READS], TransactionMode::ReadOnly)
            .await?;
        Ok(Self::marker_in(&tx, room).await?.map(|(m, _)| m))
    }

    async fn unread(&self, room: &str, own: Own<'_>) -> Result<usize, StoreError> {
        let tx = self
            .tx(&[stores::CHUNKS, stores::READS], TransactionMode::ReadOnly)
            .await?;
        let (lower, upper) = rec::room_bounds(room);
        let room_js = JsValue::from_str(room);
        // Events after this position count; `None`: every event.
        let (lower, after): (JsValue, Option<(f64, f64)>) = match Self::marker_in(&tx, room).await?
        {
            Some((_, Some(at))) => (rec::position_key(room, at), Some(at)),
            // The marked event is gone: what is newer than its time.
            Some((m, None)) => {
                let ts = m.stamp.0 as f64;
                let key =
                    js_sys::Array::of3(&room_js, &JsValue::from_f64(ts), &js_sys::Array::new());
                (key.into(), Some((ts, f64::INFINITY)))
            }
            None => (lower, None),
        };
        let range = KeyRange::bound(&lower, &upper, Some(true), None).map_err(SdkError::from)?;
        let chunks = tx.object_store(stores::CHUNKS)?;
        let named = req(chunks
            .index(indexes::BY_SHOWN)?
            .get_all_keys(Some(Query::KeyRange(range)), None)?)
        .await?;
        let loaded = load(&chunks, chunk_ids(named)).await?;
        Ok(loaded
            .values()
            .flat_map(|c| c.slots.iter())
            .filter(|s| {
                s.ev.room == room
                    && after.is_none_or(|a| is_before(a, s.position()))
                    && own.counts(&s.ev)
            })
            .count())
    }
}
