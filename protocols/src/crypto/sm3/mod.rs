//! SM3 (GB/T 32905) digests and HMAC-SM3, as plain functions over bytes.
//!
//! Built on RustCrypto's `sm3` and `hmac`. The one speed path of cardhub's
//! own is [`digest`] on x86-64 CPUs with BMI2 (see [`compress`]); every
//! other CPU, and every streaming, HMAC, PBKDF2 and SM2 use, goes through
//! RustCrypto's hasher. Keys passed to [`hmac_sm3`] are secrets: outside
//! the HSM module ([`super::soft_hsm`]) and the simulators, call
//! [`super::Hsm::hmac_sm3`] with a key label instead.

#[cfg(target_arch = "x86_64")]
mod compress;

use hmac::{KeyInit, Mac};
use sm3::Digest;

/// The RustCrypto SM3 hasher, for callers that hash in pieces.
pub use sm3::Sm3;

/// HMAC over SM3 (RFC 2104 construction with a 64-byte block).
pub type HmacSm3 = hmac::Hmac<Sm3>;

/// Length of an SM3 digest in bytes.
pub const DIGEST_LEN: usize = 32;

/// The SM3 digest of `data`.
pub fn digest(data: &[u8]) -> [u8; DIGEST_LEN] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: the CPU supports BMI2, checked just above.
        return unsafe { compress::digest_bmi2(data) };
    }
    Sm3::digest(data).into()
}

/// An HMAC-SM3 key made ready once: its inner and outer pads are hashed
/// when it is made, so each MAC then costs only the message's blocks and
/// the outer block (two compressions fewer than [`hmac_sm3`]). Both states
/// are zeroized on drop (`sm3`'s `zeroize` feature). For the HSM module: a
/// key made from secret bytes is as secret as they are.
#[derive(Clone)]
pub struct HmacSm3Key(HmacSm3);

impl HmacSm3Key {
    /// Prepares `key` (any length, as [`hmac_sm3`] takes it).
    pub fn new(key: &[u8]) -> Self {
        Self(<HmacSm3 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length"))
    }

    /// HMAC-SM3 of `data` under this key.
    pub fn mac(&self, data: &[u8]) -> [u8; DIGEST_LEN] {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for HmacSm3Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSm3Key(..)")
    }
}

/// HMAC-SM3 of `data` under `key` (any length; keys longer than 64 bytes are
/// hashed first, as RFC 2104 says).
pub fn hmac_sm3(key: &[u8], data: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac =
        <HmacSm3 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s)
            .expect("test hex")
            .try_into()
            .expect("32 bytes")
    }

    #[test]
    fn a_prepared_key_macs_as_the_plain_function_does() {
        for key_len in [1_usize, 16, 32, 63, 64, 65, 100] {
            let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + 3) as u8).collect();
            let prepared = HmacSm3Key::new(&key);
            for data_len in [0_usize, 1, 55, 56, 64, 65, 300] {
                let data: Vec<u8> = (0..data_len).map(|i| (i * 13 + 1) as u8).collect();
                assert_eq!(
                    prepared.mac(&data),
                    hmac_sm3(&key, &data),
                    "key {key_len} bytes, data {data_len} bytes"
                );
            }
        }
        assert_eq!(
            format!("{:?}", HmacSm3Key::new(b"secret")),
            "HmacSm3Key(..)"
        );
    }

    #[test]
    fn gbt_32905_vector_abc() {
        assert_eq!(
            digest(b"abc"),
            hex32("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
        );
    }

    #[test]
    fn gbt_32905_vector_abcd_times_16() {
        assert_eq!(
            digest("abcd".repeat(16).as_bytes()),
            hex32("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")
        );
    }

    /// HMAC from its definition: H((K ^ opad) || H((K ^ ipad) || m)) with the
    /// key zero-padded to the 64-byte block.
    fn hmac_by_definition(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
        let inner = digest(&[ipad, data.to_vec()].concat());
        digest(&[opad, inner.to_vec()].concat())
    }

    #[test]
    fn hmac_matches_rfc_2104_definition_for_short_block_and_long_keys() {
        for key_len in [0usize, 16, 32, 64, 65, 100] {
            let key: Vec<u8> = (0..key_len).map(|i| i as u8 ^ 0xa5).collect();
            let data = b"social security card 6217 0000 1234";
            assert_eq!(
                hmac_sm3(&key, data),
                hmac_by_definition(&key, data),
                "key length {key_len}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn digest_matches_rustcrypto_for_any_length(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let reference: [u8; 32] = Sm3::digest(&data).into();
            proptest::prop_assert_eq!(digest(&data), reference);
        }
    }

    #[test]
    fn digest_matches_rustcrypto_around_block_and_padding_boundaries() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 31 + 7) as u8).collect();
        for len in (0..200).chain([1023, 1024, 1025, 16_384, 20_000]) {
            let reference: [u8; 32] = Sm3::digest(&data[..len]).into();
            assert_eq!(digest(&data[..len]), reference, "length {len}");
        }
    }

    #[test]
    fn hmac_depends_on_key_and_data() {
        let a = hmac_sm3(b"key one", b"110105194912310021");
        assert_ne!(a, hmac_sm3(b"key two", b"110105194912310021"));
        assert_ne!(a, hmac_sm3(b"key one", b"110105194912310022"));
    }
}
