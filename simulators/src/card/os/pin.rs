//! Holder PIN commands: VERIFY (with the no-data form that asks for the
//! counter), CHANGE PIN (a wrong old PIN counts as a failed VERIFY), RESET
//! PIN (重置, new PIN under a MAC with the reset key RPK, counter restored)
//! and UNBLOCK PIN (解锁, MAC under the unblock key PUK, counter restored,
//! PIN kept).
//!
//! PINs travel as packed BCD padded with F nibbles (2 to 6 bytes); the card
//! keeps them F-padded to 16 bytes, as WRITE KEY delivers them.

use cardhub_protocols::apdu::{Command, StatusWord};
use cardhub_protocols::chip::profile::{self, cla, key_id};

use super::security::without_mac;
use super::{CardOs, Outcome, expect_cla};
use crate::card::memory::DfPath;

/// Bytes the card stores a PIN in (F-padded), as WRITE KEY delivers it.
pub(crate) const STORED_PIN_LEN: usize = 16;

impl CardOs {
    /// VERIFY `00 20 00 KID [Lc PIN]`.
    pub(super) fn verify(&mut self, cmd: &Command) -> Outcome {
        expect_cla(cmd, cla::PLAIN)?;
        if cmd.p1 != 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let (at, stored, left) = self.pin(cmd.p2)?;
        if cmd.data.is_empty() {
            return if self.is_verified(&at, cmd.p2) {
                Ok(Vec::new())
            } else {
                Err(StatusWord::verify_failed(left))
            };
        }
        let offered = wire_pin(&cmd.data)?;
        self.present_pin(at, cmd.p2, offered == stored)
    }

    /// CHANGE PIN `80 5E 01 KID Lc old FF new` and RESET PIN
    /// `84 5E 00 KID Lc new MAC4`, told apart by P1.
    pub(super) fn change_or_reset_pin(
        &mut self,
        cmd: &Command,
        challenge: Option<[u8; 8]>,
    ) -> Outcome {
        match cmd.p1 {
            profile::CHANGE_PIN_P1 => self.change_pin(cmd),
            profile::RESET_PIN_P1 => self.reset_pin(cmd, challenge),
            _ => Err(StatusWord::INCORRECT_P1P2),
        }
    }

    fn change_pin(&mut self, cmd: &Command) -> Outcome {
        expect_cla(cmd, cla::PROPRIETARY)?;
        let (at, stored, _) = self.pin(cmd.p2)?;
        let split = cmd
            .data
            .iter()
            .position(|b| *b == profile::CHANGE_PIN_SEPARATOR)
            .ok_or(StatusWord::INCORRECT_DATA)?;
        let old = wire_pin(&cmd.data[..split])?;
        let new = wire_pin(&cmd.data[split + 1..])?;
        self.present_pin(at.clone(), cmd.p2, old == stored)?;
        self.store_pin(&at, cmd.p2, &new);
        Ok(Vec::new())
    }

    fn reset_pin(&mut self, cmd: &Command, challenge: Option<[u8; 8]>) -> Outcome {
        expect_cla(cmd, cla::PROPRIETARY_SM)?;
        let (at, _, _) = self.pin_entry(cmd.p2)?;
        self.check_mac(cmd, challenge, key_id::PIN_RESET)?;
        let new = wire_pin(without_mac(cmd))?;
        self.store_pin(&at, cmd.p2, &new);
        Ok(Vec::new())
    }

    /// UNBLOCK PIN `84 24 00 KID 04 MAC4`.
    pub(super) fn unblock_pin(&mut self, cmd: &Command, challenge: Option<[u8; 8]>) -> Outcome {
        expect_cla(cmd, cla::PROPRIETARY_SM)?;
        if cmd.p1 != 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let (at, _, _) = self.pin_entry(cmd.p2)?;
        self.check_mac(cmd, challenge, key_id::PIN_UNBLOCK)?;
        if cmd.data.len() != profile::MAC_LEN {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let pin = self
            .memory
            .key_mut(&at, cmd.p2)
            .expect("the PIN was found just above");
        pin.record_success();
        self.changed();
        Ok(Vec::new())
    }

    /// The PIN `id` visible from the current DF: where it lives, its digits,
    /// tries left. `6A88` if absent, `6983` if blocked.
    fn pin(&self, id: u8) -> Result<(DfPath, String, u8), StatusWord> {
        let entry = self.pin_entry(id)?;
        if entry.2 == 0 {
            return Err(StatusWord::AUTH_BLOCKED);
        }
        Ok(entry)
    }

    /// Like [`CardOs::pin`] but also for a blocked PIN (reset, unblock).
    fn pin_entry(&self, id: u8) -> Result<(DfPath, String, u8), StatusWord> {
        let at = self
            .memory
            .find_key(&self.session.df, id)
            .ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        let pin = self
            .memory
            .key(&at, id)
            .filter(|k| k.is_pin())
            .ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        let digits = pin_digits(&pin.value).ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        Ok((at, digits, pin.tries_left))
    }

    /// Counts a PIN presentation: right restores the counter and sets the
    /// security status; wrong costs a try (`63Cx`).
    fn present_pin(&mut self, at: DfPath, id: u8, right: bool) -> Outcome {
        let pin = self
            .memory
            .key_mut(&at, id)
            .expect("the PIN was found before it is presented");
        if right {
            let counter_was_used = pin.tries_left != pin.max_tries;
            pin.record_success();
            if counter_was_used {
                self.changed();
            }
            self.mark_verified(at, id);
            Ok(Vec::new())
        } else {
            let left = pin.record_failure();
            self.changed();
            Err(StatusWord::verify_failed(left))
        }
    }

    /// Sets a new PIN and restores its counter.
    fn store_pin(&mut self, at: &[u16], id: u8, digits: &str) {
        let pin = self
            .memory
            .key_mut(at, id)
            .expect("the PIN was found before it is replaced");
        pin.value = pin_block(digits);
        pin.record_success();
        self.changed();
    }
}

/// A PIN as sent in a command: 2 to 6 bytes (`6700` otherwise) of BCD
/// digits, then only F padding (`6A80` otherwise).
fn wire_pin(bytes: &[u8]) -> Result<String, StatusWord> {
    if !profile::PIN_BYTES.contains(&bytes.len()) {
        return Err(StatusWord::WRONG_LENGTH);
    }
    pin_digits(bytes).ok_or(StatusWord::INCORRECT_DATA)
}

/// The digits of an F-padded BCD PIN; `None` when a nibble is A to E, a
/// digit follows padding, or there are no digits.
pub(crate) fn pin_digits(bytes: &[u8]) -> Option<String> {
    let mut digits = String::new();
    let mut padding = false;
    for nibble in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        match nibble {
            0..=9 if !padding => digits.push(char::from(b'0' + nibble)),
            0x0F => padding = true,
            _ => return None,
        }
    }
    (!digits.is_empty()).then_some(digits)
}

/// Digits packed as BCD and F-padded to [`STORED_PIN_LEN`] bytes.
fn pin_block(digits: &str) -> Vec<u8> {
    let mut nibbles: Vec<u8> = digits.bytes().map(|d| d - b'0').collect();
    nibbles.resize(STORED_PIN_LEN * 2, 0x0F);
    nibbles.chunks_exact(2).map(|p| p[0] << 4 | p[1]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_digits_accept_f_padding_only_at_the_end() {
        assert_eq!(pin_digits(&[0x12, 0x34, 0x56]).as_deref(), Some("123456"));
        assert_eq!(pin_digits(&[0x12, 0x3F]).as_deref(), Some("123"));
        assert_eq!(pin_digits(&[0x12, 0xF3]), None);
        assert_eq!(pin_digits(&[0x1A, 0x34]), None);
        assert_eq!(pin_digits(&[0xFF, 0xFF]), None);
    }

    #[test]
    fn pin_block_round_trips() {
        let block = pin_block("12345");
        assert_eq!(block.len(), STORED_PIN_LEN);
        assert_eq!(&block[..4], &[0x12, 0x34, 0x5F, 0xFF]);
        assert_eq!(pin_digits(&block).as_deref(), Some("12345"));
    }

    #[test]
    fn wire_pin_checks_length_then_digits() {
        assert_eq!(wire_pin(&[0x12]), Err(StatusWord::WRONG_LENGTH));
        assert_eq!(wire_pin(&[0x12; 7]), Err(StatusWord::WRONG_LENGTH));
        assert_eq!(wire_pin(&[0x12, 0xAB]), Err(StatusWord::INCORRECT_DATA));
        assert_eq!(wire_pin(&[0x12, 0x34]).as_deref(), Ok("1234"));
    }
}
