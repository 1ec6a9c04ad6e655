//! Devices at a branch terminal, driven from the hub over the terminal's
//! link (`/ws/terminal`) through the same traits as local devices: a
//! [`RemoteCardReader`] is a [`crate::reader::CardReader`], a
//! [`RemotePrinter`] a [`crate::printer::CardPrinter`], a
//! [`RemoteIdReader`] an [`crate::id_reader::IdCardReader`] and a
//! [`RemoteCamera`] a [`crate::camera::PhotoCamera`]. The making-card
//! pipeline and the card check take one of these where they would take a
//! PC/SC reader or a TCP printer, and do not know the difference.
//!
//! # Addresses
//! A remote device is named `terminal://TERMINAL/DEVICE`
//! ([`RemoteAddress`]): the terminal's registered id and the device's name
//! in the terminal's `device_list`. A printer's `address` and an encoder's
//! reader name in `[workshop]` may be written so
//! ([`crate::printer::PrinterAddress::Terminal`],
//! [`crate::reader::open_reader`]).
//!
//! # Links
//! The hub's `/ws/terminal` endpoint registers a [`RemoteLink`] for each
//! authenticated terminal in the process-wide [`links`] registry and
//! removes it when the link drops; a remote device looks its terminal up
//! at every call, so a terminal that reconnects is used again at once, and
//! one that is away fails the call with the device's own "disconnected"
//! error. Calls block (the traits are blocking): they run on the device
//! actors' threads, never on an async executor's.
//!
//! Layout: this file (the link trait, the registry, addresses and
//! [`RemoteError`]); `reader`, `printer`, `id_reader`, `camera`: one
//! driver per kind, each mapping the terminal's command errors back onto
//! the kind's typed errors.

mod camera;
mod id_reader;
mod printer;
mod reader;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use cardhub_protocols::terminal::{CommandError, CommandOutput, DeviceCommand};

pub use camera::RemoteCamera;
pub use id_reader::RemoteIdReader;
pub use printer::{RemotePrinter, condition_of, place_of, position_of, state_of};
pub use reader::RemoteCardReader;

/// The scheme of a remote device's address.
pub const SCHEME: &str = "terminal://";

/// How long a remote command waits for the terminal's answer unless the
/// kind says otherwise (a printer step or a photo takes longer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One terminal's link, as the remote devices use it.
pub trait RemoteLink: Send + Sync {
    /// The terminal's registered id.
    fn terminal_id(&self) -> &str;

    /// Sends `command` to the terminal's device `device` and waits up to
    /// `timeout` for the result. Blocks the calling thread.
    fn request(
        &self,
        device: &str,
        command: DeviceCommand,
        timeout: Duration,
    ) -> Result<CommandOutput, RemoteError>;
}

/// Why a remote command did not give a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The terminal has no link to the hub now.
    #[error(
        "terminal `{terminal}` is not connected to the hub: check the branch PC runs `cardhub terminal` and reaches the hub"
    )]
    NotConnected {
        /// The terminal.
        terminal: String,
    },
    /// The link dropped before the answer came; `sent` says whether the
    /// request had gone out (if so, the device may have done it).
    #[error("the link to terminal `{terminal}` dropped during the command{}", if *sent { " (it had been sent: the device may have done it)" } else { " (before it was sent)" })]
    LinkLost {
        /// The terminal.
        terminal: String,
        /// Whether the request had been written to the link.
        sent: bool,
    },
    /// No answer within the timeout; the device may have done it.
    #[error(
        "terminal `{terminal}` did not answer within {timeout:?}: the branch's line is slow or the device hangs; the command may have run"
    )]
    Timeout {
        /// The terminal.
        terminal: String,
        /// How long was waited.
        timeout: Duration,
    },
    /// The terminal's link is saturated with requests.
    #[error(
        "terminal `{terminal}` has too many commands in flight: wait for them to finish and try again"
    )]
    Overloaded {
        /// The terminal.
        terminal: String,
    },
    /// The terminal ran the command and it failed.
    #[error("{}", .0.message)]
    Command(CommandError),
    /// The terminal answered with an output that is not this command's.
    #[error(
        "terminal answered `{command}` with an unexpected `{got}`: its software does not match the hub's; update it"
    )]
    UnexpectedOutput {
        /// The command.
        command: &'static str,
        /// What came back.
        got: String,
    },
}

impl RemoteError {
    /// Whether the link itself failed (the device may or may not have run
    /// the command), as opposed to the device answering with an error.
    pub fn is_link_problem(&self) -> bool {
        matches!(
            self,
            Self::NotConnected { .. } | Self::LinkLost { .. } | Self::Timeout { .. }
        )
    }

    /// Whether the command may have reached the device.
    pub fn maybe_sent(&self) -> bool {
        match self {
            Self::NotConnected { .. } | Self::Overloaded { .. } => false,
            Self::LinkLost { sent, .. } => *sent,
            _ => true,
        }
    }
}

/// Every terminal linked to this process, by terminal id.
#[derive(Default)]
pub struct Links {
    links: RwLock<HashMap<String, Arc<dyn RemoteLink>>>,
}

impl Links {
    /// Registers `link` under its terminal id, replacing the one before
    /// (a terminal that reconnected); returns the one replaced.
    pub fn insert(&self, link: Arc<dyn RemoteLink>) -> Option<Arc<dyn RemoteLink>> {
        let id = link.terminal_id().to_owned();
        self.write().insert(id, link)
    }

    /// Removes `link` if it is still the one registered for its terminal
    /// (a newer link of the same terminal stays).
    pub fn remove(&self, link: &Arc<dyn RemoteLink>) {
        let mut links = self.write();
        if links
            .get(link.terminal_id())
            .is_some_and(|l| Arc::ptr_eq(l, link))
        {
            links.remove(link.terminal_id());
        }
    }

    /// The link of `terminal`, if connected.
    pub fn get(&self, terminal: &str) -> Option<Arc<dyn RemoteLink>> {
        self.links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(terminal)
            .cloned()
    }

    /// The ids of the connected terminals, sorted.
    pub fn connected(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .links
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Sends `command` to `address`'s device through its terminal's link.
    pub fn request(
        &self,
        address: &RemoteAddress,
        command: DeviceCommand,
        timeout: Duration,
    ) -> Result<CommandOutput, RemoteError> {
        let link = self
            .get(&address.terminal)
            .ok_or_else(|| RemoteError::NotConnected {
                terminal: address.terminal.clone(),
            })?;
        link.request(&address.device, command, timeout)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<dyn RemoteLink>>> {
        // A panic while holding the lock left the map itself consistent.
        self.links.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The process-wide registry of terminal links (one hub per process).
pub fn links() -> &'static Links {
    static LINKS: LazyLock<Links> = LazyLock::new(Links::default);
    &LINKS
}

/// Where a remote device is: `terminal://TERMINAL/DEVICE`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RemoteAddress {
    /// The terminal's registered id.
    pub terminal: String,
    /// The device's name on the terminal.
    pub device: String,
}

/// A `terminal://` address that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "remote device address `{0}`: write terminal://TERMINAL/DEVICE with the terminal's id and the device's name on it (for example terminal://T-0001/printer-1)"
)]
pub struct RemoteAddressError(pub String);

impl RemoteAddress {
    /// Parses `terminal://TERMINAL/DEVICE`; `None` when `s` is not a
    /// `terminal://` address at all.
    pub fn parse(s: &str) -> Option<Result<Self, RemoteAddressError>> {
        let rest = s.strip_prefix(SCHEME)?;
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        Some(match rest.split_once('/') {
            Some((terminal, device)) if valid(terminal) && valid(device) => Ok(Self {
                terminal: terminal.to_owned(),
                device: device.to_owned(),
            }),
            _ => Err(RemoteAddressError(s.to_owned())),
        })
    }
}

impl fmt::Display for RemoteAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.terminal, self.device)
    }
}

/// The name of a command, for errors.
fn command_name(command: &DeviceCommand) -> &'static str {
    use cardhub_protocols::terminal::{
        CameraCommand as C, CardReaderCommand as R, IdReaderCommand as I, PrinterCommand as P,
    };
    match command {
        DeviceCommand::IdReader(I::FindCard {}) => "find_card",
        DeviceCommand::IdReader(I::SelectCard {}) => "select_card",
        DeviceCommand::IdReader(I::ReadCard {}) => "read_card",
        DeviceCommand::IdReader(I::SamStatus {}) => "sam_status",
        DeviceCommand::Camera(C::Capture {}) => "capture",
        DeviceCommand::CardReader(R::Status {}) => "status",
        DeviceCommand::CardReader(R::Connect { .. }) => "connect",
        DeviceCommand::CardReader(R::Transmit { .. }) => "transmit",
        DeviceCommand::CardReader(R::Reconnect { .. }) => "reconnect",
        DeviceCommand::CardReader(R::Disconnect {}) => "disconnect",
        DeviceCommand::Printer(P::Status {}) => "status",
        DeviceCommand::Printer(P::CardPosition {}) => "card_position",
        DeviceCommand::Printer(P::Feed {}) => "feed",
        DeviceCommand::Printer(P::MoveTo { .. }) => "move_to",
        DeviceCommand::Printer(P::DownloadPanel { .. }) => "download_panel",
        DeviceCommand::Printer(P::Print {}) => "print",
        DeviceCommand::Printer(P::Overlay {}) => "overlay",
        DeviceCommand::Printer(P::Eject {}) => "eject",
        DeviceCommand::Printer(P::Reject {}) => "reject",
        DeviceCommand::Printer(P::ClearError {}) => "clear_error",
        _ => "command",
    }
}

/// The kind name of an output, for [`RemoteError::UnexpectedOutput`].
fn output_name(output: &CommandOutput) -> String {
    serde_json::to_value(output)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "output".to_owned())
}

/// [`RemoteError::UnexpectedOutput`] for `command` answered with `output`.
fn unexpected(command: &DeviceCommand, output: &CommandOutput) -> RemoteError {
    RemoteError::UnexpectedOutput {
        command: command_name(command),
        got: output_name(output),
    }
}

#[cfg(test)]
mod tests;
