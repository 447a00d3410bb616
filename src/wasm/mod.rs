//! Browser edge: IndexedDB storage, the WebSocket transport and the JavaScript API
//! (docs/js-api.md), compiled only for `wasm32`.
//!
//! Public for the browser tests: the JS class, the store and what its tests inspect (the
//! schema, the chunk sizes, a sleep, the persistence request). The rest is the crate's own.

pub(crate) mod call;
pub(crate) mod calls;
pub(crate) mod changes;
pub(crate) mod client;
pub(crate) mod credentials;
pub(crate) mod device;
pub(crate) mod error;
pub mod idb_apply;
pub(crate) mod idb_chunks;
pub(crate) mod idb_conn;
pub(crate) mod idb_dedup;
pub(crate) mod idb_fold;
pub(crate) mod idb_lookup;
pub(crate) mod idb_positions;
pub(crate) mod idb_records;
pub mod idb_req;
pub mod idb_schema;
pub(crate) mod idb_store;
pub(crate) mod idb_wake;
pub(crate) mod js_args;
pub mod js_de;
pub(crate) mod js_modern;
pub(crate) mod js_types;
pub(crate) mod local;
pub(crate) mod one_shot;
pub(crate) mod page;
pub(crate) mod push;
pub(crate) mod runtime;
pub(crate) mod shown;
pub(crate) mod sign_out;
pub mod socket;
pub mod storage;
pub(crate) mod tabs;
pub(crate) mod user_jid;
pub mod wake_read;

pub use client::MucSubClient;
pub use error::{Code, SdkError};
pub use idb_store::IdbStore;
