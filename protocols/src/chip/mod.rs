//! The social security card chip (社会保障卡芯片) as cardhub personalises
//! and checks it, after the profile in docs/chip-profile.md.
//!
//! # Layout
//! - [`profile`]: every byte constant of the profile in one place (names,
//!   file ids, instructions, key ids and usages, life cycle, record
//!   templates).
//! - [`sm`]: secure messaging: command MACs, authentication cryptograms,
//!   key diversification, for SM4 and 2-key 3DES cards; hub side through
//!   [`crate::crypto::Hsm`], card side over key bytes ([`sm::raw`]).
//! - [`data`]: the EF05 (card) and EF06 (holder) records as typed values,
//!   encoded and strictly decoded.
//! - [`text`]: GBK names split over tags 09/4E, the centre's substitution
//!   table for characters GBK cannot hold.
//! - [`commands`]: builders of the profile's commands, byte for byte.
//! - [`personalise`]: the personalisation script: observing a card, the
//!   ordered steps from what it has to the target, each finished through
//!   the `Hsm`.
//! - [`compare`]: the card check's field-by-field comparison.
//! - [`pin`]: PIN encoding and the VERIFY / CHANGE / RESET / UNBLOCK
//!   commands.
//!
//! Pure: commands and answers are [`crate::apdu`] values; the reader lives
//! in `cardhub-devices` and the simulated card in `cardhub-simulators`.

pub mod commands;
pub mod compare;
pub mod data;
pub mod personalise;
pub mod pin;
pub mod profile;
pub mod sm;
pub mod text;
