//! [`SoftHsm`]: the software [`Hsm`]. Keys live in process memory, loaded
//! from a key file ([`super::keyfile`]) or derived at run time, and are
//! zeroized when dropped. No method returns secret bytes.
//!
//! It is not a hardware cipher machine: a process dump reveals its keys.
//! Production sites that need more plug a hardware implementation in
//! behind the same trait.
//!
//! Block-cipher keys (SM4, 2-key 3DES) keep their 16 key bytes beside the
//! expanded schedule so that [`Hsm::wrap_key`] can encrypt them under a
//! card's transport key; the bytes leave only encrypted.
//!
//! Verification keeps a small cache of prepared public keys
//! ([`super::sm2::VerifyingKey`], see `verify_cache`): the second time a
//! public key is seen its fixed-base table is built and kept, so partners
//! and terminals that verify again and again with one key take the fast
//! path.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use zeroize::Zeroizing;

use super::hsm::{Hsm, HsmError, KeyKind, KeyLabel, Padding, Sm4Mode};
use super::keyfile::{KeyFile, KeyFileError};
use super::sm2::{SigningKey, Sm2Error, VerifyingKey};
use super::sm3;
use super::sm4::{Sm4Error, Sm4Key};
use super::tdes::{TdesBlockLength, TdesKey};
#[cfg(test)]
use verify_cache::VERIFY_CACHE_CAPACITY;
use verify_cache::{Lookup, VerifyCache};

/// Shortest HMAC-SM3 key accepted: 128 bits.
const MIN_HMAC_KEY_LEN: usize = 16;

/// A key held in memory.
enum Key {
    /// Expanded SM4 round keys (zeroized on drop by [`Sm4Key`]) and the key
    /// bytes (for wrapping).
    Sm4(Sm4Key, Zeroizing<[u8; 16]>),
    /// Expanded 2-key 3DES (zeroized on drop by `des`) and the key bytes.
    Tdes(TdesKey, Zeroizing<[u8; 16]>),
    /// HMAC-SM3 key, its pads hashed once (zeroized on drop).
    HmacSm3(sm3::HmacSm3Key),
    /// SM2 private key (zeroized on drop by [`SigningKey`]).
    Sm2(SigningKey),
}

impl Key {
    fn kind(&self) -> KeyKind {
        match self {
            Key::Sm4(..) => KeyKind::Sm4,
            Key::Tdes(..) => KeyKind::Tdes,
            Key::HmacSm3(_) => KeyKind::HmacSm3,
            Key::Sm2(_) => KeyKind::Sm2,
        }
    }

    fn sm4(bytes: &[u8; 16]) -> Self {
        Key::Sm4(Sm4Key::new(bytes), Zeroizing::new(*bytes))
    }

    fn tdes(bytes: &[u8; 16]) -> Self {
        Key::Tdes(TdesKey::new(bytes), Zeroizing::new(*bytes))
    }

    /// A block-cipher key of `kind` (SM4 or 3DES) from its bytes.
    fn block_cipher(kind: KeyKind, bytes: &[u8; 16]) -> Self {
        if kind == KeyKind::Tdes {
            Key::tdes(bytes)
        } else {
            Key::sm4(bytes)
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
                KeyKind::Sm4 | KeyKind::Tdes => {
                    let bytes: &[u8; 16] = material.bytes.as_slice().try_into().map_err(|_| {
                        KeyFileError::WrongLength {
                            label: label.to_string(),
                            kind: if material.kind == KeyKind::Sm4 {
                                "sm4"
                            } else {
                                "tdes"
                            },
                            expected: "16 bytes",
                            found: material.bytes.len(),
                        }
                    })?;
                    Key::block_cipher(material.kind, bytes)
                }
                KeyKind::HmacSm3 => Key::HmacSm3(sm3::HmacSm3Key::new(&material.bytes)),
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

    /// A store with fresh random keys under the hub labels
    /// ([`super::labels::HUB_KEYS`]) and the chip masters
    /// ([`super::labels::CHIP_MASTERS`]), for tests and throwaway
    /// development runs. Every call gives different keys.
    pub fn for_tests() -> Self {
        Self::from_key_file(&KeyFile::generate_development())
            .expect("generated key files are valid")
    }

    /// Adds an SM4 key; refuses a label already in use.
    pub fn insert_sm4(&self, label: impl Into<KeyLabel>, key: [u8; 16]) -> Result<(), HsmError> {
        let key = Zeroizing::new(key);
        self.insert_new(label.into(), Key::sm4(&key))
    }

    /// Adds a 2-key 3DES key (`K1 || K2`); refuses a label already in use.
    pub fn insert_tdes(&self, label: impl Into<KeyLabel>, key: [u8; 16]) -> Result<(), HsmError> {
        let key = Zeroizing::new(key);
        self.insert_new(label.into(), Key::tdes(&key))
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
        self.insert_new(label.into(), Key::HmacSm3(sm3::HmacSm3Key::new(&key)))
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
            Key::Sm4(key, _) => Ok(f(key)),
            other => Err(wrong_kind(label, KeyKind::Sm4, other)),
        }
    }

    /// Runs `f` on the block-cipher (SM4 or 3DES) key `label`.
    fn with_block<T>(
        &self,
        label: &KeyLabel,
        f: impl FnOnce(BlockKey<'_>) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        match find(&self.read(), label)? {
            Key::Sm4(key, _) => f(BlockKey::Sm4(key)),
            Key::Tdes(key, _) => f(BlockKey::Tdes(key)),
            other => Err(wrong_kind(label, KeyKind::Sm4, other)),
        }
    }

    /// Runs `f` on the HMAC-SM3 secret `label`.
    fn with_hmac<T>(
        &self,
        label: &KeyLabel,
        f: impl FnOnce(&sm3::HmacSm3Key) -> T,
    ) -> Result<T, HsmError> {
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

/// A borrowed block-cipher key.
enum BlockKey<'a> {
    Sm4(&'a Sm4Key),
    Tdes(&'a TdesKey),
}

impl BlockKey<'_> {
    fn kind(&self) -> KeyKind {
        match self {
            BlockKey::Sm4(_) => KeyKind::Sm4,
            BlockKey::Tdes(_) => KeyKind::Tdes,
        }
    }

    fn ecb_encrypt(&self, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        match self {
            BlockKey::Sm4(k) => Ok(k.encrypt(Sm4Mode::Ecb, Padding::None, data)?),
            BlockKey::Tdes(k) => Ok(k.ecb_encrypt(data)?),
        }
    }

    fn diversify(&self, data: &[u8; 8]) -> Key {
        let child = Zeroizing::new(match self {
            BlockKey::Sm4(k) => k.diversify(data),
            BlockKey::Tdes(k) => k.diversify(data),
        });
        Key::block_cipher(self.kind(), &child)
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
            Sm4Error::BlockLength { len } => HsmError::BlockLength { len, block: 16 },
            Sm4Error::BadPadding => HsmError::BadPadding,
        }
    }
}

impl From<TdesBlockLength> for HsmError {
    fn from(e: TdesBlockLength) -> Self {
        HsmError::BlockLength {
            len: e.len,
            block: 8,
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
        let child = self.with_block(master, |k| Ok(k.diversify(data)))?;
        self.insert_new(into.clone(), child)
    }

    fn session_key(
        &self,
        key: &KeyLabel,
        input: &[u8; 8],
        into: &KeyLabel,
    ) -> Result<(), HsmError> {
        let session = self.with_block(key, |k| {
            Ok(match k {
                BlockKey::Sm4(_) => k.diversify(input),
                BlockKey::Tdes(t) => Key::tdes(&Zeroizing::new(t.session_key(input))),
            })
        })?;
        self.insert_new(into.clone(), session)
    }

    fn cbc_mac(&self, key: &KeyLabel, iv: &[u8], data: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.with_block(key, |k| {
            let bad_iv = |expected| HsmError::IvLength {
                label: key.clone(),
                expected,
                found: iv.len(),
            };
            Ok(match k {
                BlockKey::Sm4(k) => k
                    .cbc_mac(iv.try_into().map_err(|_| bad_iv(16))?, data)
                    .to_vec(),
                BlockKey::Tdes(k) => k
                    .cbc_mac(iv.try_into().map_err(|_| bad_iv(8))?, data)
                    .to_vec(),
            })
        })
    }

    fn ecb_encrypt(&self, key: &KeyLabel, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.with_block(key, |k| k.ecb_encrypt(data))
    }

    fn wrap_key(&self, key: &KeyLabel, under: &KeyLabel) -> Result<Vec<u8>, HsmError> {
        let keys = self.read();
        let (kind, bytes) = match find(&keys, key)? {
            Key::Sm4(_, bytes) => (KeyKind::Sm4, bytes),
            Key::Tdes(_, bytes) => (KeyKind::Tdes, bytes),
            other => return Err(wrong_kind(key, KeyKind::Sm4, other)),
        };
        let wrapping = match find(&keys, under)? {
            Key::Sm4(k, _) => BlockKey::Sm4(k),
            Key::Tdes(k, _) => BlockKey::Tdes(k),
            other => return Err(wrong_kind(under, kind, other)),
        };
        if wrapping.kind() != kind {
            return Err(HsmError::WrongKind {
                label: under.clone(),
                needed: kind,
                actual: wrapping.kind(),
            });
        }
        wrapping.ecb_encrypt(&bytes[..])
    }

    fn hmac_sm3(&self, key: &KeyLabel, data: &[u8]) -> Result<[u8; 32], HsmError> {
        self.with_hmac(key, |prepared| prepared.mac(data))
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

mod verify_cache;

#[cfg(test)]
mod tests;
