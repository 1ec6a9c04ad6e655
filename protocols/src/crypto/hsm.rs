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
    /// The key exists but is of another kind than the operation needs.
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
        "data of {len} bytes is not a whole number of 16-byte blocks and no padding was asked for"
    )]
    BlockLength {
        /// The length given.
        len: usize,
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

    /// Derives a child SM4 key from an SM4 master key and 8 bytes of card
    /// data: `child = SM4(master, D || !D)`, one 16-byte block where `!D` is
    /// the bitwise inverse of `D` (the card-chip scheme; with 3DES's 8-byte
    /// block the same idea is written `3DES(D) || 3DES(!D)`). Stores the
    /// child under `into` (refusing a label in use, [`HsmError::Exists`])
    /// and returns nothing but success. Purse session keys have the same
    /// shape over `random || counter || 8000`.
    fn diversify(&self, master: &KeyLabel, data: &[u8; 8], into: &KeyLabel)
    -> Result<(), HsmError>;

    /// SM4 CBC-MAC, ISO/IEC 9797-1 MAC algorithm 1 with padding method 2,
    /// starting from `iv` (zero, or the card's challenge). Returns the full
    /// last block; cards keep the first 4 bytes.
    fn cbc_mac(&self, key: &KeyLabel, iv: &[u8; 16], data: &[u8]) -> Result<[u8; 16], HsmError>;

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
