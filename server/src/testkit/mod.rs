//! Test kit for integration tests (any `server/tests/*.rs` file): a real server on
//! ephemeral loopback ports with a temporary data dir, and a raw XMPP client. Built only
//! with the `testkit` feature, which the server's own dev-dependency on itself turns on:
//! production builds do not carry it.
//!
//! ```no_run
//! # async fn demo() {
//! use mucsub_server::testkit::{TestServer, Mech};
//! let server = TestServer::start().await;            // domain localhost, MUC conference.localhost
//! server.add_user("alice", "pw").await;
//! let mut a = server.login("alice", "pw").await;     // TCP, SASL PLAIN, bound, available
//! a.send("<message to='bob@localhost' type='chat'><body>hi</body></message>").await;
//! let el = a.recv().await;                           // next stanza as a minidom Element
//! # }
//! ```
//!
//! Everything panics with a clear message on failure or after [`TIMEOUT`] (generous, only
//! there to turn hangs into failures).
//!
//! Files: [`server`] (the in-process [`TestServer`]), [`child`] (the real binary in a child
//! process), [`client`] (the raw client's connection, reads and expectations), [`login`]
//! (STARTTLS, SASL, binding), [`sm`] (XEP-0198: enable, counting, acks, resumption),
//! [`sasl2`] (SASL2 with Bind 2, inline resumption and FAST tokens), [`http`] (an HTTP
//! client for the HTTP listener's routes), [`api`] (the HTTP API: a token, calls),
//! [`basics`] (the timeout, the panic counter, snippets), [`postgres`] (a private
//! PostgreSQL server, a fresh database per test server), `stall` (archive writes held
//! back: a slow database).
//!
//! `MUCSUB_TEST_STORAGE=postgres` runs every [`TestServer`] and [`ChildServer`] on a fresh
//! PostgreSQL database instead of SQLite (`tests/suites/server-postgres.sh`).

mod api;
mod basics;
mod child;
mod client;
mod http;
mod login;
pub mod nats;
pub mod postgres;
mod sasl2;
mod server;
mod sm;
mod stall;

pub use api::{api_call, with_api, with_api_and_limited, API_TOKEN};
pub use basics::{mechanisms, panics, xml_with_ns, TIMEOUT};
pub use child::ChildServer;
pub use client::{Incoming, RawClient};
pub use http::{http_get, http_request, HttpResponse};
pub use login::Mech;
pub use sasl2::{b64, Proof, Sasl2Login, TEST_DEVICE};
pub use server::{test_config, TestServer, TestStorage};
pub use sm::Resumption;
pub use stall::ArchiveWritesHeld;
