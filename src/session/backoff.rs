//! Reconnect policy: exponential backoff with full jitter, reset after a good connection.
//! The randomness comes from a seed the driver supplies (no RNG dependency in the core).

/// Backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// `base_ms` for the first retry, doubling up to `max_ms`.
    pub fn new(base_ms: u64, max_ms: u64, seed: u64) -> Self {
        Backoff {
            base_ms: base_ms.max(1),
            max_ms: max_ms.max(base_ms.max(1)),
            attempt: 0,
            rng: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Delay before the next attempt: uniform in [ceiling/2, ceiling], where the ceiling
    /// doubles per attempt up to the max. Half the ceiling stays deterministic so a
    /// crowd of clients never retries at once yet none waits far less than intended.
    pub fn next_delay(&mut self) -> u64 {
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << self.attempt.min(30))
            .min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + self.next_random() % (ceiling - half + 1)
    }

    /// A connection reached the ready state: start over.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_jitters_and_resets() {
        let mut b = Backoff::new(100, 1_000, 42);
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let ceiling = (100u64 << i).min(1_000);
            assert!((ceiling / 2..=ceiling).contains(d), "{i}: {d}");
        }
        let mut other = Backoff::new(100, 1_000, 1_000_003);
        let others: Vec<u64> = (0..8).map(|_| other.next_delay()).collect();
        assert_ne!(delays, others, "different seeds jitter differently");
        b.reset();
        assert!(b.next_delay() <= 100);
    }
}
