//! A PC/SC smart-card reader on the terminal: [`PcscReader`] behind the
//! link's `card_reader` commands, one method of the `CardReader` trait per
//! command. The reader is opened at its first command and again after it
//! was lost; its state and card events come from the PC/SC monitor in
//! [`crate::agent::discovery`], not from here.

use std::time::Duration;

use cardhub_devices::reader::{
    CardReader, PcscReader, ProtocolPreference, ReaderError, ReaderState,
};
use cardhub_protocols::terminal::{
    CardProtocol, CardReaderCommand, CommandOutput, CommandResult, DeviceCommand, DeviceEvent,
    ReaderHolds,
};

use super::{Driver, Health, reader_error, unsupported};

/// The terminal's smart-card reader `reader` (its PC/SC name).
pub struct CardReaderDriver {
    name: String,
    reader_name: String,
    reader: Option<PcscReader>,
    /// The state the monitor gave at start.
    initial: Health,
    health: Health,
}

impl CardReaderDriver {
    /// The reader pcscd calls `reader_name`, starting as `initial`.
    pub fn new(name: &str, reader_name: &str, initial: Health) -> Self {
        Self {
            name: name.to_owned(),
            reader_name: reader_name.to_owned(),
            reader: None,
            health: initial.clone(),
            initial,
        }
    }

    fn reader(&mut self) -> Result<&mut PcscReader, ReaderError> {
        if self.reader.is_none() {
            self.reader = Some(PcscReader::open(&self.reader_name)?);
        }
        Ok(self.reader.as_mut().expect("opened just above"))
    }

    /// Runs `command`; `Ok(None)` when it is not one this terminal knows.
    fn execute(
        &mut self,
        command: &CardReaderCommand,
    ) -> Result<Option<CommandOutput>, ReaderError> {
        let reader = self.reader()?;
        Ok(Some(match command {
            CardReaderCommand::Status {} => {
                let connected = reader.is_connected();
                let (holds, atr) = match reader.status() {
                    ReaderState::Empty => (ReaderHolds::Empty, None),
                    ReaderState::Present { atr } => {
                        (ReaderHolds::Present, Some(atr.into_bytes().into()))
                    }
                    ReaderState::Mute => (ReaderHolds::Mute, None),
                    ReaderState::Unavailable => (ReaderHolds::Unavailable, None),
                };
                CommandOutput::ReaderStatus {
                    holds,
                    atr,
                    connected,
                }
            }
            CardReaderCommand::Connect { protocol } => CommandOutput::Atr {
                atr: reader.connect(preference(*protocol))?.into_bytes().into(),
            },
            CardReaderCommand::Transmit { apdu } => CommandOutput::ApduResponse {
                response: reader.transmit(apdu.as_bytes())?.into(),
            },
            CardReaderCommand::Reconnect { reset } => CommandOutput::Atr {
                atr: reader.reconnect(*reset)?.into_bytes().into(),
            },
            CardReaderCommand::Disconnect {} => {
                reader.disconnect()?;
                CommandOutput::Done {}
            }
            _ => return Ok(None),
        }))
    }
}

/// The link's protocol choice in the driver's words.
fn preference(protocol: CardProtocol) -> ProtocolPreference {
    match protocol {
        CardProtocol::T0 => ProtocolPreference::T0,
        CardProtocol::T1 => ProtocolPreference::T1,
        CardProtocol::Any => ProtocolPreference::Any,
    }
}

impl Driver for CardReaderDriver {
    fn probe(&mut self) -> Health {
        self.initial.clone()
    }

    fn run(&mut self, command: DeviceCommand) -> CommandResult {
        let DeviceCommand::CardReader(c) = &command else {
            return unsupported(&self.name, &command);
        };
        match self.execute(c) {
            Ok(None) => unsupported(&self.name, &command),
            Ok(Some(output)) => {
                self.health = Health::ready();
                CommandResult::Ok(output)
            }
            Err(e) => {
                if matches!(
                    e,
                    ReaderError::ReaderGone { .. } | ReaderError::ServiceUnavailable
                ) {
                    // Opened afresh at the next command.
                    self.reader = None;
                    self.health = Health::offline(e.to_string());
                }
                CommandResult::Error(reader_error(&e))
            }
        }
    }

    fn health(&self) -> Health {
        self.health.clone()
    }

    fn idle_every(&self) -> Option<Duration> {
        None
    }

    fn idle(&mut self) -> Vec<DeviceEvent> {
        Vec::new()
    }
}
