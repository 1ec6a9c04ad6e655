//! Cryptography: SM2 signatures, SM3 and HMAC-SM3, SM4 (ECB/CBC/CTR, CBC-MAC),
//! 2-key triple DES for older cards, key diversification, PBKDF2-HMAC-SM3
//! password hashing, and the [`Hsm`] trait that holds all key material.
//! Built on RustCrypto's `sm2`, `sm3`, `sm4` and `des`, with two speed
//! paths of cardhub's own (a table-driven SM4 block function and
//! precomputed-table SM2 verification), each tested against the RustCrypto
//! reference and OpenSSL.
//!
//! This module is pure: no I/O, no clock. Randomness comes from the operating
//! system's generator (`getrandom`) where a key, salt or signature nonce
//! needs it.
//!
//! # Layout
//! - [`hsm`]: the [`Hsm`] trait, key labels, modes and [`HsmError`].
//! - [`soft_hsm`]: [`SoftHsm`], the software [`Hsm`] that holds keys in
//!   memory (zeroized on drop).
//! - [`keyfile`]: the TOML key file a [`SoftHsm`] is loaded from.
//! - [`sm3`], [`sm4`], [`sm2`], [`tdes`] (2-key triple DES for older
//!   cards): the primitives as plain functions over key
//!   bytes. Only the HSM module and the simulators (which hold their own
//!   card keys) call them with secret keys; everyone else goes through
//!   [`Hsm`].
//! - [`password`]: operator password hashing (PBKDF2-HMAC-SM3).
//!
//! Neighbours: `cardhub-storage` encrypts columns and chains the audit log
//! through [`Hsm`]; `cardhub-web` hashes operator passwords with
//! [`password`] and digests tokens through [`Hsm`].

pub mod hsm;
pub mod keyfile;
pub mod password;
pub mod sm2;
pub mod sm3;
pub mod sm4;
pub mod soft_hsm;
pub mod tdes;

pub use hsm::{Hsm, HsmError, KeyKind, KeyLabel, Padding, Sm4Mode};
pub use keyfile::{KeyFile, KeyFileError};
pub use password::{PasswordError, hash_password, hash_password_with, verify_password};
pub use soft_hsm::SoftHsm;

/// Labels of the keys the hub itself needs in its key file.
pub mod labels {
    /// SM4 key that encrypts sensitive database columns.
    pub const FIELD_ENCRYPTION: &str = "field-encryption";
    /// HMAC-SM3 key for blind indexes of encrypted columns.
    pub const FIELD_INDEX: &str = "field-index";
    /// HMAC-SM3 key chaining the audit log.
    pub const AUDIT_CHAIN: &str = "audit-chain";
    /// HMAC-SM3 key that digests bearer tokens and session ids.
    pub const TOKEN_DIGEST: &str = "token-digest";

    /// Every key the hub needs, with its kind: the key file must hold all of
    /// them (see [`super::KeyFile::missing_hub_keys`]).
    pub const HUB_KEYS: [(&str, super::KeyKind); 4] = [
        (FIELD_ENCRYPTION, super::KeyKind::Sm4),
        (FIELD_INDEX, super::KeyKind::HmacSm3),
        (AUDIT_CHAIN, super::KeyKind::HmacSm3),
        (TOKEN_DIGEST, super::KeyKind::HmacSm3),
    ];

    /// Chip master key: the transport key KT (传输密钥) the chip vendor
    /// loads diversified onto blank cards.
    pub const CHIP_TRANSPORT: &str = "chip/transport";
    /// Chip master key: maintenance key UK (维护密钥), MACs record updates.
    pub const CHIP_MAINTENANCE: &str = "chip/maintenance";
    /// Chip master key: internal authentication key IAK (内部认证密钥),
    /// proves a card genuine at the card check.
    pub const CHIP_INTERNAL_AUTH: &str = "chip/internal-auth";
    /// Chip master key: external authentication key EAK (外部认证密钥).
    pub const CHIP_EXTERNAL_AUTH: &str = "chip/external-auth";
    /// Chip master key: PIN reset key RPK (重置密钥).
    pub const CHIP_PIN_RESET: &str = "chip/pin-reset";
    /// Chip master key: PIN unblock key PUK (解锁密钥).
    pub const CHIP_PIN_UNBLOCK: &str = "chip/pin-unblock";

    /// The six chip master keys (docs/chip-profile.md, "Key
    /// diversification"): required only where the hub personalises or
    /// checks chips (see [`super::KeyFile::missing_chip_keys`]). They are
    /// SM4 keys, or 3DES keys for a centre still issuing 3DES cards.
    pub const CHIP_MASTERS: [&str; 6] = [
        CHIP_TRANSPORT,
        CHIP_MAINTENANCE,
        CHIP_INTERNAL_AUTH,
        CHIP_EXTERNAL_AUTH,
        CHIP_PIN_RESET,
        CHIP_PIN_UNBLOCK,
    ];
}

/// Fills `buf` from the operating system's random generator.
///
/// # Panics
/// When the operating system has no working random generator. Keys, salts
/// and nonces must never come from anything weaker, and a machine without
/// `getrandom`/`/dev/urandom` cannot run the hub safely at all.
pub(crate) fn os_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system random generator failed: cardhub cannot create keys or salts without it");
}
