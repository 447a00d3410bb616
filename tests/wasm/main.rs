//! The SDK's browser tests that need no server (IndexedDB store, schema migrations, chunk
//! batching, event kinds, JID rules, storage persistence, wake), one module per subject.
//!
//! One test binary rather than one per file: each binary costs the test runner a bindgen
//! step and a browser start in each of the three engines (3 to 6 s each here), while the
//! tests themselves take about as long in all. wasm-bindgen-test runs the tests one at a
//! time in one page; each test opens databases under names of its own.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod event_kinds;
mod idb_batch;
mod idb_fold_keys;
mod idb_migration;
mod idb_migration_v6;
mod idb_park;
mod idb_req;
mod idb_roundtrip;
mod idb_store;
mod idb_support;
mod jid_rules;
mod js_de;
mod storage;
mod wake;
