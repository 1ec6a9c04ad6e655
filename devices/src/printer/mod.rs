//! Card printers (制卡机): the [`CardPrinter`] trait the production line
//! drives, and its driver [`Printer`], the command language of
//! `cardhub_protocols::printer` over TCP ([`TcpTransport`]) or a serial
//! line ([`SerialTransport`]), blocking, one command at a time.
//!
//! ```text
//! line actor ── CardPrinter ── Printer<T> ── Command::encode ──▶ Transport ══ TCP / serial ══ printer
//!                                         ◀─ ReplyDecoder ─────┘
//! ```
//!
//! [`open`] (or [`open_with`] for timeouts and setup) connects to a
//! [`PrinterAddress`] (`tcp://host:port`, `serial:///dev/ttyUSB0?baud=N`)
//! and sends the setup commands. Errors are [`PrinterError`]s naming the
//! printer and the command; [`PrinterError::is_connection_lost`] tells the
//! caller to reconnect (the driver also reconnects by itself at the next
//! command), [`PrinterError::needs_operator`] that a person has to act.
//!
//! The contact encoder inside the printer is not driven here: it is a
//! PC/SC reader ([`crate::reader`]). After moving a card to a station the
//! caller reconnects that reader with a reset (`CardReader::reconnect(true)`):
//! the encoder's session belongs to the card that was there before.
//!
//! Layout:
//! - `error`: [`PrinterError`].
//! - `address`: [`PrinterAddress`] and its text form.
//! - `transport`: [`Transport`], [`TcpTransport`], [`SerialTransport`].
//! - `driver`: [`Printer`], [`Timeouts`], [`PrinterSetup`], [`PrinterOptions`].
//!
//! The simulated printer on the far side of both transports is in
//! `cardhub_simulators::printer`; the actors that own printers are in
//! `cardhub_actors::workshop`.

mod address;
mod driver;
mod error;
mod transport;

pub use address::{AddressError, DEFAULT_BAUD, PrinterAddress};
pub use cardhub_protocols::printer::{
    CardPosition, ErrorCode, Panel, PrinterInfo, PrinterState, Station, StatusReport,
};
pub use driver::{Printer, PrinterOptions, PrinterSetup, Timeouts};
pub use error::PrinterError;
pub use transport::{SerialTransport, TcpTransport, Transport};

/// A card printer with a contact encoder and a contactless station.
///
/// Calls block until the printer answers (or the command's timeout runs
/// out); a driver is `Send` so the actor owning it may run it on any
/// thread, one caller at a time (`&mut self`).
pub trait CardPrinter: Send {
    /// The printer's name in the centre's configuration.
    fn name(&self) -> &str;
    /// `Rps`: state, hopper, ribbon and where the card is.
    fn status(&mut self) -> Result<PrinterStatus, PrinterError>;
    /// `Rlr;p`: where the card is.
    fn card_position(&mut self) -> Result<CardPosition, PrinterError>;
    /// `Si`: takes a blank card from the hopper into the printer.
    fn feed(&mut self) -> Result<(), PrinterError>;
    /// `Sic` / `Sis`: moves the card to an encoding station.
    fn move_to(&mut self, station: Station) -> Result<(), PrinterError>;
    /// `Dbmp`: downloads one panel (the colour panel is the face's PNG).
    fn download_panel(&mut self, panel: Panel, data: &[u8]) -> Result<(), PrinterError>;
    /// `Sp`: prints the downloaded panels on the card.
    fn print(&mut self) -> Result<(), PrinterError>;
    /// `Sov`: applies the thick overlay film.
    fn overlay(&mut self) -> Result<(), PrinterError>;
    /// `Se`: ejects the card to the output hopper.
    fn eject(&mut self) -> Result<(), PrinterError>;
    /// `Ser`: rejects the card into the reject bin.
    fn reject(&mut self) -> Result<(), PrinterError>;
    /// `Scl`: clears an error whose cause an operator removed.
    fn clear_error(&mut self) -> Result<(), PrinterError>;
}

/// What `Rps` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrinterStatus {
    /// The state.
    pub state: PrinterState,
    /// Blank cards left in the hopper, if the printer knows.
    pub hopper: Option<u32>,
    /// Ribbon prints left, if the printer knows.
    pub ribbon_left: Option<u32>,
    /// Where the card is.
    pub card: CardPosition,
}

impl From<StatusReport> for PrinterStatus {
    fn from(r: StatusReport) -> Self {
        Self {
            state: r.state,
            hopper: r.hopper,
            ribbon_left: r.ribbon_left,
            card: r.card,
        }
    }
}

/// Connects to the printer at `address` with the default timeouts and
/// setup ([`PrinterOptions::default`]).
pub fn open(name: &str, address: &PrinterAddress) -> Result<Box<dyn CardPrinter>, PrinterError> {
    if let PrinterAddress::Terminal(remote) = address {
        return Ok(Box::new(crate::remote::RemotePrinter::new(
            name,
            remote.clone(),
        )));
    }
    Ok(Box::new(open_with(
        name,
        address,
        PrinterOptions::default(),
    )?))
}

/// Connects to the printer at `address` and sends the setup.
pub fn open_with(
    name: &str,
    address: &PrinterAddress,
    options: PrinterOptions,
) -> Result<Printer<Box<dyn Transport>>, PrinterError> {
    let connect_failed = |e: std::io::Error| PrinterError::Disconnected {
        printer: name.to_owned(),
        command: "connect",
        mid_command: false,
        reason: format!("{address} ({e})"),
    };
    let transport: Box<dyn Transport> = match address {
        PrinterAddress::Tcp { host, port } => Box::new(
            TcpTransport::connect(host, *port, options.timeouts.connect())
                .map_err(connect_failed)?,
        ),
        PrinterAddress::Serial { path, baud } => {
            Box::new(SerialTransport::open(path, *baud).map_err(connect_failed)?)
        }
        PrinterAddress::Terminal(_) => {
            return Err(PrinterError::Disconnected {
                printer: name.to_owned(),
                command: "connect",
                mid_command: false,
                reason: format!(
                    "{address} is a branch terminal's printer: open it with printer::open, which drives it over the terminal's link"
                ),
            });
        }
    };
    Printer::new(name, transport, options)
}
