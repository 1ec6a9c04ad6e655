//! SM2 signatures (GB/T 32918.2) with the default distinguishing ID
//! `1234567812345678`: signatures are 64 bytes `r || s`, public keys SEC1
//! uncompressed (65 bytes `04 || x || y`), private keys the 32-byte scalar.
//!
//! Field and group arithmetic are RustCrypto's `sm2` crate. On top of it:
//! - [`SigningKey`] signs with a hedged RFC 6979 nonce (deterministic from
//!   key and digest, plus fresh OS randomness when available), caches
//!   `(1 + d)⁻¹` and `Z`, and zeroizes its secrets on drop (the crate's own
//!   signing key does not).
//! - [`VerifyingKey`] precomputes a fixed-base table for its public point
//!   ([`table`]), so repeated verification with one key costs about a third
//!   of the crate's; [`verify`] is the one-shot path for a key seen once.
//!
//! Both are tested against the `sm2` crate's own `dsa` module and, in
//! `tests/crypto_openssl.rs`, against OpenSSL. Secret keys are for the HSM
//! module ([`super::soft_hsm`]) and the simulators only.

mod table;

use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::{Curve, Group, PrimeField};
use sm2::{AffinePoint, FieldBytes, ProjectivePoint, PublicKey, Scalar, Sm2};
use sm3::Digest;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use table::{FixedBaseTable, GENERATOR_TABLE};

/// The distinguishing ID every cardhub signature uses: the default of
/// GB/T 35276 and of OpenSSL, GmSSL and the card-centre partners.
pub const DIST_ID: &str = "1234567812345678";

/// Length of a SEC1 uncompressed public key.
pub const PUBLIC_KEY_LEN: usize = 65;

/// Length of a signature `r || s`.
pub const SIGNATURE_LEN: usize = 64;

/// Length of a private key (the scalar `d`).
pub const SECRET_KEY_LEN: usize = 32;

/// An error from decoding SM2 keys or signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Sm2Error {
    /// The bytes are not a SEC1 point on the SM2 curve.
    #[error(
        "malformed SM2 public key: {0}; expected 65 bytes 04 || x || y (or 33 compressed) of a point on the curve"
    )]
    MalformedPublicKey(&'static str),
    /// The signature is not 64 bytes `r || s` with `r` and `s` in `1..n`.
    #[error(
        "malformed SM2 signature: {0}; expected 64 bytes r || s (convert DER signatures first)"
    )]
    MalformedSignature(&'static str),
    /// The private key is not a scalar in `1..n-1`.
    #[error("invalid SM2 private key: it must be 32 bytes, big-endian, between 1 and n-2")]
    InvalidSecretKey,
}

/// The SM3 digest `Z` of the signer's identity and public key
/// (GB/T 32918.2 §5.5): `SM3(ENTL || ID || a || b || xG || yG || xA || yA)`.
fn identity_hash(public: &[u8; PUBLIC_KEY_LEN]) -> [u8; 32] {
    /// Curve coefficients and generator (GB/T 32918.5), concatenated.
    const CURVE_PARAMETERS: &str = concat!(
        "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc",
        "28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93",
        "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7",
        "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0",
    );
    let parameters = hex::decode(CURVE_PARAMETERS).expect("constant hex");
    let entl = u16::try_from(DIST_ID.len() * 8).expect("the ID is 16 bytes");
    let mut z = sm3::Sm3::new();
    z.update(entl.to_be_bytes());
    z.update(DIST_ID.as_bytes());
    z.update(&parameters);
    z.update(&public[1..]);
    z.finalize().into()
}

/// `e = SM3(Z || M)` as a scalar, with the digest bytes.
fn message_scalar(z: &[u8; 32], message: &[u8]) -> (Scalar, FieldBytes) {
    let mut h = sm3::Sm3::new();
    h.update(z);
    h.update(message);
    let digest: FieldBytes = h.finalize();
    (<Scalar as Reduce<FieldBytes>>::reduce(&digest), digest)
}

/// SEC1 uncompressed encoding of a non-identity point.
fn encode_point(point: &AffinePoint) -> [u8; PUBLIC_KEY_LEN] {
    point
        .to_sec1_point(false)
        .as_bytes()
        .try_into()
        .expect("a non-identity point encodes to 65 bytes uncompressed")
}

/// A scalar in `1..n` from 32 big-endian bytes.
fn nonzero_scalar(bytes: &[u8]) -> Option<Scalar> {
    let array: [u8; 32] = bytes.try_into().ok()?;
    let scalar = Option::<Scalar>::from(Scalar::from_repr(array.into()))?;
    (!bool::from(scalar.is_zero())).then_some(scalar)
}

/// An SM2 private key, ready to sign. Secrets are zeroized on drop and
/// never printed.
pub struct SigningKey {
    d: Scalar,
    /// `(1 + d)⁻¹ mod n`, used by every signature.
    d_plus_one_inv: Scalar,
    public: [u8; PUBLIC_KEY_LEN],
    z: [u8; 32],
}

impl SigningKey {
    /// A key from the 32-byte big-endian scalar `d`, which must lie in
    /// `1..=n-2` (`n-1` has no `(1 + d)⁻¹`).
    pub fn from_bytes(secret: &[u8; SECRET_KEY_LEN]) -> Result<Self, Sm2Error> {
        let d = nonzero_scalar(secret).ok_or(Sm2Error::InvalidSecretKey)?;
        let d_plus_one_inv =
            Option::<Scalar>::from((d + Scalar::ONE).invert()).ok_or(Sm2Error::InvalidSecretKey)?;
        let public = encode_point(&ProjectivePoint::mul_by_generator(&d).to_affine());
        let z = identity_hash(&public);
        Ok(Self {
            d,
            d_plus_one_inv,
            public,
            z,
        })
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        Self::from_bytes(&generate_secret()).expect("generate_secret returns valid scalars")
    }

    /// The public key, SEC1 uncompressed.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public
    }

    /// Signs `message` (SM3 with `Z` for [`DIST_ID`]); returns `r || s`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let (e, _) = message_scalar(&self.z, message);
        // Hedging: RFC 6979 alone is safe; fresh randomness on top guards
        // against fault attacks. If the OS generator fails, the nonce is
        // still the deterministic RFC 6979 one, never a weak one.
        let mut extra = [0u8; 32];
        let extra: &[u8] = if getrandom::fill(&mut extra).is_ok() {
            &extra
        } else {
            &[]
        };
        let mut secret = self.d.to_repr();
        let mut nonces = rfc6979::KGenerator::<sm3::Sm3, sm2::U256>::new(
            &secret,
            &e.to_repr(),
            extra,
            &Sm2::ORDER,
        );
        secret.zeroize();
        loop {
            let mut k_bytes = FieldBytes::default();
            nonces.fill_next_k(&mut k_bytes);
            let k = nonzero_scalar(&k_bytes);
            k_bytes.zeroize();
            let Some(mut k) = k else { continue };
            let x1 = ProjectivePoint::mul_by_generator(&k).to_affine().x();
            let r = e + <Scalar as Reduce<FieldBytes>>::reduce(&x1);
            let mut s = self.d_plus_one_inv * (k - r * self.d);
            let retry = r.is_zero() | (r + k).is_zero() | s.is_zero();
            k.zeroize();
            if bool::from(retry) {
                s.zeroize();
                continue;
            }
            let mut signature = [0u8; SIGNATURE_LEN];
            signature[..32].copy_from_slice(&r.to_repr());
            signature[32..].copy_from_slice(&s.to_repr());
            return signature;
        }
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.d.zeroize();
        self.d_plus_one_inv.zeroize();
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

/// 32 random bytes that are a valid [`SigningKey`] scalar.
pub fn generate_secret() -> [u8; SECRET_KEY_LEN] {
    loop {
        let mut bytes = [0u8; SECRET_KEY_LEN];
        super::os_random(&mut bytes);
        let valid =
            nonzero_scalar(&bytes).is_some_and(|d| !bool::from((d + Scalar::ONE).is_zero()));
        if valid {
            return bytes;
        }
        bytes.zeroize();
    }
}

/// A public key prepared for verifying many signatures: its `Z` and a
/// fixed-base table of its point (about 37 KiB, built in about the time of
/// two verifications). Build one per partner or terminal key and keep it.
pub struct VerifyingKey {
    public: [u8; PUBLIC_KEY_LEN],
    z: [u8; 32],
    table: FixedBaseTable,
}

impl VerifyingKey {
    /// Prepares a SEC1 public key (uncompressed or compressed).
    pub fn from_sec1(public_key: &[u8]) -> Result<Self, Sm2Error> {
        let (point, public) = decode_public_key(public_key)?;
        Ok(Self {
            public,
            z: identity_hash(&public),
            table: FixedBaseTable::new(&point),
        })
    }

    /// The public key, SEC1 uncompressed.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public
    }

    /// Verifies `signature` (`r || s`) over `message`. `Ok(false)` for a
    /// well-formed signature that does not match; `Err` for one that is not
    /// 64 bytes with `r`, `s` in `1..n`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<bool, Sm2Error> {
        let (r, s) = decode_signature(signature)?;
        let (e, _) = message_scalar(&self.z, message);
        Ok(check(e, r, s, |acc, t| self.table.add_mul_vartime(acc, t)))
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

/// Verifies `signature` over `message` by a SEC1 public key, without
/// keeping anything: for a key seen once. Same results as
/// [`VerifyingKey::verify`].
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool, Sm2Error> {
    let (point, public) = decode_public_key(public_key)?;
    let (r, s) = decode_signature(signature)?;
    let (e, _) = message_scalar(&identity_hash(&public), message);
    Ok(check(e, r, s, |acc, t| *acc += point.mul_vartime(t)))
}

/// The public key of a 32-byte private key, SEC1 uncompressed.
pub fn public_key_of(secret: &[u8; SECRET_KEY_LEN]) -> Result<[u8; PUBLIC_KEY_LEN], Sm2Error> {
    SigningKey::from_bytes(secret).map(|key| key.public)
}

fn decode_public_key(bytes: &[u8]) -> Result<(ProjectivePoint, [u8; PUBLIC_KEY_LEN]), Sm2Error> {
    if !matches!(bytes.first(), Some(0x02..=0x04)) {
        return Err(Sm2Error::MalformedPublicKey(
            "it does not start with 04, 02 or 03",
        ));
    }
    let key = PublicKey::from_sec1_bytes(bytes)
        .map_err(|_| Sm2Error::MalformedPublicKey("not a point on the SM2 curve"))?;
    let affine = *key.as_affine();
    Ok((ProjectivePoint::from(affine), encode_point(&affine)))
}

fn decode_signature(signature: &[u8]) -> Result<(Scalar, Scalar), Sm2Error> {
    if signature.len() != SIGNATURE_LEN {
        return Err(Sm2Error::MalformedSignature("wrong length"));
    }
    let r = nonzero_scalar(&signature[..32]).ok_or(Sm2Error::MalformedSignature(
        "r is zero or not below the group order",
    ))?;
    let s = nonzero_scalar(&signature[32..]).ok_or(Sm2Error::MalformedSignature(
        "s is zero or not below the group order",
    ))?;
    Ok((r, s))
}

/// Steps B5–B7 of GB/T 32918.2 §7.1: `t = r + s ≠ 0`,
/// `(x₁, y₁) = s·G + t·P ≠ O`, and `r = e + x₁ mod n`. `add_t_p` adds
/// `t·P` to its accumulator.
fn check(
    e: Scalar,
    r: Scalar,
    s: Scalar,
    add_t_p: impl FnOnce(&mut ProjectivePoint, &Scalar),
) -> bool {
    let t = r + s;
    if bool::from(t.is_zero()) {
        return false;
    }
    let mut point = ProjectivePoint::identity();
    GENERATOR_TABLE.add_mul_vartime(&mut point, &s);
    add_t_p(&mut point, &t);
    if bool::from(point.is_identity()) {
        return false;
    }
    let x1 = point.to_affine().x();
    let expected = e + <Scalar as Reduce<FieldBytes>>::reduce(&x1);
    bool::from(expected.to_repr().ct_eq(&r.to_repr()))
}

#[cfg(test)]
mod tests;
