//! Timestamps in message bodies, the scanner that finds them in raw bytes, percentiles and
//! process statistics read from /proc.

use std::sync::OnceLock;
use std::time::Instant;

use memchr::memmem;

/// Every timestamp is microseconds since this process's first call (senders and receivers
/// run in the same process, so one monotonic clock serves both).
pub fn now_us() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

const TAG: &[u8] = b"BTS";
const DIGITS: usize = 16;
/// `BTS` + 16 digits + `!`.
pub const MARK_LEN: usize = TAG.len() + DIGITS + 1;

/// The marker to embed in a body: the send time.
pub fn marker(ts_us: u64) -> String {
    format!("BTS{ts_us:016}!")
}

/// Finds markers in a byte stream that arrives in arbitrary pieces.
pub struct Scanner {
    finder: memmem::Finder<'static>,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            finder: memmem::Finder::new(TAG),
        }
    }
}

impl Scanner {
    /// Calls `f` with every complete marker in `buf`, then drops the bytes that can no longer
    /// start a marker (a marker cut at the end stays for the next read).
    pub fn scan(&self, buf: &mut Vec<u8>, mut f: impl FnMut(u64)) {
        let mut consumed = 0;
        for p in self.finder.find_iter(buf.as_slice()) {
            if p < consumed {
                continue;
            }
            if p + MARK_LEN > buf.len() {
                break;
            }
            let digits = &buf[p + TAG.len()..p + TAG.len() + DIGITS];
            if buf[p + MARK_LEN - 1] == b'!' && digits.iter().all(u8::is_ascii_digit) {
                let v = digits
                    .iter()
                    .fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
                f(v);
                consumed = p + MARK_LEN;
            }
        }
        let keep_from = consumed.max(buf.len().saturating_sub(MARK_LEN - 1));
        buf.drain(..keep_from);
    }
}

/// p50 / p99 / max of latencies in microseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(mut v: Vec<u64>) -> Percentiles {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_unstable();
        let at = |q: f64| {
            let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
            v[i] as f64 / 1000.0
        };
        Percentiles {
            count: v.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: v[v.len() - 1] as f64 / 1000.0,
        }
    }
}

/// CPU seconds (user + system) and resident memory of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub cpu_s: f64,
    pub rss_mb: f64,
}

pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(ProcSample {
        cpu_s: (utime + stime) / ticks,
        rss_mb: rss_kb / 1024.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_split_across_reads_are_found_once() {
        let s = Scanner::default();
        let text = format!(
            "<body>1 {}</body><x id='BTSxyz'/><body>2 {}</body>",
            marker(42),
            marker(1234567)
        );
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            let mut buf = bytes[..cut].to_vec();
            let mut got = Vec::new();
            s.scan(&mut buf, |v| got.push(v));
            buf.extend_from_slice(&bytes[cut..]);
            s.scan(&mut buf, |v| got.push(v));
            assert_eq!(got, vec![42, 1234567], "cut at {cut}");
        }
    }

    #[test]
    fn percentiles_pick_ranks() {
        let p = Percentiles::of((1..=100).map(|v| v * 1000).collect());
        assert_eq!(p.count, 100);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.max_ms, 100.0);
        assert_eq!(Percentiles::of(Vec::new()).count, 0);
    }

    #[test]
    fn own_process_is_sampled() {
        let s = proc_sample(std::process::id()).expect("/proc is readable");
        assert!(s.rss_mb > 0.0);
    }
}
