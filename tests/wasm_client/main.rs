//! The JavaScript client (`MucSubClient`) in a browser against a real server on loopback:
//! `tests/suites/browser-sdk.sh` starts mucsub-server and builds these tests with its
//! WebSocket URL (`MUCSUB_TEST_WS`) and token secret; `tests/suites/ejabberd-interop.sh`
//! runs the `client::` module against ejabberd.
//!
//! One test binary rather than one per file: each binary costs the test runner a bindgen
//! step and a browser start in each engine. wasm-bindgen-test runs the tests one at a time
//! in one page; each test uses rooms of its own (`support::fresh_room`).
#![cfg(all(target_arch = "wasm32", feature = "browser-server-tests"))]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod changes;
mod client;
mod devices;
mod reload;
mod support;
mod tabs;
mod token;
