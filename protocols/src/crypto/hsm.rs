//! The `Hsm` trait: every operation that touches key material goes through
//! it, so a hardware server cipher machine (服务器密码机) can replace the
//! software implementation by configuration alone. Callers name keys by
//! [`KeyLabel`]; they never see key bytes.
//!
//! [`SoftHsm`](super::SoftHsm) is the software implementation: it holds keys loaded from a
//! key file (see [`super::keyfile`]) and keys derived from them at run time.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name of a key held inside an [`Hsm`]. Labels are plain ASCII names
/// such as `field-encryption` or `card-master/issuer`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyLabel(pub String);

impl KeyLabel {
    /// A label from a string.
    pub fn new(label: impl Into<String>) -> Self {
        Self(label.into())
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for KeyLabel {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// What kind of key a label holds; an operation on the wrong kind is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyKind {
    /// A 128-bit SM4 key (encryption, CBC-MAC, diversification master).
    Sm4,
    /// A secret for HMAC-SM3 (blind indexes, audit chain, token digests).
    HmacSm3,
    /// An SM2 private key (signing); its public key can be exported.
    Sm2,
    /// A 2-key triple-DES key (16 bytes `K1 || K2`, 8-byte blocks): older
    /// cards' secure messaging and purse keys. Key files call it `tdes`.
    Tdes,
}

impl KeyKind {
    /// The cipher block length of a block-cipher key (16 for SM4, 8 for
    /// 3DES); `None` for HMAC and SM2 keys.
    pub fn block_len(self) -> Option<usize> {
        match self {
            KeyKind::Sm4 => Some(16),
            KeyKind::Tdes => Some(8),
            KeyKind::HmacSm3 | KeyKind::Sm2 => None,
        }
    }
}

/// The SM4 mode of an [`Hsm::encrypt`] / [`Hsm::decrypt`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sm4Mode {
    /// Electronic codebook; the data must be a multiple of 16 bytes unless
    /// padded.
    Ecb,
    /// Cipher block chaining with the given IV.
    Cbc {
        /// Initial vector.
        iv: [u8; 16],
    },
    /// Counter mode (big-endian 128-bit counter) starting at the given block.
    Ctr {
        /// Initial counter block.
        iv: [u8; 16],
    },
}

/// How plaintext is padded before ECB/CBC encryption (ignored for CTR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Padding {
    /// No padding: the input must already be a whole number of blocks.
    None,
    /// PKCS#7 (used for encrypted database columns).
    Pkcs7,
    /// ISO/IEC 9797-1 padding method 2: `80` then `00`s (used by cards).
    Iso9797M2,
}

/// An error from an [`Hsm`] operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// The label names no key.
    #[error(
        "no key labelled `{0}` in the key store: add it to the key file named in config (`crypto.key_file`)"
    )]
    UnknownKey(KeyLabel),
    /// The key exists but is of another kind than the operation needs (for
    /// operations that take SM4 or 3DES keys, `needed` names the kind that
    /// would have fit: the other key's kind when two keys must match).
    #[error("key `{label}` is a {actual:?} key, but this operation needs a {needed:?} key")]
    WrongKind {
        /// The key asked for.
        label: KeyLabel,
        /// What the operation needs.
        needed: KeyKind,
        /// What the key is.
        actual: KeyKind,
    },
    /// Input length does not fit the mode/padding.
    #[error(
        "data of {len} bytes is not a whole number of {block}-byte blocks and no padding was asked for"
    )]
    BlockLength {
        /// The length given.
        len: usize,
        /// The key's block length (16 for SM4, 8 for 3DES).
        block: usize,
    },
    /// A chaining value (IV) does not have the key's block length.
    #[error(
        "an IV of {found} bytes was given for key `{label}`, whose blocks are {expected} bytes (SM4: 16, 3DES: 8)"
    )]
    IvLength {
        /// The key used.
        label: KeyLabel,
        /// The key's block length.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// Decryption found bad padding: wrong key or corrupted data.
    #[error(
        "decryption produced invalid padding: the data was corrupted or encrypted under another key"
    )]
    BadPadding,
    /// A public key or signature could not be decoded.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded ("SM2 public key", "signature").
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The key store refused to overwrite an existing key.
    #[error("a key labelled `{0}` already exists; derived keys must use a new label")]
    Exists(KeyLabel),
    /// The backing device failed (hardware HSMs).
    #[error("the cipher machine failed: {0}")]
    Device(String),
}

/// Every key operation cardhub performs. Implementations must be safe to
/// share between threads; key material never leaves them.
pub trait Hsm: Send + Sync + fmt::Debug + 'static {
    /// Whether a key with this label exists, and its kind.
    fn key_kind(&self, key: &KeyLabel) -> Option<KeyKind>;

    /// Derives a child key from a block-cipher master (SM4 or 3DES) and 8
    /// bytes of card data, and stores it under `into` with the master's
    /// kind (refusing a label in use, [`HsmError::Exists`]). The card-chip
    /// scheme: SM4 `child = SM4(master, D || !D)`, one 16-byte block where
    /// `!D` is the bitwise inverse of `D`; 3DES `child = 3DES(master, D) ||
    /// 3DES(master, !D)`. Returns nothing but success.
    fn diversify(&self, master: &KeyLabel, data: &[u8; 8], into: &KeyLabel)
    -> Result<(), HsmError>;

    /// Derives a purse session key from a block-cipher key and the 8-byte
    /// `input` (`random || counter || 8000` for a load) and stores it under
    /// `into`. SM4: `SM4(key, In || !In)` (the diversification shape).
    /// 3DES: the 8-byte single-DES key `S = 3DES(key, In)`, stored as the
    /// 3DES key `S || S`, which computes single DES with `S`.
    fn session_key(&self, key: &KeyLabel, input: &[u8; 8], into: &KeyLabel)
    -> Result<(), HsmError>;

    /// CBC-MAC, ISO/IEC 9797-1 MAC algorithm 1 with padding method 2, under
    /// an SM4 or 3DES key, starting from `iv` of the key's block length
    /// (zero, or the card's challenge; [`HsmError::IvLength`] otherwise).
    /// Returns the full last block (16 or 8 bytes); cards keep the first 4.
    fn cbc_mac(&self, key: &KeyLabel, iv: &[u8], data: &[u8]) -> Result<Vec<u8>, HsmError>;

    /// ECB encryption of whole blocks (no padding) under an SM4 or 3DES key:
    /// card authentication cryptograms and PIN blocks.
    fn ecb_encrypt(&self, key: &KeyLabel, data: &[u8]) -> Result<Vec<u8>, HsmError>;

    /// The bytes of the key `key` encrypted in ECB under the key `under`
    /// (both SM4 or both 3DES): how a per-card key travels to the card in
    /// WRITE KEY, wrapped under the card's transport key. The key's bytes
    /// never leave the store in clear.
    fn wrap_key(&self, key: &KeyLabel, under: &KeyLabel) -> Result<Vec<u8>, HsmError>;

    /// HMAC-SM3 of `data` under an HMAC key.
    fn hmac_sm3(&self, key: &KeyLabel, data: &[u8]) -> Result<[u8; 32], HsmError>;

    /// SM4 encryption in the given mode with the given padding.
    fn encrypt(
        &self,
        key: &KeyLabel,
        mode: Sm4Mode,
        padding: Padding,
        data: &[u8],
    ) -> Result<Vec<u8>, HsmError>;

    /// SM4 decryption; the inverse of [`Hsm::encrypt`] with the same arguments.
    fn decrypt(
        &self,
        key: &KeyLabel,
        mode: Sm4Mode,
        padding: Padding,
        data: &[u8],
    ) -> Result<Vec<u8>, HsmError>;

    /// SM2 signature (SM3 digest with the distinguishing ID
    /// `1234567812345678`), as 64 bytes `r || s`.
    fn sign(&self, key: &KeyLabel, message: &[u8]) -> Result<[u8; 64], HsmError>;

    /// The SEC1 uncompressed public key (65 bytes, `04 || x || y`) of an SM2
    /// key held here.
    fn public_key(&self, key: &KeyLabel) -> Result<Vec<u8>, HsmError>;

    /// Verifies an SM2 signature (`r || s`, 64 bytes) by a SEC1 public key
    /// with the default distinguishing ID. `Ok(false)` for a well-formed but
    /// wrong signature; `Err` for a malformed key or signature.
    fn verify(&self, public_key: &[u8], message: &[u8], signature: &[u8])
    -> Result<bool, HsmError>;

    /// Destroys a key (a per-card child key once the card is done).
    /// [`HsmError::UnknownKey`] if there is none. Key stores that cannot
    /// destroy keys keep this default, which refuses.
    fn destroy_key(&self, key: &KeyLabel) -> Result<(), HsmError> {
        Err(HsmError::Device(format!(
            "this key store cannot destroy keys (asked to destroy `{key}`)"
        )))
    }
}
