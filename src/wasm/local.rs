//! Two tiny single-threaded async primitives for the browser runtime: a queue the driver
//! task waits on, and a one-shot reply slot. JS is single-threaded, so `Rc<RefCell<…>>` is
//! enough and avoids pulling in a channel crate.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct QueueInner<T> {
    items: VecDeque<T>,
    waker: Option<Waker>,
    closed: bool,
}

/// A multi-producer, single-consumer queue.
pub struct Queue<T> {
    inner: Rc<RefCell<QueueInner<T>>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            inner: Rc::new(RefCell::new(QueueInner {
                items: VecDeque::new(),
                waker: None,
                closed: false,
            })),
        }
    }
}

impl<T> Queue<T> {
    /// Append an item and wake the consumer. Items pushed after [`Queue::close`] are dropped.
    pub fn push(&self, item: T) {
        let waker = {
            let mut q = self.inner.borrow_mut();
            if q.closed {
                return;
            }
            q.items.push_back(item);
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Stop the consumer: pending items are dropped and `next` returns `None` from now on.
    pub fn close(&self) {
        let waker = {
            let mut q = self.inner.borrow_mut();
            q.closed = true;
            q.items.clear();
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The next item if one is queued and `want` accepts it, without waiting.
    pub fn next_if(&self, want: impl FnOnce(&T) -> bool) -> Option<T> {
        let mut q = self.inner.borrow_mut();
        if q.closed || !q.items.front().is_some_and(want) {
            return None;
        }
        q.items.pop_front()
    }

    /// The next item, or `None` once closed.
    pub fn next(&self) -> impl Future<Output = Option<T>> + '_ {
        NextItem { queue: self }
    }
}

struct NextItem<'a, T> {
    queue: &'a Queue<T>,
}

impl<T> Future for NextItem<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut q = self.queue.inner.borrow_mut();
        if q.closed {
            return Poll::Ready(None);
        }
        match q.items.pop_front() {
            Some(item) => Poll::Ready(Some(item)),
            None => {
                q.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

struct SlotInner<T> {
    value: Option<T>,
    waker: Option<Waker>,
    dropped: bool,
}

/// The sending half of a one-shot reply.
pub struct Reply<T> {
    inner: Rc<RefCell<SlotInner<T>>>,
}

/// The receiving half: resolves to `None` when the sender was dropped without replying.
pub struct Awaiting<T> {
    inner: Rc<RefCell<SlotInner<T>>>,
}

/// A connected sender/receiver pair.
pub fn oneshot<T>() -> (Reply<T>, Awaiting<T>) {
    let inner = Rc::new(RefCell::new(SlotInner {
        value: None,
        waker: None,
        dropped: false,
    }));
    (
        Reply {
            inner: inner.clone(),
        },
        Awaiting { inner },
    )
}

impl<T> Reply<T> {
    /// Deliver the value.
    pub fn send(self, value: T) {
        let waker = {
            let mut s = self.inner.borrow_mut();
            s.value = Some(value);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.inner.borrow_mut();
            s.dropped = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Awaiting<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = self.inner.borrow_mut();
        if let Some(v) = s.value.take() {
            return Poll::Ready(Some(v));
        }
        if s.dropped {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
