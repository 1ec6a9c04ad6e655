//! [`RemoteCardReader`]: a smart-card reader on a branch terminal, behind
//! the [`CardReader`] trait. Each call is one `card_reader` command over
//! the terminal's link; the terminal holds the PC/SC session.

use std::time::Duration;

use cardhub_protocols::terminal::{
    CardProtocol, CardReaderCommand, CommandErrorCode, CommandOutput, DeviceCommand, HexBytes,
    ReaderHolds,
};

use super::{DEFAULT_TIMEOUT, Links, RemoteAddress, RemoteError, links, unexpected};
use crate::reader::{Atr, CardReader, ProtocolPreference, ReaderError, ReaderState};

/// How long an APDU may take end to end (a branch line plus a slow card
/// writing EEPROM).
const APDU_TIMEOUT: Duration = Duration::from_secs(15);

/// A card reader on a branch terminal.
pub struct RemoteCardReader {
    address: RemoteAddress,
    name: String,
    links: &'static Links,
    connected: bool,
}

impl RemoteCardReader {
    /// The reader `address` (nothing is sent until first used).
    pub fn new(address: RemoteAddress) -> Self {
        Self::with_links(address, links())
    }

    /// The reader `address` through `links` (tests use their own).
    pub fn with_links(address: RemoteAddress, links: &'static Links) -> Self {
        Self {
            name: address.to_string(),
            address,
            links,
            connected: false,
        }
    }

    fn call(
        &mut self,
        command: CardReaderCommand,
        what: &str,
        timeout: Duration,
    ) -> Result<CommandOutput, ReaderError> {
        let command = DeviceCommand::CardReader(command);
        match self.links.request(&self.address, command.clone(), timeout) {
            Ok(output) => Ok(output),
            Err(e) => {
                let e = self.error(e, what);
                if matches!(
                    e,
                    ReaderError::LinkLost { .. }
                        | ReaderError::ReaderGone { .. }
                        | ReaderError::CardRemoved { .. }
                        | ReaderError::NoCard { .. }
                ) {
                    self.connected = false;
                }
                Err(e)
            }
        }
        .and_then(|output| match output {
            CommandOutput::Done {}
            | CommandOutput::Atr { .. }
            | CommandOutput::ApduResponse { .. }
            | CommandOutput::ReaderStatus { .. } => Ok(output),
            other => Err(ReaderError::Remote {
                reader: self.name.clone(),
                reason: unexpected(&command_of(what), &other).to_string(),
            }),
        })
    }

    fn error(&self, e: RemoteError, what: &str) -> ReaderError {
        let reader = self.name.clone();
        match e {
            RemoteError::NotConnected { .. } => ReaderError::ReaderGone { reader },
            RemoteError::LinkLost { .. } | RemoteError::Timeout { .. } => ReaderError::LinkLost {
                reader,
                command: what.to_owned(),
                reason: e.to_string(),
            },
            RemoteError::Overloaded { .. } => ReaderError::Busy { reader },
            RemoteError::Command(c) => match c.code {
                CommandErrorCode::NoCard => ReaderError::NoCard { reader },
                CommandErrorCode::CardRemoved => ReaderError::CardRemoved {
                    reader,
                    command: what.to_owned(),
                },
                CommandErrorCode::CardMute => ReaderError::CardMute { reader },
                CommandErrorCode::Timeout => ReaderError::Timeout {
                    reader,
                    operation: what.to_owned(),
                },
                CommandErrorCode::Busy => ReaderError::Busy { reader },
                CommandErrorCode::UnknownDevice | CommandErrorCode::DeviceOffline => {
                    ReaderError::ReaderGone { reader }
                }
                CommandErrorCode::LinkLost => ReaderError::LinkLost {
                    reader,
                    command: what.to_owned(),
                    reason: c.message,
                },
                _ => ReaderError::Remote {
                    reader,
                    reason: c.message,
                },
            },
            other => ReaderError::Remote {
                reader,
                reason: other.to_string(),
            },
        }
    }

    fn atr(&self, output: CommandOutput) -> Result<Atr, ReaderError> {
        match output {
            CommandOutput::Atr { atr } => Ok(Atr::new(atr.0)),
            other => Err(ReaderError::Remote {
                reader: self.name.clone(),
                reason: format!("expected an ATR, got {other:?}"),
            }),
        }
    }
}

/// A stand-in command naming `what`, for [`unexpected`]'s message.
fn command_of(what: &str) -> DeviceCommand {
    DeviceCommand::CardReader(match what {
        "status" => CardReaderCommand::Status {},
        "disconnect" => CardReaderCommand::Disconnect {},
        "connect" => CardReaderCommand::Connect {
            protocol: CardProtocol::Any,
        },
        "reconnect" => CardReaderCommand::Reconnect { reset: false },
        _ => CardReaderCommand::Transmit {
            apdu: HexBytes(Vec::new()),
        },
    })
}

impl CardReader for RemoteCardReader {
    fn name(&self) -> &str {
        &self.name
    }

    fn status(&self) -> ReaderState {
        let command = DeviceCommand::CardReader(CardReaderCommand::Status {});
        match self.links.request(&self.address, command, DEFAULT_TIMEOUT) {
            Ok(CommandOutput::ReaderStatus { holds, atr, .. }) => match (holds, atr) {
                (ReaderHolds::Empty, _) => ReaderState::Empty,
                (ReaderHolds::Present, Some(atr)) => ReaderState::Present {
                    atr: Atr::new(atr.0),
                },
                (ReaderHolds::Mute, _) | (ReaderHolds::Present, None) => ReaderState::Mute,
                (ReaderHolds::Unavailable, _) => ReaderState::Unavailable,
            },
            _ => ReaderState::Unavailable,
        }
    }

    fn connect(&mut self, protocol: ProtocolPreference) -> Result<Atr, ReaderError> {
        let protocol = match protocol {
            ProtocolPreference::T0 => CardProtocol::T0,
            ProtocolPreference::T1 => CardProtocol::T1,
            ProtocolPreference::Any => CardProtocol::Any,
        };
        let output = self.call(
            CardReaderCommand::Connect { protocol },
            "connect",
            DEFAULT_TIMEOUT,
        )?;
        let atr = self.atr(output)?;
        self.connected = true;
        Ok(atr)
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        if !self.connected {
            return Err(ReaderError::NotConnected {
                reader: self.name.clone(),
            });
        }
        let header = crate::reader::hex_upper(&apdu[..apdu.len().min(4)]);
        match self.call(
            CardReaderCommand::Transmit {
                apdu: HexBytes(apdu.to_vec()),
            },
            &header,
            APDU_TIMEOUT,
        )? {
            CommandOutput::ApduResponse { response } if response.0.len() >= 2 => Ok(response.0),
            other => Err(ReaderError::Remote {
                reader: self.name.clone(),
                reason: format!("command {header} answered without a status word: {other:?}"),
            }),
        }
    }

    fn reconnect(&mut self, reset: bool) -> Result<Atr, ReaderError> {
        let output = self.call(
            CardReaderCommand::Reconnect { reset },
            "reconnect",
            DEFAULT_TIMEOUT,
        )?;
        let atr = self.atr(output)?;
        self.connected = true;
        Ok(atr)
    }

    fn is_connected(&self) -> bool {
        self.connected
    }

    fn disconnect(&mut self) -> Result<(), ReaderError> {
        if !self.connected {
            return Ok(());
        }
        self.connected = false;
        self.call(
            CardReaderCommand::Disconnect {},
            "disconnect",
            DEFAULT_TIMEOUT,
        )
        .map(drop)
    }
}
