//! cardhub-devices: drivers that bind a protocol from `cardhub-protocols` to a
//! real transport (PC/SC, serial, USB, TCP), one trait per device kind.
//!
//! Nothing is here yet: the first drivers (the PC/SC card reader) arrive with
//! the chip work. Neighbours: codecs live in `cardhub-protocols`, the actors
//! that own a driver live in `cardhub-actors`, and the simulated far sides of
//! each transport live in `cardhub-simulators`.
