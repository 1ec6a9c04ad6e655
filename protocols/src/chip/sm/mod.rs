//! Secure messaging of the chip profile (docs/chip-profile.md, "Command
//! MAC", "Key diversification"): command MACs, authentication cryptograms,
//! per-card keys, for SM4 cards and older 2-key 3DES cards.
//!
//! - Hub side: [`mac_command`], [`external_auth_cryptogram`],
//!   [`internal_auth_answer`] and [`check_internal_auth`] compute through
//!   the [`Hsm`], naming the card's diversified keys by label.
//! - Card side: [`verify_command_mac`] and everything in [`raw`] work on key
//!   bytes the simulated card holds.
//!
//! The command MAC: input `CLA INS P1 P2 Lc'` ‖ data, where `Lc'` counts the
//! four MAC bytes (one byte, or `00 hi lo` past 255), padded ISO 9797-1
//! method 2; CBC-MAC from the IV made of the card's last challenge (SM4:
//! challenge ‖ 00×8; 3DES: the challenge); the MAC is the first four bytes
//! of the last block, appended to the data.

pub mod raw;

use subtle::ConstantTimeEq;

use crate::apdu::Command;
use crate::chip::profile;
use crate::crypto::{Hsm, HsmError, KeyKind, KeyLabel};

/// The block cipher a card's secure messaging uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardAlgorithm {
    /// SM4 (GB/T 32907), 16-byte blocks: third-generation cards.
    Sm4,
    /// 2-key triple DES, 8-byte blocks: older cards.
    Tdes,
}

impl CardAlgorithm {
    /// Block length in bytes: 16 (SM4) or 8 (3DES).
    pub const fn block_len(self) -> usize {
        match self {
            CardAlgorithm::Sm4 => 16,
            CardAlgorithm::Tdes => 8,
        }
    }

    /// The algorithm byte of WRITE KEY: 04 SM4, 00 3DES.
    pub const fn algorithm_byte(self) -> u8 {
        match self {
            CardAlgorithm::Sm4 => profile::algorithm::SM4,
            CardAlgorithm::Tdes => profile::algorithm::TDES,
        }
    }

    /// The algorithm of a WRITE KEY algorithm byte.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            profile::algorithm::SM4 => Some(CardAlgorithm::Sm4),
            profile::algorithm::TDES => Some(CardAlgorithm::Tdes),
            _ => None,
        }
    }

    /// The [`KeyKind`] of its keys in the key store.
    pub const fn key_kind(self) -> KeyKind {
        match self {
            CardAlgorithm::Sm4 => KeyKind::Sm4,
            CardAlgorithm::Tdes => KeyKind::Tdes,
        }
    }

    /// The MAC IV made of a card challenge: SM4 `challenge ‖ 00×8`, 3DES
    /// the challenge itself.
    pub fn iv(self, challenge: &[u8; 8]) -> Vec<u8> {
        self.auth_block(challenge)
    }

    /// The one block an authentication cryptogram encrypts: SM4 `data ‖
    /// 00×8`, 3DES `data`.
    pub fn auth_block(self, data: &[u8; 8]) -> Vec<u8> {
        let mut block = data.to_vec();
        block.resize(self.block_len(), 0);
        block
    }
}

/// A secure-messaging computation over bytes of the wrong size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmError {
    /// Data for ECB is not a whole number of blocks.
    #[error("data of {len} bytes is not a whole number of {block}-byte blocks")]
    BlockLength {
        /// The length given.
        len: usize,
        /// The algorithm's block length.
        block: usize,
    },
    /// The IV is not one block long.
    #[error("an IV of {found} bytes was given; this algorithm's blocks are {expected} bytes")]
    IvLength {
        /// The block length.
        expected: usize,
        /// The length given.
        found: usize,
    },
}

/// The bytes a command MAC covers: `CLA INS P1 P2 Lc'` ‖ data, where `cmd`
/// already carries its secure-messaging CLA (04/84) and its data without the
/// MAC, and `Lc' = data length + mac_len` (one byte up to 255, else `00 hi
/// lo` as in an extended APDU). Le is not covered.
pub fn command_mac_input(cmd: &Command, mac_len: usize) -> Vec<u8> {
    let lc = cmd.data.len() + mac_len;
    let mut input = Vec::with_capacity(7 + cmd.data.len());
    input.extend_from_slice(&cmd.header());
    match u8::try_from(lc) {
        Ok(short) => input.push(short),
        Err(_) => {
            input.push(0);
            input.extend_from_slice(&(lc as u16).to_be_bytes());
        }
    }
    input.extend_from_slice(&cmd.data);
    input
}

/// Hub side: appends the 4-byte command MAC under the card key `key` (held
/// in the [`Hsm`]) for the card's last `challenge`. `cmd` carries its
/// secure-messaging CLA and data without MAC.
pub fn mac_command(
    hsm: &dyn Hsm,
    alg: CardAlgorithm,
    key: &KeyLabel,
    challenge: &[u8; 8],
    mut cmd: Command,
) -> Result<Command, HsmError> {
    let input = command_mac_input(&cmd, profile::MAC_LEN);
    let full = hsm.cbc_mac(key, &alg.iv(challenge), &input)?;
    cmd.data.extend_from_slice(&raw::first_four(&full));
    Ok(cmd)
}

/// Card side: whether the last four data bytes of `cmd` (as received) are
/// the right MAC under `key` for the card's last `challenge`. Compared in
/// constant time. A command with fewer than four data bytes fails.
pub fn verify_command_mac(
    alg: CardAlgorithm,
    key: &[u8; 16],
    challenge: &[u8; 8],
    cmd: &Command,
) -> bool {
    let Some(split) = cmd.data.len().checked_sub(profile::MAC_LEN) else {
        return false;
    };
    let (data, received) = cmd.data.split_at(split);
    let unmaced = Command {
        data: data.to_vec(),
        ..cmd.clone()
    };
    let input = command_mac_input(&unmaced, profile::MAC_LEN);
    let expected = raw::command_mac(alg, key, challenge, &input);
    expected.ct_eq(received).into()
}

/// Hub side: the EXTERNAL AUTHENTICATE cryptogram under the card key `key`
/// for `challenge` (SM4: 16 bytes, 3DES: 8).
pub fn external_auth_cryptogram(
    hsm: &dyn Hsm,
    alg: CardAlgorithm,
    key: &KeyLabel,
    challenge: &[u8; 8],
) -> Result<Vec<u8>, HsmError> {
    hsm.ecb_encrypt(key, &alg.auth_block(challenge))
}

/// Hub side: the INTERNAL AUTHENTICATE answer a genuine card gives to
/// `data` under its IAK `key`.
pub fn internal_auth_answer(
    hsm: &dyn Hsm,
    alg: CardAlgorithm,
    key: &KeyLabel,
    data: &[u8; 8],
) -> Result<Vec<u8>, HsmError> {
    hsm.ecb_encrypt(key, &alg.auth_block(data))
}

/// Hub side: whether the card's INTERNAL AUTHENTICATE `answer` to `data` is
/// right (constant-time compare). `false` means a copied or foreign card.
pub fn check_internal_auth(
    hsm: &dyn Hsm,
    alg: CardAlgorithm,
    key: &KeyLabel,
    data: &[u8; 8],
    answer: &[u8],
) -> Result<bool, HsmError> {
    let expected = internal_auth_answer(hsm, alg, key, data)?;
    Ok(expected.len() == answer.len() && bool::from(expected.ct_eq(answer)))
}

#[cfg(test)]
mod tests;
