//! A bounded cache of rasterised glyphs, shared by every thread drawing
//! pages.
//!
//! Two generations instead of a linked-list LRU: new entries go into the
//! young map; when it is full the young map becomes the old one (the
//! previous old map is dropped) and a fresh young map starts. A hit in the
//! old map moves the entry back to the young one. So the cache never holds
//! more than `capacity` entries, what was used since the last turn-over
//! survives it, and every operation is one or two hash look-ups. Names
//! repeat a few thousand common characters, which stay young.
//!
//! The lock is held only for the look-up and the insert, never while a
//! glyph is rasterised (`fonts` does that between the two).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// Two-generation bounded map; see the module docs.
#[derive(Debug)]
pub(crate) struct TwoGenerationCache<K, V> {
    generation_size: usize,
    young: HashMap<K, Arc<V>>,
    old: HashMap<K, Arc<V>>,
}

impl<K: Eq + Hash, V> TwoGenerationCache<K, V> {
    /// A cache holding at most `capacity` entries (at least 2: one per
    /// generation).
    pub(crate) fn new(capacity: usize) -> Self {
        let generation_size = (capacity / 2).max(1);
        Self {
            generation_size,
            young: HashMap::with_capacity(generation_size),
            old: HashMap::new(),
        }
    }

    /// The entry for `key`, if cached; a hit in the old generation is moved
    /// back to the young one.
    pub(crate) fn get(&mut self, key: &K) -> Option<Arc<V>>
    where
        K: Clone,
    {
        if let Some(value) = self.young.get(key) {
            return Some(Arc::clone(value));
        }
        let value = self.old.remove(key)?;
        self.insert(key.clone(), Arc::clone(&value));
        Some(value)
    }

    /// Caches `value` under `key`, turning the generations over first when
    /// the young one is full.
    pub(crate) fn insert(&mut self, key: K, value: Arc<V>) {
        if self.young.len() >= self.generation_size && !self.young.contains_key(&key) {
            self.old = std::mem::replace(
                &mut self.young,
                HashMap::with_capacity(self.generation_size),
            );
        }
        self.young.insert(key, value);
    }

    /// How many entries are cached.
    pub(crate) fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// The most entries it will ever hold.
    pub(crate) fn capacity(&self) -> usize {
        2 * self.generation_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_its_capacity() {
        let mut cache = TwoGenerationCache::new(10);
        for i in 0..1000u32 {
            cache.insert(i, Arc::new(i));
            assert!(cache.len() <= 10, "{} entries after {i}", cache.len());
        }
        assert_eq!(cache.capacity(), 10);
    }

    #[test]
    fn entries_in_use_survive_turn_overs() {
        let mut cache = TwoGenerationCache::new(4);
        cache.insert("张", Arc::new(1));
        for i in 0..100u32 {
            cache.insert(if i % 2 == 0 { "x" } else { "y" }, Arc::new(i));
            cache.insert(["a", "b", "c"][i as usize % 3], Arc::new(i));
            assert_eq!(
                cache.get(&"张").as_deref(),
                Some(&1),
                "lost after round {i}"
            );
        }
    }

    #[test]
    fn unused_entries_are_dropped() {
        let mut cache = TwoGenerationCache::new(4);
        cache.insert(0u32, Arc::new(0));
        for i in 1..10 {
            cache.insert(i, Arc::new(i));
        }
        assert!(cache.get(&0).is_none());
        assert_eq!(cache.get(&9).as_deref(), Some(&9));
    }
}
