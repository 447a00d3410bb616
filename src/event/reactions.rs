//! [`Reactions`]: who reacted to a message with what.
//!
//! A list sorted by emoji, read and written as the JSON object (emoji → senders) the
//! `BTreeMap<String, Vec<String>>` it replaces was, keys in the same order. The B-tree's
//! code (insertion, search, removal, cloning, drop) was in the browser package for this one
//! map of a few entries, about 2 KB gzipped (issue 24, package size).

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Emoji → occupant-ids (the nick for senders without one) of those who reacted with it.
/// Sorted by emoji, each list sorted, so two stores holding the same reactions compare
/// equal.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Reactions(Vec<(String, Vec<String>)>);

impl Reactions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The senders of `emoji`, if any reacted with it.
    pub fn get(&self, emoji: &str) -> Option<&Vec<String>> {
        self.find(emoji).ok().map(|i| &self.0[i].1)
    }

    /// The senders of `emoji`, an empty list added first when there is none
    /// (`entry(emoji).or_default()`).
    pub fn entry_or_default(&mut self, emoji: &str) -> &mut Vec<String> {
        let i = match self.find(emoji) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (emoji.to_owned(), Vec::new()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// Each emoji with its senders, by emoji.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.0.iter().map(|(e, who)| (e, who))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Vec<String>> {
        self.0.iter_mut().map(|(_, who)| who)
    }

    /// Keep only the emojis `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Vec<String>) -> bool) {
        self.0.retain_mut(|(e, who)| keep(e, who));
    }

    fn find(&self, emoji: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(e, _)| e.as_str().cmp(emoji))
    }

    /// Set `emoji`'s senders (the last one given wins, as in a map).
    fn set(&mut self, emoji: String, who: Vec<String>) {
        match self.find(&emoji) {
            Ok(i) => self.0[i].1 = who,
            Err(i) => self.0.insert(i, (emoji, who)),
        }
    }
}

impl FromIterator<(String, Vec<String>)> for Reactions {
    fn from_iter<I: IntoIterator<Item = (String, Vec<String>)>>(entries: I) -> Self {
        let mut r = Reactions::new();
        for (emoji, who) in entries {
            r.set(emoji, who);
        }
        r
    }
}

impl<const N: usize> From<[(String, Vec<String>); N]> for Reactions {
    fn from(entries: [(String, Vec<String>); N]) -> Self {
        entries.into_iter().collect()
    }
}

/// The senders of an emoji someone reacted with; panics for another, as a map's index does.
impl std::ops::Index<&str> for Reactions {
    type Output = Vec<String>;

    fn index(&self, emoji: &str) -> &Vec<String> {
        self.get(emoji).expect("no reaction with this emoji")
    }
}

impl IntoIterator for Reactions {
    type Item = (String, Vec<String>);
    type IntoIter = std::vec::IntoIter<(String, Vec<String>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Debug for Reactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Reactions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Reactions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ReactionsVisitor;

        impl<'de> Visitor<'de> for ReactionsVisitor {
            type Value = Reactions;

            // The message the map's own visitor gave.
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Reactions, A::Error> {
                let mut r = Reactions::new();
                while let Some((emoji, who)) = map.next_entry::<String, Vec<String>>()? {
                    r.set(emoji, who);
                }
                Ok(r)
            }
        }

        deserializer.deserialize_map(ReactionsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::Reactions;

    /// Written and read back as the `BTreeMap<String, Vec<String>>` it replaces was:
    /// same JSON, keys in the same order, a repeated key's last value kept, the same error
    /// for what is not an object; built, changed and compared alike.
    #[test]
    fn it_is_the_b_tree_map_it_replaces() {
        let text = r#"{"🎉":["b"],"👍":["a","c"],"a":[],"🎉":["z"]}"#;
        let ours: Reactions = serde_json::from_str(text).unwrap();
        let theirs: BTreeMap<String, Vec<String>> = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&theirs).unwrap()
        );
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        for bad in ["null", "[]", "1", r#"{"a":1}"#] {
            let ours = serde_json::from_str::<Reactions>(bad).unwrap_err();
            let theirs = serde_json::from_str::<BTreeMap<String, Vec<String>>>(bad).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string(), "{bad}");
        }
        let mut ours = Reactions::new();
        let mut theirs = BTreeMap::new();
        for (e, who) in [("x", "1"), ("b", "2"), ("x", "3"), ("a", "4")] {
            ours.entry_or_default(e).push(who.to_owned());
            theirs
                .entry(e.to_owned())
                .or_insert_with(Vec::new)
                .push(who.to_owned());
        }
        ours.retain(|e, _| e != "b");
        theirs.retain(|e, _| e != "b");
        let listed: Vec<_> = ours.iter().collect();
        assert_eq!(listed, theirs.iter().collect::<Vec<_>>());
        assert_eq!(ours, theirs.clone().into_iter().collect());
        assert_eq!(ours.get("x"), theirs.get("x"));
        assert_eq!(ours.len(), theirs.len());
    }
}
