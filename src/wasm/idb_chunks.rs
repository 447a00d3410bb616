//! The chunks a store operation has read, by id.
//!
//! A list found through a `HashMap<u64, usize>`, the map type the write path already has
//! (`by_seq`, positions, plans), rather than a `HashMap<u64, Chunk>`: that map's code was
//! one more instance of the hash table's insert, growth, lookup and drop, for an element
//! the size of a chunk (issue 24, package size). Walked in the order the chunks were read,
//! where the map's order was its hashes'; nothing depends on that order (what the walks
//! build is sorted, collected into sets, or written whatever the order).

use std::collections::HashMap;

use super::idb_records::Chunk;

#[derive(Default)]
pub(crate) struct Chunks {
    at: HashMap<u64, usize>,
    list: Vec<(u64, Chunk)>,
}

impl Chunks {
    /// Keep `chunk` as chunk `id`, in place of the one read before under that id.
    pub(crate) fn insert(&mut self, id: u64, chunk: Chunk) {
        match self.at.get(&id) {
            Some(&i) => self.list[i].1 = chunk,
            None => {
                self.at.insert(id, self.list.len());
                self.list.push((id, chunk));
            }
        }
    }

    pub(crate) fn contains_key(&self, id: &u64) -> bool {
        self.at.contains_key(id)
    }

    pub(crate) fn get(&self, id: &u64) -> Option<&Chunk> {
        self.at.get(id).map(|&i| &self.list[i].1)
    }

    pub(crate) fn get_mut(&mut self, id: &u64) -> Option<&mut Chunk> {
        self.at.get(id).map(|&i| &mut self.list[i].1)
    }

    /// Each chunk with its id, in the order they were read.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u64, &Chunk)> {
        self.list.iter().map(|(id, c)| (id, c))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&u64, &mut Chunk)> {
        self.list.iter_mut().map(|(id, c)| (&*id, c))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Chunk> {
        self.list.iter().map(|(_, c)| c)
    }
}

impl std::ops::Index<&u64> for Chunks {
    type Output = Chunk;

    fn index(&self, id: &u64) -> &Chunk {
        &self.list[self.at[id]].1
    }
}

/// A set of chunk ids, in the order they were added: the ids a lookup named, the chunks a
/// write changed. Through a `HashMap<u64, usize>` (each id's place in the list) like
/// [`Chunks`], not a `HashSet<u64>`: one hash table instance less (issue 24, package size).
#[derive(Default)]
pub(crate) struct ChunkIds {
    at: HashMap<u64, usize>,
    list: Vec<u64>,
}

impl ChunkIds {
    /// Add `id`; false when it was there already.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        if self.at.contains_key(&id) {
            return false;
        }
        self.at.insert(id, self.list.len());
        self.list.push(id);
        true
    }

    pub(crate) fn contains(&self, id: &u64) -> bool {
        self.at.contains_key(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &u64> {
        self.list.iter()
    }

    /// Keep only the ids `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl Fn(&u64) -> bool) {
        let list = std::mem::take(&mut self.list);
        self.at.clear();
        for id in list.into_iter().filter(|id| keep(id)) {
            self.insert(id);
        }
    }
}

impl Extend<u64> for ChunkIds {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, ids: I) {
        for id in ids {
            self.insert(id);
        }
    }
}

impl FromIterator<u64> for ChunkIds {
    fn from_iter<I: IntoIterator<Item = u64>>(ids: I) -> Self {
        let mut set = ChunkIds::default();
        set.extend(ids);
        set
    }
}

impl IntoIterator for ChunkIds {
    type Item = u64;
    type IntoIter = std::vec::IntoIter<u64>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter()
    }
}
