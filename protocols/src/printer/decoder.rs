//! Stream decoders for both directions: [`CommandDecoder`] (the printer
//! reading the host) and [`ReplyDecoder`] (the host reading the printer).
//! Bytes go in as they arrive, split anywhere; frames come out one at a
//! time, each a value or a typed error. After an error the decoder finds
//! the next frame by itself:
//!
//! | direction | bad bytes | resynchronises at |
//! | --- | --- | --- |
//! | host → printer | bytes before an ESC | that ESC (one `Garbage` error for the run) |
//! | host → printer | a line cut short by an ESC | that ESC |
//! | host → printer | non-ASCII byte, overlong line, malformed download header | the next ESC (kept) or CR (dropped) |
//! | host → printer | a download longer than the limit | after its announced bytes, then as above |
//! | printer → host | non-ASCII byte, overlong line | the next CR (dropped) |
//!
//! Every decision depends only on the bytes, never on how they were split
//! into reads, so a stream decodes to the same frames and errors however
//! it arrives (a property test checks this).

use std::io::Cursor;

use super::command::{Command, CommandError, check_with_limit, parse_with_limit};
use super::reply::{Reply, ReplyError};
use super::{CR, ESC, MAX_PANEL_BYTES, escape_bytes};

/// How many garbage bytes a `Garbage` error shows.
const GARBAGE_PREVIEW: usize = 32;

/// What the first step of parsing ([`Command::check`], [`Reply::check`])
/// found when there is no whole frame at the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError<E> {
    /// The frame has not arrived in full: read more bytes and check again.
    Incomplete,
    /// The bytes up to the cursor are not a frame.
    Invalid {
        /// What is wrong with them.
        error: E,
        /// How to find the next frame after the cursor.
        then: Resync,
    },
}

/// How a decoder finds the next frame after bad bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resync {
    /// The next frame starts at the cursor.
    Here,
    /// Skip to the next boundary: for commands an ESC (which starts the
    /// next frame) or a CR (dropped); for replies a CR (dropped).
    SkipToBoundary,
    /// Skip this many bytes (a too-large panel's data), then to the next
    /// boundary.
    SkipBytes(usize),
}

/// What a stream is skipping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    Nothing,
    ToBoundary,
    Bytes(usize),
}

/// Bytes received and not yet decoded, with the skip in progress.
#[derive(Debug)]
struct Stream {
    buf: Vec<u8>,
    start: usize,
    skip: Skip,
}

impl Stream {
    fn new() -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            skip: Skip::Nothing,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 4096 && self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.skip = Skip::Nothing;
    }

    fn from_resync(then: Resync) -> Skip {
        match then {
            Resync::Here => Skip::Nothing,
            Resync::SkipToBoundary => Skip::ToBoundary,
            Resync::SkipBytes(n) => Skip::Bytes(n),
        }
    }

    /// Carries the skip in progress as far as the bytes go; `true` while
    /// it is not finished (every byte was consumed).
    fn skip(&mut self, esc_is_boundary: bool) -> bool {
        loop {
            match self.skip {
                Skip::Nothing => return false,
                Skip::Bytes(n) => {
                    let take = n.min(self.unread().len());
                    self.consume(take);
                    if take < n {
                        self.skip = Skip::Bytes(n - take);
                        return true;
                    }
                    self.skip = Skip::ToBoundary;
                }
                Skip::ToBoundary => {
                    let unread = self.unread();
                    let boundary = unread
                        .iter()
                        .position(|&b| b == CR || (esc_is_boundary && b == ESC));
                    match boundary {
                        Some(i) if unread[i] == CR => self.consume(i + 1),
                        Some(i) => self.consume(i),
                        None => {
                            self.consume(unread.len());
                            return true;
                        }
                    }
                    self.skip = Skip::Nothing;
                }
            }
        }
    }
}

/// Decodes the host's byte stream into [`Command`]s (the printer's side).
#[derive(Debug)]
pub struct CommandDecoder {
    stream: Stream,
    max_panel: usize,
    garbage_len: usize,
    garbage_preview: Vec<u8>,
}

impl Default for CommandDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandDecoder {
    /// A decoder accepting panels up to [`MAX_PANEL_BYTES`].
    pub fn new() -> Self {
        Self::with_max_panel(MAX_PANEL_BYTES)
    }

    /// A decoder accepting panels up to `max_panel` bytes.
    pub fn with_max_panel(max_panel: usize) -> Self {
        Self {
            stream: Stream::new(),
            max_panel,
            garbage_len: 0,
            garbage_preview: Vec::new(),
        }
    }

    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.stream.push(bytes);
    }

    /// The next command or error; `None` when more bytes are needed.
    pub fn decode(&mut self) -> Option<Result<Command, CommandError>> {
        if self.stream.skip(true) {
            return None;
        }
        let unread = self.stream.unread();
        let garbage = unread.iter().position(|&b| b == ESC);
        let run = garbage.unwrap_or(unread.len());
        if run > 0 {
            let room = GARBAGE_PREVIEW.saturating_sub(self.garbage_preview.len());
            self.garbage_preview
                .extend_from_slice(&unread[..run.min(room)]);
            self.garbage_len += run;
            self.stream.consume(run);
        }
        // No ESC yet: the garbage run may go on in the next bytes.
        garbage?;
        if self.garbage_len > 0 {
            let error = CommandError::Garbage {
                len: self.garbage_len,
                preview: escape_bytes(&self.garbage_preview),
            };
            self.garbage_len = 0;
            self.garbage_preview.clear();
            return Some(Err(error));
        }
        let mut cursor = Cursor::new(self.stream.unread());
        match check_with_limit(&mut cursor, self.max_panel) {
            Ok(()) => {
                let mut cursor = Cursor::new(self.stream.unread());
                let parsed = parse_with_limit(&mut cursor, self.max_panel);
                self.stream.consume(cursor.position() as usize);
                Some(parsed)
            }
            Err(CheckError::Incomplete) => None,
            Err(CheckError::Invalid { error, then }) => {
                self.stream.consume(cursor.position() as usize);
                self.stream.skip = Stream::from_resync(then);
                Some(Err(error))
            }
        }
    }

    /// Bytes held (a frame in progress).
    pub fn buffered(&self) -> usize {
        self.stream.unread().len()
    }

    /// Forgets everything buffered (a new connection).
    pub fn clear(&mut self) {
        self.stream.clear();
        self.garbage_len = 0;
        self.garbage_preview.clear();
    }
}

/// Decodes the printer's byte stream into [`Reply`]s (the host's side).
#[derive(Debug)]
pub struct ReplyDecoder {
    stream: Stream,
}

impl Default for ReplyDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self {
            stream: Stream::new(),
        }
    }

    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.stream.push(bytes);
    }

    /// The next reply or error; `None` when more bytes are needed.
    pub fn decode(&mut self) -> Option<Result<Reply, ReplyError>> {
        if self.stream.skip(false) || self.stream.unread().is_empty() {
            return None;
        }
        let mut cursor = Cursor::new(self.stream.unread());
        match Reply::check(&mut cursor) {
            Ok(()) => {
                let mut cursor = Cursor::new(self.stream.unread());
                let parsed = Reply::parse(&mut cursor);
                self.stream.consume(cursor.position() as usize);
                Some(parsed)
            }
            Err(CheckError::Incomplete) => None,
            Err(CheckError::Invalid { error, then }) => {
                self.stream.consume(cursor.position() as usize);
                self.stream.skip = Stream::from_resync(then);
                Some(Err(error))
            }
        }
    }

    /// Bytes held (a line in progress, or a line being skipped).
    pub fn buffered(&self) -> usize {
        self.stream.unread().len()
    }

    /// Whether the decoder is in the middle of skipping a bad line (its
    /// CR has not arrived yet).
    pub fn is_skipping(&self) -> bool {
        self.stream.skip != Skip::Nothing
    }

    /// Forgets everything buffered (a new connection).
    pub fn clear(&mut self) {
        self.stream.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::Station;

    fn commands(bytes: &[u8]) -> Vec<Result<Command, CommandError>> {
        let mut d = CommandDecoder::with_max_panel(16);
        d.push(bytes);
        std::iter::from_fn(|| d.decode()).collect()
    }

    #[test]
    fn garbage_is_one_error_then_the_command() {
        let out = commands(b"xx\x00yy\x1bSi\r");
        assert_eq!(
            out[0],
            Err(CommandError::Garbage {
                len: 5,
                preview: "xx\\x00yy".into()
            })
        );
        assert_eq!(out[1], Ok(Command::Insert));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn errors_resynchronise_at_the_next_frame() {
        let out = commands(b"\x1bSi\x1bSic\r\x1bS\xffjunk\r\x1bSe\r");
        assert!(matches!(out[0], Err(CommandError::Truncated { .. })));
        assert_eq!(out[1], Ok(Command::MoveTo(Station::Contact)));
        assert!(matches!(
            out[2],
            Err(CommandError::NotAscii { byte: 0xFF, .. })
        ));
        assert_eq!(out[3], Ok(Command::Eject));
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn an_overlong_line_is_reported_once_and_skipped() {
        let mut line = vec![ESC];
        line.extend(std::iter::repeat_n(
            b'A',
            crate::printer::MAX_COMMAND_LINE + 50,
        ));
        line.extend_from_slice(b"\r\x1bRps\r");
        let out = commands(&line);
        assert!(matches!(out[0], Err(CommandError::Overlong { .. })));
        assert_eq!(out[1], Ok(Command::ReadStatus));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_too_large_panel_is_skipped_by_its_length() {
        let mut wire = b"\x1bDbmp;c;20;".to_vec();
        wire.extend_from_slice(&[ESC; 20]);
        wire.extend_from_slice(b"\r\x1bSp\r");
        let out = commands(&wire);
        assert!(matches!(out[0], Err(CommandError::PanelTooLarge(_))));
        assert_eq!(out[1], Ok(Command::Print));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_wrong_length_is_a_missing_terminator() {
        let out = commands(b"\x1bDbmp;k;2;abc\r\x1bSs\r");
        assert_eq!(
            out[0],
            Err(CommandError::MissingTerminator {
                length: 2,
                found: b'c'
            })
        );
        assert_eq!(out[1], Ok(Command::StartSequence));
        for header in [
            &b"\x1bDbmp;;1;a\r"[..],
            b"\x1bDbmp;c1;a\r",
            b"\x1bDbmp;c;;a\r",
        ] {
            let out = commands(header);
            assert!(
                matches!(out[0], Err(CommandError::BadDownloadHeader { .. })),
                "{out:?}"
            );
        }
    }

    #[test]
    fn replies_skip_a_bad_line_to_its_cr() {
        let mut d = ReplyDecoder::new();
        d.push(b"O\xffK");
        assert!(matches!(
            d.decode(),
            Some(Err(ReplyError::NotAscii { byte: 0xFF, .. }))
        ));
        assert!(d.is_skipping());
        assert_eq!(d.decode(), None);
        d.push(b"\rSMART\r");
        assert_eq!(d.decode(), Some(Ok(Reply::Value("SMART".into()))));
        assert_eq!(d.decode(), None);
        assert_eq!(d.buffered(), 0);
    }
}
