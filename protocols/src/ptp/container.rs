//! The PTP container (ISO 15740 over USB bulk endpoints), its encoding and
//! its two-step parsing.
//!
//! ```text
//!  offset 0       4        6        8               12
//!         length  type     code     transaction id  params (u32 each, ≤ 5) | data
//!         u32 LE  u16 LE   u16 LE   u32 LE
//! ```
//!
//! `length` counts the whole container, header included. Commands,
//! responses and events carry parameters (events at most 3); a data
//! container carries the bytes of its operation's data phase.
//!
//! Parsing is two-step (mini-redis): [`Container::check`] says whether a
//! whole container is at the cursor ([`CheckError::Incomplete`] with the
//! length needed) or why the header is not one; [`Container::parse`] turns
//! the bytes into a [`Container`] with typed [`ContainerError`]s. The
//! stream decoder running them over TCP is [`super::decoder`].

use std::fmt;
use std::io::Cursor;

use super::codes::{EventCode, OperationCode, ResponseCode};

/// The header: length, type, code, transaction id.
pub const HEADER_LEN: usize = 12;

/// The most parameters a command or response carries.
pub const MAX_PARAMS: usize = 5;

/// The most parameters an event carries (USB still image class: an event
/// is at most 24 bytes on the interrupt endpoint).
pub const MAX_EVENT_PARAMS: usize = 3;

/// The largest container accepted: 64 MiB. A camera's full-resolution JPEG
/// is 5-20 MB and the centre's ID photo tens of KB; a longer length field
/// is noise or an attack on the hub's memory (and objects over 4 GiB, whose
/// length field reads 0xFFFFFFFF, are no photos).
pub const MAX_CONTAINER_LEN: u32 = 64 * 1024 * 1024;

/// The container types (`PTP_USB_CONTAINER_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    /// 1: initiator → responder, an operation.
    Command,
    /// 2: either way, an operation's data phase.
    Data,
    /// 3: responder → initiator, the end of a transaction.
    Response,
    /// 4: responder → initiator, something happened (interrupt endpoint).
    Event,
}

impl ContainerKind {
    /// The type for a wire value; `None` for 0 and 5 and above.
    pub fn from_u16(value: u16) -> Option<Self> {
        match value {
            1 => Some(Self::Command),
            2 => Some(Self::Data),
            3 => Some(Self::Response),
            4 => Some(Self::Event),
            _ => None,
        }
    }

    /// The wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::Command => 1,
            Self::Data => 2,
            Self::Response => 3,
            Self::Event => 4,
        }
    }

    /// How many parameters a container of this type may carry (none for
    /// data: its payload is bytes).
    pub fn max_params(self) -> usize {
        match self {
            Self::Command | Self::Response => MAX_PARAMS,
            Self::Event => MAX_EVENT_PARAMS,
            Self::Data => 0,
        }
    }
}

impl fmt::Display for ContainerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Command => "command",
            Self::Data => "data",
            Self::Response => "response",
            Self::Event => "event",
        })
    }
}

/// Up to [`MAX_PARAMS`] `u32` parameters.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Params {
    values: [u32; MAX_PARAMS],
    len: u8,
}

impl Params {
    /// No parameters.
    pub const EMPTY: Params = Params {
        values: [0; MAX_PARAMS],
        len: 0,
    };

    /// The parameters in `values`; an error when there are more than
    /// [`MAX_PARAMS`].
    pub fn new(values: &[u32]) -> Result<Self, ContainerError> {
        if values.len() > MAX_PARAMS {
            return Err(ContainerError::TooManyParams {
                kind: ContainerKind::Command,
                count: values.len(),
                max: MAX_PARAMS,
            });
        }
        let mut params = Self::EMPTY;
        params.values[..values.len()].copy_from_slice(values);
        params.len = values.len() as u8;
        Ok(params)
    }

    /// The parameters as a slice.
    pub fn as_slice(&self) -> &[u32] {
        &self.values[..usize::from(self.len)]
    }

    /// Parameter `index` (0-based); `None` when absent.
    pub fn get(&self, index: usize) -> Option<u32> {
        self.as_slice().get(index).copied()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.as_slice().iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}0x{v:08X}")?;
        }
        f.write_str("]")
    }
}

macro_rules! params_from_array {
    ($($n:literal),+) => {$(
        impl From<[u32; $n]> for Params {
            fn from(values: [u32; $n]) -> Self {
                Self::new(&values).expect(concat!($n, " parameters are within the limit of 5"))
            }
        }
    )+};
}
params_from_array!(0, 1, 2, 3, 4, 5);

/// An event: what the responder reports by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub code: EventCode,
    /// The transaction it belongs to (0 when none).
    pub transaction_id: u32,
    /// Its parameters (at most [`MAX_EVENT_PARAMS`]); for `ObjectAdded`,
    /// parameter 1 is the new object's handle.
    pub params: Params,
}

impl Event {
    /// The event as a container.
    pub fn to_container(&self) -> Container {
        Container::Event {
            code: self.code,
            transaction_id: self.transaction_id,
            params: self.params,
        }
    }
}

/// One PTP container.
#[derive(Clone, PartialEq, Eq)]
pub enum Container {
    /// An operation the initiator asks for.
    Command {
        /// The operation.
        code: OperationCode,
        /// Its transaction.
        transaction_id: u32,
        /// Its parameters.
        params: Params,
    },
    /// An operation's data phase.
    Data {
        /// The operation it belongs to.
        code: OperationCode,
        /// Its transaction.
        transaction_id: u32,
        /// The bytes (a dataset, an object).
        data: Vec<u8>,
    },
    /// The end of a transaction.
    Response {
        /// How it went.
        code: ResponseCode,
        /// The transaction.
        transaction_id: u32,
        /// Its parameters (e.g. a new session's id).
        params: Params,
    },
    /// Something the responder reports by itself.
    Event {
        /// What happened.
        code: EventCode,
        /// The transaction it belongs to (0 when none).
        transaction_id: u32,
        /// Its parameters.
        params: Params,
    },
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Data {
                code,
                transaction_id,
                data,
            } => write!(
                f,
                "Data {{ {code}, tid {transaction_id}, {} bytes }}",
                data.len()
            ),
            _ => write!(
                f,
                "{:?} {{ code 0x{:04X}, tid {}, params {:?} }}",
                self.kind(),
                self.code(),
                self.transaction_id(),
                self.params()
            ),
        }
    }
}

/// Why bytes are not a container.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// Bad length: shorter than the header.
    #[error("bad container length {length}: shorter than the {HEADER_LEN}-byte header")]
    LengthTooShort {
        /// The length field.
        length: u32,
    },
    /// Bad length: longer than the limit.
    #[error("bad container length {length}: longer than the {limit} bytes accepted")]
    LengthTooLong {
        /// The length field.
        length: u32,
        /// The limit.
        limit: u32,
    },
    /// Bad length: the parameters are not whole `u32`s.
    #[error(
        "bad container length {length} for a {kind} container: its parameters are not whole u32s"
    )]
    LengthNotWholeParams {
        /// The container's type.
        kind: ContainerKind,
        /// The length field.
        length: u32,
    },
    /// Bad type: not 1 to 4.
    #[error("bad container type {value}: 1 command, 2 data, 3 response or 4 event expected")]
    BadType {
        /// The type field.
        value: u16,
    },
    /// More parameters than the container's type carries.
    #[error("{count} parameters in a {kind} container: at most {max} are allowed")]
    TooManyParams {
        /// The container's type.
        kind: ContainerKind,
        /// How many the length gives.
        count: usize,
        /// The limit for the type.
        max: usize,
    },
    /// Fewer bytes than the length field says (parsed on their own: a
    /// stream decoder waits for more instead).
    #[error("container cut short: its length is {length} but only {available} bytes are there")]
    Truncated {
        /// The length field (or the header's length when even that is cut).
        length: u32,
        /// The bytes there.
        available: usize,
    },
}

/// What [`Container::check`] found when there is no whole container at the
/// cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// Not all there yet: `needed` bytes from the cursor make the container
    /// (the header's 12 while the length is not known).
    Incomplete {
        /// The container's whole length, from the cursor.
        needed: usize,
    },
    /// The header is not a container's.
    Invalid(ContainerError),
}

/// The header's fields, validated.
#[derive(Clone, Copy, Debug)]
struct Header {
    length: u32,
    kind: ContainerKind,
    code: u16,
    transaction_id: u32,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads and validates the header at the start of `bytes` (which holds at
/// least [`HEADER_LEN`] bytes).
fn header(bytes: &[u8], limit: u32) -> Result<Header, ContainerError> {
    let length = u32_at(bytes, 0);
    if (length as usize) < HEADER_LEN {
        return Err(ContainerError::LengthTooShort { length });
    }
    if length > limit {
        return Err(ContainerError::LengthTooLong { length, limit });
    }
    let value = u16_at(bytes, 4);
    let kind = ContainerKind::from_u16(value).ok_or(ContainerError::BadType { value })?;
    if kind != ContainerKind::Data {
        let body = length as usize - HEADER_LEN;
        if !body.is_multiple_of(4) {
            return Err(ContainerError::LengthNotWholeParams { kind, length });
        }
        if body / 4 > kind.max_params() {
            return Err(ContainerError::TooManyParams {
                kind,
                count: body / 4,
                max: kind.max_params(),
            });
        }
    }
    Ok(Header {
        length,
        kind,
        code: u16_at(bytes, 6),
        transaction_id: u32_at(bytes, 8),
    })
}

fn remaining<'a>(cursor: &Cursor<&'a [u8]>) -> &'a [u8] {
    let bytes: &'a [u8] = cursor.get_ref();
    let at = (cursor.position() as usize).min(bytes.len());
    &bytes[at..]
}

impl Container {
    /// A command for `operation`.
    pub fn command(code: OperationCode, transaction_id: u32, params: impl Into<Params>) -> Self {
        Self::Command {
            code,
            transaction_id,
            params: params.into(),
        }
    }

    /// A response.
    pub fn response(code: ResponseCode, transaction_id: u32, params: impl Into<Params>) -> Self {
        Self::Response {
            code,
            transaction_id,
            params: params.into(),
        }
    }

    /// The container's type.
    pub fn kind(&self) -> ContainerKind {
        match self {
            Self::Command { .. } => ContainerKind::Command,
            Self::Data { .. } => ContainerKind::Data,
            Self::Response { .. } => ContainerKind::Response,
            Self::Event { .. } => ContainerKind::Event,
        }
    }

    /// The code field as a number.
    pub fn code(&self) -> u16 {
        match self {
            Self::Command { code, .. } | Self::Data { code, .. } => code.to_u16(),
            Self::Response { code, .. } => code.to_u16(),
            Self::Event { code, .. } => code.to_u16(),
        }
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> u32 {
        match self {
            Self::Command { transaction_id, .. }
            | Self::Data { transaction_id, .. }
            | Self::Response { transaction_id, .. }
            | Self::Event { transaction_id, .. } => *transaction_id,
        }
    }

    /// The parameters (none for data).
    pub fn params(&self) -> Params {
        match self {
            Self::Command { params, .. }
            | Self::Response { params, .. }
            | Self::Event { params, .. } => *params,
            Self::Data { .. } => Params::EMPTY,
        }
    }

    /// The event, if this is one.
    pub fn as_event(&self) -> Option<Event> {
        match self {
            Self::Event {
                code,
                transaction_id,
                params,
            } => Some(Event {
                code: *code,
                transaction_id: *transaction_id,
                params: *params,
            }),
            _ => None,
        }
    }

    /// The encoded length, header included.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Self::Data { data, .. } => data.len(),
                _ => 4 * self.params().len(),
            }
    }

    /// Appends the encoding to `out`.
    ///
    /// # Panics
    /// When a data container is longer than `u32::MAX` bytes (no dataset
    /// or photo is), or an event carries more than 3 parameters.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let length = u32::try_from(self.encoded_len())
            .expect("a container the hub or a simulator builds is under 4 GiB");
        if let Self::Event { params, .. } = self {
            assert!(
                params.len() <= MAX_EVENT_PARAMS,
                "an event carries at most 3 parameters"
            );
        }
        out.reserve(self.encoded_len());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&self.kind().to_u16().to_le_bytes());
        out.extend_from_slice(&self.code().to_le_bytes());
        out.extend_from_slice(&self.transaction_id().to_le_bytes());
        match self {
            Self::Data { data, .. } => out.extend_from_slice(data),
            _ => {
                for p in self.params().as_slice() {
                    out.extend_from_slice(&p.to_le_bytes());
                }
            }
        }
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Step one: whether a whole container of at most `limit` bytes is at
    /// the cursor. Moves the cursor past it when it is; leaves it where
    /// it was otherwise.
    pub fn check(cursor: &mut Cursor<&[u8]>, limit: u32) -> Result<(), CheckError> {
        let bytes = remaining(cursor);
        if bytes.len() < HEADER_LEN {
            return Err(CheckError::Incomplete { needed: HEADER_LEN });
        }
        let header = header(bytes, limit).map_err(CheckError::Invalid)?;
        let needed = header.length as usize;
        if bytes.len() < needed {
            return Err(CheckError::Incomplete { needed });
        }
        cursor.set_position(cursor.position() + needed as u64);
        Ok(())
    }

    /// Step two: the container at the cursor (of at most
    /// [`MAX_CONTAINER_LEN`] bytes); the cursor moves past it.
    pub fn parse(cursor: &mut Cursor<&[u8]>) -> Result<Container, ContainerError> {
        Self::parse_with_limit(cursor, MAX_CONTAINER_LEN)
    }

    /// [`Container::parse`] with another length limit.
    pub fn parse_with_limit(
        cursor: &mut Cursor<&[u8]>,
        limit: u32,
    ) -> Result<Container, ContainerError> {
        let bytes = remaining(cursor);
        if bytes.len() < HEADER_LEN {
            let length = if bytes.len() >= 4 {
                u32_at(bytes, 0)
            } else {
                HEADER_LEN as u32
            };
            return Err(ContainerError::Truncated {
                length,
                available: bytes.len(),
            });
        }
        let h = header(bytes, limit)?;
        let length = h.length as usize;
        let body = bytes
            .get(HEADER_LEN..length)
            .ok_or(ContainerError::Truncated {
                length: h.length,
                available: bytes.len(),
            })?;
        let transaction_id = h.transaction_id;
        let params = || {
            let values: Vec<u32> = body.chunks_exact(4).map(|c| u32_at(c, 0)).collect();
            Params::new(&values).expect("the header check bounds the parameter count")
        };
        let container = match h.kind {
            ContainerKind::Command => Container::Command {
                code: OperationCode::from_u16(h.code),
                transaction_id,
                params: params(),
            },
            ContainerKind::Data => Container::Data {
                code: OperationCode::from_u16(h.code),
                transaction_id,
                data: body.to_vec(),
            },
            ContainerKind::Response => Container::Response {
                code: ResponseCode::from_u16(h.code),
                transaction_id,
                params: params(),
            },
            ContainerKind::Event => Container::Event {
                code: EventCode::from_u16(h.code),
                transaction_id,
                params: params(),
            },
        };
        cursor.set_position(cursor.position() + length as u64);
        Ok(container)
    }
}

#[cfg(test)]
mod tests;
