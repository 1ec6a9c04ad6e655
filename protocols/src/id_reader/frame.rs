//! Frames in both directions: `AA AA AA 96 69 | LEN | body | CHK`, parsed
//! in two steps (mini-redis). [`Frame::check`] looks at buffered bytes and
//! says whether a whole frame starts there (its length), more bytes are
//! needed ([`CheckError::Incomplete`]), or the bytes are not a frame;
//! [`Frame::parse`] takes exactly one frame's bytes and verifies LEN and
//! CHK. [`FrameDecoder`] runs both over a byte stream split anywhere.
//!
//! | bad bytes | what the decoder reports | resynchronises at |
//! | --- | --- | --- |
//! | anything before a preamble | one [`FrameError::Garbage`] for the run | that preamble |
//! | a preamble with LEN outside 3..=4096 | [`FrameError::BadLength`] (the bytes after it up to the next preamble are skipped silently) | the next preamble |
//! | a whole frame whose CHK does not match | [`FrameError::BadChecksum`] | the byte after the frame |
//!
//! Every decision depends only on the bytes, never on how they were split
//! into reads (a property test and the fuzz target check this). What the
//! body means (a request, a response) is [`super::command`] and
//! [`super::response`].

use super::PREAMBLE;

/// The bytes before the body: the preamble and LEN.
pub const HEADER_LEN: usize = PREAMBLE.len() + 2;

/// The smallest LEN: a request's `CMD PARA CHK`. A response needs one
/// more (`SW1 SW2 SW3 CHK`), which [`super::Response::from_frame`] checks.
pub const MIN_LEN: u16 = 3;

/// The largest LEN accepted. The largest real answer (text, photo and two
/// fingerprint templates of 512 bytes: 3 + 6 + 256 + 1024 + 1024 + 1) is
/// 2,314; a LEN past 4,096 is noise that happens to follow a preamble, and
/// waiting for that many bytes would stall the line.
pub const MAX_LEN: u16 = 4096;

/// How many bytes an error shows of what it received.
const PREVIEW: usize = 16;

/// One frame's body: everything between LEN and CHK (`CMD PARA data` for
/// a request, `SW1 SW2 SW3 data` for a response).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    body: Vec<u8>,
}

/// Why bytes are not a frame, or a frame's body not a request or response.
/// Every variant says what was received.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Bytes that are not part of any frame (noise on the line, a wrong
    /// baud rate, the tail of a frame cut short).
    #[error("{len} bytes that are not a frame ({preview}): noise on the line or a wrong baud rate")]
    Garbage {
        /// How many bytes.
        len: usize,
        /// The first of them, in hex.
        preview: String,
    },
    /// LEN is outside the lengths a frame can have.
    #[error("frame length {len} is outside {MIN_LEN}..={MAX_LEN}: the frame is corrupted")]
    BadLength {
        /// LEN as received.
        len: u16,
    },
    /// The bytes given to [`Frame::parse`] are not as many as LEN says.
    #[error("frame announces {announced} bytes after its header but {got} are there")]
    LengthMismatch {
        /// LEN as received.
        announced: u16,
        /// The bytes after the header.
        got: usize,
    },
    /// The bytes given to [`Frame::parse`] do not start with the preamble.
    #[error("no AA AA AA 96 69 preamble at the start of {preview}")]
    NoPreamble {
        /// The first bytes, in hex.
        preview: String,
    },
    /// CHK does not match: a byte was corrupted on the line.
    #[error(
        "checksum is {found:02X} but the frame's bytes give {expected:02X}: a byte was corrupted on the line"
    )]
    BadChecksum {
        /// The XOR of LEN and body.
        expected: u8,
        /// CHK as received.
        found: u8,
    },
    /// A body too short for what it must hold.
    #[error("{what} needs at least {needed} bytes in its frame, got {got}")]
    TooShort {
        /// What the frame was read as (`a response`).
        what: &'static str,
        /// The least that can be there.
        needed: usize,
        /// What was there.
        got: usize,
    },
    /// SW3 is not one of the reference's status bytes.
    #[error("status byte SW3 = {sw3:02X} is not one the protocol defines")]
    UnknownStatus {
        /// SW3 as received.
        sw3: u8,
    },
    /// A request that is not one of the five commands.
    #[error(
        "command {cmd:02X} {para:02X} (with {data_len} data bytes) is not one of the five reader commands"
    )]
    UnknownCommand {
        /// CMD.
        cmd: u8,
        /// PARA.
        para: u8,
        /// How many data bytes followed.
        data_len: usize,
    },
    /// A read answer whose lengths do not add up.
    #[error("read answer is malformed: {reason}")]
    BadReadAnswer {
        /// What does not fit.
        reason: String,
    },
}

/// What [`Frame::check`] found when there is no whole frame at the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The start is a frame (or the start of a preamble) that has not
    /// arrived in full: read more and check again.
    Incomplete,
    /// The first `len` bytes are not part of a frame; a frame may start
    /// after them.
    Garbage {
        /// How many bytes to skip.
        len: usize,
    },
    /// A preamble with an impossible LEN: skip the preamble and look again.
    BadLength {
        /// LEN as received.
        len: u16,
    },
}

impl Frame {
    /// A frame with this body; [`FrameError::BadLength`] when the body is
    /// shorter than two bytes or too long for LEN's limit.
    pub fn new(body: Vec<u8>) -> Result<Self, FrameError> {
        let len = u16::try_from(body.len() + 1).unwrap_or(u16::MAX);
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(FrameError::BadLength { len });
        }
        Ok(Self { body })
    }

    /// The body: `CMD PARA data` or `SW1 SW2 SW3 data`.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = u16::try_from(self.body.len() + 1).expect("Frame::new bounds the body");
        out.extend_from_slice(&PREAMBLE);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.body);
        out.push(checksum(&len.to_be_bytes(), &self.body));
    }

    /// The frame's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len() + 1);
        self.encode(&mut out);
        out
    }

    /// Step one: whether a whole frame starts at `buf[0]`; `Ok` gives its
    /// length in bytes (header, body and CHK).
    pub fn check(buf: &[u8]) -> Result<usize, CheckError> {
        let start = preamble_start(buf);
        if start > 0 {
            return Err(CheckError::Garbage { len: start });
        }
        if buf.len() < HEADER_LEN {
            return Err(CheckError::Incomplete);
        }
        let len = u16::from_be_bytes([buf[5], buf[6]]);
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(CheckError::BadLength { len });
        }
        let total = HEADER_LEN + usize::from(len);
        if buf.len() < total {
            return Err(CheckError::Incomplete);
        }
        Ok(total)
    }

    /// Step two: exactly one frame's bytes (as [`Frame::check`] measured
    /// them) into its body, verifying preamble, LEN and CHK.
    pub fn parse(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() < HEADER_LEN || bytes[..PREAMBLE.len()] != PREAMBLE {
            return Err(FrameError::NoPreamble {
                preview: hex_preview(bytes),
            });
        }
        let len_bytes = [bytes[5], bytes[6]];
        let len = u16::from_be_bytes(len_bytes);
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(FrameError::BadLength { len });
        }
        let rest = &bytes[HEADER_LEN..];
        if rest.len() != usize::from(len) {
            return Err(FrameError::LengthMismatch {
                announced: len,
                got: rest.len(),
            });
        }
        let (body, chk) = rest.split_at(rest.len() - 1);
        let expected = checksum(&len_bytes, body);
        if expected != chk[0] {
            return Err(FrameError::BadChecksum {
                expected,
                found: chk[0],
            });
        }
        Ok(Self {
            body: body.to_vec(),
        })
    }
}

/// CHK: the XOR of LEN and the body.
fn checksum(len: &[u8; 2], body: &[u8]) -> u8 {
    len.iter().chain(body).fold(0, |acc, b| acc ^ b)
}

/// Where the first preamble (or, at the end, the start of one) begins;
/// `buf.len()` when nowhere.
fn preamble_start(buf: &[u8]) -> usize {
    (0..buf.len())
        .find(|&i| {
            let tail = &buf[i..];
            let n = tail.len().min(PREAMBLE.len());
            tail[..n] == PREAMBLE[..n]
        })
        .unwrap_or(buf.len())
}

/// Up to 16 bytes in hex, with the total when cut.
pub(crate) fn hex_preview(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes
        .iter()
        .take(PREVIEW)
        .map(|b| format!("{b:02X}"))
        .collect();
    let mut out = shown.join(" ");
    if bytes.len() > PREVIEW {
        out.push_str(&format!(" ... ({} bytes)", bytes.len()));
    }
    out
}

/// Decodes a byte stream (either direction) into [`Frame`]s, resynchronising
/// after bad bytes as the module's table says.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    /// Garbage bytes skipped since the last frame, not yet reported.
    garbage: usize,
    garbage_preview: Vec<u8>,
    /// The garbage run in progress follows a [`FrameError::BadLength`]
    /// and is part of that error: it is skipped without a report.
    quiet: bool,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 4096 && self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next frame or error; `None` when more bytes are needed.
    pub fn decode(&mut self) -> Option<Result<Frame, FrameError>> {
        loop {
            let unread = &self.buf[self.start..];
            match Frame::check(unread) {
                Err(CheckError::Garbage { len }) => {
                    let room = PREVIEW.saturating_sub(self.garbage_preview.len());
                    self.garbage_preview
                        .extend_from_slice(&unread[..len.min(room)]);
                    self.garbage += len;
                    self.start += len;
                }
                Err(CheckError::Incomplete) if unread.len() < PREAMBLE.len() => return None,
                Err(CheckError::Incomplete) => return self.take_garbage().map(Err),
                Err(CheckError::BadLength { len }) => {
                    if let Some(garbage) = self.take_garbage() {
                        return Some(Err(garbage));
                    }
                    self.start += PREAMBLE.len();
                    self.quiet = true;
                    return Some(Err(FrameError::BadLength { len }));
                }
                Ok(total) => {
                    if let Some(garbage) = self.take_garbage() {
                        return Some(Err(garbage));
                    }
                    let frame = &self.buf[self.start..self.start + total];
                    let parsed = Frame::parse(frame);
                    self.start += total;
                    return Some(parsed);
                }
            }
        }
    }

    /// A preamble is at the cursor: the garbage run before it ends. Its
    /// error, unless it was the tail of a bad-length frame.
    fn take_garbage(&mut self) -> Option<FrameError> {
        let quiet = std::mem::take(&mut self.quiet);
        if self.garbage == 0 {
            return None;
        }
        let error = FrameError::Garbage {
            len: self.garbage,
            preview: hex_preview(&self.garbage_preview),
        };
        self.garbage = 0;
        self.garbage_preview.clear();
        (!quiet).then_some(error)
    }

    /// Bytes held: a frame (or preamble) in progress.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Garbage bytes skipped and not reported yet (no preamble has
    /// followed them): what a caller waiting in vain for a frame received.
    pub fn garbage_pending(&self) -> usize {
        self.garbage
    }

    /// Forgets everything (before a new command: nothing from before it
    /// may be read as its answer).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The find-card request of the reference.
    const FIND: [u8; 10] = [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x01, 0x22];

    fn decode_all(pieces: &[&[u8]]) -> Vec<Result<Frame, FrameError>> {
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        for piece in pieces {
            decoder.push(piece);
            out.extend(std::iter::from_fn(|| decoder.decode()));
        }
        out
    }

    #[test]
    fn a_reference_frame_encodes_and_parses() {
        let frame = Frame::new(vec![0x20, 0x01]).unwrap();
        assert_eq!(frame.to_bytes(), FIND);
        assert_eq!(Frame::check(&FIND), Ok(10));
        assert_eq!(Frame::parse(&FIND).unwrap().body(), [0x20, 0x01]);
    }

    #[test]
    fn check_waits_for_the_whole_frame() {
        for n in 0..FIND.len() {
            assert_eq!(Frame::check(&FIND[..n]), Err(CheckError::Incomplete), "{n}");
        }
        let mut longer = FIND.to_vec();
        longer.extend_from_slice(b"more");
        assert_eq!(Frame::check(&longer), Ok(10));
    }

    #[test]
    fn check_measures_garbage_up_to_the_preamble() {
        let mut bytes = vec![0x00, 0xAA, 0x13];
        bytes.extend_from_slice(&FIND);
        assert_eq!(Frame::check(&bytes), Err(CheckError::Garbage { len: 3 }));
        assert_eq!(
            Frame::check(&[0x01, 0xAA, 0xAA]),
            Err(CheckError::Garbage { len: 1 })
        );
        assert_eq!(
            Frame::check(&[0xAA, 0xAA, 0xAA, 0xAA, 0x96, 0x69]),
            Err(CheckError::Garbage { len: 1 })
        );
    }

    #[test]
    fn parse_refuses_each_corruption() {
        let mut bad_chk = FIND;
        bad_chk[9] = 0x23;
        assert_eq!(
            Frame::parse(&bad_chk),
            Err(FrameError::BadChecksum {
                expected: 0x22,
                found: 0x23
            })
        );
        let mut flipped = FIND;
        flipped[8] = 0x02;
        assert!(matches!(
            Frame::parse(&flipped),
            Err(FrameError::BadChecksum { .. })
        ));
        assert_eq!(
            Frame::parse(&FIND[..9]),
            Err(FrameError::LengthMismatch {
                announced: 3,
                got: 2
            })
        );
        assert!(matches!(
            Frame::parse(&FIND[1..]),
            Err(FrameError::NoPreamble { .. })
        ));
        let mut zero_len = FIND;
        zero_len[6] = 0x00;
        assert_eq!(
            Frame::parse(&zero_len),
            Err(FrameError::BadLength { len: 0 })
        );
    }

    #[test]
    fn the_decoder_reports_garbage_once_then_the_frame() {
        let mut bytes = b"\x13noise".to_vec();
        bytes.extend_from_slice(&FIND);
        let out = decode_all(&[&bytes]);
        assert_eq!(out.len(), 2);
        assert!(
            matches!(&out[0], Err(FrameError::Garbage { len: 6, preview }) if preview.starts_with("13 6E"))
        );
        assert_eq!(out[1].as_ref().unwrap().body(), [0x20, 0x01]);
    }

    #[test]
    fn garbage_without_a_preamble_is_pending_not_reported() {
        let mut decoder = FrameDecoder::new();
        decoder.push(b"\x01\x02\x03");
        assert!(decoder.decode().is_none());
        assert_eq!(decoder.garbage_pending(), 3);
        decoder.push(&FIND);
        assert!(matches!(
            decoder.decode(),
            Some(Err(FrameError::Garbage { len: 3, .. }))
        ));
        assert!(decoder.decode().unwrap().is_ok());
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn a_bad_length_is_one_error_and_the_next_frame_follows() {
        let mut bytes = vec![0xAA, 0xAA, 0xAA, 0x96, 0x69, 0xFF, 0xFF, 1, 2, 3];
        bytes.extend_from_slice(&FIND);
        let out = decode_all(&[&bytes]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], Err(FrameError::BadLength { len: 0xFFFF }));
        assert!(out[1].is_ok());
    }

    #[test]
    fn a_bad_checksum_costs_only_its_frame() {
        let mut bytes = FIND.to_vec();
        bytes[9] ^= 0x40;
        bytes.extend_from_slice(&FIND);
        let out = decode_all(&[&bytes]);
        assert!(matches!(out[0], Err(FrameError::BadChecksum { .. })));
        assert!(out[1].is_ok());
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn bodies_outside_the_limits_make_no_frame() {
        assert_eq!(
            Frame::new(vec![0x20]),
            Err(FrameError::BadLength { len: 2 })
        );
        assert!(Frame::new(vec![0; usize::from(MAX_LEN) - 1]).is_ok());
        assert!(Frame::new(vec![0; usize::from(MAX_LEN)]).is_err());
    }

    proptest! {
        #[test]
        fn frames_round_trip(body in proptest::collection::vec(any::<u8>(), 2..600)) {
            let frame = Frame::new(body).unwrap();
            let bytes = frame.to_bytes();
            prop_assert_eq!(Frame::check(&bytes), Ok(bytes.len()));
            prop_assert_eq!(Frame::parse(&bytes).unwrap(), frame);
        }

        #[test]
        fn decoding_does_not_depend_on_how_the_bytes_are_split(
            noise in proptest::collection::vec(any::<u8>(), 0..40),
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 2..40), 0..4),
            corrupt in any::<Option<(usize, u8)>>(),
            cut in any::<usize>(),
        ) {
            let mut stream = noise;
            for body in &bodies {
                Frame::new(body.clone()).unwrap().encode(&mut stream);
                stream.extend_from_slice(b"\x00\xAA");
            }
            if let Some((at, flip)) = corrupt
                && !stream.is_empty()
            {
                let at = at % stream.len();
                stream[at] ^= flip;
            }
            let cut = cut % (stream.len() + 1);
            let whole = decode_all(&[&stream]);
            prop_assert_eq!(&whole, &decode_all(&[&stream[..cut], &stream[cut..]]));
            let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
            prop_assert_eq!(&whole, &decode_all(&bytewise));
            if corrupt.is_none() {
                let frames: Vec<_> = whole.into_iter().filter_map(Result::ok).collect();
                prop_assert_eq!(frames.len(), bodies.len());
            }
        }
    }
}
