//! Browser edge: IndexedDB storage, the WebSocket transport and the JavaScript API
//! (docs/js-api.md), compiled only for `wasm32`.

pub mod client;
pub mod error;
pub mod idb_apply;
pub mod idb_conn;
pub mod idb_records;
pub mod idb_schema;
pub mod idb_store;
pub mod js_types;
pub mod local;
pub mod page;
pub mod push;
pub mod runtime;
pub mod socket;
pub mod storage;

pub use client::MucSubClient;
pub use error::{Code, SdkError};
pub use idb_store::IdbStore;
