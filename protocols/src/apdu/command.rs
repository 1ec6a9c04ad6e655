//! Command and response APDUs: building, encoding, and strict parsing of
//! every case of ISO/IEC 7816-3 §12.1.3 (short and extended lengths).

use std::fmt;

use super::status::StatusWord;

/// Longest command data field: an extended Lc is two bytes.
const MAX_DATA: usize = 65_535;
/// Largest expected response length: extended Le `0000` means 65 536.
const MAX_LE: usize = 65_536;
/// Largest short Lc.
const SHORT_MAX_DATA: usize = 255;
/// Largest short Le: `00` means 256.
const SHORT_MAX_LE: usize = 256;

/// A command APDU: header `CLA INS P1 P2`, optional data (encoded with Lc)
/// and optional expected response length Le (1 to 65 536).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Command {
    /// Class byte (`00` plain, `04` with secure messaging, `80`/`84`
    /// proprietary).
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Lc is its length); empty for none.
    pub data: Vec<u8>,
    /// Expected response length, 1..=65 536 (`None`: no response data
    /// expected). 256 is sent as short `00`, 65 536 as extended `0000`.
    pub le: Option<usize>,
}

/// The ISO/IEC 7816-3 case of a command: whether it carries data and/or Le,
/// and whether its lengths are short (1 byte) or extended (2-3 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Case {
    /// No data, no Le.
    Case1,
    /// Le only, short.
    Case2Short,
    /// Data only, short Lc.
    Case3Short,
    /// Data and Le, short.
    Case4Short,
    /// Le only, extended.
    Case2Extended,
    /// Data only, extended Lc.
    Case3Extended,
    /// Data and Le, extended.
    Case4Extended,
}

/// A malformed or unencodable APDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApduError {
    /// Fewer than the four header bytes.
    #[error(
        "command APDU of {len} bytes is shorter than the 4-byte header CLA INS P1 P2: the reader or card cut it"
    )]
    CommandTooShort {
        /// The length received.
        len: usize,
    },
    /// A response shorter than the two status bytes.
    #[error(
        "response APDU of {len} bytes has no status word (needs at least SW1 SW2): the reader or card cut it"
    )]
    ResponseTooShort {
        /// The length received.
        len: usize,
    },
    /// The length fields do not account for the bytes received.
    #[error(
        "command APDU length mismatch: byte {offset} declares {what} = {declared}, which needs {needed} bytes in all, but {found} were received"
    )]
    LengthMismatch {
        /// Offset of the length field.
        offset: usize,
        /// Which field ("Lc", "extended Lc").
        what: &'static str,
        /// The value it declares.
        declared: usize,
        /// Total APDU length that value implies (or the nearest valid one).
        needed: usize,
        /// Total length received.
        found: usize,
    },
    /// An extended Lc of `0000` (ISO forbids it) or an extended APDU that
    /// ends inside its length field.
    #[error(
        "command APDU at byte {offset}: malformed extended length ({reason}); send a short APDU or a complete extended one"
    )]
    BadExtendedLength {
        /// Offset of the offending field.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than 65 535 data bytes cannot be encoded.
    #[error("command data of {len} bytes is too long: an APDU carries at most 65535 bytes")]
    DataTooLong {
        /// The data length.
        len: usize,
    },
    /// Le outside 1..=65 536.
    #[error("expected length Le = {le} cannot be encoded: use 1 to 65536 (or no Le)")]
    LeOutOfRange {
        /// The Le asked for.
        le: usize,
    },
}

impl Command {
    /// A case 1 command (header only).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// The same command with `data` (at most 65 535 bytes, checked by
    /// [`Command::to_bytes`]).
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// The same command expecting `le` response bytes (1 to 65 536, checked
    /// by [`Command::to_bytes`]; 256 is short `00`).
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// The header bytes `CLA INS P1 P2`.
    pub fn header(&self) -> [u8; 4] {
        [self.cla, self.ins, self.p1, self.p2]
    }

    /// The case this command is encoded as: short when the data fits 255
    /// bytes and Le fits 256, extended otherwise.
    pub fn case(&self) -> Case {
        let short =
            self.data.len() <= SHORT_MAX_DATA && self.le.is_none_or(|le| le <= SHORT_MAX_LE);
        match (self.data.is_empty(), self.le.is_some(), short) {
            (true, false, _) => Case::Case1,
            (true, true, true) => Case::Case2Short,
            (false, false, true) => Case::Case3Short,
            (false, true, true) => Case::Case4Short,
            (true, true, false) => Case::Case2Extended,
            (false, false, false) => Case::Case3Extended,
            (false, true, false) => Case::Case4Extended,
        }
    }

    /// The command's bytes, short when it fits, extended otherwise.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        if self.data.len() > MAX_DATA {
            return Err(ApduError::DataTooLong {
                len: self.data.len(),
            });
        }
        if let Some(le) = self.le
            && !(1..=MAX_LE).contains(&le)
        {
            return Err(ApduError::LeOutOfRange { le });
        }
        let mut out = Vec::with_capacity(4 + 3 + self.data.len() + 3);
        out.extend_from_slice(&self.header());
        let lc = self.data.len();
        match self.case() {
            Case::Case1 => {}
            Case::Case2Short | Case::Case3Short | Case::Case4Short => {
                if lc > 0 {
                    out.push(lc as u8);
                    out.extend_from_slice(&self.data);
                }
                if let Some(le) = self.le {
                    // 256 encodes as 00.
                    out.push(le as u8);
                }
            }
            Case::Case2Extended | Case::Case3Extended | Case::Case4Extended => {
                out.push(0);
                if lc > 0 {
                    out.extend_from_slice(&(lc as u16).to_be_bytes());
                    out.extend_from_slice(&self.data);
                }
                if let Some(le) = self.le {
                    // 65 536 encodes as 0000.
                    out.extend_from_slice(&(le as u16).to_be_bytes());
                }
            }
        }
        Ok(out)
    }

    /// Parses a command APDU of any case, refusing any byte the length
    /// fields do not account for.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let len = bytes.len();
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::CommandTooShort { len });
        };
        let mut cmd = Self::new(*cla, *ins, *p1, *p2);
        match body {
            [] => {}
            [le] => cmd.le = Some(short_le(*le)),
            [0, rest @ ..] => parse_extended(&mut cmd, rest, len)?,
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                match rest.len().checked_sub(lc) {
                    Some(0) => {}
                    Some(1) => cmd.le = Some(short_le(rest[lc])),
                    _ => {
                        return Err(ApduError::LengthMismatch {
                            offset: 4,
                            what: "Lc",
                            declared: lc,
                            needed: 5 + lc,
                            found: len,
                        });
                    }
                }
                cmd.data = rest[..lc].to_vec();
            }
        }
        Ok(cmd)
    }
}

/// A short Le byte: `00` means 256.
fn short_le(b: u8) -> usize {
    if b == 0 { SHORT_MAX_LE } else { usize::from(b) }
}

/// An extended Le: `0000` means 65 536.
fn extended_le(hi: u8, lo: u8) -> usize {
    match u16::from_be_bytes([hi, lo]) {
        0 => MAX_LE,
        n => usize::from(n),
    }
}

/// The body after the `00` marker of an extended APDU (offset 5 on).
fn parse_extended(cmd: &mut Command, rest: &[u8], len: usize) -> Result<(), ApduError> {
    match rest {
        [hi, lo] => cmd.le = Some(extended_le(*hi, *lo)),
        [0, 0, ..] => {
            return Err(ApduError::BadExtendedLength {
                offset: 5,
                reason: "extended Lc is 0000",
            });
        }
        [hi, lo, data @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            match data.len().checked_sub(lc) {
                Some(0) => {}
                Some(2) => cmd.le = Some(extended_le(data[lc], data[lc + 1])),
                _ => {
                    return Err(ApduError::LengthMismatch {
                        offset: 5,
                        what: "extended Lc",
                        declared: lc,
                        needed: 7 + lc,
                        found: len,
                    });
                }
            }
            cmd.data = data[..lc].to_vec();
        }
        _ => {
            return Err(ApduError::BadExtendedLength {
                offset: 5,
                reason: "the APDU ends inside the two-byte length",
            });
        }
    }
    Ok(())
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}",
            self.cla, self.ins, self.p1, self.p2
        )?;
        if !self.data.is_empty() {
            write!(f, " data={}", hex::encode_upper(&self.data))?;
        }
        if let Some(le) = self.le {
            write!(f, " le={le}")?;
        }
        f.write_str(")")
    }
}

/// A response APDU: data, then the status word.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Response {
    /// Response data (may be empty).
    pub data: Vec<u8>,
    /// The status word `SW1 SW2`.
    pub sw: StatusWord,
}

impl Response {
    /// A response with data and a status word.
    pub fn new(data: impl Into<Vec<u8>>, sw: StatusWord) -> Self {
        Self {
            data: data.into(),
            sw,
        }
    }

    /// A bare status word, no data.
    pub fn status(sw: StatusWord) -> Self {
        Self::new(Vec::new(), sw)
    }

    /// Data with `9000`.
    pub fn ok(data: impl Into<Vec<u8>>) -> Self {
        Self::new(data, StatusWord::OK)
    }

    /// Splits response bytes into data and status word.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Self::new(
                data.to_vec(),
                StatusWord(u16::from_be_bytes([*sw1, *sw2])),
            )),
            _ => Err(ApduError::ResponseTooShort { len: bytes.len() }),
        }
    }

    /// The response's bytes: data then `SW1 SW2`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Response({} sw={:04X})",
            hex::encode_upper(&self.data),
            self.sw.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("test hex")
    }

    #[test]
    fn every_case_encodes_and_parses_back() {
        let cases = [
            (Command::new(0, 0xA4, 0, 0), "00A40000", Case::Case1),
            (
                Command::new(0, 0x84, 0, 0).with_le(8),
                "0084000008",
                Case::Case2Short,
            ),
            (
                Command::new(0, 0xB2, 1, 0x2C).with_le(256),
                "00B2012C00",
                Case::Case2Short,
            ),
            (
                Command::new(0, 0xA4, 2, 0).with_data([0xEF, 0x05]),
                "00A4020002EF05",
                Case::Case3Short,
            ),
            (
                Command::new(0, 0x88, 0, 2).with_data([1; 8]).with_le(256),
                "0088000208010101010101010100",
                Case::Case4Short,
            ),
            (
                Command::new(0, 0xB0, 0, 0).with_le(65_536),
                "00B00000000000",
                Case::Case2Extended,
            ),
            (
                Command::new(0, 0xB0, 0, 0).with_le(300),
                "00B0000000012C",
                Case::Case2Extended,
            ),
            (
                Command::new(0, 0xD6, 0, 0).with_data(vec![0xAB; 256]),
                &format!("00D60000000100{}", "AB".repeat(256)),
                Case::Case3Extended,
            ),
            (
                Command::new(0, 0x2A, 0, 0).with_data([1, 2]).with_le(257),
                "002A00000000020102 0101",
                Case::Case4Extended,
            ),
        ];
        for (cmd, bytes, case) in cases {
            assert_eq!(cmd.case(), case, "{cmd:?}");
            let encoded = cmd.to_bytes().expect("encodable");
            assert_eq!(encoded, h(bytes), "{cmd:?}");
            assert_eq!(Command::parse(&encoded), Ok(cmd.clone()), "{cmd:?}");
        }
    }

    #[test]
    fn malformed_commands_get_precise_errors() {
        assert_eq!(
            Command::parse(&h("00A400")),
            Err(ApduError::CommandTooShort { len: 3 })
        );
        // Lc 02 but three data bytes and no valid Le position.
        let err = Command::parse(&h("00A4020002EF0501FF")).expect_err("too long");
        assert!(matches!(
            err,
            ApduError::LengthMismatch {
                offset: 4,
                declared: 2,
                found: 9,
                ..
            }
        ));
        assert!(err.to_string().contains("Lc = 2"), "{err}");
        assert!(matches!(
            Command::parse(&h("00A4020005EF05")),
            Err(ApduError::LengthMismatch { declared: 5, .. })
        ));
        assert!(matches!(
            Command::parse(&h("00A402000000")),
            Err(ApduError::BadExtendedLength { offset: 5, .. })
        ));
        assert!(matches!(
            Command::parse(&h("00A40200000000EF")),
            Err(ApduError::BadExtendedLength { offset: 5, .. })
        ));
        assert!(matches!(
            Command::parse(&h("00A4020000000301")),
            Err(ApduError::LengthMismatch {
                what: "extended Lc",
                ..
            })
        ));
    }

    #[test]
    fn unencodable_commands_are_refused() {
        assert_eq!(
            Command::new(0, 0, 0, 0).with_le(0).to_bytes(),
            Err(ApduError::LeOutOfRange { le: 0 })
        );
        assert_eq!(
            Command::new(0, 0, 0, 0).with_le(65_537).to_bytes(),
            Err(ApduError::LeOutOfRange { le: 65_537 })
        );
        assert_eq!(
            Command::new(0, 0, 0, 0)
                .with_data(vec![0; 65_536])
                .to_bytes(),
            Err(ApduError::DataTooLong { len: 65_536 })
        );
    }

    #[test]
    fn responses_split_data_and_status() {
        let r = Response::parse(&h("01029000")).expect("valid");
        assert_eq!(r.data, vec![1, 2]);
        assert_eq!(r.sw, StatusWord::OK);
        assert_eq!(r.to_bytes(), h("01029000"));
        assert_eq!(
            Response::parse(&h("6A82")).expect("valid"),
            Response::status(StatusWord::FILE_NOT_FOUND)
        );
        assert_eq!(
            Response::parse(&[0x90]),
            Err(ApduError::ResponseTooShort { len: 1 })
        );
        assert_eq!(format!("{r:?}"), "Response(0102 sw=9000)");
    }
}
