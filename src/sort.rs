//! One stable sort for the whole crate.
//!
//! The standard library's stable sort (driftsort) is a few KB of code, and `sort_by` copies
//! it once per element type and comparator: six copies came to 23 KB of the browser
//! package. [`sort_by`] sorts positions instead, through one copy taking a `dyn`
//! comparator, then moves the elements into place, so every caller shares that one copy.
//! Same result as `slice::sort_by` (stable), at the cost of an indirect call per comparison.

use std::cmp::Ordering;

/// Sort `v` by `cmp`, stably, like `v.sort_by(cmp)`.
pub fn sort_by<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    // `order[i]` = the index in `v` of the element that belongs at position `i`.
    let mut order: Vec<usize> = (0..v.len()).collect();
    sort_positions(&mut order, &|a, b| cmp(&v[a], &v[b]));
    // Apply the permutation in place, one cycle at a time; a position is marked done by
    // pointing it at itself.
    for start in 0..v.len() {
        let mut at = start;
        loop {
            let from = order[at];
            order[at] = at;
            if from == start {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

/// The one instance of the standard sort (never inlined, so never copied).
#[inline(never)]
fn sort_positions(order: &mut [usize], cmp: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_by(|&a, &b| cmp(a, b));
}

#[cfg(test)]
mod tests {
    use super::sort_by;

    #[test]
    fn it_sorts_as_the_standard_stable_sort_does() {
        // Pairs (key, tag) with many equal keys: stability shows in the tags' order.
        let mut seed = 0x2545_f491_u32;
        for len in [0, 1, 2, 3, 7, 20, 33, 100, 257] {
            let v: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    ((seed % 5) as u8, i)
                })
                .collect();
            let mut ours = v.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut std = v;
            std.sort_by_key(|a| a.0);
            assert_eq!(ours, std, "len {len}");
        }
    }

    #[test]
    fn owned_elements_are_moved_not_lost() {
        let mut v: Vec<String> = ["d", "a", "c", "b", "a"].map(String::from).to_vec();
        sort_by(&mut v, |a, b| b.cmp(a));
        assert_eq!(v, ["d", "c", "b", "a", "a"]);
    }
}
