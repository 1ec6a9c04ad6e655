//! [`PtpTransport`]: how PTP containers reach a camera and come back. The
//! three methods are the three endpoints of a USB still-image interface:
//! bulk-out ([`PtpTransport::send`]), bulk-in ([`PtpTransport::receive`]:
//! data and responses) and interrupt-in ([`PtpTransport::receive_event`]).
//! Implementations: [`super::TcpTransport`] (the simulator) and
//! [`super::UsbTransport`] (a real camera, nusb).
//!
//! A transport moves whole containers and knows nothing of sessions or
//! transactions (that is `cardhub_protocols::ptp::Session`, used by
//! [`super::Camera`]).

use std::io;
use std::time::Duration;

use cardhub_protocols::ptp::{Container, ContainerError, Event};

/// What went wrong on the link itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Nothing (or not all of a container) arrived in time.
    #[error("nothing arrived within {waited:?}")]
    Timeout {
        /// How long the transport waited.
        waited: Duration,
    },
    /// The link is gone: the far end closed it, the cable was pulled, the
    /// camera switched off.
    #[error(
        "the link was closed{}: {reason}",
        if *mid_container { " in the middle of a container" } else { "" }
    )]
    Closed {
        /// Whether part of a container had arrived (a transfer cut short).
        mid_container: bool,
        /// What the operating system or the far end said.
        reason: String,
    },
    /// Bytes that are not a PTP container; the link cannot be trusted
    /// after them (PTP has no markers to resynchronise on).
    #[error("bytes that are not a PTP container: {0}")]
    Malformed(#[from] ContainerError),
    /// The device cannot be opened or used (permissions, another program
    /// holds it, no still-image interface).
    #[error("{0}")]
    Unavailable(String),
    /// Another I/O failure.
    #[error(transparent)]
    Io(io::Error),
}

impl LinkError {
    /// Sorts an I/O error: a timeout, a closed link, or another failure.
    pub fn from_io(e: io::Error, waited: Duration, mid_container: bool) -> Self {
        use io::ErrorKind as K;
        match e.kind() {
            K::TimedOut | K::WouldBlock => Self::Timeout { waited },
            K::UnexpectedEof
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::NotConnected => Self::Closed {
                mid_container,
                reason: e.to_string(),
            },
            _ => Self::Io(e),
        }
    }
}

/// A link to one PTP camera, one container at a time.
pub trait PtpTransport: Send {
    /// Sends one container (bulk-out); `timeout` bounds the whole send.
    fn send(&mut self, container: &Container, timeout: Duration) -> Result<(), LinkError>;

    /// Receives the next data or response container (bulk-in), waiting up
    /// to `timeout` for all of it.
    fn receive(&mut self, timeout: Duration) -> Result<Container, LinkError>;

    /// Receives the next event (interrupt-in), waiting up to `timeout`;
    /// `Ok(None)` when none came.
    fn receive_event(&mut self, timeout: Duration) -> Result<Option<Event>, LinkError>;

    /// Drops whatever is in flight and makes the link usable again (TCP:
    /// a new connection; USB: endpoints cleared). The camera's session is
    /// gone afterwards.
    fn reset(&mut self) -> Result<(), LinkError>;

    /// Where the link goes, for messages (`tcp://127.0.0.1:15740`,
    /// `usb://04a9:32d9 bus 1 address 7`).
    fn peer(&self) -> String;
}

impl<T: PtpTransport + ?Sized> PtpTransport for Box<T> {
    fn send(&mut self, container: &Container, timeout: Duration) -> Result<(), LinkError> {
        (**self).send(container, timeout)
    }

    fn receive(&mut self, timeout: Duration) -> Result<Container, LinkError> {
        (**self).receive(timeout)
    }

    fn receive_event(&mut self, timeout: Duration) -> Result<Option<Event>, LinkError> {
        (**self).receive_event(timeout)
    }

    fn reset(&mut self) -> Result<(), LinkError> {
        (**self).reset()
    }

    fn peer(&self) -> String {
        (**self).peer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_sort_into_timeouts_and_closed_links() {
        let waited = Duration::from_millis(5);
        let e = |kind| io::Error::new(kind, "x");
        assert!(matches!(
            LinkError::from_io(e(io::ErrorKind::WouldBlock), waited, false),
            LinkError::Timeout { .. }
        ));
        assert!(matches!(
            LinkError::from_io(e(io::ErrorKind::ConnectionReset), waited, true),
            LinkError::Closed {
                mid_container: true,
                ..
            }
        ));
        assert!(matches!(
            LinkError::from_io(e(io::ErrorKind::PermissionDenied), waited, false),
            LinkError::Io(_)
        ));
    }
}
