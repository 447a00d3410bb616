//! Small types every engine shares: the boxed future every storage trait method returns
//! (so the traits stay object-safe, `Arc<dyn AccountStore>`, whichever engine is behind
//! them) and the observer of commit durations (the metrics' commit latency).

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Told the duration of each write transaction, from its start until it is durable.
pub type CommitObserver = Box<dyn Fn(std::time::Duration) + Send>;
