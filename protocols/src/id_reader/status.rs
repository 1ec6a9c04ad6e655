//! SW3, the reader's verdict on a command, as the reference lists it:
//! [`Status`] with its wire byte and a text an operator at the counter can
//! act on ([`Status::meaning`]). SW1 and SW2 carry nothing the reference
//! defines; they are kept raw in [`super::Response`].
//!
//! | SW3 | status | SW3 | status |
//! | --- | --- | --- | --- |
//! | 90 | ok | 10 | checksum error |
//! | 9F | find card succeeded | 11 | length error |
//! | 91 | no content | 21 | command error |
//! | 80 | find card failed (no card) | 23 | unauthorised |
//! | 81 | select card failed | 24 | unknown error |
//! | 41 | read failed | 31, 32, 33 | authentication failures |
//! | 40 | unknown card type | 60 | SAM self-test failed |

/// What the reader says about a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// 90: done.
    Ok,
    /// 9F: a card is in the field (the answer to find card).
    FindSucceeded,
    /// 91: nothing to return.
    NoContent,
    /// 80: no card in the field.
    FindFailed,
    /// 81: the card did not answer the selection.
    SelectFailed,
    /// 41: the card could not be read (typically lifted mid-read).
    ReadFailed,
    /// 40: the card is not an identity card this reader knows.
    UnknownCardType,
    /// 10: the request arrived with a wrong checksum.
    ChecksumError,
    /// 11: the request arrived with a wrong length.
    LengthError,
    /// 21: the reader does not know the command.
    CommandError,
    /// 23: the command is not allowed.
    Unauthorised,
    /// 24: the reader failed for a reason it does not name.
    UnknownError,
    /// 31: an authentication failure between card and SAM. (The reference
    /// lists 31, 32 and 33 as authentication failures without telling
    /// them apart, and so does cardhub.)
    AuthenticationFailed31,
    /// 32: an authentication failure between card and SAM.
    AuthenticationFailed32,
    /// 33: an authentication failure between card and SAM.
    AuthenticationFailed33,
    /// 60: the security access module (SAM) failed its self-test.
    SamSelfTestFailed,
}

/// Every status with its byte: the one table both directions read.
const TABLE: [(Status, u8); 16] = [
    (Status::Ok, 0x90),
    (Status::FindSucceeded, 0x9F),
    (Status::NoContent, 0x91),
    (Status::FindFailed, 0x80),
    (Status::SelectFailed, 0x81),
    (Status::ReadFailed, 0x41),
    (Status::UnknownCardType, 0x40),
    (Status::ChecksumError, 0x10),
    (Status::LengthError, 0x11),
    (Status::CommandError, 0x21),
    (Status::Unauthorised, 0x23),
    (Status::UnknownError, 0x24),
    (Status::AuthenticationFailed31, 0x31),
    (Status::AuthenticationFailed32, 0x32),
    (Status::AuthenticationFailed33, 0x33),
    (Status::SamSelfTestFailed, 0x60),
];

impl Status {
    /// Every status, in the table's order.
    pub fn all() -> impl Iterator<Item = Status> {
        TABLE.iter().map(|&(s, _)| s)
    }

    /// The status for SW3, if the reference defines it.
    pub fn from_sw3(sw3: u8) -> Option<Self> {
        TABLE.iter().find(|&&(_, b)| b == sw3).map(|&(s, _)| s)
    }

    /// SW3.
    pub fn sw3(self) -> u8 {
        TABLE
            .iter()
            .find(|&&(s, _)| s == self)
            .map(|&(_, b)| b)
            .expect("every status is in the table")
    }

    /// Whether the status reports success (90 or 9F).
    pub fn is_success(self) -> bool {
        matches!(self, Status::Ok | Status::FindSucceeded)
    }

    /// What happened and what to do, for the operator.
    pub fn meaning(self) -> &'static str {
        match self {
            Status::Ok => "done",
            Status::FindSucceeded => "a card is on the reader",
            Status::NoContent => "the card has no such content",
            Status::FindFailed => "no card on the reader: place the card flat on the reader",
            Status::SelectFailed => {
                "the card did not answer: lift it, then place it flat on the reader again"
            }
            Status::ReadFailed => {
                "the card could not be read (was it moved?): keep it still on the reader and read again"
            }
            Status::UnknownCardType => {
                "the card is not an identity card this reader can read: check the document"
            }
            Status::ChecksumError => {
                "the reader received a corrupted command: check the reader's cable, then try again"
            }
            Status::LengthError => {
                "the reader received a command of the wrong length: check the reader's cable, then try again"
            }
            Status::CommandError => {
                "the reader does not know the command: check that the reader model speaks this protocol"
            }
            Status::Unauthorised => {
                "the reader refused the command as unauthorised: check the reader's configuration"
            }
            Status::UnknownError => {
                "the reader failed: try again; if it repeats, restart the reader"
            }
            Status::AuthenticationFailed31
            | Status::AuthenticationFailed32
            | Status::AuthenticationFailed33 => {
                "the card and the reader's security module did not authenticate each other: place the card again; \
                 if it repeats, the card may be damaged or not genuine"
            }
            Status::SamSelfTestFailed => {
                "the reader's security module (SAM) failed its self-test: restart the reader; if it repeats, \
                 have the reader serviced"
            }
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SW3 {:02X}: {}", self.sw3(), self.meaning())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_byte_and_back() {
        let mut bytes: Vec<u8> = Status::all().map(Status::sw3).collect();
        for status in Status::all() {
            assert_eq!(Status::from_sw3(status.sw3()), Some(status));
        }
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), TABLE.len());
    }

    #[test]
    fn the_reference_bytes_mean_what_it_says() {
        assert_eq!(Status::from_sw3(0x90), Some(Status::Ok));
        assert_eq!(Status::from_sw3(0x9F), Some(Status::FindSucceeded));
        assert_eq!(Status::from_sw3(0x80), Some(Status::FindFailed));
        assert_eq!(Status::from_sw3(0x41), Some(Status::ReadFailed));
        assert_eq!(Status::from_sw3(0x60), Some(Status::SamSelfTestFailed));
        assert_eq!(Status::from_sw3(0x00), None);
        assert_eq!(Status::from_sw3(0x92), None);
        assert!(Status::FindSucceeded.is_success() && !Status::FindFailed.is_success());
        assert!(
            Status::FindFailed
                .to_string()
                .starts_with("SW3 80: no card on the reader: place the card")
        );
    }
}
