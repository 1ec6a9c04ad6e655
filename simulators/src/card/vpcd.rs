//! vpcd's TCP protocol, card side.
//!
//! vsmartcard's `vpcd` is a pcscd reader driver whose "card" is a TCP peer.
//! With `DEVICENAME /dev/null:PORT` in reader.conf vpcd listens on PORT and
//! the card (this simulator) connects to it. Every message either way is a
//! 2-byte big-endian length followed by the payload. A 1-byte payload from
//! vpcd is a control: `00` power off, `01` power on, `02` reset (no reply to
//! these three), `04` get ATR (the reply is the length-prefixed ATR). Any
//! longer payload is a command APDU and the reply is the response APDU. A
//! closed socket is a removed card.
//!
//! This module holds the framing ([`read_frame`], [`write_frame`]), the
//! message decoding ([`VpcdMessage`]) and the bounded reconnect back-off
//! ([`Backoff`]); the loop that serves a connection lives in
//! [`super::simulator`].

use std::io::{self, Read, Write};
use std::time::Duration;

/// The largest payload a 2-byte length can announce.
pub const MAX_FRAME: usize = u16::MAX as usize;

/// One message from vpcd to the card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VpcdMessage {
    /// `00`: the reader cut the card's power. Volatile state is lost.
    PowerOff,
    /// `01`: the reader powered the card.
    PowerOn,
    /// `02`: warm reset. Volatile state is lost.
    Reset,
    /// `04`: pcscd asks for the ATR (it polls this to see a card is present).
    GetAtr,
    /// A 1-byte control this card does not know; it is ignored (no reply).
    UnknownControl(u8),
    /// A command APDU; the reply is the response APDU.
    Apdu(Vec<u8>),
}

impl VpcdMessage {
    /// Decodes one frame's payload.
    pub fn decode(payload: Vec<u8>) -> Self {
        match payload.as_slice() {
            [0x00] => Self::PowerOff,
            [0x01] => Self::PowerOn,
            [0x02] => Self::Reset,
            [0x04] => Self::GetAtr,
            [other] => Self::UnknownControl(*other),
            _ => Self::Apdu(payload),
        }
    }
}

/// Reads one frame. `Ok(None)` when the peer closed the connection cleanly
/// between frames; an error when it closed in the middle of one.
pub fn read_frame(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match reader.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "vpcd closed the connection inside a frame length",
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
    reader.read_exact(&mut payload)?;
    Ok(Some(payload))
}

/// Writes one frame (length prefix and payload) and flushes.
pub fn write_frame(writer: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a vpcd frame holds at most {MAX_FRAME} bytes, not {}",
                payload.len()
            ),
        )
    })?;
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    writer.write_all(&frame)?;
    writer.flush()
}

/// Bounded exponential back-off between attempts to reach vpcd: vpcd may
/// start after the card (pcscd loads it lazily), so the card keeps trying,
/// from [`Backoff::FIRST`] doubling up to [`Backoff::MAX`].
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// First wait: short, so a card started just before pcscd connects
    /// almost at once.
    pub const FIRST: Duration = Duration::from_millis(50);
    /// Longest wait: one second keeps a restarted pcscd from waiting long
    /// for its card, at the cost of one connect attempt a second.
    pub const MAX: Duration = Duration::from_secs(1);

    /// A back-off at its first step.
    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// The wait before the next attempt; each call doubles the following one
    /// up to [`Backoff::MAX`].
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    /// Back to the first step (after a successful connection).
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_clean_eof_is_none() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &[0x04]).unwrap();
        write_frame(&mut wire, &[0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00]).unwrap();
        assert_eq!(&wire[..3], &[0x00, 0x01, 0x04]);
        let mut reader = wire.as_slice();
        assert_eq!(read_frame(&mut reader).unwrap(), Some(vec![0x04]));
        assert_eq!(
            read_frame(&mut reader).unwrap(),
            Some(vec![0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00])
        );
        assert_eq!(read_frame(&mut reader).unwrap(), None);
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let mut reader: &[u8] = &[0x00, 0x05, 0x00, 0xA4];
        assert_eq!(
            read_frame(&mut reader).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut reader: &[u8] = &[0x00];
        assert_eq!(
            read_frame(&mut reader).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn too_long_payload_is_refused() {
        let mut wire = Vec::new();
        let err = write_frame(&mut wire, &vec![0u8; MAX_FRAME + 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(wire.is_empty());
    }

    #[test]
    fn controls_decode_and_longer_payloads_are_apdus() {
        assert_eq!(VpcdMessage::decode(vec![0]), VpcdMessage::PowerOff);
        assert_eq!(VpcdMessage::decode(vec![1]), VpcdMessage::PowerOn);
        assert_eq!(VpcdMessage::decode(vec![2]), VpcdMessage::Reset);
        assert_eq!(VpcdMessage::decode(vec![4]), VpcdMessage::GetAtr);
        assert_eq!(VpcdMessage::decode(vec![3]), VpcdMessage::UnknownControl(3));
        assert_eq!(
            VpcdMessage::decode(vec![0x00, 0x84, 0x00, 0x00, 0x08]),
            VpcdMessage::Apdu(vec![0x00, 0x84, 0x00, 0x00, 0x08])
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_bound_and_resets() {
        let mut b = Backoff::new();
        let waits: Vec<_> = (0..8).map(|_| b.next_wait()).collect();
        assert_eq!(waits[0], Backoff::FIRST);
        assert_eq!(waits[1], Backoff::FIRST * 2);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), Backoff::MAX);
        b.reset();
        assert_eq!(b.next_wait(), Backoff::FIRST);
    }
}
