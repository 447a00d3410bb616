//! The MucSub benchmarks: a load generator that drives any XMPP server (ours or the
//! reference ejabberd) over TCP or WebSocket, and a seeding command that fills our server's
//! database directly for the idle-cost and archive scenarios. See BENCHMARKS.md.

pub mod cpu;
pub mod fanout;
pub mod measure;
pub mod register;
pub mod scenarios;
pub mod xmpp;
