//! Smart-card readers (读卡器): the [`CardReader`] trait every reader driver
//! implements, the PC/SC driver ([`PcscContext`], [`PcscReader`]) and the
//! [`ReaderMonitor`] that reports readers and cards coming and going.
//!
//! This module moves APDUs; it does not know what they mean. The chip
//! commands and their codecs live in `cardhub-protocols`; the actor that owns
//! a reader and runs a card script through it lives in `cardhub-actors`; the
//! simulated card on the far side of a vpcd reader lives in
//! `cardhub-simulators`.
//!
//! Layout:
//! - `error`: [`ReaderError`], and how every PC/SC status code maps onto it.
//! - `pcsc_reader`: [`PcscContext`] and [`PcscReader`] over pcsc-lite.
//! - `monitor`: [`ReaderMonitor`] and [`ReaderEvent`].
//! - `vpcd`: the names pcscd gives the test rig's vpcd readers
//!   ([`vpcd_reader_name`], [`vpcd_card_port`]).

mod error;
mod monitor;
mod pcsc_reader;
mod vpcd;

use std::fmt;

pub use error::ReaderError;
pub use monitor::{MonitorConfig, ReaderEvent, ReaderMonitor, SERVICE_RETRY};
#[cfg_attr(not(feature = "rig"), allow(unused_imports))]
pub(crate) use pcsc_reader::reader_state_of;
pub use pcsc_reader::{PcscContext, PcscReader};
pub use vpcd::{
    VPCD_FIRST_PORT, VPCD_FRIENDLY_NAME, vpcd_card_port, vpcd_reader_index, vpcd_reader_name,
};

/// A smart-card reader with room for one card.
///
/// Calls block until the reader answers; a driver is `Send` so the actor
/// owning it may run on any thread, but one reader serves one caller at a
/// time (`&mut self`).
pub trait CardReader: Send {
    /// The reader's name as the system lists it (for PC/SC, the name pcscd
    /// gives it, e.g. `"cardhub vpcd 35963 00 00"`).
    fn name(&self) -> &str;

    /// What is in the reader right now. A reader that cannot be asked
    /// (unplugged, or its service is down) is [`ReaderState::Unavailable`].
    fn status(&self) -> ReaderState;

    /// Powers the card and opens a session with it; returns its ATR.
    /// Connecting while connected closes the old session first (leaving the
    /// card powered).
    fn connect(&mut self, protocol: ProtocolPreference) -> Result<Atr, ReaderError>;

    /// Sends one command APDU and returns the whole response APDU (data and
    /// status word SW1 SW2). Extended-length responses are supported.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError>;

    /// Re-opens the session: with `reset` the card is reset (warm reset, its
    /// state such as the selected file and verified PIN is lost), otherwise
    /// the card is left as it is. Returns the ATR after the reconnection.
    fn reconnect(&mut self, reset: bool) -> Result<Atr, ReaderError>;

    /// Whether a session with the card is open (it may have gone stale if
    /// the card left since: the next command then fails).
    fn is_connected(&self) -> bool;

    /// Closes the session, leaving the card powered and in the reader.
    /// Disconnecting when not connected does nothing.
    fn disconnect(&mut self) -> Result<(), ReaderError>;
}

/// Opens the reader named `name`: a branch terminal's reader when the
/// name is a `terminal://TERMINAL/DEVICE` address
/// ([`crate::remote::RemoteCardReader`]), otherwise the PC/SC reader of
/// that name.
pub fn open_reader(name: &str) -> Result<Box<dyn CardReader>, ReaderError> {
    match crate::remote::RemoteAddress::parse(name) {
        Some(Ok(address)) => Ok(Box::new(crate::remote::RemoteCardReader::new(address))),
        Some(Err(e)) => Err(ReaderError::Remote {
            reader: name.to_owned(),
            reason: e.to_string(),
        }),
        None => Ok(Box::new(PcscReader::open(name)?)),
    }
}

/// What a reader holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderState {
    /// No card in the reader.
    Empty,
    /// A card is in the reader and answered to reset with `atr`.
    Present {
        /// The card's answer to reset.
        atr: Atr,
    },
    /// A card is in the reader but does not answer (inserted the wrong way
    /// round, dirty contacts, or not a chip card).
    Mute,
    /// The reader cannot be asked: unplugged, or the PC/SC service is down.
    Unavailable,
}

/// The transmission protocol to ask the card for when connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtocolPreference {
    /// Byte-oriented T=0 only.
    T0,
    /// Block-oriented T=1 only.
    T1,
    /// Whichever of T=0 and T=1 the card and reader agree on.
    #[default]
    Any,
}

impl fmt::Display for ProtocolPreference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::T0 => "T=0",
            Self::T1 => "T=1",
            Self::Any => "T=0 or T=1",
        })
    }
}

/// A card's answer to reset (复位应答), as the reader reported it.
///
/// Displays as upper-case hex without spaces, e.g. `3B8F8001...`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Atr(Vec<u8>);

impl Atr {
    /// Wraps ATR bytes as read from a reader.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The ATR bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The ATR bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Display for Atr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_upper(&self.0))
    }
}

impl fmt::Debug for Atr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Atr({self})")
    }
}

impl AsRef<[u8]> for Atr {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Upper-case hex without separators, as APDUs are written in logs and
/// error messages.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_displays_as_upper_hex() {
        let atr = Atr::new(vec![0x3B, 0x8F, 0x80, 0x01, 0x0a]);
        assert_eq!(atr.to_string(), "3B8F80010A");
        assert_eq!(format!("{atr:?}"), "Atr(3B8F80010A)");
        assert_eq!(atr.as_bytes(), &[0x3B, 0x8F, 0x80, 0x01, 0x0a]);
    }

    #[test]
    fn protocol_preference_names() {
        assert_eq!(ProtocolPreference::T0.to_string(), "T=0");
        assert_eq!(ProtocolPreference::T1.to_string(), "T=1");
        assert_eq!(ProtocolPreference::default(), ProtocolPreference::Any);
    }
}
