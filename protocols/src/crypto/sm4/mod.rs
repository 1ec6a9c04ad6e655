//! SM4 (GB/T 32907) modes over key bytes: ECB, CBC and CTR with padding
//! none / PKCS#7 / ISO 9797-1 method 2, the card CBC-MAC (ISO 9797-1 MAC
//! algorithm 1 with padding method 2) and the card key diversification.
//!
//! These are plain functions over secret key bytes. The hub calls them only
//! inside [`super::soft_hsm`]; the simulators, which hold their own card
//! keys, call them directly. Everyone else goes through [`super::Hsm`].
//!
//! The block function is [`block::Sm4Key`] (table-driven, checked against
//! RustCrypto's `sm4`). Modes are written here rather than taken from the
//! `cbc`/`ctr` crates so that ECB, CTR and CBC decryption can run four
//! blocks at a time; the tests check them against `cbc`/`ctr` over
//! RustCrypto's `sm4`, and `tests/crypto_openssl.rs` against OpenSSL.
//!
//! Ciphertexts here are not authenticated: whoever stores them must detect
//! tampering another way (the card MAC, the audit chain).

pub mod block;

use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};

pub use block::Sm4Key;

use super::hsm::{Padding, Sm4Mode};
use block::{Quad, to_bytes, to_words};

/// SM4 block length in bytes.
pub const BLOCK_LEN: usize = 16;

/// An error from an SM4 mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Sm4Error {
    /// The data is not a whole number of blocks and the mode/padding needs
    /// one.
    #[error(
        "data of {len} bytes is not a whole number of 16-byte blocks; pad it or pick a padding"
    )]
    BlockLength {
        /// The length given.
        len: usize,
    },
    /// Decryption found invalid padding: the wrong key, the wrong padding
    /// method, or corrupted data.
    #[error(
        "decryption produced invalid padding: the data was corrupted, or encrypted under another key or padding"
    )]
    BadPadding,
}

/// Encrypts `data` under a 16-byte key.
pub fn encrypt(
    key: &[u8; 16],
    mode: Sm4Mode,
    padding: Padding,
    data: &[u8],
) -> Result<Vec<u8>, Sm4Error> {
    Sm4Key::new(key).encrypt(mode, padding, data)
}

/// Decrypts `data` under a 16-byte key; the inverse of [`encrypt`] with the
/// same arguments.
pub fn decrypt(
    key: &[u8; 16],
    mode: Sm4Mode,
    padding: Padding,
    data: &[u8],
) -> Result<Vec<u8>, Sm4Error> {
    Sm4Key::new(key).decrypt(mode, padding, data)
}

/// The card MAC: ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC) with padding
/// method 2, from `iv`. Returns the whole last block; cards keep the first
/// four bytes.
pub fn cbc_mac(key: &[u8; 16], iv: &[u8; 16], data: &[u8]) -> [u8; 16] {
    Sm4Key::new(key).cbc_mac(iv, data)
}

/// Card key diversification: `child = SM4(master, D || !D)`, where `D` is
/// eight bytes of card data and `!D` its bitwise inverse (the PBOC scheme
/// with SM4's 16-byte block; the session key of a purse load has the same
/// shape over `random || counter || 8000`).
pub fn diversify(master: &[u8; 16], data: &[u8; 8]) -> [u8; 16] {
    Sm4Key::new(master).diversify(data)
}

impl Sm4Key {
    /// Encrypts `data` in `mode` with `padding` (padding is ignored in CTR
    /// mode, which needs none).
    pub fn encrypt(
        &self,
        mode: Sm4Mode,
        padding: Padding,
        data: &[u8],
    ) -> Result<Vec<u8>, Sm4Error> {
        match mode {
            Sm4Mode::Ecb => {
                let mut buf = pad(padding, data)?;
                self.ecb_encrypt(&mut buf);
                Ok(buf)
            }
            Sm4Mode::Cbc { iv } => {
                let mut buf = pad(padding, data)?;
                self.cbc_encrypt(&iv, &mut buf);
                Ok(buf)
            }
            Sm4Mode::Ctr { iv } => {
                let mut buf = data.to_vec();
                self.ctr_apply(&iv, &mut buf);
                Ok(buf)
            }
        }
    }

    /// Decrypts `data`; the inverse of [`Sm4Key::encrypt`] with the same
    /// arguments.
    pub fn decrypt(
        &self,
        mode: Sm4Mode,
        padding: Padding,
        data: &[u8],
    ) -> Result<Vec<u8>, Sm4Error> {
        let mut buf = data.to_vec();
        let iv = match mode {
            Sm4Mode::Ctr { iv } => {
                self.ctr_apply(&iv, &mut buf);
                return Ok(buf);
            }
            Sm4Mode::Ecb => None,
            Sm4Mode::Cbc { iv } => Some(iv),
        };
        if !data.len().is_multiple_of(BLOCK_LEN) || (padding != Padding::None && data.is_empty()) {
            return Err(Sm4Error::BlockLength { len: data.len() });
        }
        match iv {
            None => self.ecb_decrypt(&mut buf),
            Some(iv) => self.cbc_decrypt(&iv, &mut buf),
        }
        let keep = unpad(padding, &buf)?;
        buf.truncate(keep);
        Ok(buf)
    }

    /// See [`cbc_mac`].
    pub fn cbc_mac(&self, iv: &[u8; 16], data: &[u8]) -> [u8; 16] {
        let padded = pad(Padding::Iso9797M2, data).expect("method 2 padding accepts any length");
        let mut state = to_words(iv);
        for chunk in padded.chunks_exact(BLOCK_LEN) {
            state = self.encrypt_words(xor_words(state, to_words(block_of(chunk))));
        }
        to_bytes(state)
    }

    /// See [`diversify`].
    pub fn diversify(&self, data: &[u8; 8]) -> [u8; 16] {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(data);
        for (inverse, byte) in block[8..].iter_mut().zip(data) {
            *inverse = !byte;
        }
        self.encrypt_block(&mut block);
        block
    }

    /// ECB encryption in place of whole blocks.
    fn ecb_encrypt(&self, buf: &mut [u8]) {
        self.map_blocks(buf, Self::encrypt_words4, Self::encrypt_words);
    }

    /// ECB decryption in place of whole blocks.
    fn ecb_decrypt(&self, buf: &mut [u8]) {
        self.map_blocks(buf, Self::decrypt_words4, Self::decrypt_words);
    }

    /// Applies a block function to every block, four at a time while four
    /// remain.
    fn map_blocks(
        &self,
        buf: &mut [u8],
        four: fn(&Self, Quad) -> Quad,
        one: fn(&Self, [u32; 4]) -> [u32; 4],
    ) {
        let mut quads = buf.chunks_exact_mut(4 * BLOCK_LEN);
        for quad in &mut quads {
            let input = std::array::from_fn(|i| to_words(block_of(&quad[16 * i..16 * i + 16])));
            for (chunk, out) in quad.chunks_exact_mut(BLOCK_LEN).zip(four(self, input)) {
                chunk.copy_from_slice(&to_bytes(out));
            }
        }
        for chunk in quads.into_remainder().chunks_exact_mut(BLOCK_LEN) {
            chunk.copy_from_slice(&to_bytes(one(self, to_words(block_of(chunk)))));
        }
    }

    /// CBC encryption in place of whole blocks (serial by nature).
    fn cbc_encrypt(&self, iv: &[u8; 16], buf: &mut [u8]) {
        let mut chain = to_words(iv);
        for chunk in buf.chunks_exact_mut(BLOCK_LEN) {
            chain = self.encrypt_words(xor_words(chain, to_words(block_of(chunk))));
            chunk.copy_from_slice(&to_bytes(chain));
        }
    }

    /// CBC decryption in place of whole blocks, four at a time.
    fn cbc_decrypt(&self, iv: &[u8; 16], buf: &mut [u8]) {
        let mut chain = to_words(iv);
        let mut quads = buf.chunks_exact_mut(4 * BLOCK_LEN);
        for quad in &mut quads {
            let input: Quad =
                std::array::from_fn(|i| to_words(block_of(&quad[16 * i..16 * i + 16])));
            let plain = self.decrypt_words4(input);
            for (i, chunk) in quad.chunks_exact_mut(BLOCK_LEN).enumerate() {
                let prev = if i == 0 { chain } else { input[i - 1] };
                chunk.copy_from_slice(&to_bytes(xor_words(plain[i], prev)));
            }
            chain = input[3];
        }
        for chunk in quads.into_remainder().chunks_exact_mut(BLOCK_LEN) {
            let cipher = to_words(block_of(chunk));
            chunk.copy_from_slice(&to_bytes(xor_words(self.decrypt_words(cipher), chain)));
            chain = cipher;
        }
    }

    /// CTR keystream XOR in place; the counter is the whole 128-bit block,
    /// big-endian, incremented modulo 2¹²⁸ (as OpenSSL's `sm4-ctr`).
    fn ctr_apply(&self, iv: &[u8; 16], buf: &mut [u8]) {
        let mut counter = u128::from_be_bytes(*iv);
        let mut next = || {
            let block = counter;
            counter = counter.wrapping_add(1);
            to_words(&block.to_be_bytes())
        };
        let mut quads = buf.chunks_exact_mut(4 * BLOCK_LEN);
        for quad in &mut quads {
            let stream = self.encrypt_words4(std::array::from_fn(|_| next()));
            for (chunk, words) in quad.chunks_exact_mut(BLOCK_LEN).zip(stream) {
                for (byte, key) in chunk.iter_mut().zip(to_bytes(words)) {
                    *byte ^= key;
                }
            }
        }
        for chunk in quads.into_remainder().chunks_mut(BLOCK_LEN) {
            let stream = to_bytes(self.encrypt_words(next()));
            for (byte, key) in chunk.iter_mut().zip(stream) {
                *byte ^= key;
            }
        }
    }
}

/// A 16-byte chunk as a block reference.
#[inline(always)]
fn block_of(chunk: &[u8]) -> &[u8; 16] {
    chunk.try_into().expect("chunks are exactly one block")
}

#[inline(always)]
fn xor_words(a: [u32; 4], b: [u32; 4]) -> [u32; 4] {
    [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]]
}

/// Pads `data` to whole blocks (PKCS#7 and method 2 always add at least one
/// byte); with no padding the data must already be whole blocks.
fn pad(padding: Padding, data: &[u8]) -> Result<Vec<u8>, Sm4Error> {
    let fill = BLOCK_LEN - data.len() % BLOCK_LEN;
    let mut buf = Vec::with_capacity(data.len() + fill);
    buf.extend_from_slice(data);
    match padding {
        Padding::None if fill == BLOCK_LEN => {}
        Padding::None => return Err(Sm4Error::BlockLength { len: data.len() }),
        Padding::Pkcs7 => buf.resize(data.len() + fill, fill as u8),
        Padding::Iso9797M2 => {
            buf.push(0x80);
            buf.resize(data.len() + fill, 0);
        }
    }
    Ok(buf)
}

/// The length of the message inside padded, decrypted `buf` (whole,
/// non-empty blocks when padded). The check runs in time independent of the
/// padding bytes, so a caller that reports [`Sm4Error::BadPadding`] leaks
/// no more than the fact itself.
fn unpad(padding: Padding, buf: &[u8]) -> Result<usize, Sm4Error> {
    let last = || block_of(&buf[buf.len() - BLOCK_LEN..]);
    let (valid, pad_len) = match padding {
        Padding::None => return Ok(buf.len()),
        Padding::Pkcs7 => pkcs7_pad_len(last()),
        Padding::Iso9797M2 => m2_pad_len(last()),
    };
    if bool::from(valid) {
        Ok(buf.len() - usize::from(pad_len))
    } else {
        Err(Sm4Error::BadPadding)
    }
}

/// PKCS#7: the last byte `n` is in 1..=16 and the last `n` bytes equal `n`.
fn pkcs7_pad_len(last: &[u8; 16]) -> (subtle::Choice, u8) {
    let n = last[15];
    let mut valid = !n.ct_eq(&0) & n.ct_lt(&17);
    for (i, byte) in last.iter().rev().enumerate() {
        let in_pad = (i as u8).ct_lt(&n);
        valid &= !in_pad | byte.ct_eq(&n);
    }
    (valid, n)
}

/// ISO/IEC 9797-1 method 2: zero or more trailing `00`s preceded by `80`.
fn m2_pad_len(last: &[u8; 16]) -> (subtle::Choice, u8) {
    let mut seen_nonzero = subtle::Choice::from(0);
    let mut marker_ok = subtle::Choice::from(0);
    let mut pad_len = 0u8;
    for (i, byte) in last.iter().rev().enumerate() {
        let first_nonzero = !seen_nonzero & !byte.ct_eq(&0);
        marker_ok.conditional_assign(&byte.ct_eq(&0x80), first_nonzero);
        pad_len.conditional_assign(&(i as u8 + 1), first_nonzero);
        seen_nonzero |= first_nonzero;
    }
    (seen_nonzero & marker_ok, pad_len)
}

#[cfg(test)]
mod tests;
