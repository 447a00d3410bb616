//! The store lane: the core's store writes, and what the app may observe only after them,
//! in the core's order. One batch is written at a time — the lane's first store op with
//! every page queued behind it (of any room, up to [`BATCH_PAGES`] pages and
//! [`BATCH_EVENTS`] events), which the [`Store`]
//! writes in as few transactions as it can ([`Store::apply_pages`]) — while the driver goes
//! on reading frames and asking for the next archive pages. Events and reconnects queued
//! among the pages come back in their place once the batch is committed.
//!
//! Generic over [`Store`]: the lane knows nothing of IndexedDB.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::client::{read_up_to, AppEvent, StoreOp};
use crate::store::{Own, Page, PageResult, Store, StoreError};

/// Socket frames the driver feeds the core in one run at most (driver.rs).
pub const MAX_BATCH: usize = 256;

/// Events stored in one batch at most: 256 resync pages of 100.
pub const BATCH_EVENTS: usize = 25_600;

/// Pages stored in one batch at most. A burst of live events is a page per event: counting
/// them like archive pages (256 a batch, as before issue 24) cut 2,000 events into eight
/// transactions, each a round of lookups, chunk reads and a commit the page sat idle for
/// (a fifth of the live benchmark's profile).
pub const BATCH_PAGES: usize = 4_096;

/// Work in the lane: store ops, and what must happen only after the ops before it are
/// committed.
pub enum Laned {
    /// A page to store.
    Apply(Page),
    /// Another store op (subscriptions; [`Lane::store`] puts pages in `Apply`).
    Op(StoreOp),
    /// An app event that waits for the writes before it.
    Event(AppEvent),
    /// A reconnect schedule that waits for the writes before it.
    Reconnect(u64),
}

/// What comes out of the lane, in lane order.
pub enum Done {
    /// A page was stored (the new events) or refused.
    Page(Page, PageResult),
    /// A store op failed.
    Failed(StoreError),
    /// An app event whose writes are committed.
    Event(AppEvent),
    /// A reconnect schedule whose writes are committed.
    Reconnect(u64),
}

/// A store batch in flight.
type InFlight = Pin<Box<dyn Future<Output = Vec<Done>>>>;

/// The lane of one driver.
pub struct Lane<S> {
    store: Rc<S>,
    queued: VecDeque<Laned>,
    in_flight: Option<InFlight>,
}

impl<S: Store + 'static> Lane<S> {
    /// An empty lane writing to `store`.
    pub fn new(store: Rc<S>) -> Self {
        Lane {
            store,
            queued: VecDeque::new(),
            in_flight: None,
        }
    }

    /// Nothing is being stored nor waits to be: what comes next can be done at once.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.queued.is_empty()
    }

    /// Whether nothing waits to be started (a batch may still be in flight).
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Queue work behind everything queued.
    pub fn push(&mut self, l: Laned) {
        self.queued.push_back(l);
    }

    /// Queue a store op: a page joins the next batch, another op is a batch of its own.
    pub fn store(&mut self, op: StoreOp) {
        self.push(match op {
            StoreOp::Apply(page) => Laned::Apply(page),
            op => Laned::Op(op),
        });
    }

    /// When no batch is in flight: take what waits for nothing (the events and reconnects
    /// at the head of the lane), then start the next batch, if any. Returns what was taken,
    /// in order, for the driver to run now.
    pub fn start(&mut self) -> Vec<Done> {
        let mut ready = Vec::new();
        while self.in_flight.is_none() {
            match self.queued.pop_front() {
                None => break,
                Some(Laned::Event(e)) => ready.push(Done::Event(e)),
                Some(Laned::Reconnect(ms)) => ready.push(Done::Reconnect(ms)),
                Some(Laned::Op(op)) => {
                    let store = self.store.clone();
                    self.in_flight = Some(Box::pin(async move {
                        let result = match &op {
                            StoreOp::PutSubscription(rec) => {
                                store.put_subscription(rec).await.map(|()| None)
                            }
                            StoreOp::RemoveSubscription(room) => {
                                store.remove_subscription(room).await.map(|()| None)
                            }
                            StoreOp::Apply(page) => store.apply_page(page).await.map(|_| None),
                            StoreOp::ReadUpTo {
                                room,
                                stanza_id,
                                own_nick,
                                own_jid,
                            } => {
                                let own = Own {
                                    nick: own_nick.as_deref(),
                                    jid: Some(own_jid),
                                };
                                read_up_to(&*store, room, stanza_id, own)
                                    .await
                                    .map(|moved| {
                                        moved.map(|unread| AppEvent::Read {
                                            room: room.clone(),
                                            unread,
                                        })
                                    })
                            }
                        };
                        match result {
                            Ok(event) => event.map(Done::Event).into_iter().collect(),
                            Err(e) => vec![Done::Failed(e)],
                        }
                    }));
                }
                Some(Laned::Apply(first)) => {
                    let (mut pages, mut events) = (1, first.events.len());
                    let mut batch = vec![Laned::Apply(first)];
                    while pages < BATCH_PAGES && events < BATCH_EVENTS {
                        match self.queued.front() {
                            Some(Laned::Apply(p)) => {
                                pages += 1;
                                events += p.events.len();
                            }
                            Some(Laned::Event(_) | Laned::Reconnect(_)) => {}
                            Some(Laned::Op(_)) | None => break,
                        }
                        batch.extend(self.queued.pop_front());
                    }
                    self.in_flight = Some(Box::pin(store_batch(self.store.clone(), batch)));
                }
            }
        }
        ready
    }

    /// The batch in flight finished: what it did, in lane order.
    pub fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<Vec<Done>> {
        let Some(f) = self.in_flight.as_mut() else {
            return Poll::Pending;
        };
        let done = std::task::ready!(f.as_mut().poll(cx));
        self.in_flight = None;
        Poll::Ready(done)
    }

    /// Wait for the batch in flight, if any.
    pub async fn finish(&mut self) -> Option<Vec<Done>> {
        let f = self.in_flight.take()?;
        Some(f.await)
    }
}

/// Store `batch`'s pages (the store batches them as it can) and put each page's result and
/// the events that waited among them back in lane order.
async fn store_batch<S: Store>(store: Rc<S>, batch: Vec<Laned>) -> Vec<Done> {
    let results = {
        let pages: Vec<&Page> = batch
            .iter()
            .filter_map(|l| match l {
                Laned::Apply(p) => Some(p),
                _ => None,
            })
            .collect();
        store.apply_pages(&pages).await
    };
    let mut results = results.into_iter();
    batch
        .into_iter()
        .filter_map(|l| match l {
            Laned::Apply(page) => {
                let r = results
                    .next()
                    .unwrap_or_else(|| Err(StoreError("page result missing".into())));
                Some(Done::Page(page, r))
            }
            Laned::Op(_) => None,
            Laned::Event(e) => Some(Done::Event(e)),
            Laned::Reconnect(ms) => Some(Done::Reconnect(ms)),
        })
        .collect()
}
