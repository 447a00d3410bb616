//! Folding change events (corrections, retractions, reactions) into the messages they name
//! during a batch write (see [`super::idb_apply`]), as the memory store does: every message
//! a batch touches, or that a batch change names, is recomputed with
//! [`crate::store::fold::fold`] from ALL the stored changes naming it, in stored order, so
//! the result does not depend on arrival order. A change whose target is not stored yet is
//! simply kept; the target finds it through the `fold` index when it arrives.
//!
//! The lookups cost nothing in a room that never had a change (one probe request, issued
//! with the batch's first round): only rooms with changes, or batches bringing one, look
//! up targets and changes, in two more rounds.

use std::collections::HashMap;

use crate::keyed::KeySet;

use idb::{Index, ObjectStore};

use crate::event::{EventKind, RoomEvent};
use crate::store::fold;

use super::error::SdkError;
use super::idb_chunks::{ChunkIds, Chunks};
use super::idb_lookup::{chunk_ids, exact, fetch, receive};
use super::idb_records as rec;
use super::idb_schema::indexes;

fn is_message(ev: &RoomEvent) -> bool {
    matches!(ev.kind, EventKind::Message { .. })
}

/// Load into `chunks` every stored chunk holding a message that a change of `batch` names,
/// or a change naming a message of `batch` or one of those targets (by any id it answers
/// to: a correction names the message id, a reaction the stanza-id), also through a
/// correction's stanza-id (see [`fold::aliases`]): the correction a change names (found by
/// its stanza-id in the `dedup` index), the message it corrects, and the changes naming
/// the correction. `batch` is the batch's changes and its touched messages (see
/// [`Item::touched`]). Round after round until nothing new is named: one or two rounds
/// unless corrections are involved.
pub(super) async fn load_related(
    store: &ObjectStore,
    room: &str,
    batch: &[&RoomEvent],
    chunks: &mut Chunks,
) -> Result<(), SdkError> {
    let fold_index = store.index(indexes::FOLD)?;
    let dedup_index = store.index(indexes::DEDUP)?;
    // The lookups made, each as its key after a letter for its index: a set of strings
    // like the package's other ones, not a `HashSet<(bool, String)>` of its own (issue 24,
    // package size).
    let mut asked = KeySet::new();
    let asked_key =
        |(in_fold, k): &(bool, String)| format!("{}{k}", if *in_fold { 'f' } else { 'd' });
    let mut wanted = Wanted::default();
    loop {
        wanted.grow(batch.iter().copied(), true);
        let stored: Vec<&RoomEvent> = chunks
            .values()
            .flat_map(|c| c.slots.iter())
            .map(|s| &s.ev)
            .filter(|ev| ev.room == room)
            .collect();
        wanted.grow(stored.into_iter(), false);
        let mut keys = Vec::new();
        for t in wanted.targets.iter() {
            keys.push((true, rec::target_key(room, t)));
            keys.push((false, rec::scoped_key(room, &format!("sid:{t}"))));
        }
        for id in wanted.targets.iter().chain(wanted.changes.iter()) {
            keys.push((true, rec::change_key(room, id)));
        }
        keys.retain(|k| !asked.contains(&asked_key(k)));
        if keys.is_empty() {
            return Ok(());
        }
        asked.extend(keys.iter().map(asked_key));
        lookup(store, &fold_index, &dedup_index, keys, chunks).await?;
    }
}

/// The ids whose messages and changes a batch needs (see [`load_related`]).
#[derive(Default)]
struct Wanted {
    /// Ids changes name: the messages (or corrections) answering to them, and the other
    /// changes naming them.
    targets: KeySet,
    /// Ids of messages (and stanza-ids of their corrections): the changes naming them.
    changes: KeySet,
}

impl Wanted {
    /// Add what `events` make necessary, given what is wanted so far: all of what the
    /// batch brings (`from_batch`), what stored events connect to.
    fn grow<'a>(&mut self, events: impl Iterator<Item = &'a RoomEvent>, from_batch: bool) {
        for ev in events {
            match fold::target_of(ev) {
                Some(t) => {
                    if from_batch {
                        self.targets.insert(t.to_owned());
                    }
                    let named = self.targets.contains(t) || self.changes.contains(t);
                    if let (true, Some(sid)) = (fold::is_edit(ev), ev.stanza_id.as_deref()) {
                        // A correction of a wanted message: changes may name it by its
                        // stanza-id. A correction a change names: its message is wanted.
                        if named {
                            self.changes.insert(sid.to_owned());
                        }
                        if self.targets.contains(sid) {
                            self.targets.insert(t.to_owned());
                        }
                    }
                }
                None if is_message(ev) => {
                    let wanted = |id: &str| self.targets.contains(id) || self.changes.contains(id);
                    if from_batch || rec::message_ids(ev).any(wanted) {
                        let ids: Vec<String> = rec::message_ids(ev).map(str::to_owned).collect();
                        self.changes.extend(ids);
                    }
                }
                None => {}
            }
        }
    }
}

/// The chunks the `fold` index (`true`) or the `dedup` index (`false`) names under
/// `keys`, fetched into `chunks` unless already there.
async fn lookup(
    store: &ObjectStore,
    fold_index: &Index,
    dedup_index: &Index,
    keys: Vec<(bool, String)>,
    chunks: &mut Chunks,
) -> Result<(), SdkError> {
    let mut pending = Vec::new();
    for (in_fold, k) in keys {
        pending.push(exact(if in_fold { fold_index } else { dedup_index }, &k)?);
    }
    let mut named = ChunkIds::default();
    for f in pending {
        named.extend(chunk_ids(f.await?));
    }
    named.retain(|id| !chunks.contains_key(id));
    receive(fetch(store, named)?, chunks).await
}

/// An event of the room as the fold sees it: stored before the batch, or a batch event.
pub(super) struct Item<'a> {
    /// Insertion number: the store's identity of the event.
    pub seq: u64,
    /// Its place in the stored order after the batch: `(timestamp, ord)`.
    pub at: (i64, f64),
    /// The first page of the batch that brought it; `None` when stored before.
    pub page: Option<usize>,
    /// A batch event new to the store or changed by this batch: a message to fold again.
    pub touched: bool,
    /// The event (a batch event as merged with its stored copy).
    pub ev: &'a RoomEvent,
}

/// The changes to fold into one message, in stored order, each with the page it came in.
pub(super) type Changes = Vec<(Option<usize>, RoomEvent)>;

/// What [`plan`] found: the changes per message `seq`, in a list found through a map of
/// the type the write path already has (not a `HashMap<u64, Changes>` of its own: one hash
/// map instance less; issue 24, package size).
#[derive(Default)]
pub(super) struct Plans {
    at: HashMap<u64, usize>,
    list: Vec<(u64, Changes)>,
}

impl Plans {
    fn insert(&mut self, seq: u64, changes: Changes) {
        match self.at.get(&seq) {
            Some(&i) => self.list[i].1 = changes,
            None => {
                self.at.insert(seq, self.list.len());
                self.list.push((seq, changes));
            }
        }
    }

    /// The changes naming the message `seq`, if it is concerned.
    pub(super) fn get(&self, seq: u64) -> Option<&Changes> {
        self.at.get(&seq).map(|&i| &self.list[i].1)
    }

    /// Every concerned message's `seq` and changes.
    pub(super) fn iter(&self) -> impl Iterator<Item = &(u64, Changes)> {
        self.list.iter()
    }
}

/// For every message concerned by the batch (a touched batch message, or a message a batch
/// change names), keyed by its `seq`: all the changes naming it, in stored order.
pub(super) fn plan(items: &[Item]) -> Plans {
    let mut changes_by_target: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut messages_by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    // Corrections by stanza-id (see `fold::aliases`), as items: a map of the two maps'
    // type above, not one of its own (issue 24, package size).
    let mut corrections: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        match fold::target_of(it.ev) {
            Some(t) => {
                changes_by_target.entry(t).or_default().push(i);
                if let (true, Some(sid)) = (fold::is_edit(it.ev), it.ev.stanza_id.as_deref()) {
                    corrections.entry(sid).or_default().push(i);
                }
            }
            None => {
                for id in rec::message_ids(it.ev) {
                    messages_by_id.entry(id).or_default().push(i);
                }
            }
        }
    }
    let mut concerned: Vec<usize> = Vec::new();
    for (i, it) in items.iter().enumerate().filter(|(_, it)| it.page.is_some()) {
        match fold::target_of(it.ev) {
            Some(t) => {
                let corrected = corrections.get(t).into_iter().flatten();
                let corrected = corrected.filter_map(|&c| fold::target_of(items[c].ev));
                for t in std::iter::once(t).chain(corrected) {
                    concerned.extend(messages_by_id.get(t).into_iter().flatten());
                }
            }
            None if it.touched && is_message(it.ev) => concerned.push(i),
            None => {}
        }
    }
    concerned.sort_unstable();
    concerned.dedup();
    let mut out = Plans::default();
    for m in concerned {
        let msg = items[m].ev;
        let naming = |id: &str| changes_by_target.get(id).into_iter().flatten().copied();
        let mut found: Vec<usize> = rec::message_ids(msg)
            .flat_map(naming)
            .filter(|&c| fold::names(items[c].ev, msg))
            .collect();
        let direct: Vec<&RoomEvent> = found.iter().map(|&c| items[c].ev).collect();
        let aliases = fold::aliases(msg, &direct);
        found.extend(
            aliases
                .iter()
                .flat_map(|id| naming(id))
                .filter(|&c| fold::names_through(items[c].ev, msg, &aliases)),
        );
        found.sort_unstable();
        found.dedup();
        crate::sort::sort_by(&mut found, |&a, &b| {
            let (a, b) = (&items[a], &items[b]);
            a.at.0
                .cmp(&b.at.0)
                .then(a.at.1.total_cmp(&b.at.1))
                .then(a.seq.cmp(&b.seq))
        });
        let changes = found
            .into_iter()
            .map(|c| (items[c].page, items[c].ev.clone()))
            .collect();
        out.insert(items[m].seq, changes);
    }
    out
}

/// Fold `changes` into `msg`, only those that had arrived by page `upto` when given (a
/// new event is reported as applying the pages one by one would have reported it).
pub(super) fn apply(msg: &mut RoomEvent, changes: &Changes, upto: Option<usize>) -> bool {
    let refs: Vec<&RoomEvent> = changes
        .iter()
        .filter(|(page, _)| match (upto, page) {
            (Some(upto), Some(p)) => *p <= upto,
            _ => true,
        })
        .map(|(_, ev)| ev)
        .collect();
    fold::fold(msg, &refs)
}

impl super::IdbStore {
    /// The stored message of `room` that answers to `id` (its stanza-id, message id or
    /// origin-id; the newest when several do), found through the `fold` index, or the
    /// `dedup` index for a stanza-id (see [`rec::unindexed_ids`]): what the JS calls that
    /// change a message resolve the app's id with.
    pub async fn message_by_id(&self, room: &str, id: &str) -> Result<Option<RoomEvent>, SdkError> {
        let tx = self
            .tx(
                &[super::idb_schema::stores::CHUNKS],
                idb::TransactionMode::ReadOnly,
            )
            .await?;
        let store = tx.object_store(super::idb_schema::stores::CHUNKS)?;
        let by_fold = exact(&store.index(indexes::FOLD)?, &rec::target_key(room, id))?;
        let by_sid = exact(
            &store.index(indexes::DEDUP)?,
            &rec::scoped_key(room, &format!("sid:{id}")),
        )?;
        let mut named = chunk_ids(by_fold.await?);
        named.extend(chunk_ids(by_sid.await?));
        let mut chunks = Chunks::default();
        receive(fetch(&store, named)?, &mut chunks).await?;
        let newest = chunks
            .values()
            .flat_map(|c| c.slots.iter())
            .filter(|s| {
                s.ev.room == room && is_message(&s.ev) && rec::message_ids(&s.ev).any(|m| m == id)
            })
            .max_by(|a, b| {
                a.position()
                    .partial_cmp(&b.position())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        Ok(newest.map(|s| s.ev.clone()))
    }
}
