//! The store's connection to its IndexedDB database, which the page can *park*.
//!
//! A page that goes into the back/forward cache (`pagehide` with `persisted`) is frozen with
//! whatever it had in flight. In WebKit a transaction of a frozen page is neither committed
//! nor aborted, and every transaction of another page on the same database (the app opened
//! again in a new tab) waits behind it until the cached page is evicted: the new tab never
//! gets past opening its store. Closing the connection when the page is hidden that way
//! releases the database (what WebKit and other web apps hit by this recommend), so
//! [`Connection::park`] aborts the transactions that may still be running (an aborted
//! store write leaves nothing behind, and the driver tries it again, which waits for the
//! page to come back) and closes the connection; new transactions wait until
//! [`Connection::unpark`] (`pageshow`) and open it again.

use std::cell::{Cell, RefCell};

use idb::{Database, Transaction, TransactionMode};
use web_sys::IdbTransaction;

use super::error::SdkError;
use super::idb_schema::{self, CURRENT_VERSION};
use super::socket::sleep;

/// An open connection, or none while parked.
#[derive(Debug)]
pub struct Connection {
    name: String,
    db: RefCell<Option<Database>>,
    parked: Cell<bool>,
    /// Every transaction that may not have finished yet, with a store in its scope, to
    /// abort on park. Not only the driver's (one batch at a time): the app's calls run
    /// their own at once — a burst of messages shown in an open room is one `markRead`
    /// per message, a few transactions each, all queued behind the writes — and one of
    /// them left out (when only the last 16 were kept) stayed open in the frozen page and
    /// blocked every other tab of the app for good (back-forward-cache.test.mjs in WebKit).
    live: RefCell<Vec<(IdbTransaction, String)>>,
}

impl Connection {
    /// Open (create or migrate) the database `name`.
    pub async fn open(name: &str) -> Result<Connection, SdkError> {
        let db = idb_schema::open_at(name, CURRENT_VERSION).await?;
        Ok(Connection {
            name: name.to_owned(),
            db: RefCell::new(Some(db)),
            parked: Cell::new(false),
            live: RefCell::default(),
        })
    }

    /// A transaction over `names`; while parked it waits for the page to come back, then
    /// opens the database again. A connection the browser closed (the database deleted by
    /// another page of the site, which the `versionchange` handler lets happen) is opened
    /// again once, which makes the database afresh: the client goes on storing, the resync
    /// and `history()` fetch what the store no longer has, as after an eviction between two
    /// page loads.
    pub async fn transaction(
        &self,
        names: &[&str],
        mode: TransactionMode,
    ) -> Result<Transaction, SdkError> {
        // A frozen page runs no timers: this only turns while the page is shown.
        while self.parked.get() {
            sleep(50.0).await;
        }
        let raw = match self.try_transaction(names, mode).await {
            Ok(raw) => raw,
            Err(_) => {
                self.close();
                self.try_transaction(names, mode).await?
            }
        };
        let mut live = self.live.borrow_mut();
        // Forget the finished ones: `objectStore()` refuses only on a transaction that
        // finished (or is committing, which an abort could not stop either).
        live.retain(|(tx, store)| tx.object_store(store).is_ok());
        if let Some(store) = names.first() {
            live.push((raw.clone(), (*store).to_owned()));
        }
        Ok(raw.into())
    }

    async fn try_transaction(
        &self,
        names: &[&str],
        mode: TransactionMode,
    ) -> Result<IdbTransaction, SdkError> {
        if self.db.borrow().is_none() {
            let db = idb_schema::open_at(&self.name, CURRENT_VERSION).await?;
            let mut slot = self.db.borrow_mut();
            match slot.as_ref() {
                // Two transactions asked at once: the first reopened connection is kept.
                Some(_) => db.close(),
                None => *slot = Some(db),
            }
        }
        let slot = self.db.borrow();
        let db = slot
            .as_ref()
            .ok_or_else(|| SdkError::store("the database connection is closed"))?;
        Ok(db.transaction(names, mode)?.into())
    }

    /// The schema version of the open database (`CURRENT_VERSION` while parked: that is
    /// what it is opened with again).
    pub fn version(&self) -> Result<u32, SdkError> {
        match self.db.borrow().as_ref() {
            Some(db) => Ok(db.version()?),
            None => Ok(CURRENT_VERSION),
        }
    }

    /// Abort what may still run and close the connection; transactions wait for
    /// [`Connection::unpark`].
    pub fn park(&self) {
        self.parked.set(true);
        for (tx, _) in self.live.borrow_mut().drain(..) {
            // A finished transaction refuses (InvalidStateError): nothing to undo.
            let _ = tx.abort();
        }
        self.close();
    }

    /// The page is back: the next transaction opens the database again.
    pub fn unpark(&self) {
        self.parked.set(false);
    }

    fn close(&self) {
        if let Some(db) = self.db.borrow_mut().take() {
            db.close();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}
