//! Secure-messaging primitives over key bytes, for the card side: the
//! simulated card holds its own diversified keys (as a real card does) and
//! computes with them here. The hub never calls these with real keys; it
//! goes through [`crate::crypto::Hsm`] via the functions of [`super`].
//!
//! Each function takes the card's [`CardAlgorithm`] and a 16-byte key (SM4,
//! or 2-key 3DES `K1 || K2`).

use crate::crypto::{Padding, Sm4Mode};
use crate::crypto::{sm4, tdes};

use super::{CardAlgorithm, SmError};

/// Per-card key diversification: SM4 `SM4(master, D || !D)`; 3DES
/// `3DES(master, D) || 3DES(master, !D)`, with `D` the 8 bytes of the card
/// identification code.
pub fn diversify(alg: CardAlgorithm, master: &[u8; 16], d: &[u8; 8]) -> [u8; 16] {
    match alg {
        CardAlgorithm::Sm4 => sm4::diversify(master, d),
        CardAlgorithm::Tdes => tdes::diversify(master, d),
    }
}

/// Purse session key. SM4: `SM4(K, In || !In)`. 3DES: the single-DES key
/// `S = 3DES(K, In)` (8 bytes, the reference's purse vector), returned as
/// `S || S`, the 2-key 3DES key that computes single DES with `S`.
pub fn session_key(alg: CardAlgorithm, key: &[u8; 16], input: &[u8; 8]) -> [u8; 16] {
    match alg {
        CardAlgorithm::Sm4 => sm4::diversify(key, input),
        CardAlgorithm::Tdes => tdes::session_key(key, input),
    }
}

/// ECB encryption of whole blocks (16 bytes SM4, 8 bytes 3DES), no padding.
pub fn ecb_encrypt(alg: CardAlgorithm, key: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, SmError> {
    check_blocks(alg, data)?;
    Ok(match alg {
        CardAlgorithm::Sm4 => sm4::encrypt(key, Sm4Mode::Ecb, Padding::None, data)
            .map_err(|_| block_error(alg, data))?,
        CardAlgorithm::Tdes => tdes::ecb_encrypt(key, data).map_err(|_| block_error(alg, data))?,
    })
}

/// ECB decryption of whole blocks; the inverse of [`ecb_encrypt`] (the card
/// unwraps WRITE KEY values with it).
pub fn ecb_decrypt(alg: CardAlgorithm, key: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, SmError> {
    check_blocks(alg, data)?;
    Ok(match alg {
        CardAlgorithm::Sm4 => sm4::decrypt(key, Sm4Mode::Ecb, Padding::None, data)
            .map_err(|_| block_error(alg, data))?,
        CardAlgorithm::Tdes => tdes::ecb_decrypt(key, data).map_err(|_| block_error(alg, data))?,
    })
}

/// CBC-MAC (ISO/IEC 9797-1 MAC algorithm 1, padding method 2) from `iv` of
/// the block length; returns the whole last block (cards keep 4 bytes).
pub fn cbc_mac(
    alg: CardAlgorithm,
    key: &[u8; 16],
    iv: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, SmError> {
    let bad_iv = || SmError::IvLength {
        expected: alg.block_len(),
        found: iv.len(),
    };
    Ok(match alg {
        CardAlgorithm::Sm4 => {
            sm4::cbc_mac(key, iv.try_into().map_err(|_| bad_iv())?, data).to_vec()
        }
        CardAlgorithm::Tdes => {
            tdes::cbc_mac(key, iv.try_into().map_err(|_| bad_iv())?, data).to_vec()
        }
    })
}

/// The 4-byte command MAC of `mac_input` (see [`super::command_mac_input`])
/// under `key`, with the IV made from the card's last challenge.
pub fn command_mac(
    alg: CardAlgorithm,
    key: &[u8; 16],
    challenge: &[u8; 8],
    mac_input: &[u8],
) -> [u8; 4] {
    let full = cbc_mac(alg, key, &alg.iv(challenge), mac_input)
        .expect("CardAlgorithm::iv has the block length");
    first_four(&full)
}

/// The EXTERNAL AUTHENTICATE cryptogram for `challenge`: SM4
/// `SM4-ECB(K, challenge || 00×8)` (16 bytes); 3DES `3DES-ECB(K,
/// challenge)` (8 bytes).
pub fn external_auth_cryptogram(
    alg: CardAlgorithm,
    key: &[u8; 16],
    challenge: &[u8; 8],
) -> Vec<u8> {
    ecb_encrypt(alg, key, &alg.auth_block(challenge)).expect("auth blocks are one block")
}

/// The INTERNAL AUTHENTICATE answer to the terminal's 8 bytes, same shape
/// as [`external_auth_cryptogram`] under the IAK.
pub fn internal_auth_answer(alg: CardAlgorithm, key: &[u8; 16], data: &[u8; 8]) -> Vec<u8> {
    external_auth_cryptogram(alg, key, data)
}

pub(super) fn first_four(block: &[u8]) -> [u8; 4] {
    let mut mac = [0u8; 4];
    mac.copy_from_slice(&block[..4]);
    mac
}

fn check_blocks(alg: CardAlgorithm, data: &[u8]) -> Result<(), SmError> {
    if data.len().is_multiple_of(alg.block_len()) {
        Ok(())
    } else {
        Err(block_error(alg, data))
    }
}

fn block_error(alg: CardAlgorithm, data: &[u8]) -> SmError {
    SmError::BlockLength {
        len: data.len(),
        block: alg.block_len(),
    }
}
