//! IndexedDB requests awaited through one future type of the SDK's own.
//!
//! The `idb` crate awaits each kind of request through a future of its own (get, getAll,
//! put, cursors, …), each with its own pair of callback closures, oneshot channels and
//! result mapping: a copy of all that per request type the store uses (issue 24's size
//! passes counted 17 closure instances, most of them these). [`Req`] awaits any
//! `IDBRequest` through one closure type (the one the socket's timer uses too), set as
//! both its `onsuccess` and `onerror`, and answers the request's `result`, or its `error`
//! as the same `idb::Error::DomException` the crate's futures give. The few mappings of a
//! result (absent record, list, cursor) are small functions below.
//!
//! The callbacks are set when the request is wrapped, before anything awaits it, so a
//! request issued early and awaited later (the store's batched lookups) misses no event;
//! as with the crate's futures, a [`Req`] dropped before its request finishes leaves its
//! closure to JavaScript (see its `Drop`). The database's open request goes through
//! [`Req`] too, and a transaction's end through [`ended`]: with them none of the crate's
//! futures, nor the tokio oneshot channels behind them, is left in the package.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use js_sys::Array;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, IdbRequest, IdbTransaction};

/// What the request's callback tells the future.
#[derive(Default)]
struct State {
    fired: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// A request being awaited: resolves with the request's `result` after its `success`
/// event, or with its `error` after its `error` event.
pub struct Req {
    request: IdbRequest,
    state: Rc<State>,
    /// `None` once given up to JavaScript (see `Drop`).
    on_event: Option<Closure<dyn FnMut()>>,
}

/// Await `request` (any of the `idb` crate's request types, or a raw `IDBRequest`).
pub fn req(request: impl Into<IdbRequest>) -> Req {
    Req::new(request.into())
}

impl Req {
    /// Wrap `request`, setting its callbacks now. A cursor's request fires again after each
    /// `continue()` / `advance()`: wrap it again for each (the new callbacks replace these).
    pub fn new(request: IdbRequest) -> Req {
        let state = Rc::new(State::default());
        let s = state.clone();
        let on_event = Closure::<dyn FnMut()>::new(move || {
            s.fired.set(true);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        });
        let f = on_event.as_ref().unchecked_ref();
        request.set_onsuccess(Some(f));
        request.set_onerror(Some(f));
        Req {
            request,
            state,
            on_event: Some(on_event),
        }
    }
}

impl Future for Req {
    type Output = Result<JsValue, idb::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.state.fired.get() {
            self.state.waker.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        // A finished request has an `error` (null after `success`) and a `result`
        // (undefined after `error`); neither getter throws once it is done.
        let r = &self.request;
        Poll::Ready(match r.error() {
            Ok(None) => r.result().map_err(idb::Error::RequestResultNotFound),
            Ok(Some(e)) => Err(idb::Error::DomException(e)),
            Err(e) => Err(idb::Error::RequestErrorNotFound(e)),
        })
    }
}

/// A `get`'s record, or a cursor request's cursor: `None` for `undefined` (no record) or
/// `null` (the cursor ran past its range), as the `idb` crate's futures map them.
pub fn found(result: JsValue) -> Option<JsValue> {
    if result.is_null() || result.is_undefined() {
        None
    } else {
        Some(result)
    }
}

/// A `getAll` / `getAllKeys` result (always an array) as a list.
pub fn listed(result: JsValue) -> Vec<JsValue> {
    result.unchecked_into::<Array>().to_vec()
}

/// How a transaction ended, awaited as the `idb` crate's `TransactionFuture` did (which,
/// with the database open, alone kept that crate's oneshot channels, and their tokio code,
/// in the package): `Ok(true)` after `complete`, `Ok(false)` after `abort`, and an `error`
/// event reaching it first (a request's, bubbling up) as that crate's error for it.
pub struct Ended {
    _tx: IdbTransaction,
    state: Rc<EndState>,
    /// `None` once given up to JavaScript (see `Drop`).
    on_event: Option<Closure<dyn FnMut(Event)>>,
}

#[derive(Default)]
struct EndState {
    event: RefCell<Option<Event>>,
    waker: Cell<Option<Waker>>,
}

/// Await the end of `tx` (after `commit()`).
pub fn ended(tx: impl Into<IdbTransaction>) -> Ended {
    let tx = tx.into();
    let state = Rc::new(EndState::default());
    let s = state.clone();
    let on_event = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
        // The first event decides: an error is followed by the abort it causes.
        s.event.borrow_mut().get_or_insert(ev);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    });
    let f = on_event.as_ref().unchecked_ref();
    tx.set_oncomplete(Some(f));
    tx.set_onabort(Some(f));
    tx.set_onerror(Some(f));
    Ended {
        _tx: tx,
        state,
        on_event: Some(on_event),
    }
}

impl Future for Ended {
    type Output = Result<bool, idb::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(ev) = self.state.event.borrow().clone() else {
            self.state.waker.set(Some(cx.waker().clone()));
            return Poll::Pending;
        };
        Poll::Ready(match ev.type_().as_str() {
            "complete" => Ok(true),
            "abort" => Ok(false),
            // As the crate read it: the transaction's error when the event is its own,
            // else (a request's error, the usual case) the event's target as unexpected.
            _ => Err(match ev.target().map(|t| t.dyn_into::<IdbTransaction>()) {
                None => idb::Error::EventTargetNotFound,
                Some(Err(other)) => idb::Error::UnexpectedJsType("IdbTransaction", other.into()),
                Some(Ok(tx)) => match tx.error() {
                    Some(e) => idb::Error::DomException(e),
                    None => idb::Error::DomExceptionNotFound,
                },
            }),
        })
    }
}

// A request or transaction may still fire after its future is dropped (a lookup not
// awaited after an early error; the `abort` that follows a transaction's `error`). Its
// handler must then still be callable: a freed closure throws when called, and an
// exception in an IndexedDB event handler aborts the transaction. So a closure that may
// still be called is left to JavaScript (forgotten, as the `idb` crate's futures did with
// theirs), and one that cannot is freed.
impl Drop for Req {
    fn drop(&mut self) {
        if !self.state.fired.get() {
            if let Some(c) = self.on_event.take() {
                c.forget();
            }
        }
    }
}

impl Drop for Ended {
    fn drop(&mut self) {
        let done = self
            .state
            .event
            .borrow()
            .as_ref()
            .is_some_and(|ev| matches!(ev.type_().as_str(), "complete" | "abort"));
        if !done {
            if let Some(c) = self.on_event.take() {
                c.forget();
            }
        }
    }
}
