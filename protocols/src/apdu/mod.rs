//! ISO/IEC 7816-4 application protocol data units: the bytes between the
//! hub and a smart card, whatever reader carries them.
//!
//! - [`Command`]: a command APDU, its [`Case`] (1, 2, 3, 4; short or
//!   extended), encoding and strict parsing (the simulated card parses what
//!   the hub sends; a fuzz target feeds it random bytes).
//! - [`Response`] and [`StatusWord`]: the answer, with every status word the
//!   chip profile uses named and explained in English for operators.
//! - [`transceive`]: one exchange over any transmit function, following
//!   `61xx` (GET RESPONSE) and `6Cxx` (re-issue with the right Le).
//! - [`tlv`]: BER-TLV (multi-byte tags, long lengths, nesting) and the
//!   chip's simple record form `tag(1) len(1) value`.
//!
//! Pure: no reader, no I/O. `cardhub-devices` binds [`transceive`] to a
//! PC/SC reader; `simulators::card` parses [`Command`]s and answers
//! [`Response`]s. The chip's own commands are built in [`crate::chip`].

mod command;
mod status;
pub mod tlv;
mod transceive;

pub use command::{ApduError, Case, Command, Response};
pub use status::StatusWord;
pub use transceive::{MAX_GET_RESPONSE, TransceiveError, Transmit, transceive};
