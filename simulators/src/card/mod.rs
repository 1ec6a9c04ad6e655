//! The simulated social security card (社会保障卡) behind vsmartcard's
//! vpcd: the far side of a real PC/SC stack. pcscd loads vpcd as a reader
//! driver; vpcd listens on a TCP port; this simulator connects to it as the
//! card and answers APDUs as docs/chip-profile.md says a card does.
//!
//! ```text
//! hub ── pcsc ── pcscd ── vpcd ══TCP══ [vpcd] ── [os::CardOs] ── [memory] ⇄ card.json
//!                                                     ▲
//!                          tests ══TCP══ [control] ── [faults]
//! ```
//!
//! # Layout
//! - [`os`]: the card operating system, a pure state machine from command
//!   bytes to response bytes.
//! - [`memory`]: what the card keeps across power cycles, saved to a JSON
//!   card file after every change.
//! - [`vpcd`]: vpcd's framing and messages, card side.
//! - [`faults`]: removal after N APDUs, corrupted answers, a slow card.
//! - [`control`]: the JSON-lines control channel and its client
//!   [`CardControl`].
//! - [`simulator`]: the threads that tie these together
//!   ([`CardSimulator::start`] → [`RunningCard`]).
//! - [`cli`]: the entry of `cardhub sim card`.
//!
//! Everything protocol-shaped (APDU parsing, MACs, cryptograms, constants)
//! comes from `cardhub_protocols`, so the card and the hub cannot drift
//! apart silently.

pub mod cli;
pub mod control;
pub mod faults;
pub mod memory;
pub mod os;
pub mod simulator;
pub mod vpcd;

pub use control::{CardControl, CardStatus, ControlError, ControlReply, ControlRequest};
pub use faults::{Faults, RemoveAfter};
pub use memory::CardMemory;
pub use os::{CardOs, OsConfig};
pub use simulator::{CardSimulator, RunningCard, SimConfig, SimError};
