//! cardhub-protocols: the pure core of cardhub. Everything here takes bytes
//! (or values) and returns bytes, values or events: no I/O, no async, no
//! clock (time comes in as an argument). A protocol bug must be reproducible
//! from a test with byte literals alone.
//!
//! # Layout
//! - [`apdu`]: smart-card command and response APDUs, status words,
//!   BER-TLV, and the GET RESPONSE / wrong-Le exchange.
//! - [`chip`]: the social security card chip profile: constants, secure
//!   messaging, records, personalisation scripts and the card check.
//! - [`crypto`]: SM2, SM3, HMAC-SM3, SM4 modes and MACs, key diversification,
//!   and the [`crypto::Hsm`] trait behind which all key material lives.
//! - [`identity`]: resident ID and permanent-residence ID numbers, the
//!   nationality/region table.
//! - [`id_reader`]: the ID card reader's serial frames (GA 467 style) and
//!   the text blocks of resident and permanent-residence cards.
//! - [`ptp`]: the Picture Transfer Protocol of the branches' USB cameras.
//! - [`terminal`]: the `/ws/terminal` link between branch terminals and
//!   the hub: messages, SM2 challenge authentication, at-least-once delivery.
//! - [`roles`]: who a caller is (admin, branch operator, outside system...).
//! - [`card_status`]: the card status machine, the one place that says which
//!   transitions exist and who may make them.
//!
//! Neighbours: `cardhub-devices` binds these codecs to transports,
//! `cardhub-storage` persists what they produce, `cardhub-simulators` speaks
//! them from the far side of a wire.

pub mod apdu;
pub mod card_status;
pub mod chip;
pub mod crypto;
pub mod id_reader;
pub mod identity;
pub mod printer;
pub mod ptp;
pub mod roles;
pub mod terminal;
