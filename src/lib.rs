//! # mucsub — MucSub group chat for the web
//!
//! The crate has two layers:
//! - a sans-IO protocol core (everything outside `wasm`), plain Rust that runs natively
//!   and is shared with the server;
//! - the browser edge (`wasm`, only on `wasm32`): IndexedDB storage, the WebSocket
//!   transport and the JavaScript API exported with wasm-bindgen.
//!
//! Core modules, bottom up:
//! - [`protocol`]: the wire vocabulary shared with the server, the `mucsub-protocol` crate
//!   (`protocol/` in the workspace) re-exported: typed MucSub, MAM and push elements,
//!   namespaces, plus re-exports of xmpp-parsers for RSM, disco, forms, errors;
//! - [`event`]: the one typed [`event::RoomEvent`] every route (live, joined, offline,
//!   archive) ends up as, with the deduplication rule;
//! - [`store`]: the async `Store` trait, its data types and [`store::MemoryStore`];
//!   `store_tests` (feature `store-tests`) is the suite every store must pass;
//! - [`session`]: stream framing (TCP and WebSocket), SASL, bind, IQ tracking, backoff;
//! - `resync` (crate-private; its config and warnings are re-exported by [`client`]):
//!   cursors, gaps and MAM paging (docs/protocol.md C4);
//! - [`client`]: the sans-IO client tying them together (inputs and [`client::Command`]s
//!   in, actions out);
//! - [`tabs`]: tabs of one app sharing one client (leader election and forwarding);
//! - `native` (feature `native`): the tokio runtime driving it over TCP or WebSocket.
//!
//! `src/README.md` is the map for a newcomer.

pub mod client;
pub mod event;
#[cfg(feature = "native")]
pub mod native;
pub use mucsub_protocol as protocol;
pub(crate) mod keyed;
pub(crate) mod resync;
pub mod session;
pub(crate) mod sort;
pub mod store;
pub mod tabs;

/// Shared store test suite, public so other store implementations (IndexedDB) run it.
#[cfg(any(test, feature = "store-tests"))]
pub mod store_tests;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(test)]
use mucsub_protocol::test_support;
