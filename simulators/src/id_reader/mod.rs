//! The simulated ID card reader (身份证阅读器): a GA 467-style serial
//! reader on a pseudo-terminal, speaking `cardhub_protocols::id_reader`'s
//! frames with the real commands and status bytes, holding one card of any
//! of the three decoded types (or any text block, or none).
//!
//! ```text
//! hub ══ pty (serial) ══ [simulator] ── FrameDecoder ── [machine] ── Response ══▶ hub
//! test ── IdReaderControl (place, remove, arm a fault, snapshot) ──┘
//! ```
//!
//! It shares no memory with the hub: the hub opens the pty slave as a
//! serial device, as it would a reader's USB serial port. Faults on
//! demand ([`Fault`]): the next answer garbled, preceded by noise or
//! dropped; the next command answered with a checksum error; the card
//! lifted during the next read. The photo it answers with is a
//! placeholder, not real WLT ([`placeholder_photo`]).
//!
//! # Layout
//! - [`card`]: [`SimCard`], the placeholder photo, sample cards.
//! - [`machine`]: [`ReaderMachine`], the pure state machine, and [`Fault`].
//! - [`simulator`]: [`start`] → [`RunningIdReader`] and [`IdReaderControl`].
//!
//! The control surface is a Rust API only; a `cardhub sim id-reader`
//! command is to be wired on top of [`start`]. Its driver is
//! `cardhub_devices::id_reader`.

pub mod card;
pub mod machine;
pub mod simulator;

pub use card::{
    SimCard, placeholder_photo, sample_permanent_2017, sample_permanent_2023, sample_resident,
};
pub use machine::{CardState, Fault, ReaderMachine};
pub use simulator::{IdReaderControl, IdReaderSimError, ReaderSnapshot, RunningIdReader, start};
