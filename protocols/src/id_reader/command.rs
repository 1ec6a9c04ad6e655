//! The host's requests: five [`Command`]s, each a frame whose body is
//! `CMD PARA` (no data).
//!
//! | command | CMD PARA | bytes after the preamble | success SW3 |
//! | --- | --- | --- | --- |
//! | find card (寻卡) | 20 01 | 00 03 20 01 22 | 9F |
//! | select card (选卡) | 20 02 | 00 03 20 02 21 | 90 |
//! | read text + photo (读基本信息) | 30 01 | 00 03 30 01 32 | 90 |
//! | read text + photo + fingerprint | 30 10 | 00 03 30 10 23 | 90 |
//! | SAM status (SAM 状态) | 11 FF | 00 03 11 FF ED | 90 |
//!
//! Encoding is here for the host; [`Command::from_frame`] is the reader's
//! side (the simulator's).

use super::frame::{Frame, FrameError};
use super::status::Status;

/// What a read asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadMode {
    /// The text block and the photo (`30 01`).
    TextAndPhoto,
    /// The text block, the photo and the fingerprint templates (`30 10`).
    WithFingerprints,
}

/// A request to the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// 寻卡: is there a card in the field?
    FindCard,
    /// 选卡: select the card found.
    SelectCard,
    /// 读卡: read the selected card.
    Read(ReadMode),
    /// The security access module's self-test.
    SamStatus,
}

impl Command {
    /// All five, in the table's order.
    pub const ALL: [Command; 5] = [
        Command::FindCard,
        Command::SelectCard,
        Command::Read(ReadMode::TextAndPhoto),
        Command::Read(ReadMode::WithFingerprints),
        Command::SamStatus,
    ];

    /// CMD and PARA.
    pub fn code(self) -> [u8; 2] {
        match self {
            Command::FindCard => [0x20, 0x01],
            Command::SelectCard => [0x20, 0x02],
            Command::Read(ReadMode::TextAndPhoto) => [0x30, 0x01],
            Command::Read(ReadMode::WithFingerprints) => [0x30, 0x10],
            Command::SamStatus => [0x11, 0xFF],
        }
    }

    /// A short name for messages and logs.
    pub fn name(self) -> &'static str {
        match self {
            Command::FindCard => "find card",
            Command::SelectCard => "select card",
            Command::Read(ReadMode::TextAndPhoto) => "read text and photo",
            Command::Read(ReadMode::WithFingerprints) => "read text, photo and fingerprints",
            Command::SamStatus => "SAM status",
        }
    }

    /// The SW3 that means the command succeeded: 9F for find card, 90
    /// for the others.
    pub fn success(self) -> Status {
        match self {
            Command::FindCard => Status::FindSucceeded,
            _ => Status::Ok,
        }
    }

    /// The request frame.
    pub fn to_frame(self) -> Frame {
        Frame::new(self.code().to_vec()).expect("CMD PARA is a valid body")
    }

    /// The request's bytes (ten of them).
    pub fn to_bytes(self) -> Vec<u8> {
        self.to_frame().to_bytes()
    }

    /// The command a request frame carries (the reader's side).
    pub fn from_frame(frame: &Frame) -> Result<Self, FrameError> {
        let body = frame.body();
        let (code, data) = body.split_at(2.min(body.len()));
        Command::ALL
            .into_iter()
            .find(|c| c.code() == code && data.is_empty())
            .ok_or(FrameError::UnknownCommand {
                cmd: code.first().copied().unwrap_or_default(),
                para: code.get(1).copied().unwrap_or_default(),
                data_len: data.len(),
            })
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's table: bytes after the preamble.
    const TABLE: [(Command, [u8; 5]); 5] = [
        (Command::FindCard, [0x00, 0x03, 0x20, 0x01, 0x22]),
        (Command::SelectCard, [0x00, 0x03, 0x20, 0x02, 0x21]),
        (
            Command::Read(ReadMode::TextAndPhoto),
            [0x00, 0x03, 0x30, 0x01, 0x32],
        ),
        (
            Command::Read(ReadMode::WithFingerprints),
            [0x00, 0x03, 0x30, 0x10, 0x23],
        ),
        (Command::SamStatus, [0x00, 0x03, 0x11, 0xFF, 0xED]),
    ];

    #[test]
    fn requests_are_the_reference_bytes() {
        for (command, after) in TABLE {
            let bytes = command.to_bytes();
            assert_eq!(bytes[..5], [0xAA, 0xAA, 0xAA, 0x96, 0x69], "{command}");
            assert_eq!(bytes[5..], after, "{command}");
            let frame = Frame::parse(&bytes).unwrap();
            assert_eq!(Command::from_frame(&frame), Ok(command));
        }
    }

    #[test]
    fn other_requests_are_unknown_commands() {
        let frame = Frame::new(vec![0x20, 0x03]).unwrap();
        assert_eq!(
            Command::from_frame(&frame),
            Err(FrameError::UnknownCommand {
                cmd: 0x20,
                para: 0x03,
                data_len: 0
            })
        );
        let with_data = Frame::new(vec![0x20, 0x01, 0x00]).unwrap();
        assert!(Command::from_frame(&with_data).is_err());
    }
}
