//! Archive ids: time-ordered, unique, monotonic 64-bit integers.
//!
//! An id is the number of microseconds since the Unix epoch at which the message was
//! archived, bumped by one when two messages fall in the same microsecond (or the clock
//! steps back), so ids sort in archive order and double as XEP-0359 stanza-ids and RSM
//! cursors. The generator is seeded with the largest id on disk so a restart never reuses
//! or reorders ids even if the clock went backwards meanwhile.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct IdGen {
    last: AtomicI64,
}

pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl IdGen {
    pub fn new(floor: i64) -> IdGen {
        IdGen {
            last: AtomicI64::new(floor),
        }
    }

    /// The next id at time `now`: `max(now, last + 1)`.
    pub fn next_at(&self, now: i64) -> i64 {
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let candidate = now.max(prev + 1);
            match self.last.compare_exchange_weak(
                prev,
                candidate,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return candidate,
                Err(actual) => prev = actual,
            }
        }
    }

    /// Raises the floor (used after loading the largest stored id).
    pub fn raise_floor(&self, floor: i64) {
        self.last.fetch_max(floor, Ordering::AcqRel);
    }
}

/// XEP-0082 timestamp with microseconds, in UTC (the archive's precision).
pub use mucsub_protocol::time::format_micros as stamp;
/// Parses a XEP-0082 date-time into microseconds since the epoch.
pub use mucsub_protocol::time::parse_micros as parse_stamp;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strictly_increasing_even_when_the_clock_stands_still() {
        let g = IdGen::new(0);
        let a = g.next_at(100);
        let b = g.next_at(100);
        let c = g.next_at(50);
        assert_eq!((a, b, c), (100, 101, 102));
    }

    #[test]
    fn floor_from_disk_wins_over_an_earlier_clock() {
        let g = IdGen::new(1_000);
        assert_eq!(g.next_at(10), 1_001);
    }
}
