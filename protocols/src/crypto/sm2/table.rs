//! Fixed-base tables for SM2 scalar multiplication on public data: the
//! speed path of signature verification.
//!
//! A table for a point `P` holds `j · 16ⁱ · P` for `j = 1..=8` and
//! `i = 0..=64`, in affine form. `k · P` is then the sum of one table
//! entry (or its negation) per signed radix-16 digit of `k`: at most 65
//! mixed additions and no doublings, against 256 doublings and about 64
//! additions without a table. The sums run in variable time, which is
//! right for verification only: every input there (signature, message
//! digest, public key) is public. Signing never uses this file; it uses the
//! constant-time basepoint table of the `sm2` crate.
//!
//! A table costs about as much to build as two verifications and takes
//! about 37 KiB, so it pays for keys that verify again and again (a
//! partner's key, a terminal's key); see [`super::VerifyingKey`].

use std::sync::LazyLock;

use sm2::elliptic_curve::{BatchNormalize, Group, PrimeField};
use sm2::{AffinePoint, ProjectivePoint, Scalar};

/// Number of signed radix-16 digits of a 256-bit scalar (one more than 64
/// for the final carry).
const DIGITS: usize = 65;

/// Largest digit magnitude: digits lie in `-7..=8`.
const MAX_DIGIT: usize = 8;

/// `j · 16ⁱ · P` for `j = 1..=8`, `i = 0..DIGITS`, row-major by `i`.
pub(crate) struct FixedBaseTable {
    points: Vec<AffinePoint>,
}

/// The table of the SM2 generator `G`, built on first use.
pub(crate) static GENERATOR_TABLE: LazyLock<FixedBaseTable> =
    LazyLock::new(|| FixedBaseTable::new(&ProjectivePoint::generator()));

impl FixedBaseTable {
    /// Builds the table of `base` (which must not be the identity).
    pub(crate) fn new(base: &ProjectivePoint) -> Self {
        let mut projective = Vec::with_capacity(DIGITS * MAX_DIGIT);
        let mut row_base = *base;
        for _ in 0..DIGITS {
            let mut multiple = row_base;
            projective.push(multiple);
            for _ in 1..MAX_DIGIT {
                multiple += &row_base;
                projective.push(multiple);
            }
            // 16 · base = 2 · (8 · base).
            row_base = multiple.double();
        }
        let points =
            <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(&projective);
        Self { points }
    }

    /// Adds `k · base` to `acc`, in variable time (public `k` only).
    pub(crate) fn add_mul_vartime(&self, acc: &mut ProjectivePoint, k: &Scalar) {
        for (i, digit) in signed_radix16(k).into_iter().enumerate() {
            let magnitude = usize::from(digit.unsigned_abs());
            if magnitude == 0 {
                continue;
            }
            let entry = &self.points[i * MAX_DIGIT + magnitude - 1];
            if digit > 0 {
                *acc += entry;
            } else {
                *acc += &-entry;
            }
        }
    }
}

/// The digits `dᵢ ∈ -7..=8` with `k = Σ dᵢ · 16ⁱ`, least significant first.
fn signed_radix16(k: &Scalar) -> [i8; DIGITS] {
    let bytes = k.to_repr();
    let mut digits = [0i8; DIGITS];
    let mut carry = 0u8;
    for (i, digit) in digits.iter_mut().take(DIGITS - 1).enumerate() {
        let byte = bytes[31 - i / 2];
        let nibble = if i % 2 == 0 { byte & 0x0f } else { byte >> 4 };
        let value = nibble + carry;
        if value > 8 {
            *digit = value as i8 - 16;
            carry = 1;
        } else {
            *digit = value as i8;
            carry = 0;
        }
    }
    digits[DIGITS - 1] = carry as i8;
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_digits_recompose_the_scalar() {
        for k in [
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(0x8888_8888u64),
            Scalar::from(15u64),
        ] {
            let digits = signed_radix16(&k);
            let sixteen = Scalar::from(16u64);
            let recomposed = digits.iter().rev().fold(Scalar::ZERO, |acc, d| {
                acc * sixteen
                    + Scalar::from(u64::from(d.unsigned_abs()))
                        * if *d < 0 { -Scalar::ONE } else { Scalar::ONE }
            });
            assert_eq!(recomposed, k);
            assert!(digits.iter().all(|d| (-7..=8).contains(d)));
        }
    }

    proptest::proptest! {
        #[test]
        fn table_multiplication_matches_plain_multiplication(seed: [u8; 32], base_seed: u64) {
            let k = <Scalar as sm2::elliptic_curve::ops::Reduce<sm2::FieldBytes>>::reduce(&seed.into());
            let base = ProjectivePoint::generator() * Scalar::from(base_seed.max(1));
            let table = FixedBaseTable::new(&base);
            let mut acc = ProjectivePoint::identity();
            table.add_mul_vartime(&mut acc, &k);
            proptest::prop_assert_eq!(acc, base * k);
            let mut from_g = ProjectivePoint::identity();
            GENERATOR_TABLE.add_mul_vartime(&mut from_g, &k);
            proptest::prop_assert_eq!(from_g, ProjectivePoint::generator() * k);
        }
    }
}
