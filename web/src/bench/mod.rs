//! `cardhub bench ...`: benchmarks that print figures for people. Speed is
//! measured here, never asserted in tests.
//!
//! - [`crypto`]: cardhub's SM2/SM3/SM4 beside `openssl speed`, as ratios.
//! - [`chip`]: personalisation and card check through pcscd + vpcd beside
//!   a bare PC/SC transmit loop of the same APDUs.
//! - [`workshop`]: production lines of simulated printers, cards per
//!   second and the hub's CPU per card.

pub mod chip;
pub mod crypto;
pub mod workshop;
