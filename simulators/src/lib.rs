//! cardhub-simulators: simulated devices and outside parties. Each sits on the
//! far side of a real transport (TCP, pseudo-terminal, vpcd) and speaks the
//! real wire protocol; none shares memory with the hub it serves.
//!
//! # Layout
//! - [`card`]: the social security card (社会保障卡) behind vsmartcard's
//!   vpcd: a card operating system implementing docs/chip-profile.md, its
//!   persistent memory, faults on demand and a control channel for tests.
//! - [`id_reader`]: the ID card reader (身份证阅读器) on a pseudo-terminal,
//!   holding a resident or permanent-residence card, faults on demand.
//! - [`printer`]: the card printer with its contact encoder, over TCP or a
//!   pseudo-terminal.
//! - [`camera`]: the branch's USB camera speaking PTP, over TCP, with
//!   wrong photos and faults on demand.
//! - [`photo`]: synthetic ID photos.
//! - [`portal`]: the government portal: applicants sent to the hub over
//!   HTTP and extracted into making-card tasks.
//! - [`files`]: how the simulators replace the files they keep.
//!
//! Simulators depend on `cardhub-protocols` only: the byte constants, APDU
//! parsing and MAC computations they use are the hub's own, so a simulator
//! never disagrees with the hub about the profile by accident.

pub mod camera;
pub mod card;
pub mod files;
pub mod id_reader;
pub mod photo;
pub mod portal;
pub mod printer;
