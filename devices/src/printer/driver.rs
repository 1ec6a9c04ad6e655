//! [`Printer`]: the command language of `cardhub_protocols::printer` over
//! any [`Transport`], one command and one reply at a time, each command
//! with its own timeout ([`Timeouts`]).
//!
//! On connecting (and on every reconnection) the driver sends the setup
//! commands of [`PrinterSetup`]. When the link is lost or a reply does
//! not come in time, the driver drops the link (a late reply must never be
//! read as the answer to the next command) and makes it again at the start
//! of the next command, once; a failed attempt is reported as
//! [`PrinterError::Disconnected`] with nothing sent.

use std::io;
use std::time::{Duration, Instant};

use cardhub_protocols::printer::{
    self as protocol, CardPosition, Command, EjectionMode, ErrorMode, InsertionMode, Panel,
    PrinterInfo, Reply, ReplyDecoder, RibbonType, Station, StatusReport,
};
use serde::Deserialize;

use super::transport::Transport;
use super::{CardPrinter, PrinterError, PrinterStatus};

/// The read buffer: replies are short lines.
const READ_CHUNK: usize = 1024;

/// How long each command may take before the driver gives up, in
/// milliseconds. The defaults leave a realistic printer (a colour card
/// with overlay in 20-30 s) ample room per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Making the TCP connection or opening the serial device.
    pub connect_ms: u64,
    /// Sending a command: the longest wait for the link to take more bytes.
    pub send_ms: u64,
    /// Queries (`Rps`, `Rlr`, `Rrt`, `Rinf`) and setup commands.
    pub query_ms: u64,
    /// `Si`: a card from the hopper into the printer.
    pub feed_ms: u64,
    /// `Sic` / `Sis`: to an encoding station.
    pub move_ms: u64,
    /// `Dbmp`: the reply after a panel's bytes were sent.
    pub download_ms: u64,
    /// `Sp`: printing.
    pub print_ms: u64,
    /// `Sov`: the overlay film.
    pub overlay_ms: u64,
    /// `Se`, `Seb`, `Ser`: out of the printer.
    pub eject_ms: u64,
    /// `Ss`, `Scl`.
    pub control_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: 5_000,
            send_ms: 10_000,
            query_ms: 5_000,
            feed_ms: 30_000,
            move_ms: 30_000,
            download_ms: 30_000,
            print_ms: 120_000,
            overlay_ms: 60_000,
            eject_ms: 30_000,
            control_ms: 10_000,
        }
    }
}

impl Timeouts {
    /// Every timeout set to `ms` (tests that want short waits).
    pub fn all(ms: u64) -> Self {
        Self {
            connect_ms: ms,
            send_ms: ms,
            query_ms: ms,
            feed_ms: ms,
            move_ms: ms,
            download_ms: ms,
            print_ms: ms,
            overlay_ms: ms,
            eject_ms: ms,
            control_ms: ms,
        }
    }

    /// The connect timeout.
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }

    /// How long a reply to `command` may take.
    pub fn for_command(&self, command: &Command) -> Duration {
        let ms = match command {
            Command::Insert => self.feed_ms,
            Command::MoveTo(_) => self.move_ms,
            Command::DownloadPanel { .. } => self.download_ms,
            Command::Print => self.print_ms,
            Command::Overlay => self.overlay_ms,
            Command::Eject | Command::EjectToBezel | Command::Reject => self.eject_ms,
            Command::StartSequence | Command::ClearError => self.control_ms,
            _ => self.query_ms,
        };
        Duration::from_millis(ms)
    }
}

/// The setup sent on every connection (`Pem`, `Pcim`, `Pcem`, `Pneab`,
/// `Pr`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrinterSetup {
    /// `Pem;2`: the printer reports errors to the hub (rather than waiting
    /// on its own panel, `Pem;0`).
    pub host_handles_errors: bool,
    /// `Pcem;M`: finished cards go to the manual slot instead of the output
    /// hopper (`Pcem;I`).
    pub eject_to_manual_slot: bool,
    /// `Pneab;E`: the card stays in the printer after printing, for the
    /// overlay and the checks (`Pneab;D` otherwise).
    pub hold_after_print: bool,
    /// `Pr;<panels>`: the ribbon fitted (`ymcko` for colour faces).
    pub ribbon: String,
}

impl Default for PrinterSetup {
    fn default() -> Self {
        Self {
            host_handles_errors: true,
            eject_to_manual_slot: false,
            hold_after_print: true,
            ribbon: "ymcko".to_owned(),
        }
    }
}

impl PrinterSetup {
    /// The setup commands in the order they are sent; `None` when the
    /// ribbon type is not 1 to 8 lower-case letters.
    pub fn commands(&self) -> Option<Vec<Command>> {
        Some(vec![
            Command::SetErrorMode(if self.host_handles_errors {
                ErrorMode::Host
            } else {
                ErrorMode::Printer
            }),
            Command::SetInsertion(InsertionMode::Feeder),
            Command::SetEjection(if self.eject_to_manual_slot {
                EjectionMode::Manual
            } else {
                EjectionMode::OutputHopper
            }),
            Command::SetHoldAfterPrint(self.hold_after_print),
            Command::SetRibbon(RibbonType::new(&self.ribbon)?),
        ])
    }
}

/// What a driver is configured with besides its address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrinterOptions {
    /// Per-command timeouts.
    pub timeouts: Timeouts,
    /// Setup sent on every connection.
    pub setup: PrinterSetup,
}

/// A card printer driven over a transport.
pub struct Printer<T: Transport> {
    name: String,
    transport: T,
    link_up: bool,
    decoder: ReplyDecoder,
    options: PrinterOptions,
    setup: Vec<Command>,
    out: Vec<u8>,
    chunk: Box<[u8; READ_CHUNK]>,
}

impl<T: Transport> std::fmt::Debug for Printer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("name", &self.name)
            .field("peer", &self.transport.peer())
            .field("link_up", &self.link_up)
            .finish()
    }
}

impl<T: Transport> Printer<T> {
    /// A driver over a connected transport; sends the setup commands.
    pub fn new(name: &str, transport: T, options: PrinterOptions) -> Result<Self, PrinterError> {
        let setup = options
            .setup
            .commands()
            .ok_or_else(|| PrinterError::Refused {
                printer: name.to_owned(),
                command: "Pr",
                code: protocol::ErrorCode::BadParameter,
                text: format!(
                    "ribbon type `{}` is not 1 to 8 lower-case panel letters (ymcko, ko): fix the printer's setup",
                    options.setup.ribbon
                ),
            })?;
        let mut printer = Self {
            name: name.to_owned(),
            transport,
            link_up: true,
            decoder: ReplyDecoder::new(),
            options,
            setup,
            out: Vec::new(),
            chunk: Box::new([0; READ_CHUNK]),
        };
        printer.send_setup()?;
        Ok(printer)
    }

    /// The transport (tests, diagnostics).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Drops the link and makes it again, then sends the setup.
    pub fn reconnect(&mut self) -> Result<(), PrinterError> {
        self.link_up = false;
        self.decoder.clear();
        self.transport
            .reconnect()
            .map_err(|e| self.disconnected("connect", false, &e))?;
        self.link_up = true;
        self.send_setup()
    }

    fn send_setup(&mut self) -> Result<(), PrinterError> {
        for command in self.setup.clone() {
            self.expect_ok(&command)?;
        }
        Ok(())
    }

    /// `Ss`: starts a card's sequence (the printer forgets earlier panels).
    pub fn start_sequence(&mut self) -> Result<(), PrinterError> {
        self.expect_ok(&Command::StartSequence)
    }

    /// `Seb`: ejects the card to the bezel.
    pub fn eject_to_bezel(&mut self) -> Result<(), PrinterError> {
        self.expect_ok(&Command::EjectToBezel)
    }

    /// `Rrt;count`: ribbon prints left.
    pub fn ribbon_left(&mut self) -> Result<u32, PrinterError> {
        let command = Command::ReadRibbonCount;
        let value = self.expect_value(&command)?;
        protocol::parse_ribbon_count(&value).map_err(|e| self.bad_value(&command, &value, &e))
    }

    /// `Rinf`: model, serial number and firmware.
    pub fn info(&mut self) -> Result<PrinterInfo, PrinterError> {
        let command = Command::ReadInfo;
        let value = self.expect_value(&command)?;
        PrinterInfo::parse(&value).map_err(|e| self.bad_value(&command, &value, &e))
    }

    /// Makes the link again if it was lost (before a command is encoded:
    /// the setup sent on reconnecting uses the same buffer).
    fn ensure_link(&mut self) -> Result<(), PrinterError> {
        if !self.link_up {
            self.reconnect()?;
        }
        Ok(())
    }

    fn expect_ok(&mut self, command: &Command) -> Result<(), PrinterError> {
        self.ensure_link()?;
        let timeout = self.options.timeouts.for_command(command);
        let name = command.name();
        self.out.clear();
        command
            .encode(&mut self.out)
            .map_err(|e| self.too_large(command, e))?;
        match self.exchange(name, timeout)? {
            Reply::Ok => Ok(()),
            other => Err(self.unexpected(name, &other, "OK")),
        }
    }

    fn expect_value(&mut self, command: &Command) -> Result<String, PrinterError> {
        self.ensure_link()?;
        let timeout = self.options.timeouts.for_command(command);
        let name = command.name();
        self.out.clear();
        command
            .encode(&mut self.out)
            .map_err(|e| self.too_large(command, e))?;
        match self.exchange(name, timeout)? {
            Reply::Value(value) => Ok(value),
            other => Err(self.unexpected(name, &other, "a value")),
        }
    }

    /// Sends the frame in `self.out` over a link that is up and waits for
    /// its reply.
    fn exchange(
        &mut self,
        command: &'static str,
        timeout: Duration,
    ) -> Result<Reply, PrinterError> {
        let send_timeout = Duration::from_millis(self.options.timeouts.send_ms);
        if let Err(e) = self.transport.send(&self.out, send_timeout) {
            self.link_up = false;
            return Err(if is_timeout(&e) {
                PrinterError::Timeout {
                    printer: self.name.clone(),
                    command,
                    waited: send_timeout,
                }
            } else {
                self.disconnected(command, false, &e)
            });
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.decoder.decode() {
                Some(Ok(Reply::Error { code, text })) => {
                    return Err(PrinterError::from_reply(&self.name, command, code, &text));
                }
                Some(Ok(reply)) => return Ok(reply),
                Some(Err(e)) => {
                    return Err(PrinterError::Protocol {
                        printer: self.name.clone(),
                        command,
                        received: received_of(&e),
                        reason: e.to_string(),
                    });
                }
                None => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.link_up = false;
                return Err(PrinterError::Timeout {
                    printer: self.name.clone(),
                    command,
                    waited: timeout,
                });
            }
            match self.transport.receive(&mut self.chunk[..], left) {
                Ok(0) => {
                    self.link_up = false;
                    let closed = io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the printer closed the connection",
                    );
                    return Err(self.disconnected(command, true, &closed));
                }
                Ok(n) => self.decoder.push(&self.chunk[..n]),
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.link_up = false;
                    return Err(self.disconnected(command, true, &e));
                }
            }
        }
    }

    fn disconnected(
        &self,
        command: &'static str,
        mid_command: bool,
        e: &io::Error,
    ) -> PrinterError {
        PrinterError::Disconnected {
            printer: self.name.clone(),
            command,
            mid_command,
            reason: format!("{} ({e})", self.transport.peer()),
        }
    }

    fn too_large(&self, command: &Command, e: protocol::PanelTooLarge) -> PrinterError {
        let panel = match command {
            Command::DownloadPanel { panel, .. } => panel.to_string(),
            _ => "panel".to_owned(),
        };
        PrinterError::PanelTooLarge {
            printer: self.name.clone(),
            panel,
            length: e.length,
            limit: e.limit,
        }
    }

    fn unexpected(&self, command: &'static str, reply: &Reply, wanted: &str) -> PrinterError {
        let received = String::from_utf8_lossy(&reply.to_bytes())
            .escape_debug()
            .to_string();
        PrinterError::Protocol {
            printer: self.name.clone(),
            command,
            received,
            reason: format!("{command} is answered with {wanted}"),
        }
    }

    fn bad_value(&self, command: &Command, value: &str, e: &protocol::ReplyError) -> PrinterError {
        PrinterError::Protocol {
            printer: self.name.clone(),
            command: command.name(),
            received: value.escape_debug().to_string(),
            reason: e.to_string(),
        }
    }
}

/// What a reply error shows as received.
fn received_of(e: &protocol::ReplyError) -> String {
    use protocol::ReplyError as E;
    match e {
        E::NotAscii { received, .. }
        | E::Overlong { received, .. }
        | E::Unterminated { received } => received.clone(),
        E::UnknownErrorCode { line, .. } => line.clone(),
        E::BadValue { value, .. } => value.clone(),
        E::Empty => "\\r".to_owned(),
        other => other.to_string(),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

impl<T: Transport> CardPrinter for Printer<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn status(&mut self) -> Result<PrinterStatus, PrinterError> {
        let command = Command::ReadStatus;
        let value = self.expect_value(&command)?;
        let report =
            StatusReport::parse(&value).map_err(|e| self.bad_value(&command, &value, &e))?;
        Ok(report.into())
    }

    fn card_position(&mut self) -> Result<CardPosition, PrinterError> {
        let command = Command::ReadCardPosition;
        let value = self.expect_value(&command)?;
        protocol::parse_card_position(&value).map_err(|e| self.bad_value(&command, &value, &e))
    }

    fn feed(&mut self) -> Result<(), PrinterError> {
        self.expect_ok(&Command::Insert)
    }

    fn move_to(&mut self, station: Station) -> Result<(), PrinterError> {
        self.expect_ok(&Command::MoveTo(station))
    }

    fn download_panel(&mut self, panel: Panel, data: &[u8]) -> Result<(), PrinterError> {
        // Encoded straight from the caller's bytes: a face is not copied
        // into a Command first.
        self.ensure_link()?;
        self.out.clear();
        if let Err(e) = protocol::encode_panel_download(panel, data, &mut self.out) {
            return Err(PrinterError::PanelTooLarge {
                printer: self.name.clone(),
                panel: panel.to_string(),
                length: e.length,
                limit: e.limit,
            });
        }
        let timeout = Duration::from_millis(self.options.timeouts.download_ms);
        match self.exchange("Dbmp", timeout)? {
            Reply::Ok => Ok(()),
            other => Err(self.unexpected("Dbmp", &other, "OK")),
        }
    }

    fn print(&mut self) -> Result<(), PrinterError> {
        self.expect_ok(&Command::Print)
    }

    fn overlay(&mut self) -> Result<(), PrinterError> {
        self.expect_ok(&Command::Overlay)
    }

    fn eject(&mut self) -> Result<(), PrinterError> {
        self.expect_ok(&Command::Eject)
    }

    fn reject(&mut self) -> Result<(), PrinterError> {
        self.expect_ok(&Command::Reject)
    }

    fn clear_error(&mut self) -> Result<(), PrinterError> {
        self.expect_ok(&Command::ClearError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_has_its_own_timeout() {
        let t = Timeouts::default();
        assert!(t.for_command(&Command::Print) > t.for_command(&Command::ReadStatus));
        assert_eq!(
            t.for_command(&Command::MoveTo(Station::Contactless)),
            Duration::from_millis(t.move_ms)
        );
        let short = Timeouts::all(50);
        assert_eq!(
            short.for_command(&Command::Print),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn setup_is_the_documented_commands() {
        let wire: Vec<u8> = PrinterSetup::default()
            .commands()
            .unwrap()
            .iter()
            .flat_map(|c| c.to_bytes().unwrap())
            .collect();
        assert_eq!(
            wire,
            b"\x1bPem;2\r\x1bPcim;F\r\x1bPcem;I\r\x1bPneab;E\r\x1bPr;ymcko\r"
        );
        let bad = PrinterSetup {
            ribbon: "YMCKO".into(),
            ..PrinterSetup::default()
        };
        assert!(bad.commands().is_none());
    }

    #[test]
    fn options_come_from_toml_and_refuse_unknown_keys() {
        let options: PrinterOptions =
            toml::from_str("[timeouts]\nprint_ms = 90000\n[setup]\nribbon = \"ko\"\n").unwrap();
        assert_eq!(options.timeouts.print_ms, 90_000);
        assert_eq!(options.timeouts.feed_ms, Timeouts::default().feed_ms);
        assert_eq!(options.setup.ribbon, "ko");
        assert!(toml::from_str::<PrinterOptions>("[timeouts]\nprnt_ms = 1\n").is_err());
    }
}
