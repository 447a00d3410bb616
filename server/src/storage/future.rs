//! The boxed future every storage trait method returns, so the traits stay object-safe
//! (`Arc<dyn AccountStore>`) whichever engine is behind them.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
