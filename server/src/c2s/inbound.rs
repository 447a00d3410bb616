//! The read side both transports share: the stream parser with its limits (reset when the
//! stream restarts) and the counters the session loop reads (last activity for the
//! keepalive, bytes read for rate shaping).

use crate::xmlstream::{Framing, Limits, StreamEvent, StreamParser, XmlError};
use tokio::time::Instant;

/// Why reading failed.
#[derive(Debug)]
pub(crate) enum RecvError {
    Xml(XmlError),
    Io(std::io::Error),
}

pub(crate) struct Inbound {
    framing: Framing,
    parser: StreamParser,
    limits: Limits,
    last_activity: Instant,
    bytes_read: u64,
}

impl Inbound {
    pub(crate) fn new(framing: Framing, limits: Limits) -> Inbound {
        Inbound {
            framing,
            parser: StreamParser::new(framing, limits),
            limits,
            last_activity: Instant::now(),
            bytes_read: 0,
        }
    }

    /// An event already parsed from what was read.
    pub(crate) fn next_event(&mut self) -> Option<StreamEvent> {
        self.parser.next_event()
    }

    /// Parses `data` just read from the peer (also counts it as activity).
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<(), RecvError> {
        self.touch();
        self.bytes_read += data.len() as u64;
        self.parser.feed(data).map_err(RecvError::Xml)
    }

    /// Something that is not XML (a WebSocket pong, a close frame) arrived.
    pub(crate) fn touch(&mut self) {
        self.last_activity = Instant::now();
    }

    /// A new XML stream (after STARTTLS or SASL success), with the current limits.
    pub(crate) fn restart(&mut self) {
        self.parser = StreamParser::new(self.framing, self.limits);
    }

    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.parser.set_limits(limits);
    }

    pub(crate) fn last_activity(&self) -> Instant {
        self.last_activity
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}
