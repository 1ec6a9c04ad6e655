//! The card printer's command language (制卡机指令), Evolis-style escape
//! commands as cardhub defines them (`docs/printer-protocol.md`): a pure
//! codec, no I/O, no clock.
//!
//! ```text
//!  host (hub)                                    printer (real or simulated)
//!  Command::encode ── ESC Si CR ──────────────▶ CommandDecoder ─▶ Command
//!  ReplyDecoder ◀──────────────────── OK CR ─── Reply::encode
//! ```
//!
//! - Host → printer: `ESC` + ASCII command + `CR`, parameters separated by
//!   `;`. The panel download carries a length so its bytes may hold CR:
//!   `ESC Dbmp;<panel>;<length>;<bytes> CR` ([`Command`]).
//! - Printer → host: one reply per command, ASCII ending in CR: `OK`, a
//!   value for queries, or `ERR;<code>;<text>` ([`Reply`], [`ErrorCode`]).
//! - The vocabulary (states with the operator's advice, error codes, card
//!   positions, panels, stations) is in one table per kind ([`status`]).
//!
//! Parsing is two-step (mini-redis): `check` says whether a whole frame is
//! there, `parse` turns it into a value; [`CommandDecoder`] and
//! [`ReplyDecoder`] run them over a byte stream split anywhere and
//! resynchronise after garbage (see [`decoder`]).
//!
//! # Layout
//! - [`status`]: [`PrinterState`], [`ErrorCode`], [`CardPosition`],
//!   [`Station`], [`Panel`] and their wire words.
//! - [`command`]: [`Command`], its table ([`command::COMMANDS`]), encoding,
//!   `check`/`parse`, [`CommandError`].
//! - [`reply`]: [`Reply`], the query values ([`StatusReport`],
//!   [`PrinterInfo`]), [`ReplyError`].
//! - [`decoder`]: the stream decoders and their resynchronisation rules.
//!
//! Neighbours: `cardhub_devices::printer` sends commands over TCP or a
//! serial line and reads replies; `cardhub_simulators::printer` reads
//! commands and answers them as a printer would.

pub mod command;
pub mod decoder;
pub mod reply;
pub mod status;

pub use command::{
    Command, CommandError, EjectionMode, ErrorMode, InsertionMode, PanelTooLarge, RibbonType,
    encode_panel_download,
};
pub use decoder::{CheckError, CommandDecoder, ReplyDecoder, Resync};
pub use reply::{
    PrinterInfo, Reply, ReplyError, StatusReport, parse_card_position, parse_ribbon_count,
};
pub use status::{CardPosition, ErrorCode, Panel, PrinterState, Station};

/// ESC, which opens every command.
pub const ESC: u8 = 0x1B;
/// CR, which ends every command and reply.
pub const CR: u8 = 0x0D;

/// The longest text command between ESC and CR, in bytes: the longest real
/// command is a few tens of bytes; a line this long without a CR is noise.
pub const MAX_COMMAND_LINE: usize = 256;

/// The longest reply line before its CR: a status line is under 64 bytes,
/// an error text under 200.
pub const MAX_REPLY_LINE: usize = 512;

/// The largest panel download accepted: 8 MiB. A 1016 x 648 RGB face is
/// 1.9 MiB raw, so any PNG of it fits with room to spare; more is a
/// mistake or an attack on the printer's memory.
pub const MAX_PANEL_BYTES: usize = 8 * 1024 * 1024;

/// How many bytes [`escape_bytes`] shows before cutting.
const ESCAPE_LIMIT: usize = 64;

/// Bytes as an operator can read them in a message: printable ASCII as
/// is, others escaped (`\x1b`, `\r`, `\xff`), cut after 64 bytes with the
/// total length.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(ESCAPE_LIMIT)];
    let mut out = shown.escape_ascii().to_string();
    if bytes.len() > ESCAPE_LIMIT {
        out.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_bytes_are_readable_and_bounded() {
        assert_eq!(escape_bytes(b"\x1bSi\r"), "\\x1bSi\\r");
        assert_eq!(escape_bytes(b"O\xffK"), "O\\xffK");
        let long = escape_bytes(&[b'a'; 100]);
        assert!(long.ends_with("... (100 bytes)"));
    }
}
