//! One map type for the crate's maps keyed by a string (a room, an event name, an id).
//!
//! A `HashMap<String, V>` is a copy of the hash table's code (insert, growth, lookup,
//! removal, drop) for every value type `V`; the browser package had a dozen of them (issue
//! 24, package size). [`Keyed`] keeps its entries in a list and finds them through one
//! `HashMap<String, usize>`, the same for every `V`: what is left per value type is the
//! list's code, a fraction of the table's.
//!
//! The entries are walked in the list's order: insertion order, except that a removal moves
//! the last entry into the removed one's place. A `HashMap`'s order was its hashes'; no
//! caller depends on either.

use std::collections::HashMap;

/// A map from strings to `V`, with the `HashMap` methods the crate uses.
#[derive(Clone)]
pub struct Keyed<V> {
    at: HashMap<String, usize>,
    list: Vec<(String, V)>,
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Keyed {
            at: HashMap::new(),
            list: Vec::new(),
        }
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for Keyed<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> Keyed<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.at.contains_key(key)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.at.get(key).map(|&i| &self.list[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.at.get(key).map(|&i| &mut self.list[i].1)
    }

    /// Set `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.at.get(key.as_str()) {
            Some(&i) => Some(std::mem::replace(&mut self.list[i].1, value)),
            None => {
                self.at.insert(key.clone(), self.list.len());
                self.list.push((key, value));
                None
            }
        }
    }

    /// The value of `key`, made by `make` first when there is none (`entry().or_insert_with`).
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.at.get(key) {
            Some(&i) => i,
            None => {
                self.at.insert(key.to_owned(), self.list.len());
                self.list.push((key.to_owned(), make()));
                self.list.len() - 1
            }
        };
        &mut self.list[i].1
    }

    /// Remove `key`; its value, if it had one.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.at.remove(key)?;
        let (_, value) = self.list.swap_remove(i);
        if let Some((moved, _)) = self.list.get(i) {
            // The last entry took the removed one's place.
            if let Some(at) = self.at.get_mut(moved.as_str()) {
                *at = i;
            }
        }
        Some(value)
    }

    pub fn clear(&mut self) {
        self.at.clear();
        self.list.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.list.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.list.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.list.iter().map(|(_, v)| v)
    }

    /// Every entry, leaving the map empty.
    pub fn drain(&mut self) -> std::vec::Drain<'_, (String, V)> {
        self.at.clear();
        self.list.drain(..)
    }

    /// Keep only the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut V) -> bool) {
        let list = std::mem::take(&mut self.list);
        self.at.clear();
        for (k, mut v) in list {
            if keep(&k, &mut v) {
                self.at.insert(k.clone(), self.list.len());
                self.list.push((k, v));
            }
        }
    }
}

impl<V> IntoIterator for Keyed<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter()
    }
}

impl<V> FromIterator<(String, V)> for Keyed<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(entries: I) -> Self {
        let mut map = Keyed::new();
        for (k, v) in entries {
            map.insert(k, v);
        }
        map
    }
}

/// A set of strings: a [`Keyed`] without values, so the same hash table code again rather
/// than a `HashSet<String>` of its own (issue 24, package size).
#[derive(Clone, Debug, Default)]
pub struct KeySet(Keyed<()>);

impl KeySet {
    // `new` and `iter`: only the browser edge (src/wasm) uses them.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `key`; false when it was there already.
    pub fn insert(&mut self, key: String) -> bool {
        if self.0.contains_key(&key) {
            return false;
        }
        self.0.insert(key, ());
        true
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Remove `key`; false when it was not there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.0.remove(key).is_some()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
}

impl Extend<String> for KeySet {
    fn extend<I: IntoIterator<Item = String>>(&mut self, keys: I) {
        for k in keys {
            self.insert(k);
        }
    }
}

/// A map from numeric ids (request ids) to `V` the same way: a list found through one
/// `HashMap<u64, usize>`, the map type the store's write path has, instead of a
/// `HashMap<u64, V>` per value type (issue 24, package size).
pub struct ById<V> {
    at: HashMap<u64, usize>,
    list: Vec<(u64, V)>,
}

impl<V> Default for ById<V> {
    fn default() -> Self {
        ById {
            at: HashMap::new(),
            list: Vec::new(),
        }
    }
}

// Only the browser edge (src/wasm) uses it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl<V> ById<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `id` to `value`; the value it had, if any.
    pub fn insert(&mut self, id: u64, value: V) -> Option<V> {
        match self.at.get(&id) {
            Some(&i) => Some(std::mem::replace(&mut self.list[i].1, value)),
            None => {
                self.at.insert(id, self.list.len());
                self.list.push((id, value));
                None
            }
        }
    }

    /// Remove `id`; its value, if it had one.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let i = self.at.remove(&id)?;
        let (_, value) = self.list.swap_remove(i);
        if let Some(&(moved, _)) = self.list.get(i) {
            // The last entry took the removed one's place.
            self.at.insert(moved, i);
        }
        Some(value)
    }

    /// Every entry, leaving the map empty.
    pub fn drain(&mut self) -> std::vec::Drain<'_, (u64, V)> {
        self.at.clear();
        self.list.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::Keyed;

    /// Random inserts, removals, replacements and retains give the same contents as a
    /// `HashMap`, and every key finds its value after the removals moved entries.
    #[test]
    fn it_holds_what_a_hash_map_holds() {
        let mut seed = 0x2545_f491_u32;
        let mut next = |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed % n
        };
        let mut ours: Keyed<u32> = Keyed::new();
        let mut std: HashMap<String, u32> = HashMap::new();
        for step in 0..4_000 {
            let key = format!("k{}", next(50));
            match next(10) {
                0..=4 => assert_eq!(ours.insert(key.clone(), step), std.insert(key, step)),
                5..=7 => assert_eq!(ours.remove(&key), std.remove(&key)),
                8 => {
                    *ours.get_or_insert_with(&key, || step) += 1;
                    *std.entry(key).or_insert(step) += 1;
                }
                _ => {
                    let cut = next(50);
                    ours.retain(|_, v| *v % 50 != cut);
                    std.retain(|_, v| *v % 50 != cut);
                }
            }
            assert_eq!(ours.len(), std.len());
            for (k, v) in &std {
                assert_eq!(ours.get(k), Some(v), "step {step}, key {k}");
            }
        }
        let mut drained: Vec<(String, u32)> = ours.drain().collect();
        drained.sort();
        let mut want: Vec<(String, u32)> = std.into_iter().collect();
        want.sort();
        assert_eq!(drained, want);
        assert!(ours.is_empty() && ours.get("k1").is_none());
    }

    /// `ById` holds what a `HashMap<u64, _>` holds through inserts and removals.
    #[test]
    fn by_id_holds_what_a_hash_map_holds() {
        let mut seed = 0x9e37_79b9_u32;
        let mut ours: super::ById<u32> = super::ById::new();
        let mut std: HashMap<u64, u32> = HashMap::new();
        for step in 0..2_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let id = u64::from(seed % 40);
            if seed % 3 == 0 {
                assert_eq!(ours.remove(id), std.remove(&id), "step {step}");
            } else {
                assert_eq!(ours.insert(id, step), std.insert(id, step), "step {step}");
            }
        }
        let mut drained: Vec<(u64, u32)> = ours.drain().collect();
        drained.sort();
        let mut want: Vec<(u64, u32)> = std.into_iter().collect();
        want.sort();
        assert_eq!(drained, want);
    }

    /// `KeySet` answers as a `HashSet<String>` does.
    #[test]
    fn key_set_answers_as_a_hash_set() {
        let mut ours = super::KeySet::new();
        let mut std = std::collections::HashSet::new();
        for (i, k) in ["a", "b", "a", "c", "b", "d"].into_iter().enumerate() {
            if i % 3 == 2 {
                assert_eq!(ours.remove(k), std.remove(k));
            } else {
                assert_eq!(ours.insert(k.to_owned()), std.insert(k.to_owned()));
            }
            for k in ["a", "b", "c", "d"] {
                assert_eq!(ours.contains(k), std.contains(k));
            }
        }
        let mut keys: Vec<&String> = ours.iter().collect();
        keys.sort();
        let mut want: Vec<&String> = std.iter().collect();
        want.sort();
        assert_eq!(keys, want);
    }
}
