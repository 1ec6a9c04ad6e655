//! Step one and two of parsing a command frame: [`check_with_limit`]
//! (is a whole frame at the cursor, or how to resynchronise) and
//! [`parse_with_limit`] (the frame as a [`Command`]), with the panel limit
//! as a parameter (the decoder's).

use std::io::Cursor;

use super::{
    Command, CommandError, DOWNLOAD_PREFIX, EjectionMode, ErrorMode, InsertionMode, PanelTooLarge,
    RibbonType,
};
use crate::printer::decoder::{CheckError, Resync};
use crate::printer::status::{Panel, Station};
use crate::printer::{CR, ESC, MAX_COMMAND_LINE, escape_bytes};

/// The longest decimal length field of a panel download: ten digits hold
/// any length up to 9,999,999,999 bytes, so the limit check (not the
/// parser) refuses big lengths with a clear message.
const MAX_LENGTH_DIGITS: usize = 10;

/// [`Command::check`] with another panel limit (the decoder's).
pub(crate) fn check_with_limit(
    src: &mut Cursor<&[u8]>,
    max_panel: usize,
) -> Result<(), CheckError<CommandError>> {
    let buf: &[u8] = src.get_ref();
    let start = usize::try_from(src.position())
        .unwrap_or(usize::MAX)
        .min(buf.len());
    let bytes = &buf[start..];
    let Some(&first) = bytes.first() else {
        return Err(CheckError::Incomplete);
    };
    let mut advance = |n: usize| src.set_position((start + n) as u64);
    if first != ESC {
        let len = bytes.iter().position(|&b| b == ESC).unwrap_or(bytes.len());
        advance(len);
        return Err(CheckError::Invalid {
            error: CommandError::Garbage {
                len,
                preview: escape_bytes(&bytes[..len]),
            },
            then: Resync::Here,
        });
    }
    let body = &bytes[1..];
    if body.len() < DOWNLOAD_PREFIX.len() && DOWNLOAD_PREFIX.starts_with(body) {
        return Err(CheckError::Incomplete);
    }
    if body.starts_with(DOWNLOAD_PREFIX) {
        let (consumed, outcome) = check_download(bytes, max_panel);
        advance(consumed);
        return outcome;
    }
    for (i, &b) in body.iter().enumerate() {
        let received = || escape_bytes(&bytes[..=i]);
        match b {
            CR => {
                advance(i + 2);
                return Ok(());
            }
            ESC => {
                advance(i + 1);
                return Err(CheckError::Invalid {
                    error: CommandError::Truncated {
                        received: escape_bytes(&bytes[..=i]),
                    },
                    then: Resync::Here,
                });
            }
            _ if i >= MAX_COMMAND_LINE => {
                advance(i + 1);
                return Err(CheckError::Invalid {
                    error: CommandError::Overlong {
                        limit: MAX_COMMAND_LINE,
                        received: escape_bytes(&bytes[..MAX_COMMAND_LINE.min(32) + 1]),
                    },
                    then: Resync::SkipToBoundary,
                });
            }
            0x20..=0x7E => {}
            _ => {
                advance(i + 2);
                return Err(CheckError::Invalid {
                    error: CommandError::NotAscii {
                        byte: b,
                        received: received(),
                    },
                    then: Resync::SkipToBoundary,
                });
            }
        }
    }
    Err(CheckError::Incomplete)
}

/// Checks a panel download frame (`frame` starts with ESC `Dbmp;`).
/// Returns how many bytes to move the cursor and the outcome.
fn check_download(frame: &[u8], max_panel: usize) -> (usize, Result<(), CheckError<CommandError>>) {
    let header_start = 1 + DOWNLOAD_PREFIX.len();
    let bad = |at: usize| {
        let b = frame[at];
        // The offending byte: an ESC starts the next command, a CR ends
        // this one, anything else is skipped with the rest of the line.
        let (consumed, then) = match b {
            ESC => (at, Resync::Here),
            CR => (at + 1, Resync::Here),
            _ => (at + 1, Resync::SkipToBoundary),
        };
        let error = CommandError::BadDownloadHeader {
            received: escape_bytes(&frame[..=at]),
        };
        (consumed, Err(CheckError::Invalid { error, then }))
    };
    // <panel> ;
    let Some(&panel) = frame.get(header_start) else {
        return (0, Err(CheckError::Incomplete));
    };
    if !(0x20..=0x7E).contains(&panel) || panel == b';' {
        return bad(header_start);
    }
    match frame.get(header_start + 1) {
        None => return (0, Err(CheckError::Incomplete)),
        Some(b';') => {}
        Some(_) => return bad(header_start + 1),
    }
    // <length> ;
    let digits_start = header_start + 2;
    let mut at = digits_start;
    loop {
        match frame.get(at) {
            None => return (0, Err(CheckError::Incomplete)),
            Some(b'0'..=b'9') if at - digits_start < MAX_LENGTH_DIGITS => at += 1,
            Some(b';') if at > digits_start => break,
            Some(_) => return bad(at),
        }
    }
    let length: usize = std::str::from_utf8(&frame[digits_start..at])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(usize::MAX);
    let data_start = at + 1;
    if length > max_panel {
        let error = PanelTooLarge {
            length,
            limit: max_panel,
        }
        .into();
        return (
            data_start,
            Err(CheckError::Invalid {
                error,
                then: Resync::SkipBytes(length),
            }),
        );
    }
    let end = data_start + length;
    match frame.get(end) {
        None => (0, Err(CheckError::Incomplete)),
        Some(&CR) => (end + 1, Ok(())),
        Some(&found) => (
            end,
            Err(CheckError::Invalid {
                error: CommandError::MissingTerminator { length, found },
                then: Resync::SkipToBoundary,
            }),
        ),
    }
}

/// [`Command::parse`] with another panel limit (the decoder's).
pub(crate) fn parse_with_limit(
    src: &mut Cursor<&[u8]>,
    max_panel: usize,
) -> Result<Command, CommandError> {
    let start = usize::try_from(src.position()).unwrap_or(usize::MAX);
    let mut probe = src.clone();
    match check_with_limit(&mut probe, max_panel) {
        Ok(()) => {}
        Err(CheckError::Invalid { error, .. }) => {
            src.set_position(probe.position());
            return Err(error);
        }
        Err(CheckError::Incomplete) => {
            let rest = src.get_ref().get(start..).unwrap_or_default();
            return Err(CommandError::Truncated {
                received: escape_bytes(rest),
            });
        }
    }
    let end = usize::try_from(probe.position()).expect("check stays inside the buffer");
    src.set_position(probe.position());
    let frame = &src.get_ref()[start..end];
    // ESC <body> CR
    let body = &frame[1..frame.len() - 1];
    if let Some(header) = body.strip_prefix(DOWNLOAD_PREFIX) {
        return parse_download(header);
    }
    let text = std::str::from_utf8(body).expect("check accepted printable ASCII only");
    parse_text(text)
}

/// `<panel>;<length>;<data>` of a download `check` accepted.
fn parse_download(header: &[u8]) -> Result<Command, CommandError> {
    let letter = header[0];
    let digits_end = 2 + header[2..]
        .iter()
        .position(|&b| b == b';')
        .expect("check found the length's ';'");
    let data = header[digits_end + 1..].to_vec();
    let panel = Panel::from_letter(letter).ok_or_else(|| CommandError::BadParameter {
        command: "Dbmp",
        received: format!("{};{}", escape_bytes(&[letter]), data.len()),
        expected: "a panel k, c or o with its length and bytes",
    })?;
    Ok(Command::DownloadPanel { panel, data })
}

/// A text command line (between ESC and CR, printable ASCII).
fn parse_text(text: &str) -> Result<Command, CommandError> {
    let (mnemonic, params) = match text.split_once(';') {
        Some((m, p)) => (m, Some(p)),
        None => (text, None),
    };
    let fixed = |command: &'static str, value: Command| match params {
        None => Ok(value),
        Some(p) => Err(CommandError::BadParameter {
            command,
            received: p.to_owned(),
            expected: "empty: the command takes no parameter",
        }),
    };
    let one_of = |command: &'static str,
                  expected: &'static str,
                  choose: &dyn Fn(&str) -> Option<Command>| {
        params
            .and_then(choose)
            .ok_or_else(|| CommandError::BadParameter {
                command,
                received: params.unwrap_or_default().to_owned(),
                expected,
            })
    };
    match mnemonic {
        "Pem" => one_of("Pem", "0 or 2", &|p| match p {
            "0" => Some(Command::SetErrorMode(ErrorMode::Printer)),
            "2" => Some(Command::SetErrorMode(ErrorMode::Host)),
            _ => None,
        }),
        "Pcim" => one_of("Pcim", "F", &|p| {
            (p == "F").then_some(Command::SetInsertion(InsertionMode::Feeder))
        }),
        "Pcem" => one_of("Pcem", "I or M", &|p| match p {
            "I" => Some(Command::SetEjection(EjectionMode::OutputHopper)),
            "M" => Some(Command::SetEjection(EjectionMode::Manual)),
            _ => None,
        }),
        "Pneab" => one_of("Pneab", "E or D", &|p| match p {
            "E" => Some(Command::SetHoldAfterPrint(true)),
            "D" => Some(Command::SetHoldAfterPrint(false)),
            _ => None,
        }),
        "Pr" => one_of("Pr", "1 to 8 lower-case panel letters such as ko", &|p| {
            RibbonType::new(p).map(Command::SetRibbon)
        }),
        "Ss" => fixed("Ss", Command::StartSequence),
        "Si" => fixed("Si", Command::Insert),
        "Sic" => fixed("Sic", Command::MoveTo(Station::Contact)),
        "Sis" => fixed("Sis", Command::MoveTo(Station::Contactless)),
        "Sp" => fixed("Sp", Command::Print),
        "Sov" => fixed("Sov", Command::Overlay),
        "Se" => fixed("Se", Command::Eject),
        "Seb" => fixed("Seb", Command::EjectToBezel),
        "Ser" => fixed("Ser", Command::Reject),
        "Scl" => fixed("Scl", Command::ClearError),
        "Rps" => fixed("Rps", Command::ReadStatus),
        "Rinf" => fixed("Rinf", Command::ReadInfo),
        "Rlr" => one_of("Rlr", "p", &|p| {
            (p == "p").then_some(Command::ReadCardPosition)
        }),
        "Rrt" => one_of("Rrt", "count", &|p| {
            (p == "count").then_some(Command::ReadRibbonCount)
        }),
        "Dbmp" => Err(CommandError::BadParameter {
            command: "Dbmp",
            received: params.unwrap_or_default().to_owned(),
            expected: "<panel>;<length>;<bytes>",
        }),
        other => Err(CommandError::UnknownCommand {
            mnemonic: other.to_owned(),
        }),
    }
}
