//! [`RemotePrinter`]: a card printer on a branch terminal (instant issue),
//! behind the [`CardPrinter`] trait. Each call is one `printer` command
//! over the terminal's link; the terminal runs the printer's own driver.
//! The errors are the printer driver's, so the making-card pipeline treats
//! a lost terminal link as it treats a lost printer link: it waits, asks
//! where the card is, and finishes or wastes it.

use std::time::Duration;

use base64::Engine;
use cardhub_protocols::printer::{CardPosition, ErrorCode, Panel, PrinterState, Station};
use cardhub_protocols::terminal::{
    CardPlace, CommandErrorCode, CommandOutput, DeviceCommand, EncoderStation, PrintPanel,
    PrinterCommand, PrinterCondition,
};

use super::{Links, RemoteAddress, RemoteError, command_name, links, unexpected};
use crate::printer::{CardPrinter, PrinterError, PrinterStatus};

/// How long a printer step may take end to end (printing a face takes
/// seconds on a real printer).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a status question may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// A card printer on a branch terminal.
pub struct RemotePrinter {
    address: RemoteAddress,
    name: String,
    links: &'static Links,
}

impl RemotePrinter {
    /// The printer `name` at `address` (nothing is sent until first used).
    pub fn new(name: &str, address: RemoteAddress) -> Self {
        Self::with_links(name, address, links())
    }

    /// The printer through `links` (tests use their own).
    pub fn with_links(name: &str, address: RemoteAddress, links: &'static Links) -> Self {
        Self {
            address,
            name: name.to_owned(),
            links,
        }
    }

    fn call(&mut self, command: PrinterCommand) -> Result<CommandOutput, PrinterError> {
        let timeout = match command {
            PrinterCommand::Status {} | PrinterCommand::CardPosition {} => STATUS_TIMEOUT,
            _ => STEP_TIMEOUT,
        };
        let command = DeviceCommand::Printer(command);
        let name = command_name(&command);
        self.links
            .request(&self.address, command, timeout)
            .map_err(|e| self.error(e, name, timeout))
    }

    fn done(&mut self, command: PrinterCommand) -> Result<(), PrinterError> {
        let probe = DeviceCommand::Printer(command.clone());
        match self.call(command)? {
            CommandOutput::Done {} => Ok(()),
            other => Err(self.protocol(command_name(&probe), unexpected(&probe, &other))),
        }
    }

    fn protocol(&self, command: &'static str, e: RemoteError) -> PrinterError {
        PrinterError::Protocol {
            printer: self.name.clone(),
            command,
            received: String::new(),
            reason: e.to_string(),
        }
    }

    fn error(&self, e: RemoteError, command: &'static str, waited: Duration) -> PrinterError {
        let printer = self.name.clone();
        let disconnected = |mid_command: bool, reason: String| PrinterError::Disconnected {
            printer: printer.clone(),
            command,
            mid_command,
            reason,
        };
        match e {
            RemoteError::NotConnected { .. } => disconnected(false, e.to_string()),
            RemoteError::LinkLost { sent, .. } => disconnected(sent, e.to_string()),
            RemoteError::Timeout { .. } => PrinterError::Timeout {
                printer,
                command,
                waited,
            },
            RemoteError::Overloaded { .. } => PrinterError::Busy {
                printer,
                command,
                text: e.to_string(),
            },
            RemoteError::Command(c) => match c.code {
                CommandErrorCode::DeviceState => match c.condition.map(state_of) {
                    Some(state) => PrinterError::Device {
                        printer,
                        command,
                        state,
                        text: c.message,
                    },
                    None => self.protocol(command, RemoteError::Command(c)),
                },
                CommandErrorCode::NoCard => PrinterError::NoCard {
                    printer,
                    command,
                    text: c.message,
                },
                CommandErrorCode::Busy => PrinterError::Busy {
                    printer,
                    command,
                    text: c.message,
                },
                CommandErrorCode::Refused => PrinterError::Refused {
                    printer,
                    command,
                    code: c
                        .device_code
                        .as_deref()
                        .and_then(ErrorCode::from_wire)
                        .unwrap_or(ErrorCode::BadData),
                    text: c.message,
                },
                CommandErrorCode::LinkLost => disconnected(c.sent.unwrap_or(true), c.message),
                CommandErrorCode::DeviceOffline | CommandErrorCode::UnknownDevice => {
                    disconnected(false, c.message)
                }
                CommandErrorCode::Timeout => PrinterError::Timeout {
                    printer,
                    command,
                    waited,
                },
                _ => self.protocol(command, RemoteError::Command(c)),
            },
            other => self.protocol(command, other),
        }
    }
}

/// The printer state a terminal reported.
pub fn state_of(condition: PrinterCondition) -> PrinterState {
    match condition {
        PrinterCondition::Ready => PrinterState::Ready,
        PrinterCondition::Printing => PrinterState::Printing,
        PrinterCondition::CardJam => PrinterState::CardJam,
        PrinterCondition::RibbonOut => PrinterState::RibbonOut,
        PrinterCondition::HopperEmpty => PrinterState::HopperEmpty,
        PrinterCondition::CoverOpen => PrinterState::CoverOpen,
        // A condition of a later protocol version: a person must look.
        _ => PrinterState::CoverOpen,
    }
}

/// The condition a printer state is reported as (the terminal's side);
/// `None` for a state newer than link protocol v1.
pub fn condition_of(state: PrinterState) -> Option<PrinterCondition> {
    Some(match state {
        PrinterState::Ready => PrinterCondition::Ready,
        PrinterState::Printing => PrinterCondition::Printing,
        PrinterState::CardJam => PrinterCondition::CardJam,
        PrinterState::RibbonOut => PrinterCondition::RibbonOut,
        PrinterState::HopperEmpty => PrinterCondition::HopperEmpty,
        PrinterState::CoverOpen => PrinterCondition::CoverOpen,
        _ => return None,
    })
}

/// Where the card is, from the terminal's report.
pub fn position_of(place: CardPlace) -> CardPosition {
    match place {
        CardPlace::None => CardPosition::None,
        CardPlace::InPrinter => CardPosition::InPrinter,
        CardPlace::Contact => CardPosition::Contact,
        CardPlace::Contactless => CardPosition::Contactless,
    }
}

/// Where the card is, as the terminal reports it.
pub fn place_of(position: CardPosition) -> CardPlace {
    match position {
        CardPosition::None => CardPlace::None,
        CardPosition::InPrinter => CardPlace::InPrinter,
        CardPosition::Contact => CardPlace::Contact,
        CardPosition::Contactless => CardPlace::Contactless,
    }
}

impl CardPrinter for RemotePrinter {
    fn name(&self) -> &str {
        &self.name
    }

    fn status(&mut self) -> Result<PrinterStatus, PrinterError> {
        let command = PrinterCommand::Status {};
        let probe = DeviceCommand::Printer(command.clone());
        match self.call(command)? {
            CommandOutput::PrinterStatus {
                state,
                hopper,
                ribbon_left,
                card,
            } => Ok(PrinterStatus {
                state: state_of(state),
                hopper,
                ribbon_left,
                card: position_of(card),
            }),
            other => Err(self.protocol("status", unexpected(&probe, &other))),
        }
    }

    fn card_position(&mut self) -> Result<CardPosition, PrinterError> {
        let command = PrinterCommand::CardPosition {};
        let probe = DeviceCommand::Printer(command.clone());
        match self.call(command)? {
            CommandOutput::CardPosition { card } => Ok(position_of(card)),
            other => Err(self.protocol("card_position", unexpected(&probe, &other))),
        }
    }

    fn feed(&mut self) -> Result<(), PrinterError> {
        self.done(PrinterCommand::Feed {})
    }

    fn move_to(&mut self, station: Station) -> Result<(), PrinterError> {
        let station = match station {
            Station::Contact => EncoderStation::Contact,
            Station::Contactless => EncoderStation::Contactless,
        };
        self.done(PrinterCommand::MoveTo { station })
    }

    fn download_panel(&mut self, panel: Panel, data: &[u8]) -> Result<(), PrinterError> {
        let panel = match panel {
            Panel::Black => PrintPanel::Black,
            Panel::Colour => PrintPanel::Colour,
            Panel::Overlay => PrintPanel::Overlay,
        };
        self.done(PrinterCommand::DownloadPanel {
            panel,
            data_base64: base64::engine::general_purpose::STANDARD.encode(data),
        })
    }

    fn print(&mut self) -> Result<(), PrinterError> {
        self.done(PrinterCommand::Print {})
    }

    fn overlay(&mut self) -> Result<(), PrinterError> {
        self.done(PrinterCommand::Overlay {})
    }

    fn eject(&mut self) -> Result<(), PrinterError> {
        self.done(PrinterCommand::Eject {})
    }

    fn reject(&mut self) -> Result<(), PrinterError> {
        self.done(PrinterCommand::Reject {})
    }

    fn clear_error(&mut self) -> Result<(), PrinterError> {
        self.done(PrinterCommand::ClearError {})
    }
}
