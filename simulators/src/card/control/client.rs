//! [`CardControl`]: the client side of the control channel, with one typed
//! method per request, for tests and for processes that drive a simulator
//! started elsewhere (`cardhub sim card`).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{CardStatus, ControlReply, ControlRequest};

/// How long a reply may take before the client gives up (requests are
/// answered at once, except `wait_connected`, which adds its own timeout).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest socket timeout set for `wait_connected` (a day: longer
/// waits are mistakes, and huge socket timeouts overflow on some systems).
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The control port could not be reached.
    #[error(
        "cannot reach the simulated card's control port {addr}: {source}; is the simulator running (it prints `cardsim control on ...`)?"
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
    #[error("the simulated card closed the control connection (it may have stopped)")]
    Closed,
    /// The simulator refused the request.
    #[error("the simulated card refused the request: {0}")]
    Refused(String),
    /// The reply was not a control reply.
    #[error("unreadable reply from the simulated card: {line}: {source}")]
    BadReply {
        /// The line received.
        line: String,
        /// Why it did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// `state` or `wait_connected` answered without a state.
    #[error("the simulated card's reply carried no state")]
    NoState,
}

/// A connection to a simulated card's control port.
#[derive(Debug)]
pub struct CardControl {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl CardControl {
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

    /// Sends one raw line and returns the reply line parsed as a reply
    /// (for requests this type cannot express, such as malformed ones).
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

    /// Pulls the card out of the reader.
    pub fn remove(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::Remove)
    }

    /// Puts the card into the reader.
    pub fn insert(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::Insert)
    }

    /// Pulls the card out during the `apdus`-th APDU from now, after
    /// applying it if `apply_last`.
    pub fn remove_after(&mut self, apdus: u32, apply_last: bool) -> Result<(), ControlError> {
        self.simple(ControlRequest::RemoveAfter { apdus, apply_last })
    }

    /// Corrupts the data of the next answer that has data.
    pub fn corrupt_next(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::CorruptNext)
    }

    /// Delays every answer by `ms` milliseconds.
    pub fn slow(&mut self, ms: u64) -> Result<(), ControlError> {
        self.simple(ControlRequest::Slow { ms })
    }

    /// Disarms every fault.
    pub fn clear_faults(&mut self) -> Result<(), ControlError> {
        self.simple(ControlRequest::ClearFaults)
    }

    /// Overwrites a record directly (value padded with 00).
    pub fn tamper_record(&mut self, sfi: u8, tag: u8, value: &[u8]) -> Result<(), ControlError> {
        self.simple(ControlRequest::TamperRecord {
            sfi,
            tag,
            value_hex: hex::encode_upper(value),
        })
    }

    /// Switches T=0 style answers (`61xx`, GET RESPONSE) on or off.
    pub fn set_t0_get_response(&mut self, on: bool) -> Result<(), ControlError> {
        self.simple(ControlRequest::T0GetResponse { on })
    }

    /// The card's state.
    pub fn state(&mut self) -> Result<CardStatus, ControlError> {
        self.request(&ControlRequest::State)?
            .state
            .ok_or(ControlError::NoState)
    }

    /// Waits until the card is (or is not) connected to vpcd; returns its
    /// state then, [`ControlError::Refused`] on timeout.
    pub fn wait_connected(
        &mut self,
        connected: bool,
        timeout: Duration,
    ) -> Result<CardStatus, ControlError> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout.saturating_add(REPLY_TIMEOUT).min(MAX_WAIT)))?;
        let reply = self.request(&ControlRequest::WaitConnected {
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
