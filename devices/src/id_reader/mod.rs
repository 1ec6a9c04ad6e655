//! ID card readers (身份证阅读器): the [`IdCardReader`] trait a counter
//! drives, and its serial driver [`SerialIdReader`], the GA 467-style
//! frames of `cardhub_protocols::id_reader` over a serial line, blocking,
//! one command at a time.
//!
//! ```text
//! counter ── IdCardReader ── SerialIdReader<T> ── Command::to_bytes ──▶ Transport ══ serial ══ reader
//!                                              ◀─ FrameDecoder ────────┘
//!            read_when_present: find card → select card → read → IdCard + WltPhoto
//! ```
//!
//! [`open`] opens the line ([`IdReaderConfig`]: device, baud 115200 by
//! default, [`Timeouts`]). The line is the printer's [`SerialTransport`]:
//! the same raw 8N1 byte pipe, input flushed whenever it is (re)opened.
//! Errors are [`IdReaderError`]s naming the reader and saying what the
//! operator does (place the card, keep it still, check the cable);
//! [`IdReaderError::is_no_card`] is what a polling loop waits through.
//!
//! A read returns the decoded card and, beside it, the verdict on its
//! number ([`CardRead::number`]): a card whose number fails its check is
//! still returned, flagged (the rule is in
//! `cardhub_protocols::id_reader::text::check`). The photo stays raw WLT:
//! decoding it needs the reader vendor's licensed library. The Hong Kong
//! / Macao / Taiwan residence permit (type `J`) is recognised and refused
//! as not supported yet ([`IdReaderError::Text`]).
//!
//! Layout:
//! - `error`: [`IdReaderError`].
//! - `driver`: [`SerialIdReader`], [`IdReaderConfig`], [`Timeouts`], [`open`].
//!
//! The simulated reader on the far side of a pty is
//! `cardhub_simulators::id_reader`.

mod driver;
mod error;

use std::time::{Duration, Instant};

use cardhub_protocols::identity::IdentityNumber;

pub use cardhub_protocols::id_reader::{
    CardKind, IdCard, NaiveDate, NumberProblem, ReadMode, Status, ValidUntil, WltPhoto,
};
pub use driver::{DEFAULT_BAUD, IdReaderConfig, SerialIdReader, Timeouts, open};
pub use error::IdReaderError;

pub use crate::printer::SerialTransport;

/// How often [`IdCardReader::read_when_present`] looks for a card: a card
/// placed is noticed within a fifth of a second, and the line stays idle
/// most of the time.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What a read returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRead {
    /// The card's text, decoded.
    pub card: IdCard,
    /// The card's number checked on the business date: its facts, or why
    /// it is not to be trusted (the card is returned either way).
    pub number: Result<IdentityNumber, NumberProblem>,
    /// The photo, raw WLT (not decoded: that needs the vendor's library).
    pub photo: WltPhoto,
    /// The fingerprint templates, raw, when configured and on the card.
    pub fingerprints: Option<Vec<u8>>,
}

/// An identity card reader.
///
/// Calls block until the reader answers (or the command's timeout runs
/// out); a driver is `Send` so the actor owning it may run it on any
/// thread, one caller at a time (`&mut self`).
pub trait IdCardReader: Send {
    /// The reader's name in the centre's configuration.
    fn name(&self) -> &str;
    /// 寻卡: `Ok` when a card is on the reader, [`IdReaderError::NoCard`]
    /// when none.
    fn find_card(&mut self) -> Result<(), IdReaderError>;
    /// 选卡: selects the card found.
    fn select_card(&mut self) -> Result<(), IdReaderError>;
    /// 读卡: reads the selected card; `today` is the business date its
    /// number is checked on.
    fn read_card(&mut self, today: NaiveDate) -> Result<CardRead, IdReaderError>;
    /// The security module's self-test: `Ok` when it passed.
    fn sam_status(&mut self) -> Result<(), IdReaderError>;

    /// Waits up to `timeout` for a card (find card every
    /// [`POLL_INTERVAL`]; a card that does not answer its selection yet is
    /// waited for too), then selects and reads it.
    /// [`IdReaderError::NoCardWithin`] when none came; a failed read (the
    /// card lifted mid-read) is returned at once, for the operator to hear.
    fn read_when_present(
        &mut self,
        timeout: Duration,
        today: NaiveDate,
    ) -> Result<CardRead, IdReaderError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.find_card().and_then(|()| self.select_card()) {
                Ok(()) => return self.read_card(today),
                Err(e) if e.is_no_card() => {}
                Err(e) => return Err(e),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(IdReaderError::NoCardWithin {
                    reader: self.name().to_owned(),
                    waited: timeout,
                });
            }
            std::thread::sleep(left.min(POLL_INTERVAL));
        }
    }
}
