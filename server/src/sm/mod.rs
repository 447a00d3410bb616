//! XEP-0198 stream management, the parts without a connection: [`stream`] (one stream's
//! counters and its queue of unacknowledged stanzas, a plain state machine) and
//! [`registry`] (the resumable sessions by SM-ID, and the takeover of one by the
//! connection that resumes it). The c2s layer drives them: `c2s/session.rs` counts and
//! acks, `c2s/hibernate.rs` keeps a session whose connection was lost.

pub mod registry;
pub mod stream;

pub use registry::{Handover, Registry, Takeover, Unknown};
pub use stream::{StreamState, TooHigh, Unacked};
