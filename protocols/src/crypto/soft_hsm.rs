//! [`SoftHsm`]: the software [`Hsm`]. Keys live in process memory, loaded
//! from a key file ([`super::keyfile`]) or derived at run time, and are
//! zeroized when dropped. No method returns secret bytes.
//!
//! It is not a hardware cipher machine: a process dump reveals its keys.
//! Production sites that need more plug a hardware implementation in
//! behind the same trait.
//!
//! Verification keeps a small cache of prepared public keys
//! ([`super::sm2::VerifyingKey`]): the second time a public key is seen its
//! fixed-base table is built and kept, so partners and terminals that
//! verify again and again with one key take the fast path.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use zeroize::Zeroizing;

use super::hsm::{Hsm, HsmError, KeyKind, KeyLabel, Padding, Sm4Mode};
use super::keyfile::{KeyFile, KeyFileError};
use super::sm2::{SigningKey, Sm2Error, VerifyingKey};
use super::sm3;
use super::sm4::{Sm4Error, Sm4Key};

/// Public keys whose prepared tables are kept (about 37 KiB each, so at
/// most about 2.4 MiB). A hub talks to a few dozen partners and terminal
/// keys; beyond that the least recently used key is dropped.
const VERIFY_CACHE_CAPACITY: usize = 64;

/// Shortest HMAC-SM3 key accepted: 128 bits.
const MIN_HMAC_KEY_LEN: usize = 16;

/// A key held in memory.
enum Key {
    /// Expanded SM4 round keys (zeroized on drop by [`Sm4Key`]).
    Sm4(Sm4Key),
    /// HMAC-SM3 secret.
    HmacSm3(Zeroizing<Vec<u8>>),
    /// SM2 private key (zeroized on drop by [`SigningKey`]).
    Sm2(SigningKey),
}

impl Key {
    fn kind(&self) -> KeyKind {
        match self {
            Key::Sm4(_) => KeyKind::Sm4,
            Key::HmacSm3(_) => KeyKind::HmacSm3,
            Key::Sm2(_) => KeyKind::Sm2,
        }
    }
}

/// The software key store.
pub struct SoftHsm {
    /// Keys are boxed so that a growing map moves pointers, not key bytes:
    /// a moved-from bucket is freed without being zeroized.
    keys: RwLock<HashMap<KeyLabel, Box<Key>>>,
    verify_cache: Mutex<VerifyCache>,
}

impl SoftHsm {
    /// An empty key store.
    pub fn new() -> Self {
        Self {
            keys: RwLock::new(HashMap::new()),
            verify_cache: Mutex::new(VerifyCache::default()),
        }
    }

    /// A store holding every key of a key file.
    pub fn from_key_file(file: &KeyFile) -> Result<Self, KeyFileError> {
        let hsm = Self::new();
        for (label, material) in file.keys() {
            let key = match material.kind {
                KeyKind::Sm4 => {
                    let bytes: &[u8; 16] = material.bytes.as_slice().try_into().map_err(|_| {
                        KeyFileError::WrongLength {
                            label: label.to_string(),
                            kind: "sm4",
                            expected: "16 bytes",
                            found: material.bytes.len(),
                        }
                    })?;
                    Key::Sm4(Sm4Key::new(bytes))
                }
                KeyKind::HmacSm3 => Key::HmacSm3(material.bytes.clone()),
                KeyKind::Sm2 => {
                    let bad = || KeyFileError::BadSm2Key {
                        label: label.to_string(),
                    };
                    let bytes: &[u8; 32] =
                        material.bytes.as_slice().try_into().map_err(|_| bad())?;
                    Key::Sm2(SigningKey::from_bytes(bytes).map_err(|_| bad())?)
                }
            };
            hsm.write().insert(label.clone(), Box::new(key));
        }
        Ok(hsm)
    }

    /// A store with fresh random keys under the four hub labels
    /// ([`super::labels::HUB_KEYS`]), for tests and throwaway development runs.
    /// Every call gives different keys.
    pub fn for_tests() -> Self {
        Self::from_key_file(&KeyFile::generate_development())
            .expect("generated key files are valid")
    }

    /// Adds an SM4 key; refuses a label already in use.
    pub fn insert_sm4(&self, label: impl Into<KeyLabel>, key: [u8; 16]) -> Result<(), HsmError> {
        let key = Zeroizing::new(key);
        self.insert_new(label.into(), Key::Sm4(Sm4Key::new(&key)))
    }

    /// Adds an HMAC-SM3 key (at least 16 bytes); refuses a label already in
    /// use.
    pub fn insert_hmac(&self, label: impl Into<KeyLabel>, key: Vec<u8>) -> Result<(), HsmError> {
        let key = Zeroizing::new(key);
        if key.len() < MIN_HMAC_KEY_LEN {
            return Err(HsmError::Malformed {
                what: "HMAC-SM3 key",
                reason: format!(
                    "{} bytes is too short; use at least {MIN_HMAC_KEY_LEN}",
                    key.len()
                ),
            });
        }
        self.insert_new(label.into(), Key::HmacSm3(key))
    }

    /// Generates an SM2 key pair under `label` and returns its public key
    /// (SEC1 uncompressed, 65 bytes); refuses a label already in use.
    pub fn generate_sm2(&self, label: impl Into<KeyLabel>) -> Result<Vec<u8>, HsmError> {
        let key = SigningKey::generate();
        let public = key.public_key().to_vec();
        self.insert_new(label.into(), Key::Sm2(key))?;
        Ok(public)
    }

    /// Every label held, with its kind, sorted by label.
    pub fn labels(&self) -> Vec<(KeyLabel, KeyKind)> {
        let mut all: Vec<_> = self
            .read()
            .iter()
            .map(|(l, k)| (l.clone(), k.kind()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn insert_new(&self, label: KeyLabel, key: Key) -> Result<(), HsmError> {
        let mut keys = self.write();
        if keys.contains_key(&label) {
            return Err(HsmError::Exists(label));
        }
        keys.insert(label, Box::new(key));
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<KeyLabel, Box<Key>>> {
        // A panic while holding the lock cannot leave a half-written map
        // (every write is a single insert or remove), so a poisoned lock is
        // still consistent.
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<KeyLabel, Box<Key>>> {
        self.keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the SM4 key `label`.
    fn with_sm4<T>(&self, label: &KeyLabel, f: impl FnOnce(&Sm4Key) -> T) -> Result<T, HsmError> {
        match find(&self.read(), label)? {
            Key::Sm4(key) => Ok(f(key)),
            other => Err(wrong_kind(label, KeyKind::Sm4, other)),
        }
    }

    /// Runs `f` on the HMAC-SM3 secret `label`.
    fn with_hmac<T>(&self, label: &KeyLabel, f: impl FnOnce(&[u8]) -> T) -> Result<T, HsmError> {
        match find(&self.read(), label)? {
            Key::HmacSm3(secret) => Ok(f(secret)),
            other => Err(wrong_kind(label, KeyKind::HmacSm3, other)),
        }
    }

    /// Runs `f` on the SM2 key `label`.
    fn with_sm2<T>(
        &self,
        label: &KeyLabel,
        f: impl FnOnce(&SigningKey) -> T,
    ) -> Result<T, HsmError> {
        match find(&self.read(), label)? {
            Key::Sm2(key) => Ok(f(key)),
            other => Err(wrong_kind(label, KeyKind::Sm2, other)),
        }
    }
}

fn find<'a>(keys: &'a HashMap<KeyLabel, Box<Key>>, label: &KeyLabel) -> Result<&'a Key, HsmError> {
    keys.get(label)
        .map(|key| &**key)
        .ok_or_else(|| HsmError::UnknownKey(label.clone()))
}

fn wrong_kind(label: &KeyLabel, needed: KeyKind, key: &Key) -> HsmError {
    HsmError::WrongKind {
        label: label.clone(),
        needed,
        actual: key.kind(),
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SoftHsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftHsm")
            .field("keys", &self.labels())
            .finish_non_exhaustive()
    }
}

impl From<Sm4Error> for HsmError {
    fn from(e: Sm4Error) -> Self {
        match e {
            Sm4Error::BlockLength { len } => HsmError::BlockLength { len },
            Sm4Error::BadPadding => HsmError::BadPadding,
        }
    }
}

impl From<Sm2Error> for HsmError {
    fn from(e: Sm2Error) -> Self {
        let what = match e {
            Sm2Error::MalformedPublicKey(_) => "SM2 public key",
            Sm2Error::MalformedSignature(_) => "SM2 signature",
            Sm2Error::InvalidSecretKey => "SM2 private key",
        };
        HsmError::Malformed {
            what,
            reason: e.to_string(),
        }
    }
}

impl Hsm for SoftHsm {
    fn key_kind(&self, key: &KeyLabel) -> Option<KeyKind> {
        self.read().get(key).map(|k| k.kind())
    }

    fn diversify(
        &self,
        master: &KeyLabel,
        data: &[u8; 8],
        into: &KeyLabel,
    ) -> Result<(), HsmError> {
        let child = Zeroizing::new(self.with_sm4(master, |k| k.diversify(data))?);
        self.insert_new(into.clone(), Key::Sm4(Sm4Key::new(&child)))
    }

    fn cbc_mac(&self, key: &KeyLabel, iv: &[u8; 16], data: &[u8]) -> Result<[u8; 16], HsmError> {
        self.with_sm4(key, |k| k.cbc_mac(iv, data))
    }

    fn hmac_sm3(&self, key: &KeyLabel, data: &[u8]) -> Result<[u8; 32], HsmError> {
        self.with_hmac(key, |secret| sm3::hmac_sm3(secret, data))
    }

    fn encrypt(
        &self,
        key: &KeyLabel,
        mode: Sm4Mode,
        padding: Padding,
        data: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        Ok(self.with_sm4(key, |k| k.encrypt(mode, padding, data))??)
    }

    fn decrypt(
        &self,
        key: &KeyLabel,
        mode: Sm4Mode,
        padding: Padding,
        data: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        Ok(self.with_sm4(key, |k| k.decrypt(mode, padding, data))??)
    }

    fn sign(&self, key: &KeyLabel, message: &[u8]) -> Result<[u8; 64], HsmError> {
        self.with_sm2(key, |signing| signing.sign(message))
    }

    fn public_key(&self, key: &KeyLabel) -> Result<Vec<u8>, HsmError> {
        self.with_sm2(key, |signing| signing.public_key().to_vec())
    }

    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        let prepared = {
            let mut cache = self
                .verify_cache
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            cache.look_up(public_key)
        };
        let result = match prepared {
            Lookup::Prepared(key) => key.verify(message, signature),
            Lookup::SeenBefore => {
                let key = Arc::new(VerifyingKey::from_sec1(public_key)?);
                let result = key.verify(message, signature);
                let mut cache = self
                    .verify_cache
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                cache.store(public_key, key);
                result
            }
            Lookup::New => super::sm2::verify(public_key, message, signature),
        };
        Ok(result?)
    }

    fn destroy_key(&self, key: &KeyLabel) -> Result<(), HsmError> {
        self.write()
            .remove(key)
            .map(drop)
            .ok_or_else(|| HsmError::UnknownKey(key.clone()))
    }
}

/// What the verification cache knows about a public key.
enum Lookup {
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
struct VerifyCache {
    entries: HashMap<Vec<u8>, CacheEntry>,
    clock: u64,
}

struct CacheEntry {
    prepared: Option<Arc<VerifyingKey>>,
    last_used: u64,
}

impl VerifyCache {
    fn look_up(&mut self, public_key: &[u8]) -> Lookup {
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

    fn store(&mut self, public_key: &[u8], key: Arc<VerifyingKey>) {
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

#[cfg(test)]
mod tests;
