//! The holder's PIN (个人密码): encoding, the commands that verify, change,
//! reset (重置) and unblock (解锁) it, and what the card's answer means.
//!
//! A PIN is 4 to 12 digits, sent as packed BCD padded with `F` to whole
//! bytes (`12345` → `12 34 5F`). Reset and unblock are centre operations:
//! they carry a command MAC under the card's PIN reset / unblock key
//! ([`super::sm::mac_command`] adds it; this module builds the command
//! without it). The retry counter is read with a VERIFY that carries no
//! PIN: the card answers `63Cx` with the tries left (or `9000` when the PIN
//! was verified in this session, `6983` when blocked).

use zeroize::Zeroizing;

use super::profile::{self, cla, ins, key_id};
use crate::apdu::{Command, StatusWord};

/// A PIN the hub cannot send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Not 4 to 12 digits.
    #[error("a PIN is 4 to 12 digits (0-9); the one given has {len} characters or a non-digit")]
    Format {
        /// Its length in characters.
        len: usize,
    },
}

/// What the card said about a PIN operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinStatus {
    /// Accepted; the counter is full again (or untouched).
    Accepted,
    /// Refused: wrong PIN, this many tries left.
    Wrong {
        /// Tries left before the PIN blocks.
        tries_left: u8,
    },
    /// The PIN is blocked (too many wrong tries): unblock or reset it at a
    /// branch.
    Blocked,
    /// Any other answer.
    Other(StatusWord),
}

impl PinStatus {
    /// Interprets the status word of VERIFY, CHANGE PIN, RESET PIN or
    /// UNBLOCK PIN.
    pub fn from_sw(sw: StatusWord) -> Self {
        if sw.is_ok() {
            return PinStatus::Accepted;
        }
        if let Some(tries_left) = sw.tries_left() {
            return if tries_left == 0 {
                PinStatus::Blocked
            } else {
                PinStatus::Wrong { tries_left }
            };
        }
        if sw == StatusWord::AUTH_BLOCKED {
            return PinStatus::Blocked;
        }
        PinStatus::Other(sw)
    }
}

/// A PIN as packed BCD, `F`-padded.
pub fn encode_pin(pin: &str) -> Result<Zeroizing<Vec<u8>>, PinError> {
    let len = pin.chars().count();
    if !(4..=12).contains(&len) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinError::Format { len });
    }
    let mut nibbles: Vec<u8> = pin.bytes().map(|b| b - b'0').collect();
    if nibbles.len() % 2 == 1 {
        nibbles.push(0xF);
    }
    let packed = nibbles.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
    nibbles.iter_mut().for_each(|n| *n = 0);
    Ok(Zeroizing::new(packed))
}

/// VERIFY with the PIN.
pub fn verify(pin: &str) -> Result<Command, PinError> {
    Ok(Command::new(cla::PLAIN, ins::VERIFY, 0x00, key_id::PIN)
        .with_data(encode_pin(pin)?.to_vec()))
}

/// VERIFY without a PIN: asks the card for the retry counter.
pub fn query_tries() -> Command {
    Command::new(cla::PLAIN, ins::VERIFY, 0x00, key_id::PIN)
}

/// CHANGE PIN: `old ‖ FF ‖ new`. A wrong old PIN counts as a failed VERIFY.
pub fn change(old: &str, new: &str) -> Result<Command, PinError> {
    let mut data = encode_pin(old)?.to_vec();
    data.push(profile::CHANGE_PIN_SEPARATOR);
    data.extend_from_slice(&encode_pin(new)?);
    Ok(Command::new(
        cla::PROPRIETARY,
        ins::CHANGE_OR_RESET_PIN,
        profile::CHANGE_PIN_P1,
        key_id::PIN,
    )
    .with_data(data))
}

/// RESET PIN (重置) to `new`, before its MAC under the PIN reset key.
pub fn reset(new: &str) -> Result<Command, PinError> {
    Ok(Command::new(
        cla::PROPRIETARY_SM,
        ins::CHANGE_OR_RESET_PIN,
        profile::RESET_PIN_P1,
        key_id::PIN,
    )
    .with_data(encode_pin(new)?.to_vec()))
}

/// UNBLOCK PIN (解锁), before its MAC under the PIN unblock key.
pub fn unblock() -> Command {
    Command::new(cla::PROPRIETARY_SM, ins::UNBLOCK_PIN, 0x00, key_id::PIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_packed_bcd_padded_with_f() {
        assert_eq!(encode_pin("123456").unwrap().as_slice(), [0x12, 0x34, 0x56]);
        assert_eq!(encode_pin("12345").unwrap().as_slice(), [0x12, 0x34, 0x5F]);
        assert_eq!(encode_pin("123"), Err(PinError::Format { len: 3 }));
        assert_eq!(encode_pin("12a456"), Err(PinError::Format { len: 6 }));
        assert_eq!(
            encode_pin("1234567890123"),
            Err(PinError::Format { len: 13 })
        );
    }

    #[test]
    fn commands_follow_the_profile() {
        assert_eq!(
            verify("123456").unwrap().to_bytes().unwrap(),
            [0x00, 0x20, 0x00, 0x10, 0x03, 0x12, 0x34, 0x56]
        );
        assert_eq!(query_tries().to_bytes().unwrap(), [0x00, 0x20, 0x00, 0x10]);
        assert_eq!(
            change("1234", "567890").unwrap().to_bytes().unwrap(),
            [
                0x80, 0x5E, 0x01, 0x10, 0x06, 0x12, 0x34, 0xFF, 0x56, 0x78, 0x90
            ]
        );
        assert_eq!(reset("654321").unwrap().header(), [0x84, 0x5E, 0x00, 0x10]);
        assert_eq!(unblock().header(), [0x84, 0x24, 0x00, 0x10]);
    }

    #[test]
    fn answers_say_tries_left_and_blocking() {
        assert_eq!(PinStatus::from_sw(StatusWord::OK), PinStatus::Accepted);
        assert_eq!(
            PinStatus::from_sw(StatusWord::verify_failed(2)),
            PinStatus::Wrong { tries_left: 2 }
        );
        assert_eq!(
            PinStatus::from_sw(StatusWord::verify_failed(0)),
            PinStatus::Blocked
        );
        assert_eq!(
            PinStatus::from_sw(StatusWord::AUTH_BLOCKED),
            PinStatus::Blocked
        );
        assert_eq!(
            PinStatus::from_sw(StatusWord::SM_DATA_INCORRECT),
            PinStatus::Other(StatusWord::SM_DATA_INCORRECT)
        );
    }
}
