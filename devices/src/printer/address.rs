//! [`PrinterAddress`]: where a printer is, as written in configuration.
//!
//! | text | transport |
//! | --- | --- |
//! | `tcp://10.1.2.3:9100`, `tcp://printer-3.workshop:9100`, `tcp://[::1]:9100` | TCP |
//! | `serial:///dev/ttyUSB0?baud=115200`, `serial:///dev/pts/7` | a serial line (or a pty slave); baud 115200 when not given |

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The baud rate when a serial address does not give one: what Evolis
/// class printers' serial ports default to.
pub const DEFAULT_BAUD: u32 = 115_200;

/// Where a printer is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PrinterAddress {
    /// A printer on the network.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A printer on a serial line.
    Serial {
        /// The device (`/dev/ttyUSB0`, or a pty slave `/dev/pts/7`).
        path: PathBuf,
        /// Baud rate.
        baud: u32,
    },
    /// A printer at a branch terminal, driven over the terminal's link
    /// (`terminal://T-0001/printer-1`).
    Terminal(crate::remote::RemoteAddress),
}

/// Why an address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Neither `tcp://`, `serial://` nor `terminal://`.
    #[error(
        "printer address `{0}` is neither tcp://HOST:PORT, serial:///DEVICE?baud=N nor terminal://TERMINAL/DEVICE (for example tcp://10.1.2.3:9100)"
    )]
    Scheme(String),
    /// A `terminal://` address without a terminal and a device.
    #[error(transparent)]
    Terminal(#[from] crate::remote::RemoteAddressError),
    /// A TCP address without a usable host and port.
    #[error(
        "printer address `{0}`: give host and port as tcp://HOST:PORT with a port from 1 to 65535"
    )]
    HostPort(String),
    /// A serial address without an absolute device path.
    #[error("printer address `{0}`: give the device as an absolute path, serial:///dev/ttyUSB0")]
    Device(String),
    /// A baud rate that is not a positive number.
    #[error("printer address `{0}`: baud must be a positive number such as 115200")]
    Baud(String),
    /// An option the address does not know.
    #[error(
        "printer address `{address}`: unknown option `{option}` (serial addresses take baud=N only)"
    )]
    Option {
        /// The address.
        address: String,
        /// The option given.
        option: String,
    },
}

impl FromStr for PrinterAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("tcp://") {
            return parse_tcp(text, rest);
        }
        if let Some(rest) = text.strip_prefix("serial://") {
            return parse_serial(text, rest);
        }
        if let Some(remote) = crate::remote::RemoteAddress::parse(text) {
            return Ok(PrinterAddress::Terminal(remote?));
        }
        Err(AddressError::Scheme(text.to_owned()))
    }
}

fn parse_tcp(text: &str, rest: &str) -> Result<PrinterAddress, AddressError> {
    let bad = || AddressError::HostPort(text.to_owned());
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        (host, after.strip_prefix(':').ok_or_else(bad)?)
    } else {
        rest.rsplit_once(':').ok_or_else(bad)?
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if port == 0 || !host_ok {
        return Err(bad());
    }
    Ok(PrinterAddress::Tcp {
        host: host.to_owned(),
        port,
    })
}

fn parse_serial(text: &str, rest: &str) -> Result<PrinterAddress, AddressError> {
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if !path.starts_with('/') || path.len() < 2 {
        return Err(AddressError::Device(text.to_owned()));
    }
    let mut baud = DEFAULT_BAUD;
    for option in query.into_iter().flat_map(|q| q.split('&')) {
        match option.split_once('=') {
            Some(("baud", value)) => {
                baud = value
                    .parse()
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| AddressError::Baud(text.to_owned()))?;
            }
            _ => {
                return Err(AddressError::Option {
                    address: text.to_owned(),
                    option: option.to_owned(),
                });
            }
        }
    }
    Ok(PrinterAddress::Serial {
        path: PathBuf::from(path),
        baud,
    })
}

impl fmt::Display for PrinterAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Self::Serial { path, baud } => write!(f, "serial://{}?baud={baud}", path.display()),
            Self::Terminal(remote) => remote.fmt(f),
        }
    }
}

impl serde::Serialize for PrinterAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PrinterAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_print_back() {
        for (text, expected) in [
            (
                "tcp://10.1.2.3:9100",
                PrinterAddress::Tcp {
                    host: "10.1.2.3".into(),
                    port: 9100,
                },
            ),
            (
                "tcp://[::1]:9100",
                PrinterAddress::Tcp {
                    host: "::1".into(),
                    port: 9100,
                },
            ),
            (
                "serial:///dev/ttyUSB0?baud=9600",
                PrinterAddress::Serial {
                    path: "/dev/ttyUSB0".into(),
                    baud: 9600,
                },
            ),
        ] {
            let parsed: PrinterAddress = text.parse().unwrap();
            assert_eq!(parsed, expected);
            assert_eq!(parsed.to_string(), text);
        }
        let pty: PrinterAddress = "serial:///dev/pts/7".parse().unwrap();
        assert_eq!(pty.to_string(), "serial:///dev/pts/7?baud=115200");
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        let cases = [
            ("http://x:1", "neither"),
            ("tcp://host", "host and port"),
            ("tcp://host:0", "host and port"),
            ("tcp://:9100", "host and port"),
            ("tcp://a b:1", "host and port"),
            ("serial://dev/ttyUSB0", "absolute path"),
            ("serial:///dev/ttyS0?baud=fast", "baud"),
            (
                "serial:///dev/ttyS0?parity=even",
                "unknown option `parity=even`",
            ),
        ];
        for (text, needle) in cases {
            let err = text.parse::<PrinterAddress>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
