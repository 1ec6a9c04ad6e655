//! The values of the terminal's configuration that are more than a
//! string or a number: device names ([`DeviceName`]), where a camera is
//! ([`CameraAddress`]), which PC/SC reader ([`ReaderChoice`]) and where a
//! printer is ([`LocalPrinterAddress`]). Each parses from the text written
//! in the file and refuses it with what to write instead.

use std::fmt;
use std::str::FromStr;

use cardhub_devices::printer::PrinterAddress;
use serde::Deserialize;

/// Where a camera is.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum CameraAddress {
    /// `tcp://HOST:PORT`: PTP carried over TCP (the simulator).
    Tcp(String),
    /// `usb://VID:PID` (hex): the first USB camera of that model.
    Usb {
        /// The vendor id.
        vendor_id: u16,
        /// The product id.
        product_id: u16,
    },
    /// `usb:auto`: the first USB still-image camera on the bus.
    UsbAuto,
}

impl TryFrom<String> for CameraAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl FromStr for CameraAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let advice = || {
            format!(
                "camera address `{text}` is not tcp://HOST:PORT, usb://VID:PID (hex, for example usb://04a9:32d9) or usb:auto"
            )
        };
        if text == "usb:auto" {
            return Ok(Self::UsbAuto);
        }
        if let Some(rest) = text.strip_prefix("tcp://") {
            return match rest.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) =>
                {
                    Ok(Self::Tcp(rest.to_owned()))
                }
                _ => Err(advice()),
            };
        }
        if let Some(rest) = text.strip_prefix("usb://") {
            let hex16 = |s: &str| {
                let s = s.trim_start_matches("0x");
                (!s.is_empty() && s.len() <= 4)
                    .then(|| u16::from_str_radix(s, 16).ok())
                    .flatten()
            };
            if let Some((vid, pid)) = rest.split_once(':')
                && let (Some(vendor_id), Some(product_id)) = (hex16(vid), hex16(pid))
            {
                return Ok(Self::Usb {
                    vendor_id,
                    product_id,
                });
            }
        }
        Err(advice())
    }
}

impl fmt::Display for CameraAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(address) => write!(f, "tcp://{address}"),
            Self::Usb {
                vendor_id,
                product_id,
            } => write!(f, "usb://{vendor_id:04x}:{product_id:04x}"),
            Self::UsbAuto => f.write_str("usb:auto"),
        }
    }
}

/// Which PC/SC reader a `[[card_readers]]` entry takes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ReaderChoice {
    /// `pcsc:auto`: every reader pcscd lists that no other entry names.
    Auto,
    /// The reader of this name (`ACS ACR39U ICC Reader 00 00`).
    Named(String),
}

impl TryFrom<String> for ReaderChoice {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.trim() {
            "" => Err(
                "give the PC/SC reader's name as pcscd lists it (pcsc_scan shows it), or pcsc:auto"
                    .to_owned(),
            ),
            "pcsc:auto" => Ok(Self::Auto),
            name => Ok(Self::Named(name.to_owned())),
        }
    }
}

/// A printer address this PC can reach itself: TCP or serial (not another
/// terminal's `terminal://` printer).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LocalPrinterAddress(pub PrinterAddress);

impl TryFrom<String> for LocalPrinterAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let trimmed = text.trim();
        if !(trimmed.starts_with("tcp://") || trimmed.starts_with("serial://")) {
            return Err(format!(
                "printer address `{trimmed}`: a terminal drives printers on its own network or serial lines: write tcp://HOST:PORT or serial:///DEVICE?baud=N"
            ));
        }
        trimmed
            .parse::<PrinterAddress>()
            .map(Self)
            .map_err(|e| e.to_string())
    }
}

/// A device's name: letters, digits and `-_.`, at most 64 characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct DeviceName(String);

/// The longest device name: it is written into addresses and log lines.
const MAX_NAME_LEN: usize = 64;

impl DeviceName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `NAME-n`, the `n`th reader a `pcsc:auto` entry takes.
    pub fn numbered(&self, n: usize) -> String {
        format!("{}-{n}", self.0)
    }
}

impl TryFrom<String> for DeviceName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if valid_name(&name) {
            Ok(Self(name))
        } else {
            Err(format!(
                "device name `{name}`: use 1 to {MAX_NAME_LEN} letters, digits, `-`, `_` or `.` (the hub addresses it as terminal://TERMINAL/NAME)"
            ))
        }
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rule for device names and terminal ids.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}
