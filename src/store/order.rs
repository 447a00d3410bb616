//! Where a page's events go in a room's stored order, shared by every store.
//!
//! A room's events are ordered by `(timestamp, ord)`. Timestamps alone do not order a room:
//! several events can share a millisecond (or a second, on servers with coarse stamps), and
//! an older archive page is often fetched after newer events are stored, so insertion order
//! is wrong too. `ord` follows the archive instead: a page is a contiguous, ordered slice of
//! the archive (or one live event, in arrival order), so
//! - an event goes right after the page event before it, when both share a timestamp, or
//!   right before the next stored page event of its timestamp;
//! - otherwise, a stored event of the same timestamp that is not in the page lies wholly
//!   before or after the page: after it when the page holds an older timestamp, before it
//!   when the page holds a newer one (archive time never goes backwards);
//! - a page entirely within one timestamp and without overlap is placed by its kind: a
//!   history page (archive events only, no cursor or gap) is older than what is stored, a
//!   resync page or a live event newer.
//!
//! `ord` only orders events of one timestamp, so it is a float placed between its
//! neighbours; when two neighbours get too close, the whole timestamp group is renumbered.

/// A stored event's position: `id` is the store's own identity for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Positioned {
    /// Store identity (insertion number).
    pub id: u64,
    /// Timestamp (ms).
    pub ts: i64,
    /// Order within the timestamp.
    pub ord: f64,
}

/// One page event, in page order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageEntry {
    /// Store identity of the (new or existing) record.
    pub id: u64,
    /// Its timestamp after merging.
    pub ts: i64,
    /// True for a new event or one whose timestamp changed: it needs a position. False for
    /// a stored event that keeps its position (it must then be in the `stored` list).
    pub place: bool,
}

/// Where a placed event goes within its timestamp group.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spot {
    After(f64),
    Before(f64),
    First,
    Last,
}

/// Compute the positions of the page entries that need one. `stored` holds at least every
/// stored event of the timestamps the page touches (entries that need placing are ignored
/// if present). Returns the new `ord` of every record that must be written: each placed
/// entry, plus any stored event renumbered to make room.
pub fn place(stored: &[Positioned], page: &[PageEntry], history: bool) -> Vec<(u64, f64)> {
    // The entries to place, each id with its place in the page: a map of the type the
    // browser write path already has, not a `HashSet<u64>` (issue 24, package size).
    let moving: std::collections::HashMap<u64, usize> = page
        .iter()
        .enumerate()
        .filter(|(_, e)| e.place)
        .map(|(i, e)| (e.id, i))
        .collect();
    // Timestamp → its group, sorted by ord; placed entries join their group as we go. The
    // groups in a list found through a map of the type the browser write path already has
    // (the timestamp's bits as the key): one hash map instance less in its package (issue
    // 24, package size).
    let mut groups: Vec<Vec<(u64, f64)>> = Vec::new();
    let mut group_of: std::collections::HashMap<u64, usize> = Default::default();
    let mut group_at = |groups: &mut Vec<Vec<(u64, f64)>>, ts: i64| match group_of.get(&(ts as u64))
    {
        Some(&at) => at,
        None => {
            group_of.insert(ts as u64, groups.len());
            groups.push(Vec::new());
            groups.len() - 1
        }
    };
    for p in stored.iter().filter(|p| !moving.contains_key(&p.id)) {
        let at = group_at(&mut groups, p.ts);
        groups[at].push((p.id, p.ord));
    }
    for g in groups.iter_mut() {
        crate::sort::sort_by(g, |a, b| a.1.total_cmp(&b.1));
    }
    // The records to write, each once with its last `ord`: a list, found through a map of
    // the type the browser store's write path already has (one hash map instance less in
    // its package; issue 24, package size).
    let mut written: Vec<(u64, f64)> = Vec::new();
    let mut written_at: std::collections::HashMap<u64, usize> = Default::default();
    let mut write = |id: u64, ord: f64| match written_at.get(&id) {
        Some(&at) => written[at].1 = ord,
        None => {
            written_at.insert(id, written.len());
            written.push((id, ord));
        }
    };
    let has_older = |t: i64| page.iter().any(|e| e.ts < t);
    let has_newer = |t: i64| page.iter().any(|e| e.ts > t);
    // The same record can appear twice in a page (a duplicate): its first occurrence is its
    // place in the page, and it needs placing if any occurrence said so.
    let mut entries: Vec<PageEntry> = Vec::with_capacity(page.len());
    for e in page {
        match entries.iter_mut().find(|x| x.id == e.id) {
            Some(first) => first.place |= e.place,
            None => entries.push(*e),
        }
    }
    for (i, e) in entries.iter().enumerate() {
        if !e.place {
            continue;
        }
        let t = e.ts;
        let g = group_at(&mut groups, t);
        let group = &mut groups[g];
        let ord_of = |id: u64| group.iter().find(|(g, _)| *g == id).map(|(_, o)| *o);
        let prev = i.checked_sub(1).map(|j| entries[j]).filter(|p| p.ts == t);
        let next_fixed = entries[i + 1..]
            .iter()
            .take_while(|n| n.ts == t)
            .find(|n| !n.place);
        let spot = match (prev.and_then(|p| ord_of(p.id)), next_fixed) {
            (Some(o), _) => Spot::After(o),
            (None, Some(n)) => ord_of(n.id).map_or(Spot::Last, Spot::Before),
            (None, None) if has_older(t) => Spot::First,
            (None, None) if has_newer(t) => Spot::Last,
            (None, None) if history => Spot::First,
            (None, None) => Spot::Last,
        };
        let at = match spot {
            Spot::After(o) => group.partition_point(|g| g.1 <= o),
            Spot::Before(o) => group.partition_point(|g| g.1 < o),
            // Before the stored events of the timestamp, but after what came earlier in
            // this page (a page that is not in time order still keeps its own order).
            Spot::First => group
                .iter()
                .rposition(|g| entries[..i].iter().any(|p| p.id == g.0))
                .map_or(0, |j| j + 1),
            Spot::Last => group.len(),
        };
        let lo = at.checked_sub(1).map(|j| group[j].1);
        let hi = group.get(at).map(|g| g.1);
        let ord = match (lo, hi) {
            (None, None) => Some(0.0),
            (Some(l), None) => Some(l + 1.0),
            (None, Some(h)) => Some(h - 1.0),
            (Some(l), Some(h)) => Some(l + (h - l) / 2.0).filter(|m| *m > l && *m < h),
        };
        match ord {
            Some(o) => {
                group.insert(at, (e.id, o));
                write(e.id, o);
            }
            None => {
                // No float left between the neighbours: renumber the group.
                group.insert(at, (e.id, 0.0));
                for (n, g) in group.iter_mut().enumerate() {
                    g.1 = n as f64;
                    write(g.0, g.1);
                }
            }
        }
    }
    crate::sort::sort_by(&mut written, |a, b| a.0.cmp(&b.0));
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(id: u64, ts: i64) -> PageEntry {
        PageEntry {
            id,
            ts,
            place: false,
        }
    }
    fn new(id: u64, ts: i64) -> PageEntry {
        PageEntry {
            id,
            ts,
            place: true,
        }
    }
    fn at(id: u64, ts: i64, ord: f64) -> Positioned {
        Positioned { id, ts, ord }
    }
    fn sorted(stored: &[Positioned], w: &[(u64, f64)]) -> Vec<u64> {
        let mut all: Vec<Positioned> = stored.to_vec();
        for (id, o) in w {
            match all.iter_mut().find(|p| p.id == *id) {
                Some(p) => p.ord = *o,
                None => panic!("{id} not in stored"),
            }
        }
        all.sort_by(|a, b| a.ts.cmp(&b.ts).then(a.ord.total_cmp(&b.ord)));
        all.into_iter().map(|p| p.id).collect()
    }

    #[test]
    fn older_page_of_one_millisecond_goes_before_stored_events() {
        let stored = [at(1, 5, 0.0), at(2, 5, 1.0), at(3, 5, 9.0), at(4, 5, 9.0)];
        let w = place(&stored, &[new(3, 5), new(4, 5)], true);
        assert_eq!(sorted(&stored, &w), [3, 4, 1, 2]);
        let w = place(&stored, &[new(3, 5), new(4, 5)], false);
        assert_eq!(sorted(&stored, &w), [1, 2, 3, 4]);
    }

    #[test]
    fn overlap_and_neighbouring_timestamps_decide_over_the_hint() {
        let stored = [at(1, 5, 0.0), at(2, 5, 1.0), at(3, 5, 0.0), at(4, 4, 0.0)];
        // [4 (t4), 3 (t5)] then stored 1, 2: 3 is older than them.
        let w = place(&stored, &[fixed(4, 4), new(3, 5)], false);
        assert_eq!(sorted(&stored, &w), [4, 3, 1, 2]);
        // [1, 3] overlapping: 3 right after 1, before 2.
        let w = place(&stored, &[fixed(1, 5), new(3, 5)], true);
        assert_eq!(sorted(&stored, &w), [4, 1, 3, 2]);
        // [3, 2]: 3 right before 2.
        let w = place(&stored, &[new(3, 5), fixed(2, 5)], false);
        assert_eq!(sorted(&stored, &w), [4, 1, 3, 2]);
    }

    #[test]
    fn crowded_group_is_renumbered() {
        let mut stored = vec![at(1, 5, 0.0), at(2, 5, 1.0)];
        for id in 3..80 {
            stored.push(at(id, 5, 0.0));
            let w = place(&stored, &[fixed(1, 5), new(id, 5)], false);
            for (i, o) in w {
                stored.iter_mut().find(|p| p.id == i).unwrap().ord = o;
            }
        }
        let order = sorted(&stored, &[]);
        let mut expected = vec![1];
        expected.extend((3..80).rev());
        expected.push(2);
        assert_eq!(order, expected);
    }

    /// A record placed and then renumbered in the same call is reported once, with its
    /// last `ord`, and the result is sorted by id.
    #[test]
    fn a_record_written_twice_is_reported_once_with_its_last_ord() {
        let stored = [at(5, 5, 0.5), at(1, 5, 1.0), at(2, 5, 1.0 + f64::EPSILON)];
        // 3 goes before 1 (0.75); 4 after 1 finds no float before 2: all renumbered.
        let w = place(&stored, &[new(3, 5), fixed(1, 5), new(4, 5)], false);
        assert_eq!(w, [(1, 2.0), (2, 4.0), (3, 1.0), (4, 3.0), (5, 0.0)]);
    }
}
