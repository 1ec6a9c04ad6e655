//! Status words (`SW1 SW2`) with the names and English meanings an
//! operator sees in logs and on screen ("6988 (incorrect secure messaging
//! data objects: wrong MAC)"). The list is the chip profile's
//! (docs/chip-profile.md, "Status words the card answers") plus the ISO
//! ranges `61xx`, `6Cxx` and `63Cx`.

use std::fmt;

/// A status word, `SW1 << 8 | SW2`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 9000: success.
    pub const OK: Self = Self(0x9000);
    /// 6700: wrong length (Lc or Le).
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// 6981: command incompatible with the file structure.
    pub const COMMAND_NOT_ALLOWED: Self = Self(0x6981);
    /// 6982: security status not satisfied (authenticate first).
    pub const SECURITY_NOT_SATISFIED: Self = Self(0x6982);
    /// 6983: the key or PIN is blocked.
    pub const AUTH_BLOCKED: Self = Self(0x6983);
    /// 6984: reference data not usable (no fresh challenge for a MAC).
    pub const REF_DATA_NOT_USABLE: Self = Self(0x6984);
    /// 6985: conditions of use not satisfied (wrong life-cycle state).
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// 6988: incorrect secure messaging data objects (wrong MAC).
    pub const SM_DATA_INCORRECT: Self = Self(0x6988);
    /// 6A80: incorrect data in the command.
    pub const INCORRECT_DATA: Self = Self(0x6A80);
    /// 6A81: function not supported (the card is locked).
    pub const FUNCTION_NOT_SUPPORTED: Self = Self(0x6A81);
    /// 6A82: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// 6A83: record not found.
    pub const RECORD_NOT_FOUND: Self = Self(0x6A83);
    /// 6A86: incorrect P1-P2.
    pub const INCORRECT_P1P2: Self = Self(0x6A86);
    /// 6A88: referenced data (key) not found.
    pub const REF_DATA_NOT_FOUND: Self = Self(0x6A88);
    /// 6D00: instruction not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// 6E00: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);

    /// `61xx`: `n` more bytes wait for GET RESPONSE (`n` = 0 means 256).
    pub const fn more_data(n: u8) -> Self {
        Self(0x6100 | n as u16)
    }

    /// `6Cxx`: wrong Le; re-issue the command with Le = `n` (0 means 256).
    pub const fn wrong_le(n: u8) -> Self {
        Self(0x6C00 | n as u16)
    }

    /// `63Cx`: verification failed, `tries` left (at most 15; larger values
    /// are sent as 15).
    pub const fn verify_failed(tries: u8) -> Self {
        let tries = if tries > 0x0F { 0x0F } else { tries };
        Self(0x63C0 | tries as u16)
    }

    /// SW1.
    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2.
    pub const fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// Whether this is `9000`.
    pub const fn is_ok(self) -> bool {
        self.0 == 0x9000
    }

    /// For `61xx`, the number of bytes waiting (1..=256).
    pub const fn more_data_available(self) -> Option<usize> {
        match self.sw1() {
            0x61 => Some(le_of(self.sw2())),
            _ => None,
        }
    }

    /// For `6Cxx`, the Le the card wants (1..=256).
    pub const fn correct_le(self) -> Option<usize> {
        match self.sw1() {
            0x6C => Some(le_of(self.sw2())),
            _ => None,
        }
    }

    /// For `63Cx`, the tries left.
    pub const fn tries_left(self) -> Option<u8> {
        if self.0 & 0xFFF0 == 0x63C0 {
            Some(self.sw2() & 0x0F)
        } else {
            None
        }
    }

    /// What the status word means, in English for operators. Unknown words
    /// are described by their ISO group.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::OK => "success",
            Self::WRONG_LENGTH => "wrong length",
            Self::COMMAND_NOT_ALLOWED => "command incompatible with the file structure",
            Self::SECURITY_NOT_SATISFIED => {
                "security status not satisfied: the card wants an authentication first"
            }
            Self::AUTH_BLOCKED => "authentication method blocked: the key or PIN is locked",
            Self::REF_DATA_NOT_USABLE => {
                "reference data not usable: no fresh challenge for this MAC (send GET CHALLENGE first)"
            }
            Self::CONDITIONS_NOT_SATISFIED => {
                "conditions of use not satisfied: the card's life-cycle state forbids this command"
            }
            Self::SM_DATA_INCORRECT => "incorrect secure messaging data objects: wrong MAC",
            Self::INCORRECT_DATA => "incorrect data in the command",
            Self::FUNCTION_NOT_SUPPORTED => "function not supported: the card is locked",
            Self::FILE_NOT_FOUND => "file or application not found",
            Self::RECORD_NOT_FOUND => "record not found",
            Self::INCORRECT_P1P2 => "incorrect parameters P1-P2",
            Self::REF_DATA_NOT_FOUND => "referenced data not found: the key is not on the card",
            Self::INS_NOT_SUPPORTED => "instruction not supported by the card",
            Self::CLA_NOT_SUPPORTED => "class not supported by the card",
            _ => match self.sw1() {
                0x61 => "more response data available (fetch it with GET RESPONSE)",
                0x6C => "wrong expected length Le (re-issue with the length the card gives)",
                0x63 if self.tries_left().is_some() => "verification failed",
                0x62 | 0x63 => "warning: the card processed the command with a warning",
                0x64..=0x66 => "execution error: the card's memory state may have changed",
                0x67..=0x6F => "checking error: the card refused the command",
                0x90..=0x9F => "application-specific status",
                _ => "unknown status word",
            },
        }
    }
}

const fn le_of(sw2: u8) -> usize {
    if sw2 == 0 { 256 } else { sw2 as usize }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({}", self.0, self.meaning())?;
        if let Some(tries) = self.tries_left() {
            write!(f, ": {tries} tries left")?;
        } else if let Some(n) = self.more_data_available() {
            write!(f, ": {n} bytes")?;
        } else if let Some(le) = self.correct_le() {
            write!(f, ": Le = {le}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord({:04X})", self.0)
    }
}

impl From<u16> for StatusWord {
    fn from(sw: u16) -> Self {
        Self(sw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_gives_code_and_meaning() {
        assert_eq!(
            StatusWord::SM_DATA_INCORRECT.to_string(),
            "6988 (incorrect secure messaging data objects: wrong MAC)"
        );
        assert_eq!(
            StatusWord::verify_failed(2).to_string(),
            "63C2 (verification failed: 2 tries left)"
        );
        assert_eq!(
            StatusWord::more_data(0x10).to_string(),
            "6110 (more response data available (fetch it with GET RESPONSE): 16 bytes)"
        );
        assert_eq!(StatusWord::wrong_le(0).correct_le(), Some(256));
        assert_eq!(
            StatusWord(0x6F00).meaning(),
            "checking error: the card refused the command"
        );
        assert_eq!(StatusWord(0x1234).meaning(), "unknown status word");
    }

    #[test]
    fn range_helpers_build_and_read_back() {
        assert_eq!(StatusWord::more_data(0x20), StatusWord(0x6120));
        assert_eq!(StatusWord::wrong_le(8), StatusWord(0x6C08));
        assert_eq!(StatusWord::verify_failed(3), StatusWord(0x63C3));
        assert_eq!(StatusWord::verify_failed(40), StatusWord(0x63CF));
        assert_eq!(StatusWord(0x63C0).tries_left(), Some(0));
        assert_eq!(StatusWord::OK.tries_left(), None);
        assert_eq!(StatusWord(0x6310).tries_left(), None);
        assert_eq!(StatusWord::more_data(0).more_data_available(), Some(256));
        assert!(StatusWord::OK.is_ok() && !StatusWord::FILE_NOT_FOUND.is_ok());
        let named = [
            (StatusWord::WRONG_LENGTH, 0x6700),
            (StatusWord::COMMAND_NOT_ALLOWED, 0x6981),
            (StatusWord::SECURITY_NOT_SATISFIED, 0x6982),
            (StatusWord::AUTH_BLOCKED, 0x6983),
            (StatusWord::REF_DATA_NOT_USABLE, 0x6984),
            (StatusWord::CONDITIONS_NOT_SATISFIED, 0x6985),
            (StatusWord::SM_DATA_INCORRECT, 0x6988),
            (StatusWord::INCORRECT_DATA, 0x6A80),
            (StatusWord::FUNCTION_NOT_SUPPORTED, 0x6A81),
            (StatusWord::FILE_NOT_FOUND, 0x6A82),
            (StatusWord::RECORD_NOT_FOUND, 0x6A83),
            (StatusWord::INCORRECT_P1P2, 0x6A86),
            (StatusWord::REF_DATA_NOT_FOUND, 0x6A88),
            (StatusWord::INS_NOT_SUPPORTED, 0x6D00),
            (StatusWord::CLA_NOT_SUPPORTED, 0x6E00),
        ];
        for (sw, code) in named {
            assert_eq!(sw.0, code);
            assert!(
                !sw.meaning().starts_with("checking error"),
                "{code:04X} has its own meaning"
            );
        }
    }
}
