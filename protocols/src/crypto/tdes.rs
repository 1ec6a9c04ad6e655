//! Two-key triple DES (3DES EDE, 16-byte key `K1 || K2`, 8-byte blocks) for
//! older cards' secure messaging: ECB of whole blocks, the card CBC-MAC
//! (ISO/IEC 9797-1 MAC algorithm 1, padding method 2) and the card key
//! diversification `3DES(master, D) || 3DES(master, !D)`.
//!
//! The block function is RustCrypto's `des::TdesEde2`; this module only
//! adds the card shapes around it, mirroring [`super::sm4`]. A 2-key key
//! whose halves are equal (`K || K`) is single DES with `K`, which is how
//! the hub holds the 8-byte DES session key of a 3DES purse load (see
//! [`TdesKey::session_key`]).
//!
//! Like [`super::sm4`], these are plain functions over secret key bytes,
//! called by [`super::soft_hsm`] and by simulators holding their own card
//! keys; everyone else goes through [`super::Hsm`].

use des::TdesEde2;
use des::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

/// 3DES block length in bytes.
pub const BLOCK_LEN: usize = 8;

/// Data handed to an ECB function was not a whole number of 8-byte blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("data of {len} bytes is not a whole number of 8-byte 3DES blocks; pad it first")]
pub struct TdesBlockLength {
    /// The length given.
    pub len: usize,
}

/// An expanded 2-key 3DES key (zeroized on drop by the `des` crate).
#[derive(Clone)]
pub struct TdesKey(TdesEde2);

impl TdesKey {
    /// Expands a 16-byte key `K1 || K2`. DES parity bits are ignored, as
    /// cards ignore them.
    pub fn new(key: &[u8; 16]) -> Self {
        Self(TdesEde2::new(&(*key).into()))
    }

    /// Encrypts one block in place.
    pub fn encrypt_block(&self, block: &mut [u8; 8]) {
        let mut b = (*block).into();
        self.0.encrypt_block(&mut b);
        *block = b.into();
    }

    /// Decrypts one block in place.
    pub fn decrypt_block(&self, block: &mut [u8; 8]) {
        let mut b = (*block).into();
        self.0.decrypt_block(&mut b);
        *block = b.into();
    }

    /// ECB encryption of whole blocks.
    pub fn ecb_encrypt(&self, data: &[u8]) -> Result<Vec<u8>, TdesBlockLength> {
        self.ecb(data, Self::encrypt_block)
    }

    /// ECB decryption of whole blocks.
    pub fn ecb_decrypt(&self, data: &[u8]) -> Result<Vec<u8>, TdesBlockLength> {
        self.ecb(data, Self::decrypt_block)
    }

    fn ecb(&self, data: &[u8], f: fn(&Self, &mut [u8; 8])) -> Result<Vec<u8>, TdesBlockLength> {
        if !data.len().is_multiple_of(BLOCK_LEN) {
            return Err(TdesBlockLength { len: data.len() });
        }
        let mut out = data.to_vec();
        for chunk in out.chunks_exact_mut(BLOCK_LEN) {
            let mut block = block_of(chunk);
            f(self, &mut block);
            chunk.copy_from_slice(&block);
        }
        Ok(out)
    }

    /// The card MAC: CBC over `data` padded with ISO/IEC 9797-1 method 2
    /// (`80` then `00`s to a multiple of 8), from `iv`; returns the last
    /// block. Cards keep the first four bytes.
    pub fn cbc_mac(&self, iv: &[u8; 8], data: &[u8]) -> [u8; 8] {
        let mut state = *iv;
        let mut padded = data.to_vec();
        padded.push(0x80);
        padded.resize(padded.len().next_multiple_of(BLOCK_LEN), 0);
        for chunk in padded.chunks_exact(BLOCK_LEN) {
            for (s, b) in state.iter_mut().zip(chunk) {
                *s ^= b;
            }
            self.encrypt_block(&mut state);
        }
        state
    }

    /// Card key diversification: `3DES(master, D) || 3DES(master, !D)`.
    pub fn diversify(&self, data: &[u8; 8]) -> [u8; 16] {
        let mut left = *data;
        let mut right = data.map(|b| !b);
        self.encrypt_block(&mut left);
        self.encrypt_block(&mut right);
        let mut child = [0u8; 16];
        child[..8].copy_from_slice(&left);
        child[8..].copy_from_slice(&right);
        child
    }

    /// The purse session key of the 3DES load: `S = 3DES(key, In)`, an
    /// 8-byte single-DES key, returned as the 2-key key `S || S` (which
    /// computes single DES with `S`), so that it can be used wherever a
    /// 16-byte key is expected.
    pub fn session_key(&self, input: &[u8; 8]) -> [u8; 16] {
        let mut s = *input;
        self.encrypt_block(&mut s);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&s);
        key[8..].copy_from_slice(&s);
        key
    }
}

impl std::fmt::Debug for TdesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TdesKey(..)")
    }
}

/// ECB encryption of whole blocks under a 16-byte key.
pub fn ecb_encrypt(key: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, TdesBlockLength> {
    TdesKey::new(key).ecb_encrypt(data)
}

/// ECB decryption of whole blocks under a 16-byte key.
pub fn ecb_decrypt(key: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, TdesBlockLength> {
    TdesKey::new(key).ecb_decrypt(data)
}

/// See [`TdesKey::cbc_mac`].
pub fn cbc_mac(key: &[u8; 16], iv: &[u8; 8], data: &[u8]) -> [u8; 8] {
    TdesKey::new(key).cbc_mac(iv, data)
}

/// See [`TdesKey::diversify`].
pub fn diversify(master: &[u8; 16], data: &[u8; 8]) -> [u8; 16] {
    TdesKey::new(master).diversify(data)
}

/// See [`TdesKey::session_key`].
pub fn session_key(key: &[u8; 16], input: &[u8; 8]) -> [u8; 16] {
    TdesKey::new(key).session_key(input)
}

fn block_of(chunk: &[u8]) -> [u8; 8] {
    chunk.try_into().expect("chunks_exact yields 8-byte blocks")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    fn h16(s: &str) -> [u8; 16] {
        h(s).try_into().expect("16 bytes")
    }

    const PURSE_KEY: &str = "11223344556677888877665544332211";

    #[test]
    fn purse_session_key_matches_the_published_vector() {
        // vectors.md: 3DES(key, random 11223344 || counter 0000 || 8000).
        let input = [0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x80, 0x00];
        let key = session_key(&h16(PURSE_KEY), &input);
        assert_eq!(hex::encode(&key[..8]), "9b1d924e05595603");
        assert_eq!(key[..8], key[8..]);
    }

    #[test]
    fn equal_halves_compute_single_des() {
        // FIPS 81 / classic DES vector: key 133457799BBCDFF1,
        // plaintext 0123456789ABCDEF → 85E813540F0AB405.
        let k = h16("133457799bbcdff1133457799bbcdff1");
        let ct = ecb_encrypt(&k, &h("0123456789abcdef")).expect("one block");
        assert_eq!(hex::encode(ct), "85e813540f0ab405");
    }

    #[test]
    fn ecb_round_trips_and_refuses_partial_blocks() {
        let key = h16(PURSE_KEY);
        let data = h("00112233445566778899aabbccddeeff");
        let ct = ecb_encrypt(&key, &data).expect("two blocks");
        assert_ne!(ct, data);
        assert_eq!(ecb_decrypt(&key, &ct).expect("two blocks"), data);
        assert_eq!(
            ecb_encrypt(&key, &data[..7]),
            Err(TdesBlockLength { len: 7 })
        );
    }

    #[test]
    fn cbc_mac_is_cbc_over_method_2_padding() {
        let key = h16(PURSE_KEY);
        let iv = [1, 2, 3, 4, 5, 6, 7, 8];
        let data = h("0000271000000001020304");
        // By hand: pad to 16 bytes, CBC, keep the last block.
        let mut padded = data.clone();
        padded.push(0x80);
        padded.resize(16, 0);
        let mut chain = iv;
        for block in padded.chunks(8) {
            for (c, b) in chain.iter_mut().zip(block) {
                *c ^= b;
            }
            chain = ecb_encrypt(&key, &chain)
                .expect("one block")
                .try_into()
                .expect("8 bytes");
        }
        assert_eq!(cbc_mac(&key, &iv, &data), chain);
        // An aligned message still gets a whole padding block.
        let aligned = &padded[..8];
        let mut first: [u8; 8] = std::array::from_fn(|i| iv[i] ^ aligned[i]);
        first = ecb_encrypt(&key, &first)
            .expect("block")
            .try_into()
            .expect("8");
        first[0] ^= 0x80;
        let second = ecb_encrypt(&key, &first).expect("block");
        assert_eq!(cbc_mac(&key, &iv, aligned).to_vec(), second);
        assert_ne!(cbc_mac(&key, &[0; 8], &data), cbc_mac(&key, &iv, &data));
    }

    #[test]
    fn diversification_is_two_blocks_over_d_and_its_inverse() {
        let master = h16(PURSE_KEY);
        let d = [0x31, 0x01, 0x04, 0x19, 0x80, 0x01, 0x01, 0x12];
        let child = diversify(&master, &d);
        assert_eq!(child[..8], ecb_encrypt(&master, &d).expect("block")[..]);
        let inverse: Vec<u8> = d.iter().map(|b| !b).collect();
        assert_eq!(
            child[8..],
            ecb_encrypt(&master, &inverse).expect("block")[..]
        );
    }
}
