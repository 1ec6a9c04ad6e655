//! The reader's answers: [`Response`] (`SW1 SW2 SW3 data` in a frame) and
//! the read answer's data split into its parts ([`ReadAnswer`]).
//!
//! ```text
//! read text + photo (30 01), LEN 0x0508:
//!   SW1 SW2 SW3 | 01 00 (text length) | 04 00 (photo length) | text (256) | photo (1024) | CHK
//! read text + photo + fingerprints (30 10):
//!   SW1 SW2 SW3 | 01 00 | 04 00 | fingerprint length (2) | text | photo | fingerprints | CHK
//! ```
//!
//! The reference details only the `30 01` answer. For `30 10` cardhub
//! assumes a third length after the photo's and the templates after the
//! photo; that layout is unverified against a real reader. A fingerprint
//! length of 0 (a card without fingerprints) reads as no fingerprints.

use super::command::ReadMode;
use super::frame::{Frame, FrameError};
use super::status::Status;
use super::text::TEXT_LEN;

/// The photo's length: 1024 bytes of WLT.
pub const PHOTO_LEN: usize = 1024;

/// The most fingerprint bytes accepted: two templates of 512.
pub const MAX_FINGERPRINT_LEN: usize = 1024;

/// A reader's answer to one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    sw1: u8,
    sw2: u8,
    status: Status,
    data: Vec<u8>,
}

impl Response {
    /// An answer with SW1 = SW2 = 00, as readers send; an error when the
    /// data is too long for a frame.
    pub fn new(status: Status, data: Vec<u8>) -> Result<Self, FrameError> {
        let response = Self {
            sw1: 0,
            sw2: 0,
            status,
            data,
        };
        let len = response.data.len() + 4;
        if len > usize::from(super::frame::MAX_LEN) {
            return Err(FrameError::BadLength {
                len: u16::try_from(len).unwrap_or(u16::MAX),
            });
        }
        Ok(response)
    }

    /// A bare status (every refusal, and the answers without data).
    pub fn status_only(status: Status) -> Self {
        Self::new(status, Vec::new()).expect("an empty answer fits a frame")
    }

    /// SW1 (no meaning in the reference; `00` from readers seen so far).
    pub fn sw1(&self) -> u8 {
        self.sw1
    }

    /// SW2 (no meaning in the reference; `00` from readers seen so far).
    pub fn sw2(&self) -> u8 {
        self.sw2
    }

    /// SW3.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The data after SW1-SW3.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The answer a response frame carries (the host's side).
    pub fn from_frame(frame: &Frame) -> Result<Self, FrameError> {
        let body = frame.body();
        let [sw1, sw2, sw3, data @ ..] = body else {
            return Err(FrameError::TooShort {
                what: "a response (SW1 SW2 SW3)",
                needed: 3,
                got: body.len(),
            });
        };
        let status = Status::from_sw3(*sw3).ok_or(FrameError::UnknownStatus { sw3: *sw3 })?;
        Ok(Self {
            sw1: *sw1,
            sw2: *sw2,
            status,
            data: data.to_vec(),
        })
    }

    /// The response frame.
    pub fn to_frame(&self) -> Frame {
        let mut body = Vec::with_capacity(3 + self.data.len());
        body.extend_from_slice(&[self.sw1, self.sw2, self.status.sw3()]);
        body.extend_from_slice(&self.data);
        Frame::new(body).expect("Response::new bounds the data")
    }

    /// The response's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_frame().to_bytes()
    }
}

/// The photo as the card stores it: 1024 bytes of WLT, a compressed
/// format whose decoder is the reader vendor's licensed library
/// (`libwlt2bmp` and the like). cardhub has no licence for it and keeps
/// the raw bytes; turning them into an image is for a component that
/// links the vendor's library.
#[derive(Clone, PartialEq, Eq)]
pub struct WltPhoto(Box<[u8; PHOTO_LEN]>);

impl WltPhoto {
    /// The photo from its 1024 bytes; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let array: [u8; PHOTO_LEN] = bytes.try_into().ok()?;
        Some(Self(Box::new(array)))
    }

    /// The raw WLT bytes.
    pub fn as_bytes(&self) -> &[u8; PHOTO_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for WltPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WltPhoto({} bytes)", PHOTO_LEN)
    }
}

/// The data of a successful read, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadAnswer {
    /// The 256-byte text block (decode it with [`super::IdCard::decode`]).
    pub text: Box<[u8; TEXT_LEN]>,
    /// The photo, raw.
    pub photo: WltPhoto,
    /// The fingerprint templates, raw, when asked for and on the card.
    pub fingerprints: Option<Vec<u8>>,
}

impl ReadAnswer {
    /// Splits a read answer's data (what follows SW3), read with `mode`.
    pub fn parse(data: &[u8], mode: ReadMode) -> Result<Self, FrameError> {
        let lengths = match mode {
            ReadMode::TextAndPhoto => 4,
            ReadMode::WithFingerprints => 6,
        };
        if data.len() < lengths {
            return Err(FrameError::TooShort {
                what: "a read answer's lengths",
                needed: lengths,
                got: data.len(),
            });
        }
        let field = |i: usize| usize::from(u16::from_be_bytes([data[i], data[i + 1]]));
        let (text_len, photo_len) = (field(0), field(2));
        let fp_len = if lengths == 6 { field(4) } else { 0 };
        if text_len != TEXT_LEN || photo_len != PHOTO_LEN {
            return Err(bad(format!(
                "text length {text_len} and photo length {photo_len}, expected {TEXT_LEN} and {PHOTO_LEN}"
            )));
        }
        if fp_len > MAX_FINGERPRINT_LEN {
            return Err(bad(format!(
                "fingerprint length {fp_len} is over {MAX_FINGERPRINT_LEN}"
            )));
        }
        let rest = &data[lengths..];
        if rest.len() != text_len + photo_len + fp_len {
            return Err(bad(format!(
                "{} bytes follow the lengths, which announce {}",
                rest.len(),
                text_len + photo_len + fp_len
            )));
        }
        let (text, rest) = rest.split_at(TEXT_LEN);
        let (photo, fingerprints) = rest.split_at(PHOTO_LEN);
        Ok(Self {
            text: Box::new(text.try_into().expect("split at TEXT_LEN")),
            photo: WltPhoto::from_bytes(photo).expect("split at PHOTO_LEN"),
            fingerprints: (!fingerprints.is_empty()).then(|| fingerprints.to_vec()),
        })
    }

    /// The data of the answer to a read with `mode` (the reader's side).
    /// Fingerprints are sent only with [`ReadMode::WithFingerprints`], cut
    /// to [`MAX_FINGERPRINT_LEN`].
    pub fn to_data(&self, mode: ReadMode) -> Vec<u8> {
        let fingerprints = match (mode, &self.fingerprints) {
            (ReadMode::WithFingerprints, Some(f)) => &f[..f.len().min(MAX_FINGERPRINT_LEN)],
            _ => &[][..],
        };
        let mut out = Vec::with_capacity(6 + TEXT_LEN + PHOTO_LEN + fingerprints.len());
        out.extend_from_slice(&(TEXT_LEN as u16).to_be_bytes());
        out.extend_from_slice(&(PHOTO_LEN as u16).to_be_bytes());
        if mode == ReadMode::WithFingerprints {
            let len = u16::try_from(fingerprints.len()).expect("cut to MAX_FINGERPRINT_LEN");
            out.extend_from_slice(&len.to_be_bytes());
        }
        out.extend_from_slice(&self.text[..]);
        out.extend_from_slice(self.photo.as_bytes());
        out.extend_from_slice(fingerprints);
        out
    }
}

fn bad(reason: String) -> FrameError {
    FrameError::BadReadAnswer { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(fingerprints: Option<Vec<u8>>) -> ReadAnswer {
        let mut text = [0x20; TEXT_LEN];
        text[1] = 0x4E;
        ReadAnswer {
            text: Box::new(text),
            photo: WltPhoto::from_bytes(&[0x57; PHOTO_LEN]).unwrap(),
            fingerprints,
        }
    }

    #[test]
    fn a_read_answer_has_the_reference_length() {
        let data = answer(None).to_data(ReadMode::TextAndPhoto);
        let bytes = Response::new(Status::Ok, data).unwrap().to_bytes();
        assert_eq!(bytes[5..7], [0x05, 0x08], "LEN 0x0508");
        assert_eq!(bytes[7..14], [0x00, 0x00, 0x90, 0x01, 0x00, 0x04, 0x00]);
        assert_eq!(bytes.len(), 7 + 0x0508);
        let frame = Frame::parse(&bytes).unwrap();
        let response = Response::from_frame(&frame).unwrap();
        assert_eq!(response.status(), Status::Ok);
        let parsed = ReadAnswer::parse(response.data(), ReadMode::TextAndPhoto).unwrap();
        assert_eq!(parsed, answer(None));
    }

    #[test]
    fn fingerprints_come_with_their_mode_only() {
        let with = answer(Some(vec![0xF1; 1024]));
        let data = with.to_data(ReadMode::WithFingerprints);
        assert_eq!(data[4..6], [0x04, 0x00]);
        assert_eq!(
            ReadAnswer::parse(&data, ReadMode::WithFingerprints).unwrap(),
            with
        );
        let without = with.to_data(ReadMode::TextAndPhoto);
        assert_eq!(
            ReadAnswer::parse(&without, ReadMode::TextAndPhoto).unwrap(),
            answer(None)
        );
        let none = answer(None).to_data(ReadMode::WithFingerprints);
        assert_eq!(none[4..6], [0x00, 0x00]);
        assert_eq!(
            ReadAnswer::parse(&none, ReadMode::WithFingerprints)
                .unwrap()
                .fingerprints,
            None
        );
    }

    #[test]
    fn malformed_read_answers_are_refused() {
        let data = answer(None).to_data(ReadMode::TextAndPhoto);
        assert!(matches!(
            ReadAnswer::parse(&data[..100], ReadMode::TextAndPhoto),
            Err(FrameError::BadReadAnswer { .. })
        ));
        let mut wrong_text = data.clone();
        wrong_text[1] = 0x01;
        assert!(ReadAnswer::parse(&wrong_text, ReadMode::TextAndPhoto).is_err());
        assert!(matches!(
            ReadAnswer::parse(&data[..3], ReadMode::TextAndPhoto),
            Err(FrameError::TooShort { .. })
        ));
        assert!(ReadAnswer::parse(&data, ReadMode::WithFingerprints).is_err());
    }

    #[test]
    fn responses_need_three_status_bytes_and_a_known_sw3() {
        let short = Frame::new(vec![0x00, 0x00]).unwrap();
        assert!(matches!(
            Response::from_frame(&short),
            Err(FrameError::TooShort { got: 2, .. })
        ));
        let unknown = Frame::new(vec![0x00, 0x00, 0x55]).unwrap();
        assert_eq!(
            Response::from_frame(&unknown),
            Err(FrameError::UnknownStatus { sw3: 0x55 })
        );
        let no_card = Response::status_only(Status::FindFailed).to_bytes();
        assert_eq!(
            no_card,
            [
                0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x04, 0x00, 0x00, 0x80, 0x84
            ]
        );
        assert!(Response::new(Status::Ok, vec![0; 5000]).is_err());
    }
}
