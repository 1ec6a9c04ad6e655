//! The messages of `/ws/terminal`, protocol version [`super::VERSION`]:
//! what a branch terminal sends ([`TerminalMessage`]) and what the hub
//! sends ([`HubMessage`]), with the device, command and event types they
//! carry. Each is the `type` + `payload` half of an
//! [`Envelope`](super::Envelope); the `id` and `in_reply_to` live in the
//! envelope, once, for every message.
//!
//! Payloads refuse unknown keys. Device command and result payloads are
//! deliberately small: each names what it is with a `kind` (and an `op`
//! for commands), so later drivers add variants without reshaping
//! anything. Variants without fields are written `Name {}` rather than
//! `Name`: serde ignores stray keys next to the tag of a unit variant, and
//! an empty struct variant refuses them like every other payload.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bytes::{HexBytes, Nonce};
use super::envelope::Correlated;

/// The kind of a device attached to a branch terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeviceKind {
    /// 二代证阅读器: resident ID card reader.
    IdReader,
    /// The counter's USB camera (photos of applicants).
    Camera,
    /// Contact/contactless smart-card reader (the social security card).
    CardReader,
    /// Card printer (instant issuance at the branch).
    Printer,
}

/// What a device is doing, as the terminal sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeviceState {
    /// Connected and idle.
    Ready,
    /// Running a command.
    Busy,
    /// Not connected (unplugged, powered off, driver not loaded).
    Offline,
    /// Connected but failing; `detail` says how.
    Fault,
}

/// One device on a terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// The device's name, unique on this terminal (`id-reader-1`); requests
    /// address devices by it.
    pub name: String,
    /// What it is.
    pub kind: DeviceKind,
    /// Its state now.
    pub state: DeviceState,
    /// What the operator should know (`ribbon low`, `USB cable unplugged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Something a device did on its own, sent by the terminal with a `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// The device's state changed.
    StateChanged {
        /// The new state.
        state: DeviceState,
        /// What the operator should know.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A card was placed on or inserted in a reader.
    CardPresent {},
    /// The card was taken away.
    CardRemoved {},
}

/// A command to one device; the `kind` must match the device's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeviceCommand {
    /// An ID card reader command.
    IdReader(IdReaderCommand),
    /// A camera command.
    Camera(CameraCommand),
    /// A smart-card reader command.
    CardReader(CardReaderCommand),
    /// A card printer command.
    Printer(PrinterCommand),
}

impl DeviceCommand {
    /// The kind of device the command is for.
    pub fn device_kind(&self) -> DeviceKind {
        match self {
            Self::IdReader(_) => DeviceKind::IdReader,
            Self::Camera(_) => DeviceKind::Camera,
            Self::CardReader(_) => DeviceKind::CardReader,
            Self::Printer(_) => DeviceKind::Printer,
        }
    }
}

/// ID card reader commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum IdReaderCommand {
    /// Whether a card is on the reader (answered with `card_found`).
    FindCard {},
    /// Reads the card's text and photo blocks (answered with `id_card`).
    ReadCard {},
}

/// Camera commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CameraCommand {
    /// Takes one photo (answered with `photo`).
    Capture {},
}

/// Smart-card reader commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CardReaderCommand {
    /// Sends one command APDU (answered with `apdu_response`).
    Transmit {
        /// The command APDU.
        apdu: HexBytes,
    },
    /// Resets (powers up) the card (answered with `atr`).
    Reset {},
}

/// Card printer commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PrinterCommand {
    /// Asks for the printer's state (answered with `printer_status`).
    Status {},
    /// Runs one step of a print job (answered with `step_done`).
    RunStep {
        /// The step's name (`feed`, `encode`, `print_front`, `eject`...).
        step: String,
    },
}

/// What a successful command returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CommandOutput {
    /// Answers `find_card`.
    CardFound {
        /// Whether a card is there.
        present: bool,
    },
    /// Answers `read_card`: the raw blocks, decoded by the hub with
    /// [`crate::id_reader`] so every terminal decodes the same way.
    IdCard {
        /// The text block (UCS-2).
        text: HexBytes,
        /// The photo block (compressed, as read).
        photo: HexBytes,
    },
    /// Answers `capture`.
    Photo {
        /// Media type (`image/jpeg`).
        mime: String,
        /// The image, base64.
        data_base64: String,
    },
    /// Answers `transmit`: response data followed by SW1 SW2.
    ApduResponse {
        /// The response APDU.
        response: HexBytes,
    },
    /// Answers `reset`.
    Atr {
        /// The answer to reset.
        atr: HexBytes,
    },
    /// Answers `status`.
    PrinterStatus {
        /// The printer's state.
        state: DeviceState,
        /// What the operator should know.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Answers `run_step`.
    StepDone {
        /// The step that finished.
        step: String,
    },
}

/// Why a command failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CommandErrorCode {
    /// No device of that name on this terminal.
    UnknownDevice,
    /// The command's `kind` is not the device's kind.
    WrongDeviceKind,
    /// The device is offline.
    DeviceOffline,
    /// The device is running another command.
    Busy,
    /// No card on the reader.
    NoCard,
    /// The device did not answer in time.
    Timeout,
    /// The device reported a fault; `message` says which.
    DeviceFault,
    /// The terminal does not support this command.
    Unsupported,
}

/// A failed command: a code for programs, a message for the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandError {
    /// What kind of failure.
    pub code: CommandErrorCode,
    /// What happened and what to try.
    pub message: String,
}

/// The outcome of a request: `{"ok": {...}}` or `{"error": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CommandResult {
    /// It worked.
    Ok(CommandOutput),
    /// It failed.
    Error(CommandError),
}

/// Where a reconnecting terminal left off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    /// The session the hub gave in its last `welcome`.
    pub session: String,
    /// The last `push` seq the terminal received (0: none).
    pub last_seq: u64,
}

/// Something the hub tells a terminal unasked, with a `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PushEvent {
    /// A message for the counter's screen.
    Notice {
        /// The text.
        text: String,
    },
    /// A card for this branch is ready for pickup.
    CardReady {
        /// The application it was made for.
        application_id: String,
    },
}

/// Codes of the link-level `error` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame's `v` is not one the hub speaks (fatal).
    UnsupportedVersion,
    /// The frame is not a valid message (bad JSON, unknown type or key).
    Malformed,
    /// A message came in the wrong order (`request` before `welcome`...).
    UnexpectedMessage,
    /// Authentication failed (fatal).
    AuthFailed,
    /// The session to resume is unknown or expired; a new one was started.
    ResumeRefused,
    /// The receiver's buffer is full; slow down.
    Overloaded,
    /// Silence longer than `timeout_secs` (fatal).
    Timeout,
    /// A fault on the hub; try again later.
    Internal,
}

/// What a branch terminal sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(
    tag = "type",
    content = "payload",
    rename_all = "snake_case",
    deny_unknown_fields
)]
#[schema(as = TerminalLinkTerminalMessage)]
#[non_exhaustive]
pub enum TerminalMessage {
    /// The first message on a connection.
    Hello {
        /// The terminal's registered id.
        terminal_id: String,
        /// The branch it serves.
        branch: String,
        /// The terminal software's version (`cardhub 1.4.2`).
        software_version: String,
        /// Where to pick up a previous session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Resume>,
    },
    /// Answers `challenge`: the SM2 signature of
    /// [`super::auth_message`].
    AuthResponse {
        /// `r || s`, 64 bytes.
        signature: HexBytes,
    },
    /// The devices attached now (after `welcome`, and when they change).
    DeviceList {
        /// Every device.
        devices: Vec<DeviceInfo>,
    },
    /// A device did something (at-least-once: the hub `ack`s the `seq`).
    DeviceEvent {
        /// The sender's sequence number, from 1.
        seq: u64,
        /// The device's name.
        device: String,
        /// What happened.
        event: DeviceEvent,
    },
    /// Answers a `request` (`in_reply_to` names it).
    Response {
        /// What came of it.
        result: CommandResult,
    },
    /// The terminal is alive.
    Heartbeat,
    /// Every `push` up to `seq` arrived.
    Ack {
        /// The highest seq received in order.
        seq: u64,
    },
}

impl Correlated for TerminalMessage {
    fn type_name(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::AuthResponse { .. } => "auth_response",
            Self::DeviceList { .. } => "device_list",
            Self::DeviceEvent { .. } => "device_event",
            Self::Response { .. } => "response",
            Self::Heartbeat => "heartbeat",
            Self::Ack { .. } => "ack",
        }
    }

    fn needs_reply_to(&self) -> bool {
        matches!(self, Self::Response { .. } | Self::AuthResponse { .. })
    }
}

/// What the hub sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(
    tag = "type",
    content = "payload",
    rename_all = "snake_case",
    deny_unknown_fields
)]
#[schema(as = TerminalLinkHubMessage)]
#[non_exhaustive]
pub enum HubMessage {
    /// Answers `hello`: sign this.
    Challenge {
        /// 32 random bytes.
        nonce: Nonce,
        /// The hub's clock when it made the challenge (Unix ms).
        hub_time_ms: i64,
    },
    /// Answers a valid `auth_response`: the link is up.
    Welcome {
        /// The session id, for `hello.resume` after a cut.
        session: String,
        /// How often each side sends `heartbeat` when otherwise silent.
        heartbeat_secs: u64,
        /// Silence longer than this closes the link.
        timeout_secs: u64,
        /// Whether the session in `hello.resume` was picked up; if not,
        /// sequence numbers start again from 1 both ways.
        resumed: bool,
        /// The last `device_event` seq the hub received in this session
        /// (0: none); the terminal re-sends everything after it.
        last_seq: u64,
    },
    /// A command for one of the terminal's devices; answered by `response`.
    Request {
        /// The device's name.
        device: String,
        /// What to do.
        command: DeviceCommand,
    },
    /// Something for the terminal (at-least-once: the terminal `ack`s).
    Push {
        /// The hub's sequence number, from 1.
        seq: u64,
        /// What it is.
        event: PushEvent,
    },
    /// The hub is alive.
    Heartbeat,
    /// Every `device_event` up to `seq` arrived.
    Ack {
        /// The highest seq received in order.
        seq: u64,
    },
    /// Something went wrong; when `fatal`, the hub closes the link after it.
    Error {
        /// What kind of failure.
        code: ErrorCode,
        /// What happened and what to try.
        message: String,
        /// Whether the link is closed.
        fatal: bool,
    },
}

impl Correlated for HubMessage {
    fn type_name(&self) -> &'static str {
        match self {
            Self::Challenge { .. } => "challenge",
            Self::Welcome { .. } => "welcome",
            Self::Request { .. } => "request",
            Self::Push { .. } => "push",
            Self::Heartbeat => "heartbeat",
            Self::Ack { .. } => "ack",
            Self::Error { .. } => "error",
        }
    }

    fn needs_reply_to(&self) -> bool {
        matches!(self, Self::Challenge { .. } | Self::Welcome { .. })
    }
}
