//! [`ContainerDecoder`]: PTP containers out of a byte stream (the TCP
//! carriage of `cardhub_devices::camera` and its simulator; a USB bulk-in
//! endpoint's transfers too). Bytes go in as they arrive, split anywhere;
//! each container comes out once it is whole, through the two steps of
//! [`Container::check`] and [`Container::parse`].

use std::io::Cursor;

use super::container::{CheckError, Container, ContainerError, MAX_CONTAINER_LEN};

/// Decodes a byte stream (TCP) into containers: bytes go in as they
/// arrive, split anywhere; containers come out one at a time.
///
/// PTP has no frame markers, so nothing after a bad header can be found
/// again: the decoder reports the error once, drops what it holds and
/// ignores further bytes until [`ContainerDecoder::clear`] (the link must
/// be made again).
#[derive(Debug)]
pub struct ContainerDecoder {
    buf: Vec<u8>,
    start: usize,
    limit: u32,
    failed: bool,
}

impl Default for ContainerDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ContainerDecoder {
    /// A decoder accepting containers up to [`MAX_CONTAINER_LEN`].
    pub fn new() -> Self {
        Self::with_limit(MAX_CONTAINER_LEN)
    }

    /// A decoder accepting containers up to `limit` bytes.
    pub fn with_limit(limit: u32) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            limit,
            failed: false,
        }
    }

    /// Adds bytes as they arrived (ignored after an error).
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next container or error; `None` when more bytes are needed.
    pub fn decode(&mut self) -> Option<Result<Container, ContainerError>> {
        if self.failed {
            return None;
        }
        let unread = &self.buf[self.start..];
        let mut cursor = Cursor::new(unread);
        match Container::check(&mut cursor, self.limit) {
            Ok(()) => {
                let mut cursor = Cursor::new(unread);
                let parsed = Container::parse_with_limit(&mut cursor, self.limit);
                self.start += cursor.position() as usize;
                Some(parsed)
            }
            Err(CheckError::Incomplete { needed }) => {
                self.buf.reserve(needed.saturating_sub(unread.len()));
                None
            }
            Err(CheckError::Invalid(error)) => {
                self.failed = true;
                self.buf = Vec::new();
                self.start = 0;
                Some(Err(error))
            }
        }
    }

    /// Bytes held: a container in progress.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether a bad header stopped the decoder.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Forgets everything (a new connection).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.failed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptp::ResponseCode;

    /// OpenSession(session 1), transaction 0.
    const OPEN_SESSION: [u8; 16] = [
        0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00,
    ];

    #[test]
    fn ptp_decoder_reads_a_split_stream_and_stops_at_a_bad_header() {
        let mut wire = OPEN_SESSION.to_vec();
        Container::response(ResponseCode::Ok, 0, []).encode_into(&mut wire);
        let mut decoder = ContainerDecoder::new();
        for byte in &wire[..20] {
            decoder.push(std::slice::from_ref(byte));
        }
        assert!(matches!(
            decoder.decode(),
            Some(Ok(Container::Command { .. }))
        ));
        assert_eq!(decoder.decode(), None);
        assert_eq!(decoder.buffered(), 4);
        decoder.push(&wire[20..]);
        assert!(matches!(
            decoder.decode(),
            Some(Ok(Container::Response { .. }))
        ));
        assert_eq!(decoder.decode(), None);

        decoder.push(&[12, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            decoder.decode(),
            Some(Err(ContainerError::BadType { value: 9 }))
        );
        assert!(decoder.is_failed());
        decoder.push(&OPEN_SESSION);
        assert_eq!(decoder.decode(), None);
        decoder.clear();
        decoder.push(&OPEN_SESSION);
        assert!(matches!(decoder.decode(), Some(Ok(_))));
    }

    #[test]
    fn ptp_decoder_refuses_a_length_over_its_limit_before_it_arrives() {
        let mut decoder = ContainerDecoder::with_limit(100);
        decoder.push(&[
            0x00, 0x10, 0x00, 0x00, 0x02, 0x00, 0x09, 0x10, 0x01, 0x00, 0x00, 0x00,
        ]);
        assert_eq!(
            decoder.decode(),
            Some(Err(ContainerError::LengthTooLong {
                length: 4096,
                limit: 100
            }))
        );
    }
}
