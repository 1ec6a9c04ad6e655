//! Printer → host: [`Reply`] (one per command: `OK`, a value, or
//! `ERR;<code>;<text>`), its two-step parsing, and the values of the
//! queries: the status line ([`StatusReport`], `Rps`), the card position
//! (`Rlr;p`), the ribbon count (`Rrt;count`) and the printer's identity
//! ([`PrinterInfo`], `Rinf`).
//!
//! A reply is printable ASCII ending in CR. Encoding never fails: text
//! that is not printable ASCII is written as `?`, and a line is cut at
//! [`MAX_REPLY_LINE`] bytes, so a printer cannot emit a reply its host
//! refuses.

use std::io::Cursor;

use super::decoder::{CheckError, Resync};
use super::status::{CardPosition, ErrorCode, PrinterState};
use super::{CR, MAX_REPLY_LINE, escape_bytes};

/// One reply from the printer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `OK`: the command was carried out.
    Ok,
    /// The answer to a query (`READY;HOPPER=250;...`, `SMART`, `480`).
    Value(String),
    /// `ERR;<code>;<text>`: refused, with the printer's explanation.
    Error {
        /// The code.
        code: ErrorCode,
        /// The printer's text (for a state, normally its advice).
        text: String,
    },
}

/// Why bytes from the printer are not a reply. Every variant names what
/// was received (non-ASCII bytes escaped).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A byte that is not printable ASCII in a reply line.
    #[error("byte 0x{byte:02X} is not printable ASCII in reply {received}")]
    NotAscii {
        /// The byte.
        byte: u8,
        /// The line up to it, escaped.
        received: String,
    },
    /// A reply longer than [`MAX_REPLY_LINE`] without its CR.
    #[error("reply longer than {limit} bytes without a CR: {received}")]
    Overlong {
        /// The limit.
        limit: usize,
        /// The start of the line, escaped.
        received: String,
    },
    /// An empty line.
    #[error("empty reply (a lone CR)")]
    Empty,
    /// Bytes without their CR, parsed on their own (a stream decoder
    /// waits for more instead).
    #[error("reply without its CR: {received}")]
    Unterminated {
        /// The bytes, escaped.
        received: String,
    },
    /// `ERR;<code>` with a code this language does not have.
    #[error("reply {line} has an unknown error code `{code}`")]
    UnknownErrorCode {
        /// The code received.
        code: String,
        /// The whole line.
        line: String,
    },
    /// A query's value that does not read as that query's answer.
    #[error("{query} answer `{value}` is not {expected}")]
    BadValue {
        /// The query (`Rps`).
        query: &'static str,
        /// The value received.
        value: String,
        /// What the answer looks like.
        expected: &'static str,
    },
}

impl Reply {
    /// A refusal with the code's own text (a state's advice).
    pub fn refuse(code: ErrorCode) -> Self {
        Self::Error {
            code,
            text: code.meaning().to_owned(),
        }
    }

    /// A refusal with a text of its own.
    pub fn error(code: ErrorCode, text: impl Into<String>) -> Self {
        Self::Error {
            code,
            text: text.into(),
        }
    }

    /// Appends the reply's line to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        match self {
            Self::Ok => out.extend_from_slice(b"OK"),
            Self::Value(value) => push_text(out, value),
            Self::Error { code, text } => {
                out.extend_from_slice(b"ERR;");
                out.extend_from_slice(code.wire().as_bytes());
                out.push(b';');
                push_text(out, text);
            }
        }
        out.truncate(start + MAX_REPLY_LINE);
        out.push(CR);
    }

    /// The reply's line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Step one: whether a whole reply line starts at the cursor. On
    /// success the cursor is just past its CR; on [`CheckError::Invalid`]
    /// it is past the bad byte and the rest of the line is to be skipped.
    pub fn check(src: &mut Cursor<&[u8]>) -> Result<(), CheckError<ReplyError>> {
        let buf: &[u8] = src.get_ref();
        let start = usize::try_from(src.position())
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let bytes = &buf[start..];
        for (i, &b) in bytes.iter().enumerate() {
            let error = match b {
                CR => {
                    src.set_position((start + i + 1) as u64);
                    return Ok(());
                }
                _ if i >= MAX_REPLY_LINE => ReplyError::Overlong {
                    limit: MAX_REPLY_LINE,
                    received: escape_bytes(&bytes[..32]),
                },
                0x20..=0x7E => continue,
                _ => ReplyError::NotAscii {
                    byte: b,
                    received: escape_bytes(&bytes[..=i]),
                },
            };
            src.set_position((start + i + 1) as u64);
            return Err(CheckError::Invalid {
                error,
                then: Resync::SkipToBoundary,
            });
        }
        Err(CheckError::Incomplete)
    }

    /// Step two: the reply in the line at the cursor, which
    /// [`Reply::check`] accepted; the cursor moves past it.
    pub fn parse(src: &mut Cursor<&[u8]>) -> Result<Self, ReplyError> {
        let start = usize::try_from(src.position()).unwrap_or(usize::MAX);
        let mut probe = src.clone();
        match Self::check(&mut probe) {
            Ok(()) => {}
            Err(CheckError::Invalid { error, .. }) => {
                src.set_position(probe.position());
                return Err(error);
            }
            Err(CheckError::Incomplete) => {
                let rest = src.get_ref().get(start..).unwrap_or_default();
                return Err(ReplyError::Unterminated {
                    received: escape_bytes(rest),
                });
            }
        }
        let end = usize::try_from(probe.position()).expect("check stays inside the buffer");
        src.set_position(probe.position());
        let line = &src.get_ref()[start..end - 1];
        let line = std::str::from_utf8(line).expect("check accepted printable ASCII only");
        Self::parse_line(line)
    }

    /// A reply line without its CR.
    fn parse_line(line: &str) -> Result<Self, ReplyError> {
        if line.is_empty() {
            return Err(ReplyError::Empty);
        }
        if line == "OK" {
            return Ok(Self::Ok);
        }
        let Some(rest) = line.strip_prefix("ERR;").or((line == "ERR").then_some("")) else {
            return Ok(Self::Value(line.to_owned()));
        };
        let (code, text) = rest.split_once(';').unwrap_or((rest, ""));
        let code = ErrorCode::from_wire(code).ok_or_else(|| ReplyError::UnknownErrorCode {
            code: code.to_owned(),
            line: line.to_owned(),
        })?;
        Ok(Self::Error {
            code,
            text: text.to_owned(),
        })
    }
}

/// Appends `text` as printable ASCII (anything else becomes `?`).
fn push_text(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().map(|b| match b {
        0x20..=0x7E => b,
        _ => b'?',
    }));
}

/// The answer to `Rps` (cardhub's own format), one line:
/// `<STATE>;HOPPER=<n|?>;RIBBON=<n|?>;CARD=<position>`, for example
/// `READY;HOPPER=250;RIBBON=480;CARD=NONE`.
///
/// | field | meaning |
/// | --- | --- |
/// | first | the state ([`PrinterState`] wire word) |
/// | `HOPPER` | blank cards left in the input hopper, `?` if unknown |
/// | `RIBBON` | ribbon prints left, `?` if unknown |
/// | `CARD` | where the card is ([`CardPosition`] wire word) |
///
/// Reading is lenient where it can be safely: the fields after the state
/// come in any order, keys it does not know are ignored, a missing
/// `HOPPER` or `RIBBON` is unknown; the state and `CARD` are required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// The state.
    pub state: PrinterState,
    /// Blank cards left, if the printer knows.
    pub hopper: Option<u32>,
    /// Ribbon prints left, if the printer knows.
    pub ribbon_left: Option<u32>,
    /// Where the card is.
    pub card: CardPosition,
}

impl StatusReport {
    const EXPECTED: &'static str =
        "<STATE>;HOPPER=<n|?>;RIBBON=<n|?>;CARD=<NONE|CARD|SMART|CONTACTLESS>";

    /// The status line.
    pub fn to_wire(&self) -> String {
        let count = |n: Option<u32>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        format!(
            "{};HOPPER={};RIBBON={};CARD={}",
            self.state.wire(),
            count(self.hopper),
            count(self.ribbon_left),
            self.card.wire()
        )
    }

    /// Reads a status line.
    pub fn parse(value: &str) -> Result<Self, ReplyError> {
        let bad = || ReplyError::BadValue {
            query: "Rps",
            value: value.to_owned(),
            expected: Self::EXPECTED,
        };
        let mut fields = value.split(';');
        let state = fields
            .next()
            .and_then(PrinterState::from_wire)
            .ok_or_else(bad)?;
        let (mut hopper, mut ribbon, mut card) = (None, None, None);
        for field in fields {
            let (key, val) = field.split_once('=').ok_or_else(bad)?;
            let slot = match key {
                "HOPPER" => &mut hopper,
                "RIBBON" => &mut ribbon,
                "CARD" => {
                    if card.is_some() {
                        return Err(bad());
                    }
                    card = Some(CardPosition::from_wire(val).ok_or_else(bad)?);
                    continue;
                }
                _ => continue,
            };
            if slot.is_some() {
                return Err(bad());
            }
            *slot = Some(match val {
                "?" => None,
                n => Some(parse_count(n).ok_or_else(bad)?),
            });
        }
        Ok(Self {
            state,
            hopper: hopper.flatten(),
            ribbon_left: ribbon.flatten(),
            card: card.ok_or_else(bad)?,
        })
    }
}

/// A decimal count of at most ten digits.
fn parse_count(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Reads the answer to `Rlr;p`.
pub fn parse_card_position(value: &str) -> Result<CardPosition, ReplyError> {
    CardPosition::from_wire(value).ok_or_else(|| ReplyError::BadValue {
        query: "Rlr",
        value: value.to_owned(),
        expected: "NONE, CARD, SMART or CONTACTLESS",
    })
}

/// Reads the answer to `Rrt;count`: ribbon prints left, in decimal.
pub fn parse_ribbon_count(value: &str) -> Result<u32, ReplyError> {
    parse_count(value).ok_or_else(|| ReplyError::BadValue {
        query: "Rrt",
        value: value.to_owned(),
        expected: "a decimal count",
    })
}

/// The answer to `Rinf` (cardhub's own format):
/// `MODEL=<text>;SERIAL=<text>;FIRMWARE=<text>`, each text printable ASCII
/// without `;` (encoding writes `;` as `,`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterInfo {
    /// The model name.
    pub model: String,
    /// The serial number.
    pub serial: String,
    /// The firmware version.
    pub firmware: String,
}

impl PrinterInfo {
    /// The info line.
    pub fn to_wire(&self) -> String {
        let clean = |s: &str| s.replace(';', ",");
        format!(
            "MODEL={};SERIAL={};FIRMWARE={}",
            clean(&self.model),
            clean(&self.serial),
            clean(&self.firmware)
        )
    }

    /// Reads an info line (fields in any order, unknown keys ignored,
    /// all three required).
    pub fn parse(value: &str) -> Result<Self, ReplyError> {
        let bad = || ReplyError::BadValue {
            query: "Rinf",
            value: value.to_owned(),
            expected: "MODEL=<text>;SERIAL=<text>;FIRMWARE=<text>",
        };
        let (mut model, mut serial, mut firmware) = (None, None, None);
        for field in value.split(';') {
            let (key, val) = field.split_once('=').ok_or_else(bad)?;
            let slot = match key {
                "MODEL" => &mut model,
                "SERIAL" => &mut serial,
                "FIRMWARE" => &mut firmware,
                _ => continue,
            };
            if slot.replace(val.to_owned()).is_some() {
                return Err(bad());
            }
        }
        Ok(Self {
            model: model.ok_or_else(bad)?,
            serial: serial.ok_or_else(bad)?,
            firmware: firmware.ok_or_else(bad)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Reply, ReplyError> {
        Reply::parse(&mut Cursor::new(bytes))
    }

    #[test]
    fn replies_encode_and_parse() {
        assert_eq!(Reply::Ok.to_bytes(), b"OK\r");
        let jam = Reply::refuse(ErrorCode::CardJam);
        let wire = jam.to_bytes();
        assert!(wire.starts_with(b"ERR;CARD_JAM;card jammed: open the cover"));
        assert_eq!(parse(&wire).unwrap(), jam);
        assert_eq!(
            parse(b"ERR;NO_CARD\r").unwrap(),
            Reply::error(ErrorCode::NoCard, "")
        );
        assert_eq!(
            parse(b"ERR;NO_CARD;a;b\r").unwrap(),
            Reply::error(ErrorCode::NoCard, "a;b")
        );
        assert_eq!(parse(b"SMART\r").unwrap(), Reply::Value("SMART".into()));
        assert_eq!(parse(b"\r").unwrap_err(), ReplyError::Empty);
        assert!(matches!(
            parse(b"ERR;WEIRD;x\r").unwrap_err(),
            ReplyError::UnknownErrorCode { code, .. } if code == "WEIRD"
        ));
    }

    #[test]
    fn encoding_cannot_make_an_unreadable_reply() {
        let wire = Reply::Value("é\rok".into()).to_bytes();
        assert_eq!(wire, b"???ok\r");
        let long = Reply::Value("x".repeat(MAX_REPLY_LINE * 2)).to_bytes();
        assert_eq!(long.len(), MAX_REPLY_LINE + 1);
        assert!(parse(&long).is_ok());
    }

    #[test]
    fn the_status_line_round_trips_and_is_read_leniently() {
        let report = StatusReport {
            state: PrinterState::Ready,
            hopper: Some(250),
            ribbon_left: Some(480),
            card: CardPosition::None,
        };
        assert_eq!(report.to_wire(), "READY;HOPPER=250;RIBBON=480;CARD=NONE");
        assert_eq!(StatusReport::parse(&report.to_wire()).unwrap(), report);
        let odd = StatusReport::parse("CARD_JAM;CARD=SMART;TEMP=40;RIBBON=?").unwrap();
        assert_eq!(odd.state, PrinterState::CardJam);
        assert_eq!((odd.hopper, odd.ribbon_left), (None, None));
        assert_eq!(odd.card, CardPosition::Contact);
        for bad in [
            "",
            "READY",
            "SLEEPING;CARD=NONE",
            "READY;CARD=NONE;CARD=NONE",
            "READY;HOPPER=-1;CARD=NONE",
            "READY;HOPPER;CARD=NONE",
        ] {
            assert!(StatusReport::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_values_parse() {
        assert_eq!(
            parse_card_position("CONTACTLESS").unwrap(),
            CardPosition::Contactless
        );
        assert!(parse_card_position("OK").is_err());
        assert_eq!(parse_ribbon_count("480").unwrap(), 480);
        assert!(parse_ribbon_count("4.8").is_err());
        assert!(parse_ribbon_count("99999999999").is_err());
        let info = PrinterInfo {
            model: "Primacy;2".into(),
            serial: "SIM-1".into(),
            firmware: "1.0".into(),
        };
        let parsed = PrinterInfo::parse(&info.to_wire()).unwrap();
        assert_eq!(parsed.model, "Primacy,2");
        assert!(PrinterInfo::parse("MODEL=x;SERIAL=y").is_err());
    }
}
