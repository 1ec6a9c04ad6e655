//! [`PrinterControl`]: the client side of the printer's control channel,
//! one typed method per request, for tests and for processes that drive a
//! printer started elsewhere (`cardhub sim printer`).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{ControlReply, ControlRequest, PrinterSnapshot};

/// How long a reply may take (requests are answered at once, except
/// `wait_coupler`, which adds its own timeout).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest socket timeout set for `wait_coupler`.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The control port could not be reached.
    #[error(
        "cannot reach the simulated printer's control port {addr}: {source}; is the simulator running (it prints `control: ...`)?"
    )]
    Connect {
        /// The address tried.
        addr: SocketAddr,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The connection failed mid-request.
    #[error("control connection failed: {0}")]
    Io(#[from] io::Error),
    /// The simulator closed the connection.
    #[error("the simulated printer closed the control connection (it may have stopped)")]
    Closed,
    /// The simulator refused the request.
    #[error("the simulated printer refused the request: {0}")]
    Refused(String),
    /// The reply was not a control reply.
    #[error("unreadable reply from the simulated printer: {line}: {source}")]
    BadReply {
        /// The line received.
        line: String,
        /// Why it did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// `state` or `wait_coupler` answered without a state.
    #[error("the simulated printer's reply carried no state")]
    NoState,
}

/// A connection to a simulated printer's control port.
#[derive(Debug)]
pub struct PrinterControl {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl PrinterControl {
    /// Connects to the control port.
    pub fn connect(addr: SocketAddr) -> Result<Self, ControlError> {
        let connect = |source| ControlError::Connect { addr, source };
        let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT).map_err(connect)?;
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(connect)?;
        let writer = stream.try_clone().map_err(connect)?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends one raw line and returns its reply (for requests this type
    /// cannot express, such as malformed ones).
    pub fn send_line(&mut self, line: &str) -> Result<ControlReply, ControlError> {
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply)? == 0 {
            return Err(ControlError::Closed);
        }
        serde_json::from_str(reply.trim()).map_err(|source| ControlError::BadReply {
            line: reply.trim().to_owned(),
            source,
        })
    }

    /// Sends a request; a refusal is [`ControlError::Refused`].
    pub fn request(&mut self, request: &ControlRequest) -> Result<ControlReply, ControlError> {
        let line = serde_json::to_string(request).expect("requests always serialise");
        let reply = self.send_line(&line)?;
        if reply.ok {
            Ok(reply)
        } else {
            Err(ControlError::Refused(
                reply.error.unwrap_or_else(|| "no reason given".into()),
            ))
        }
    }

    fn simple(&mut self, request: ControlRequest) -> Result<(), ControlError> {
        self.request(&request).map(|_| ())
    }

    /// A card jams.
    pub fn jam(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::Jam)
    }

    /// The ribbon runs out.
    pub fn ribbon_out(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::RibbonOut)
    }

    /// The hopper runs empty.
    pub fn hopper_empty(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::HopperEmpty)
    }

    /// Opens the cover.
    pub fn cover_open(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::CoverOpen)
    }

    /// Closes the cover.
    pub fn cover_close(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::CoverClose)
    }

    /// An operator removes the fault's cause.
    pub fn clear(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::Clear)
    }

    /// An operator loads cards and fits a ribbon (`None`: full).
    pub fn refill(&mut self, hopper: Option<u32>, ribbon: Option<u32>) -> Result<(), ControlError> {
        self.simple(ControlRequest::Refill { hopper, ribbon })
    }

    /// Closes the host link now.
    pub fn drop_connection(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::DropConnection)
    }

    /// Drops the link during the command after `commands` more answered
    /// ones, carrying it out first if `apply_last`.
    pub fn drop_after(&mut self, commands: u32, apply_last: bool) -> Result<(), ControlError> {
        self.simple(ControlRequest::DropAfter {
            commands,
            apply_last,
        })
    }

    /// Garbles the next reply.
    pub fn garble_next(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::GarbleNext)
    }

    /// Delays every reply by `ms` milliseconds.
    pub fn slow(&mut self, ms: u64) -> Result<(), ControlError> {
        self.simple(ControlRequest::Slow { ms })
    }

    /// Disarms the link faults.
    pub fn clear_link_faults(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::ClearLinkFaults)
    }

    /// Everything about the printer.
    pub fn state(&mut self) -> Result<PrinterSnapshot, ControlError> {
        self.request(&ControlRequest::State)?
            .state
            .ok_or(ControlError::NoState)
    }

    /// Waits until the coupler is (or is not) connected to vpcd.
    pub fn wait_coupler(
        &mut self,
        connected: bool,
        timeout: Duration,
    ) -> Result<PrinterSnapshot, ControlError> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout.saturating_add(REPLY_TIMEOUT).min(MAX_WAIT)))?;
        let reply = self.request(&ControlRequest::WaitCoupler {
            connected,
            timeout_ms,
        });
        self.reader
            .get_ref()
            .set_read_timeout(Some(REPLY_TIMEOUT))?;
        reply?.state.ok_or(ControlError::NoState)
    }

    /// Stops the simulator.
    pub fn shutdown(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::Shutdown)
    }
}
