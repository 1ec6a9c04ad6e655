//! [`TcpTransport`]: PTP containers over one TCP stream, so a simulated
//! camera can sit on the far side of a real transport.
//!
//! This is cardhub's own carriage, not PTP/IP (ISO 15740 Annex, with its
//! init handshake): the stream carries exactly the containers a USB camera
//! would put on its endpoints, back to back, each delimited by its own
//! length field. The camera's events share the stream and are told apart
//! by their container type (4); the transport sorts them into an event
//! queue, so [`PtpTransport::receive`] sees only data and responses and
//! [`PtpTransport::receive_event`] only events, whichever order they came
//! in.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use cardhub_protocols::ptp::{Container, ContainerDecoder, Event};

use super::transport::{LinkError, PtpTransport};

/// The shortest socket timeout set: zero means "block forever" to the
/// socket API, so a deadline that has just run out waits this long.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// The read buffer: a photo of tens of KB arrives in a few reads.
const READ_CHUNK: usize = 64 * 1024;

/// Which queue a read waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Answer,
    Event,
}

/// PTP containers over TCP.
#[derive(Debug)]
pub struct TcpTransport {
    address: String,
    connect_timeout: Duration,
    stream: Option<TcpStream>,
    decoder: ContainerDecoder,
    answers: VecDeque<Container>,
    events: VecDeque<Event>,
    chunk: Box<[u8]>,
}

impl TcpTransport {
    /// Connects to `address` (`host:port`), trying each address it
    /// resolves to for at most `connect_timeout`.
    pub fn connect(address: &str, connect_timeout: Duration) -> Result<Self, LinkError> {
        let mut transport = Self {
            address: address.to_owned(),
            connect_timeout,
            stream: None,
            decoder: ContainerDecoder::new(),
            answers: VecDeque::new(),
            events: VecDeque::new(),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
        };
        transport.reset()?;
        Ok(transport)
    }

    fn closed(&mut self, reason: String) -> LinkError {
        let mid_container = self.decoder.buffered() > 0;
        self.stream = None;
        LinkError::Closed {
            mid_container,
            reason,
        }
    }

    /// Reads until the queue `want` has something or `timeout` runs out;
    /// `Ok(false)` on the timeout.
    fn fill(&mut self, want: Want, timeout: Duration) -> Result<bool, LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(decoded) = self.decoder.decode() {
                match decoded {
                    Ok(container) => match container.as_event() {
                        Some(event) => self.events.push_back(event),
                        None => self.answers.push_back(container),
                    },
                    Err(e) => {
                        self.stream = None;
                        return Err(LinkError::Malformed(e));
                    }
                }
            }
            let ready = match want {
                Want::Answer => !self.answers.is_empty(),
                Want::Event => !self.events.is_empty(),
            };
            if ready {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let Some(stream) = self.stream.as_mut() else {
                return Err(self.closed("the connection was closed earlier".to_owned()));
            };
            stream
                .set_read_timeout(Some(left.max(MIN_WAIT)))
                .map_err(LinkError::Io)?;
            match stream.read(&mut self.chunk) {
                Ok(0) => return Err(self.closed("the camera closed the connection".to_owned())),
                Ok(n) => self.decoder.push(&self.chunk[..n]),
                Err(e) => match LinkError::from_io(e, timeout, self.decoder.buffered() > 0) {
                    LinkError::Timeout { .. } => continue,
                    LinkError::Closed { reason, .. } => return Err(self.closed(reason)),
                    other => return Err(other),
                },
            }
        }
    }
}

impl PtpTransport for TcpTransport {
    fn send(&mut self, container: &Container, timeout: Duration) -> Result<(), LinkError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(self.closed("the connection was closed earlier".to_owned()));
        };
        stream
            .set_write_timeout(Some(timeout.max(MIN_WAIT)))
            .map_err(LinkError::Io)?;
        match stream.write_all(&container.to_bytes()) {
            Ok(()) => Ok(()),
            Err(e) => match LinkError::from_io(e, timeout, false) {
                LinkError::Closed { reason, .. } => Err(self.closed(reason)),
                other => Err(other),
            },
        }
    }

    fn receive(&mut self, timeout: Duration) -> Result<Container, LinkError> {
        if self.fill(Want::Answer, timeout)? {
            Ok(self
                .answers
                .pop_front()
                .expect("fill returned true: the queue has a container"))
        } else {
            Err(LinkError::Timeout { waited: timeout })
        }
    }

    fn receive_event(&mut self, timeout: Duration) -> Result<Option<Event>, LinkError> {
        if self.fill(Want::Event, timeout)? {
            Ok(self.events.pop_front())
        } else {
            Ok(None)
        }
    }

    fn reset(&mut self) -> Result<(), LinkError> {
        self.stream = None;
        self.decoder.clear();
        self.answers.clear();
        self.events.clear();
        let addrs: Vec<SocketAddr> = self
            .address
            .to_socket_addrs()
            .map_err(|e| LinkError::Unavailable(format!("{}: {e}", self.address)))?
            .collect();
        let mut last = format!("{} resolves to no address", self.address);
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => {
                    // Commands are small and each waits for its answer.
                    stream.set_nodelay(true).map_err(LinkError::Io)?;
                    self.stream = Some(stream);
                    return Ok(());
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(LinkError::Unavailable(last))
    }

    fn peer(&self) -> String {
        format!("tcp://{}", self.address)
    }
}
