//! The stored positions a batch's pages are placed against (idb_apply.rs, step 2), by
//! event and by time.
//!
//! Each page reads the positions in its own time range (a burst of live events is a page
//! per event, and scanning every position per page made a batch quadratic: issue 24). That
//! index was a `BTreeSet<(ts, seq)>`, the package's only B-tree of that type: about 3 KB
//! gzipped of B-tree code for one set (issue 24, package size). Here it is a sorted list
//! plus a short unsorted one of the pairs added since, merged into it every
//! [`MERGE_AT`] additions; a pair whose event moved since is stale and skipped (an event's
//! one current pair is its time in `at`), so nothing is ever removed in place.

use std::collections::HashMap;

use crate::store::order::Positioned;

/// A record's place in the history order, as the pages applied so far left it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Placed {
    pub(super) ts: i64,
    pub(super) ord: f64,
}

/// Additions kept unsorted before a merge: each range query scans them all, each merge
/// copies the whole list.
const MERGE_AT: usize = 128;

/// Positions by seq, and the seqs by time.
#[derive(Default)]
pub(super) struct Positions {
    /// Each seq's index in `placed`: a map of the type the write path already has, not a
    /// `HashMap<u64, Placed>` of its own (one hash map instance less; issue 24, package
    /// size).
    at: HashMap<u64, usize>,
    placed: Vec<Placed>,
    /// `(ts, seq)`, sorted, each pair once; stale pairs are dropped at each merge.
    sorted: Vec<(i64, u64)>,
    /// `(ts, seq)` added since the last merge, in no order, possibly repeated or stale.
    added: Vec<(i64, u64)>,
}

impl Positions {
    /// Where `seq` is.
    pub(super) fn get(&self, seq: u64) -> Option<&Placed> {
        self.at.get(&seq).map(|&i| &self.placed[i])
    }

    /// `seq` is at `p` now; its former pair, at another time, goes stale.
    pub(super) fn set(&mut self, seq: u64, p: Placed) {
        let ts = p.ts;
        let old = match self.at.get(&seq) {
            Some(&i) => Some(std::mem::replace(&mut self.placed[i], p)),
            None => {
                self.at.insert(seq, self.placed.len());
                self.placed.push(p);
                None
            }
        };
        if old.map(|old| old.ts) != Some(ts) {
            self.added.push((ts, seq));
            if self.added.len() >= MERGE_AT {
                self.merge();
            }
        }
    }

    /// Is `(ts, seq)` where `seq` is now?
    fn current(&self, (ts, seq): (i64, u64)) -> bool {
        self.get(seq).is_some_and(|p| p.ts == ts)
    }

    fn merge(&mut self) {
        let mut added = std::mem::take(&mut self.added);
        crate::sort::sort_by(&mut added, |a, b| a.cmp(b));
        let old = std::mem::take(&mut self.sorted);
        let mut out = Vec::with_capacity(old.len() + added.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < added.len() {
            let next = if j == added.len() || (i < old.len() && old[i] <= added[j]) {
                i += 1;
                old[i - 1]
            } else {
                j += 1;
                added[j - 1]
            };
            if out.last() != Some(&next) && self.current(next) {
                out.push(next);
            }
        }
        self.sorted = out;
    }

    /// Every position with `lo <= ts <= hi`, by time, then seq.
    pub(super) fn range(&self, lo: i64, hi: i64) -> Vec<Positioned> {
        let a = self.sorted.partition_point(|e| e.0 < lo);
        let b = self.sorted.partition_point(|e| e.0 <= hi);
        let mut pairs = self.sorted[a..b].to_vec();
        let merged = pairs.len();
        pairs.extend(self.added.iter().filter(|e| lo <= e.0 && e.0 <= hi));
        if pairs.len() > merged {
            crate::sort::sort_by(&mut pairs, |a, b| a.cmp(b));
            pairs.dedup();
        }
        pairs
            .into_iter()
            .filter_map(|(ts, id)| {
                let p = self.get(id).filter(|p| p.ts == ts)?;
                Some(Positioned { id, ts, ord: p.ord })
            })
            .collect()
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use wasm_bindgen_test::*;

    use super::{Placed, Positions};

    wasm_bindgen_test_configure!(run_in_browser);

    /// The index answers every range query as the `BTreeSet<(ts, seq)>` it replaces did,
    /// kept in step with the positions (its former pair removed, the new one inserted),
    /// over random moves among few times and seqs (so pairs go stale, come back and repeat)
    /// and across many merges.
    #[wasm_bindgen_test]
    fn ranges_are_what_the_ordered_set_gave() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut p = Positions::default();
        let mut at: HashMap<u64, Placed> = HashMap::new();
        let mut set: BTreeSet<(i64, u64)> = BTreeSet::new();
        for step in 0..5_000 {
            let seq = next(300);
            let placed = Placed {
                ts: next(40) as i64 - 5,
                ord: step as f64,
            };
            if let Some(old) = at.insert(seq, placed) {
                set.remove(&(old.ts, seq));
            }
            set.insert((placed.ts, seq));
            p.set(seq, placed);
            let lo = next(45) as i64 - 8;
            let hi = lo + next(12) as i64;
            let want: Vec<(u64, i64, f64)> = set
                .range((lo, 0)..=(hi, u64::MAX))
                .map(|&(ts, id)| (id, ts, at[&id].ord))
                .collect();
            let got: Vec<(u64, i64, f64)> = p
                .range(lo, hi)
                .iter()
                .map(|e| (e.id, e.ts, e.ord))
                .collect();
            assert_eq!(got, want, "step {step}, {lo}..={hi}");
        }
        for seq in 0..300 {
            assert_eq!(p.get(seq), at.get(&seq), "seq {seq}");
        }
    }
}
