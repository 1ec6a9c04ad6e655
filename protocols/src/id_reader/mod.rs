//! The ID card reader's serial protocol (身份证阅读器, GA 467 style), as
//! `/work/shared/reference/id-reader.md` states it: a pure codec, no I/O,
//! no clock. It reads the 居民身份证 (resident ID card) and both
//! 外国人永久居留身份证 (foreigner's permanent residence ID card, 2017 and
//! 2023 versions).
//!
//! ```text
//!  host (hub)                                       reader (real or simulated)
//!  Command::to_bytes ── AA AA AA 96 69 00 03 20 01 22 ──▶ FrameDecoder ─▶ Command::from_frame
//!  Response::from_frame ◀─ FrameDecoder ◀── AA AA AA 96 69 LEN SW1 SW2 SW3 data CHK ─── Response::to_bytes
//!        │ read answer (30 01 / 30 10)
//!        ▼
//!  ReadAnswer ─▶ text block (256 bytes) ─▶ IdCard::decode ─▶ IdCard ─▶ IdCard::check_number(today)
//!             └▶ WltPhoto (1024 raw bytes, kept as is)
//! ```
//!
//! - Frames: `AA AA AA 96 69 | LEN (2, big-endian) | body | CHK`; LEN
//!   counts the body and CHK, CHK is the XOR of every byte after the
//!   preamble ([`frame`]). Parsing is two-step: [`Frame::check`] says
//!   whether a whole frame is there (resynchronising past garbage before
//!   the preamble), [`Frame::parse`] verifies LEN and CHK.
//! - Requests: five typed [`Command`]s, body `CMD PARA` ([`command`]).
//! - Responses: body `SW1 SW2 SW3 data`; SW3 is a [`Status`] with the
//!   operator's text ([`status`], [`response`]). The read answer splits
//!   into text, photo and fingerprints ([`ReadAnswer`]).
//! - The photo is WLT-compressed: decoding it needs the reader vendor's
//!   licensed library, so cardhub keeps the 1024 raw bytes ([`WltPhoto`]).
//! - The text block: 256 bytes of UCS-2LE, space padded, laid out by the
//!   card type marker at offset 248 ([`text`], [`IdCard`]). The holder's
//!   number is checked with [`crate::identity`] by
//!   [`IdCard::check_number`]: a card whose number fails is still decoded,
//!   and the failure is the flag ([`NumberProblem`]).
//!
//! # Layout
//! - [`frame`]: [`Frame`] (`check`/`parse`), [`FrameDecoder`], [`FrameError`].
//! - [`command`]: [`Command`], [`ReadMode`].
//! - [`status`]: [`Status`], SW3 and its meaning.
//! - [`response`]: [`Response`], [`ReadAnswer`], [`WltPhoto`].
//! - [`text`]: [`IdCard`], the three layouts, [`TextBlockError`],
//!   [`EncodeError`], [`NumberProblem`].
//!
//! Neighbours: `cardhub_devices::id_reader` drives a reader over a serial
//! line; `cardhub_simulators::id_reader` answers as a reader would, on a
//! pseudo-terminal.

pub mod command;
pub mod frame;
pub mod response;
pub mod status;
pub mod text;

pub use chrono::NaiveDate;
pub use command::{Command, ReadMode};
pub use frame::{CheckError, Frame, FrameDecoder, FrameError};
pub use response::{PHOTO_LEN, ReadAnswer, Response, WltPhoto};
pub use status::Status;
pub use text::{
    CardKind, EncodeError, IdCard, NumberProblem, TEXT_LEN, TextBlockError, ValidUntil,
};

/// The five bytes that open every frame, in both directions.
pub const PREAMBLE: [u8; 5] = [0xAA, 0xAA, 0xAA, 0x96, 0x69];
