//! The verification cache of [`super::SoftHsm`]: prepared SM2 public keys
//! (their fixed-base tables), kept for keys seen more than once and
//! dropped least recently used first.

use std::collections::HashMap;
use std::sync::Arc;

use crate::crypto::sm2::VerifyingKey;

/// Public keys whose prepared tables are kept (about 37 KiB each, so at
/// most about 2.4 MiB). A hub talks to a few dozen partners and terminal
/// keys; beyond that the least recently used key is dropped.
pub(super) const VERIFY_CACHE_CAPACITY: usize = 64;

/// What the verification cache knows about a public key.
pub(super) enum Lookup {
    /// Never seen: verify without preparing.
    New,
    /// Seen once before: prepare it now and keep it.
    SeenBefore,
    /// Prepared and kept.
    Prepared(Arc<VerifyingKey>),
}

/// Least-recently-used cache of prepared public keys, keyed by the bytes
/// callers pass.
#[derive(Default)]
pub(super) struct VerifyCache {
    pub(super) entries: HashMap<Vec<u8>, CacheEntry>,
    clock: u64,
}

pub(super) struct CacheEntry {
    prepared: Option<Arc<VerifyingKey>>,
    last_used: u64,
}

impl VerifyCache {
    pub(super) fn look_up(&mut self, public_key: &[u8]) -> Lookup {
        self.clock += 1;
        if let Some(entry) = self.entries.get_mut(public_key) {
            entry.last_used = self.clock;
            return match &entry.prepared {
                Some(key) => Lookup::Prepared(Arc::clone(key)),
                None => Lookup::SeenBefore,
            };
        }
        self.make_room();
        self.entries.insert(
            public_key.to_vec(),
            CacheEntry {
                prepared: None,
                last_used: self.clock,
            },
        );
        Lookup::New
    }

    pub(super) fn store(&mut self, public_key: &[u8], key: Arc<VerifyingKey>) {
        self.clock += 1;
        if !self.entries.contains_key(public_key) {
            self.make_room();
        }
        self.entries.insert(
            public_key.to_vec(),
            CacheEntry {
                prepared: Some(key),
                last_used: self.clock,
            },
        );
    }

    fn make_room(&mut self) {
        while self.entries.len() >= VERIFY_CACHE_CAPACITY {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.entries.remove(&k),
                None => break,
            };
        }
    }
}
