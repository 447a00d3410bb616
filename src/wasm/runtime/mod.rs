//! The browser runtime: one local task (the driver) owns the sans-IO [`Client`] core, the
//! WebSocket and the timers, and performs the core's actions in order. Network writes
//! happen at once; store writes go to a store lane that writes one batch at a time (every
//! page queued behind the first, of any room: a page and its cursor stay in one
//! transaction), while the driver goes on reading frames and asking for the next archive
//! pages. Whatever the app observes after a store op (its `event` and `sync` callbacks, app
//! events, command replies, the reconnect schedule) waits in the lane behind it, so
//! callbacks keep the core's order and never report uncommitted data. Everything else
//! (socket callbacks, timers, page lifecycle events, JS method calls) only pushes [`Job`]s
//! onto the driver's queue.
//!
//! - `driver`: the job loop, the socket and timer lifecycle, performing the core's actions;
//! - `lane`: the store lane, generic over [`crate::store::Store`];
//! - `report`: app events and stored pages turned into JS callbacks and promise replies;
//! - `prepared`: a stored batch's `event` and `update` values, built in one go;
//! - `hub`: the job queue and the app's listeners, shared with the JS side;
//! - `options`: the validated options, and the clock and random source the core is given.
//!
//! [`Client`]: crate::client::Client

mod driver;
mod hub;
mod lane;
mod options;
mod prepared;
mod report;

pub use driver::{spawn, WakeSaver};
pub use hub::Shared;
pub use options::{is_secure, random_bytes, random_id, Options};
pub use report::command_error;

use crate::client::{Command, CommandResult};

use super::error::SdkError;
use super::js_types::JsSyncSummary;
use super::local::Reply;
use super::socket::SocketEvent;

/// The reply to a command: its result, or the JS error.
pub type CommandReply = Reply<Result<CommandResult, SdkError>>;

/// Work for the driver.
pub enum Job {
    /// A socket of connection `generation` reported something.
    Socket(u64, SocketEvent),
    /// The core's timer fired.
    Tick,
    /// The reconnect backoff elapsed.
    Reconnect,
    /// The page became visible (or was shown from the back/forward cache, or resumed) or
    /// the browser went online: skip the reconnect backoff, or prove an open socket alive.
    Wake,
    /// The page is visible (`true`) or hidden: XEP-0352 CSI, so the server pushes while
    /// no tab of the account is looked at.
    Active(bool),
    /// `connect()`.
    Connect(Reply<Result<(), SdkError>>),
    /// A command for the core ([`Command`]), forwarded as it is.
    Command(Command, CommandReply),
    /// `resync()`: [`Command::Resync`], resolved when every room is in sync.
    Resync(Reply<Result<JsSyncSummary, SdkError>>),
    /// `close()`.
    Close(Reply<()>),
    /// The page is unloaded for good (`pagehide`, not into the back/forward cache): end
    /// the stream politely, or it would wait on the server for a resumption this page can
    /// never make (and count against the account's sessions) while the next page binds.
    Leave,
    /// The app's `credentials` callback answered for connection attempt `n`.
    Credentials(u64, Result<crate::wasm::credentials::Secret, SdkError>),
}
