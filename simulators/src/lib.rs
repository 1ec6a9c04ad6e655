//! cardhub-simulators: simulated devices and outside parties. Each sits on the
//! far side of a real transport (TCP, pseudo-terminal, vpcd) and speaks the
//! real wire protocol; none shares memory with the hub it serves.
//!
//! # Layout
//! - [`card`]: the social security card (社会保障卡) behind vsmartcard's
//!   vpcd: a card operating system implementing docs/chip-profile.md, its
//!   persistent memory, faults on demand and a control channel for tests.
//! - [`printer`]: the card printer with its contact encoder, over TCP or a
//!   pseudo-terminal.
//! - [`photo`]: synthetic ID photos.
//! - [`portal`]: the government portal: applicants sent to the hub over
//!   HTTP and extracted into making-card tasks.
//!
//! Simulators depend on `cardhub-protocols` only: the byte constants, APDU
//! parsing and MAC computations they use are the hub's own, so a simulator
//! never disagrees with the hub about the profile by accident.

pub mod card;
pub mod photo;
pub mod portal;
pub mod printer;
