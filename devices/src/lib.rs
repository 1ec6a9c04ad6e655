//! cardhub-devices: drivers that bind a protocol from `cardhub-protocols` to a
//! real transport, one trait per device kind.
//!
//! # What is here
//!
//! - [`reader`]: smart-card readers (读卡器). The [`reader::CardReader`] trait
//!   (connect, transmit APDUs, reconnect, disconnect; typed
//!   [`reader::ReaderError`]s that name the reader and say what to do), the
//!   PC/SC driver on pcsc-lite ([`reader::PcscContext`] lists readers,
//!   [`reader::PcscReader`] drives one), and [`reader::ReaderMonitor`], a
//!   thread that reports readers and cards coming and going as
//!   [`reader::ReaderEvent`]s.
//! - [`id_reader`]: identity card readers (身份证阅读器) on serial lines:
//!   the [`id_reader::IdCardReader`] trait and its GA 467-style driver.
//! - [`camera`]: USB cameras speaking PTP (证件照相机): the
//!   [`camera::PtpTransport`] trait (USB via nusb, untested on hardware; TCP
//!   for the simulator), the [`camera::Camera`] driver's capture flow and
//!   the centre's photo check [`camera::PhotoRules`].
//! - [`remote`]: the same four kinds at a branch terminal, driven over the
//!   terminal's `/ws/terminal` link (`terminal://TERMINAL/DEVICE`): the
//!   pipeline and the card check take them where they take local ones.
//! - `rig` (feature `rig`, for tests): the PC/SC test rig. `scripts/pcsc-rig.sh
//!   start` runs pcscd on a private reader.conf of vpcd virtual readers
//!   (vsmartcard), whose "card" is whatever connects to a TCP port;
//!   `rig::ReaderLease::acquire()` gives a test one reader to itself.
//!
//! # The test rig's readers
//!
//! With the default 4 vpcd entries pcscd lists 8 readers. Reader index `i`
//! (0..8) is fed by a card connecting to `127.0.0.1:35963 + i` and is named
//! `"cardhub vpcd P 00 0S"` with P = 35963 + 2·(i / 2) and S = i mod 2:
//! port 35963 → `cardhub vpcd 35963 00 00`, 35964 → `cardhub vpcd 35963
//! 00 01`, 35965 → `cardhub vpcd 35965 00 00`, and so on
//! ([`reader::vpcd_reader_name`], [`reader::vpcd_card_port`]). vpcd's framing
//! on that port: a 2-byte big-endian length, then the payload; a 1-byte
//! payload is a control (00 power off, 01 power on, 02 reset, no reply; 04
//! get ATR, answered with the ATR), anything else a command APDU answered
//! with the response APDU. A closed connection is a removed card. (Each
//! rig entry loads a private copy of the vpcd driver: vpcd keeps its slots
//! in one static array, so entries sharing one driver file would share
//! ports.)
//!
//! # Neighbours
//!
//! Codecs and chip commands live in `cardhub-protocols`; the actors that own
//! a driver live in `cardhub-actors`; the simulated far sides of each
//! transport (the card behind a vpcd reader) live in `cardhub-simulators`.

pub mod camera;
pub mod face;
pub mod id_reader;
pub mod printer;
pub mod reader;
pub mod remote;
#[cfg(feature = "rig")]
pub mod rig;
