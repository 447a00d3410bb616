//! Per-client limits from `[limits]` that need state: the inbound rate shaper of a
//! connection, connections per IP address, and the per-account counts (subscriptions,
//! rooms owned) that the MUC service checks against what is stored.
//!
//! Sizes, depth, timeouts, the offline queue and the session queue are enforced where they
//! apply (`xmlstream`, `c2s`, `storage::offline`, `router`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::time::{Duration, Instant};

use crate::config::Limits;

/// A token bucket that may go into debt: a stanza is only measured once it was read, so it
/// is charged afterwards, and the connection waits until the debt is paid back.
#[derive(Debug, Clone)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Bucket {
        let burst = burst.max(1.0);
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes `cost`; returns how long to wait before reading again, if in debt.
    fn charge(&mut self, cost: f64, now: Instant) -> Option<Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst) - cost;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

/// Inbound rate shaping of one authenticated connection: stanzas and bytes per second,
/// each with a burst. A client over its rate is not disconnected; the session stops
/// reading from it (TCP or WebSocket backpressure then slows the client itself) while
/// still writing what is routed to it.
#[derive(Debug, Clone)]
pub struct Shaper {
    stanzas: Option<Bucket>,
    bytes: Option<Bucket>,
    bytes_seen: u64,
}

impl Shaper {
    pub fn new(limits: &Limits) -> Shaper {
        let now = Instant::now();
        Shaper {
            stanzas: (limits.rate_stanzas_per_sec > 0).then(|| {
                Bucket::new(
                    f64::from(limits.rate_stanzas_per_sec),
                    f64::from(limits.rate_stanza_burst),
                    now,
                )
            }),
            bytes: (limits.rate_bytes_per_sec > 0).then(|| {
                Bucket::new(
                    limits.rate_bytes_per_sec as f64,
                    limits.rate_byte_burst as f64,
                    now,
                )
            }),
            bytes_seen: 0,
        }
    }

    /// Charges one stanza; `bytes_total` is the transport's running count of bytes read.
    /// Returns when reading may resume, if the connection is over its rate.
    pub fn stanza(&mut self, bytes_total: u64) -> Option<Instant> {
        let now = Instant::now();
        let bytes = bytes_total.saturating_sub(self.bytes_seen);
        self.bytes_seen = bytes_total;
        let a = self.stanzas.as_mut().and_then(|b| b.charge(1.0, now));
        let b = self
            .bytes
            .as_mut()
            .and_then(|b| b.charge(bytes as f64, now));
        a.max(b).map(|d| now + d)
    }
}

/// Counts itself in a shared counter while it lives: an open client connection, or a
/// session waiting to be resumed, so shutdown waits for them to finish.
#[derive(Debug)]
pub struct Counted(Arc<std::sync::atomic::AtomicUsize>);

impl Counted {
    pub fn new(counter: &Arc<std::sync::atomic::AtomicUsize>) -> Counted {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Counted(counter.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Open connections per IP address.
#[derive(Debug, Default)]
pub struct PerIp {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds one connection slot of an address; dropping it frees the slot.
#[derive(Debug)]
pub struct IpSlot {
    owner: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// `max` 0 means no limit.
    pub fn new(max: usize) -> Arc<PerIp> {
        Arc::new(PerIp {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when it has `max` open.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = canonical(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if self.max > 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            owner: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip`.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&canonical(ip)).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// An IPv4 client reaching a dual-stack listener appears as `::ffff:a.b.c.d`; both
/// spellings are one address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The per-account MUC limits, checked against what is stored so they hold across
/// restarts.
#[derive(Debug, Default)]
pub struct MucQuotas {
    pub max_subscriptions: usize,
    pub max_rooms: usize,
    /// Held from the count to the commit of a new subscription, so two rooms cannot both
    /// let the same account past its limit.
    pub subscribe_lock: tokio::sync::Mutex<()>,
}

impl MucQuotas {
    pub fn new(limits: &Limits) -> MucQuotas {
        MucQuotas {
            max_subscriptions: limits.max_subscriptions_per_account,
            max_rooms: limits.max_rooms_per_account,
            subscribe_lock: tokio::sync::Mutex::new(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, 5.0, t0);
        for _ in 0..5 {
            assert_eq!(b.charge(1.0, t0), None);
        }
        let wait = b.charge(1.0, t0).expect("over the burst");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9);
        // After paying the debt back, one more fits, never more than the burst.
        assert!(b.charge(1.0, t0 + Duration::from_millis(200)).is_none());
        assert!(b.charge(4.0, t0 + Duration::from_secs(100)).is_none());
        assert!(b.charge(2.0, t0 + Duration::from_secs(100)).is_some());
    }

    #[test]
    fn ip_slots_are_counted_and_freed() {
        let p = PerIp::new(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let a = p.acquire(ip).expect("first");
        let _b = p.acquire(mapped).expect("second, same address");
        assert!(p.acquire(ip).is_none());
        assert!(p.acquire("127.0.0.2".parse().unwrap()).is_some());
        drop(a);
        assert_eq!(p.open(ip), 1);
        assert!(p.acquire(ip).is_some());
        assert!(PerIp::new(0).acquire(ip).is_some());
    }
}
