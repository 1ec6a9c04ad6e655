//! Host → printer: [`Command`], its encoding and its two-step parsing.
//!
//! A command is `ESC` + ASCII text + `CR`, parameters separated by `;`
//! (`ESC Pcim;F CR`). The one binary command is the panel download, which
//! carries its length so the raw bytes may contain CR and ESC:
//! `ESC Dbmp;<panel>;<length>;<length raw bytes> CR`.
//!
//! Parsing follows mini-redis: [`Command::check`] finds out whether a
//! whole frame is at the cursor (or that more bytes are needed, or that the
//! bytes are bad and how to resynchronise), then [`Command::parse`] turns
//! the frame into a value. [`super::CommandDecoder`] runs the two over a
//! byte stream split anywhere.
//!
//! # Layout
//! - this file: the commands, their table, errors and encoding.
//! - `frame`: `check` and `parse` of a frame.

mod frame;
#[cfg(test)]
mod tests;

use std::io::Cursor;

use super::decoder::CheckError;
use super::status::{Panel, Station};
use super::{CR, ESC, MAX_PANEL_BYTES};

pub(crate) use frame::{check_with_limit, parse_with_limit};

/// The text that opens a panel download frame after ESC.
const DOWNLOAD_PREFIX: &[u8] = b"Dbmp;";

/// One command from the host to the printer.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `Pem;0|2`: who handles errors (setup).
    SetErrorMode(ErrorMode),
    /// `Pcim;F`: where cards are inserted from (setup).
    SetInsertion(InsertionMode),
    /// `Pcem;I|M`: where finished cards go (setup).
    SetEjection(EjectionMode),
    /// `Pneab;E|D`: hold the card in the printer after printing (`E`) or
    /// not (`D`, cardhub's) (setup).
    SetHoldAfterPrint(bool),
    /// `Pr;<panels>`: the ribbon type fitted, e.g. `ko` (setup).
    SetRibbon(RibbonType),
    /// `Ss`: start a card's sequence (forgets panels downloaded before).
    StartSequence,
    /// `Si`: take a card from the input hopper into the printer.
    Insert,
    /// `Sic` / `Sis`: move the card to an encoding station.
    MoveTo(Station),
    /// `Sp`: print the downloaded panels on the card (cardhub's choice of
    /// mnemonic).
    Print,
    /// `Sov`: apply the thick overlay film (cardhub's).
    Overlay,
    /// `Se`: eject the card to the output hopper.
    Eject,
    /// `Seb`: eject the card to the bezel (front slot).
    EjectToBezel,
    /// `Ser`: reject the card into the reject bin.
    Reject,
    /// `Scl`: clear a recoverable error once its cause is removed
    /// (cardhub's).
    ClearError,
    /// `Dbmp;<panel>;<length>;<bytes>`: download one panel (the colour
    /// panel is the card face as PNG file bytes).
    DownloadPanel {
        /// Which panel.
        panel: Panel,
        /// The panel's bytes, at most [`MAX_PANEL_BYTES`].
        data: Vec<u8>,
    },
    /// `Rps`: the printer's status line (cardhub's).
    ReadStatus,
    /// `Rlr;p`: where the card is.
    ReadCardPosition,
    /// `Rrt;count`: ribbon prints left.
    ReadRibbonCount,
    /// `Rinf`: model, serial number and firmware (cardhub's).
    ReadInfo,
}

/// `Pem`: who handles errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorMode {
    /// `0`: the printer shows errors on its own panel and waits.
    Printer,
    /// `2`: the printer reports errors to the host, which decides.
    Host,
}

/// `Pcim`: where cards come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InsertionMode {
    /// `F`: the input hopper (feeder).
    Feeder,
}

/// `Pcem`: where finished cards go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EjectionMode {
    /// `I`: the output hopper (cardhub's reading of the letter).
    OutputHopper,
    /// `M`: the manual slot at the front (cardhub's reading).
    Manual,
}

/// `Pr`: the ribbon type, its panel letters (`ko`, `ymcko`): 1 to 8
/// lower-case ASCII letters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RibbonType(String);

impl RibbonType {
    /// The longest ribbon type accepted.
    pub const MAX_LEN: usize = 8;

    /// A ribbon type from its panel letters; `None` unless 1 to
    /// [`Self::MAX_LEN`] lower-case ASCII letters.
    pub fn new(letters: &str) -> Option<Self> {
        let ok = (1..=Self::MAX_LEN).contains(&letters.len())
            && letters.bytes().all(|b| b.is_ascii_lowercase());
        ok.then(|| Self(letters.to_owned()))
    }

    /// `ko`: black resin and overlay.
    pub fn ko() -> Self {
        Self("ko".to_owned())
    }

    /// The panel letters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A panel download longer than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a panel of {length} bytes is larger than the {limit} bytes a printer accepts: \
     render the card face smaller (1016 x 648 at 300 dpi)"
)]
pub struct PanelTooLarge {
    /// The panel's length.
    pub length: usize,
    /// The limit.
    pub limit: usize,
}

/// Why bytes from the host are not a command. Every variant names what
/// was received (non-ASCII bytes escaped, `\x1b` for ESC, `\r` for CR).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Bytes that do not start with ESC, before the next ESC.
    #[error("{len} bytes outside any command (a command starts with ESC): {preview}")]
    Garbage {
        /// How many bytes were skipped.
        len: usize,
        /// The first of them, escaped.
        preview: String,
    },
    /// A command cut short: a new ESC came before its CR.
    #[error("command without its CR (another ESC came first): {received}")]
    Truncated {
        /// The command's bytes so far, escaped.
        received: String,
    },
    /// A byte that is not printable ASCII in a command line.
    #[error("byte 0x{byte:02X} is not printable ASCII in command {received}")]
    NotAscii {
        /// The byte.
        byte: u8,
        /// The command's bytes up to it, escaped.
        received: String,
    },
    /// A command line longer than [`MAX_COMMAND_LINE`] without its CR.
    #[error("command longer than {limit} bytes without a CR: {received}")]
    Overlong {
        /// The limit.
        limit: usize,
        /// The start of the line, escaped.
        received: String,
    },
    /// A panel download whose `<panel>;<length>;` header is malformed.
    #[error("malformed panel download header (want Dbmp;<panel>;<length>;<bytes>): {received}")]
    BadDownloadHeader {
        /// The header so far, escaped.
        received: String,
    },
    /// A panel download longer than the limit; its bytes were skipped.
    #[error(transparent)]
    PanelTooLarge(#[from] PanelTooLarge),
    /// A panel download whose announced bytes are not followed by CR: the
    /// length is wrong.
    #[error(
        "panel download of {length} bytes is not followed by CR (found 0x{found:02X}): the length does not match the data"
    )]
    MissingTerminator {
        /// The announced length.
        length: usize,
        /// The byte found where CR belongs.
        found: u8,
    },
    /// A well-formed line that names no command of this language.
    #[error("unknown command `{mnemonic}`")]
    UnknownCommand {
        /// The command word received.
        mnemonic: String,
    },
    /// A known command with parameters it does not take.
    #[error("command {command}: parameters `{received}` are not {expected}")]
    BadParameter {
        /// The command word.
        command: &'static str,
        /// The parameters received (after the command word).
        received: String,
        /// What the command takes.
        expected: &'static str,
    },
}

impl CommandError {
    /// The `ERR;<code>` a printer answers this error with.
    pub fn code(&self) -> super::ErrorCode {
        use super::ErrorCode;
        match self {
            Self::Garbage { .. }
            | Self::Truncated { .. }
            | Self::NotAscii { .. }
            | Self::Overlong { .. }
            | Self::UnknownCommand { .. } => ErrorCode::BadCommand,
            Self::BadParameter { .. } => ErrorCode::BadParameter,
            Self::BadDownloadHeader { .. }
            | Self::PanelTooLarge(_)
            | Self::MissingTerminator { .. } => ErrorCode::BadData,
        }
    }
}

/// One row of the command table: the mnemonic, its parameters, what it
/// does, and whether it comes from the reference or is cardhub's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command word.
    pub mnemonic: &'static str,
    /// Its parameters as written on the wire.
    pub parameters: &'static str,
    /// What it does.
    pub meaning: &'static str,
    /// `true` when cardhub defined it (the reference lacks it or is
    /// unverified).
    pub cardhub_own: bool,
}

/// Every command, in one table (`docs/printer-protocol.md` shows it).
pub const COMMANDS: [CommandSpec; 20] = [
    spec(
        "Pem",
        "0|2",
        "error handling by the printer (0) or the host (2)",
        false,
    ),
    spec(
        "Pcim",
        "F",
        "cards come from the input hopper (feeder)",
        false,
    ),
    spec(
        "Pcem",
        "I|M",
        "finished cards go to the output hopper (I) or the manual slot (M)",
        false,
    ),
    spec(
        "Pneab",
        "E|D",
        "hold the card after printing (E; D is cardhub's)",
        false,
    ),
    spec("Pr", "<panels>", "the ribbon type fitted, e.g. ko", false),
    spec(
        "Ss",
        "",
        "start a card's sequence (forget downloaded panels)",
        false,
    ),
    spec(
        "Si",
        "",
        "take a card from the hopper into the printer",
        false,
    ),
    spec(
        "Sic",
        "",
        "move the card to the contact (chip) station",
        false,
    ),
    spec("Sis", "", "move the card to the contactless station", false),
    spec("Sp", "", "print the downloaded panels on the card", true),
    spec("Sov", "", "apply the thick overlay film", true),
    spec("Se", "", "eject the card to the output hopper", false),
    spec("Seb", "", "eject the card to the bezel", false),
    spec("Ser", "", "reject the card into the reject bin", false),
    spec(
        "Scl",
        "",
        "clear a recoverable error once its cause is removed",
        true,
    ),
    spec(
        "Dbmp",
        "<panel>;<length>;<bytes>",
        "download a panel (k, c or o)",
        false,
    ),
    spec("Rps", "", "the printer's status line", true),
    spec("Rlr", "p", "where the card is", false),
    spec("Rrt", "count", "ribbon prints left", false),
    spec("Rinf", "", "model, serial number, firmware", true),
];

const fn spec(
    mnemonic: &'static str,
    parameters: &'static str,
    meaning: &'static str,
    cardhub_own: bool,
) -> CommandSpec {
    CommandSpec {
        mnemonic,
        parameters,
        meaning,
        cardhub_own,
    }
}

impl Command {
    /// The command word (`Sic`), as error messages name the command.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SetErrorMode(_) => "Pem",
            Self::SetInsertion(_) => "Pcim",
            Self::SetEjection(_) => "Pcem",
            Self::SetHoldAfterPrint(_) => "Pneab",
            Self::SetRibbon(_) => "Pr",
            Self::StartSequence => "Ss",
            Self::Insert => "Si",
            Self::MoveTo(Station::Contact) => "Sic",
            Self::MoveTo(Station::Contactless) => "Sis",
            Self::Print => "Sp",
            Self::Overlay => "Sov",
            Self::Eject => "Se",
            Self::EjectToBezel => "Seb",
            Self::Reject => "Ser",
            Self::ClearError => "Scl",
            Self::DownloadPanel { .. } => "Dbmp",
            Self::ReadStatus => "Rps",
            Self::ReadCardPosition => "Rlr",
            Self::ReadRibbonCount => "Rrt",
            Self::ReadInfo => "Rinf",
        }
    }

    /// Whether the command only asks (`R...`) and changes nothing.
    pub fn is_query(&self) -> bool {
        matches!(
            self,
            Self::ReadStatus | Self::ReadCardPosition | Self::ReadRibbonCount | Self::ReadInfo
        )
    }

    /// Appends the command's frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), PanelTooLarge> {
        if let Self::DownloadPanel { panel, data } = self {
            return encode_panel_download(*panel, data, out);
        }
        out.push(ESC);
        out.extend_from_slice(self.name().as_bytes());
        let parameter: Option<&str> = match self {
            Self::SetErrorMode(ErrorMode::Printer) => Some("0"),
            Self::SetErrorMode(ErrorMode::Host) => Some("2"),
            Self::SetInsertion(InsertionMode::Feeder) => Some("F"),
            Self::SetEjection(EjectionMode::OutputHopper) => Some("I"),
            Self::SetEjection(EjectionMode::Manual) => Some("M"),
            Self::SetHoldAfterPrint(true) => Some("E"),
            Self::SetHoldAfterPrint(false) => Some("D"),
            Self::SetRibbon(ribbon) => Some(ribbon.as_str()),
            Self::ReadCardPosition => Some("p"),
            Self::ReadRibbonCount => Some("count"),
            _ => None,
        };
        if let Some(p) = parameter {
            out.push(b';');
            out.extend_from_slice(p.as_bytes());
        }
        out.push(CR);
        Ok(())
    }

    /// The command's frame.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PanelTooLarge> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }

    /// Step one: whether a whole command frame starts at the cursor. On
    /// success the cursor is just past the frame; on
    /// [`CheckError::Invalid`] it is past the bytes to discard, and
    /// `then` says how to find the next frame.
    pub fn check(src: &mut Cursor<&[u8]>) -> Result<(), CheckError<CommandError>> {
        check_with_limit(src, MAX_PANEL_BYTES)
    }

    /// Step two: the command in the frame at the cursor, which
    /// [`Command::check`] accepted; the cursor moves past it. Called on
    /// bytes `check` did not accept, it reports what is wrong with them.
    pub fn parse(src: &mut Cursor<&[u8]>) -> Result<Self, CommandError> {
        parse_with_limit(src, MAX_PANEL_BYTES)
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // A panel is up to megabytes: show its size, not its bytes.
            Self::DownloadPanel { panel, data } => f
                .debug_struct("DownloadPanel")
                .field("panel", panel)
                .field("len", &data.len())
                .finish(),
            Self::SetErrorMode(m) => f.debug_tuple("SetErrorMode").field(m).finish(),
            Self::SetInsertion(m) => f.debug_tuple("SetInsertion").field(m).finish(),
            Self::SetEjection(m) => f.debug_tuple("SetEjection").field(m).finish(),
            Self::SetHoldAfterPrint(h) => f.debug_tuple("SetHoldAfterPrint").field(h).finish(),
            Self::SetRibbon(r) => f.debug_tuple("SetRibbon").field(r).finish(),
            Self::MoveTo(s) => f.debug_tuple("MoveTo").field(s).finish(),
            other => f.write_str(other.name()),
        }
    }
}

/// Appends `ESC Dbmp;<panel>;<length>;<data> CR` to `out` without copying
/// the panel into a [`Command`] first.
pub fn encode_panel_download(
    panel: Panel,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), PanelTooLarge> {
    if data.len() > MAX_PANEL_BYTES {
        return Err(PanelTooLarge {
            length: data.len(),
            limit: MAX_PANEL_BYTES,
        });
    }
    out.reserve(data.len() + 24);
    out.push(ESC);
    out.extend_from_slice(DOWNLOAD_PREFIX);
    out.push(panel.letter());
    out.push(b';');
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.push(b';');
    out.extend_from_slice(data);
    out.push(CR);
    Ok(())
}
