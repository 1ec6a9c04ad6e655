//! A card printer on the terminal: the printer driver
//! ([`cardhub_devices::printer::open`], TCP or serial) behind the link's
//! `printer` commands, one method of the `CardPrinter` trait per command.
//! Probed by connecting and asking its status; while idle, asked again
//! every `status_secs` (a jam, an open cover or a cut cable shows as a
//! state change), and connected again when it could not be reached.
//!
//! A printer that stops (jam, ribbon out, hopper empty, cover open) is a
//! `fault` with the printer's advice as detail; unreachable is `offline`.

use std::time::Duration;

use base64::Engine as _;
use cardhub_devices::printer::{
    self, CardPrinter, Panel, PrinterAddress, PrinterError, PrinterState, Station,
};
use cardhub_protocols::terminal::{
    CommandError, CommandErrorCode, CommandOutput, CommandResult, DeviceCommand, DeviceEvent,
    EncoderStation, PrintPanel, PrinterCommand,
};

use super::{Driver, Health, printer_error, unsupported};
use cardhub_devices::remote::{condition_of as condition, place_of};

/// The terminal's card printer.
pub struct PrinterDriver {
    name: String,
    address: PrinterAddress,
    printer: Option<Box<dyn CardPrinter>>,
    status_every: Duration,
    health: Health,
}

impl PrinterDriver {
    /// The printer at `address`, its status asked every `status_every`
    /// while idle.
    pub fn new(name: &str, address: PrinterAddress, status_every: Duration) -> Self {
        Self {
            name: name.to_owned(),
            address,
            printer: None,
            status_every: status_every.max(Duration::from_secs(1)),
            health: Health::offline("not connected yet"),
        }
    }

    /// Connects (when not connected) and asks the status.
    fn check(&mut self) {
        if self.printer.is_none() {
            match printer::open(&self.name, &self.address) {
                Ok(p) => self.printer = Some(p),
                Err(e) => {
                    self.health = Health::offline(e.to_string());
                    return;
                }
            }
        }
        let Some(p) = self.printer.as_mut() else {
            return;
        };
        match p.status() {
            Ok(status) => self.health = health_of(status.state),
            Err(e) => self.observe(&e),
        }
    }

    /// Notes a failed command.
    fn observe(&mut self, e: &PrinterError) {
        self.health = match e {
            PrinterError::Device { state, .. } => health_of(*state),
            e if e.is_connection_lost() => Health::offline(e.to_string()),
            // A refusal of this command: the printer itself works.
            _ => Health::ready(),
        };
    }

    fn execute(&mut self, command: &PrinterCommand) -> Result<CommandOutput, CommandError> {
        if self.printer.is_none() {
            self.check();
        }
        let Some(p) = self.printer.as_mut() else {
            return Err(CommandError::new(
                CommandErrorCode::DeviceOffline,
                self.health
                    .detail
                    .clone()
                    .unwrap_or_else(|| format!("printer {} cannot be reached", self.name)),
            ));
        };
        let done = |r: Result<(), PrinterError>| r.map(|()| CommandOutput::Done {});
        // The state a status answer gave, which is then the health.
        let mut seen = None;
        let outcome = match command {
            PrinterCommand::Status {} => p.status().and_then(|s| {
                seen = Some(s.state);
                let state = condition(s.state).ok_or_else(|| PrinterError::Protocol {
                    printer: self.name.clone(),
                    command: "Rps",
                    received: s.state.to_string(),
                    reason: "a printer state link protocol v1 cannot carry".to_owned(),
                })?;
                Ok(CommandOutput::PrinterStatus {
                    state,
                    hopper: s.hopper,
                    ribbon_left: s.ribbon_left,
                    card: place_of(s.card),
                })
            }),
            PrinterCommand::CardPosition {} => {
                p.card_position().map(|card| CommandOutput::CardPosition {
                    card: place_of(card),
                })
            }
            PrinterCommand::Feed {} => done(p.feed()),
            PrinterCommand::MoveTo { station } => done(p.move_to(match station {
                EncoderStation::Contact => Station::Contact,
                EncoderStation::Contactless => Station::Contactless,
            })),
            PrinterCommand::DownloadPanel { panel, data_base64 } => {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(data_base64.as_bytes())
                    .map_err(|e| {
                        CommandError::new(
                            CommandErrorCode::BadData,
                            format!("the panel's data_base64 is not base64 ({e}); nothing was sent to printer {}", self.name),
                        )
                    })?;
                done(p.download_panel(
                    match panel {
                        PrintPanel::Black => Panel::Black,
                        PrintPanel::Colour => Panel::Colour,
                        PrintPanel::Overlay => Panel::Overlay,
                    },
                    &data,
                ))
            }
            PrinterCommand::Print {} => done(p.print()),
            PrinterCommand::Overlay {} => done(p.overlay()),
            PrinterCommand::Eject {} => done(p.eject()),
            PrinterCommand::Reject {} => done(p.reject()),
            PrinterCommand::ClearError {} => done(p.clear_error()),
            _ => {
                return Err(CommandError::new(
                    CommandErrorCode::Unsupported,
                    format!(
                        "{command:?} is not a printer command this terminal knows: update cardhub on the branch PC"
                    ),
                ));
            }
        };
        match outcome {
            Ok(output) => {
                self.health = seen.map_or_else(Health::ready, health_of);
                Ok(output)
            }
            Err(e) => {
                self.observe(&e);
                Err(printer_error(&e))
            }
        }
    }
}

/// A printer's state as a device's health.
fn health_of(state: PrinterState) -> Health {
    if state.needs_operator() {
        Health::fault(format!("{state}: {}", state.advice()))
    } else {
        Health::ready()
    }
}

impl Driver for PrinterDriver {
    fn probe(&mut self) -> Health {
        self.check();
        self.health.clone()
    }

    fn run(&mut self, command: DeviceCommand) -> CommandResult {
        match &command {
            DeviceCommand::Printer(c) => match self.execute(c) {
                Ok(output) => CommandResult::Ok(output),
                Err(error) => CommandResult::Error(error),
            },
            _ => unsupported(&self.name, &command),
        }
    }

    fn health(&self) -> Health {
        self.health.clone()
    }

    fn idle_every(&self) -> Option<Duration> {
        Some(self.status_every)
    }

    fn idle(&mut self) -> Vec<DeviceEvent> {
        self.check();
        Vec::new()
    }
}
