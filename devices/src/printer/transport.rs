//! The byte transports a printer driver runs over: [`Transport`] (send,
//! receive with a timeout, reconnect), [`TcpTransport`] and
//! [`SerialTransport`]. They move bytes; they do not know the language
//! (that is [`super::driver`]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialport::{ClearBuffer, SerialPort, TTYPort};

/// The shortest socket timeout set: a zero timeout means "block forever"
/// to the socket API, so a deadline that has just run out waits this long
/// instead (and then reports the timeout).
const MIN_WAIT: Duration = Duration::from_millis(1);

/// A byte link to one printer.
pub trait Transport: Send {
    /// Sends all of `bytes`; `timeout` bounds each wait for the link to
    /// take more (not the whole transfer).
    fn send(&mut self, bytes: &[u8], timeout: Duration) -> io::Result<()>;

    /// Reads what has arrived into `buf`, waiting up to `timeout` for the
    /// first byte. `Ok(0)` means the far end closed the link; a timeout is
    /// an error of kind `TimedOut` or `WouldBlock`.
    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;

    /// Drops the link and makes it again; bytes still buffered from the
    /// old link are discarded.
    fn reconnect(&mut self) -> io::Result<()>;

    /// Where the link goes, for messages (`tcp://10.1.2.3:9100`).
    fn peer(&self) -> String;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn send(&mut self, bytes: &[u8], timeout: Duration) -> io::Result<()> {
        (**self).send(bytes, timeout)
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        (**self).receive(buf, timeout)
    }

    fn reconnect(&mut self) -> io::Result<()> {
        (**self).reconnect()
    }

    fn peer(&self) -> String {
        (**self).peer()
    }
}

/// A printer on the network: one TCP connection with TCP_NODELAY (commands
/// are small and each waits for its reply, so Nagle's algorithm would only
/// add delay).
#[derive(Debug)]
pub struct TcpTransport {
    host: String,
    port: u16,
    connect_timeout: Duration,
    stream: Option<TcpStream>,
}

impl TcpTransport {
    /// Connects to `host:port`, trying each address the name resolves to
    /// for at most `connect_timeout`.
    pub fn connect(host: &str, port: u16, connect_timeout: Duration) -> io::Result<Self> {
        let mut transport = Self {
            host: host.to_owned(),
            port,
            connect_timeout,
            stream: None,
        };
        transport.reconnect()?;
        Ok(transport)
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the connection was closed"))
    }
}

impl Transport for TcpTransport {
    fn send(&mut self, bytes: &[u8], timeout: Duration) -> io::Result<()> {
        let stream = self.stream()?;
        stream.set_write_timeout(Some(timeout.max(MIN_WAIT)))?;
        stream.write_all(bytes)
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let stream = self.stream()?;
        stream.set_read_timeout(Some(timeout.max(MIN_WAIT)))?;
        stream.read(buf)
    }

    fn reconnect(&mut self) -> io::Result<()> {
        self.stream = None;
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolves to no address", self.host),
        );
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    self.stream = Some(stream);
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn peer(&self) -> String {
        if self.host.contains(':') {
            format!("tcp://[{}]:{}", self.host, self.port)
        } else {
            format!("tcp://{}:{}", self.host, self.port)
        }
    }
}

/// A printer on a serial line (or the slave side of a pseudo-terminal),
/// opened exclusively, raw, 8N1 without flow control.
#[derive(Debug)]
pub struct SerialTransport {
    path: PathBuf,
    baud: u32,
    port: Option<TTYPort>,
}

impl SerialTransport {
    /// Opens the device at `baud`, discarding whatever it had buffered.
    pub fn open(path: &Path, baud: u32) -> io::Result<Self> {
        let mut transport = Self {
            path: path.to_owned(),
            baud,
            port: None,
        };
        transport.reconnect()?;
        Ok(transport)
    }

    fn port(&mut self) -> io::Result<&mut TTYPort> {
        self.port
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the port was closed"))
    }
}

impl Transport for SerialTransport {
    fn send(&mut self, bytes: &[u8], timeout: Duration) -> io::Result<()> {
        let port = self.port()?;
        port.set_timeout(timeout.max(MIN_WAIT))?;
        port.write_all(bytes)
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let port = self.port()?;
        port.set_timeout(timeout.max(MIN_WAIT))?;
        port.read(buf)
    }

    fn reconnect(&mut self) -> io::Result<()> {
        self.port = None;
        let path = self.path.to_string_lossy();
        let port = serialport::new(path, self.baud)
            .timeout(Duration::from_secs(1))
            .open_native()
            .map_err(io::Error::from)?;
        // A reply the printer sent to a previous host (or after a timeout)
        // must not be read as the answer to the next command.
        port.clear(ClearBuffer::Input).map_err(io::Error::from)?;
        self.port = Some(port);
        Ok(())
    }

    fn peer(&self) -> String {
        format!("serial://{}?baud={}", self.path.display(), self.baud)
    }
}
