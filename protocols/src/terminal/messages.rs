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
    CardPresent {
        /// A chip card's answer to reset, when the reader gives one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        atr: Option<HexBytes>,
    },
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

/// ID card reader commands: one per method of the hub's `IdCardReader`
/// trait, so a remote reader behaves as a local one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum IdReaderCommand {
    /// 寻卡: whether a card is on the reader (`done`, or `no_card`).
    FindCard {},
    /// 选卡: selects the card found (`done`).
    SelectCard {},
    /// 读卡: reads the selected card's blocks (`id_card`).
    ReadCard {},
    /// The security module's self-test (`done`).
    SamStatus {},
}

/// Camera commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CameraCommand {
    /// Takes one photo and transfers it (`photo`).
    Capture {},
}

/// The transmission protocol asked for when connecting to a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardProtocol {
    /// T=0 only.
    T0,
    /// T=1 only.
    T1,
    /// Whichever the card and reader agree on.
    Any,
}

/// Smart-card reader commands: one per method of the hub's `CardReader`
/// trait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CardReaderCommand {
    /// What is in the reader (`reader_status`).
    Status {},
    /// Powers the card and opens a session (`atr`).
    Connect {
        /// The protocol to ask for.
        protocol: CardProtocol,
    },
    /// Sends one command APDU (`apdu_response`).
    Transmit {
        /// The command APDU.
        apdu: HexBytes,
    },
    /// Re-opens the session, resetting the card when `reset` (`atr`).
    Reconnect {
        /// Whether the card is reset.
        reset: bool,
    },
    /// Closes the session, leaving the card powered (`done`).
    Disconnect {},
}

/// Where a card is in a printer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardPlace {
    /// No card in the printer.
    None,
    /// At the print head.
    InPrinter,
    /// At the contact (chip) encoding station.
    Contact,
    /// At the contactless encoding station.
    Contactless,
}

/// An encoding station of a printer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EncoderStation {
    /// The contact (chip) encoder.
    Contact,
    /// The contactless encoder.
    Contactless,
}

/// A print panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrintPanel {
    /// The black (resin) panel.
    Black,
    /// The colour panel (the card face, PNG).
    Colour,
    /// The overlay varnish panel.
    Overlay,
}

/// A printer's state, in the printer protocol's status vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PrinterCondition {
    /// Idle, able to take the next command.
    Ready,
    /// Busy with a step.
    Printing,
    /// A card is stuck.
    CardJam,
    /// The ribbon is used up.
    RibbonOut,
    /// No blank card left.
    HopperEmpty,
    /// The cover is open.
    CoverOpen,
}

/// Card printer commands: one per method of the hub's `CardPrinter` trait,
/// so the workshop pipeline drives a branch printer as it drives its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PrinterCommand {
    /// State, hopper, ribbon and card position (`printer_status`).
    Status {},
    /// Where the card is (`card_position`).
    CardPosition {},
    /// Takes a blank card from the hopper (`done`).
    Feed {},
    /// Moves the card to an encoding station (`done`).
    MoveTo {
        /// The station.
        station: EncoderStation,
    },
    /// Downloads one panel (`done`).
    DownloadPanel {
        /// The panel.
        panel: PrintPanel,
        /// The panel's bytes (the colour panel is a PNG), base64.
        data_base64: String,
    },
    /// Prints the downloaded panels (`done`).
    Print {},
    /// Applies the thick overlay film (`done`).
    Overlay {},
    /// Ejects the card to the output hopper (`done`).
    Eject {},
    /// Puts the card in the reject bin (`done`).
    Reject {},
    /// Clears an error whose cause an operator removed (`done`).
    ClearError {},
}

/// What a reader holds, as `status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReaderHolds {
    /// No card.
    Empty,
    /// A card that answered to reset (`atr` is set).
    Present,
    /// A card that does not answer.
    Mute,
    /// The reader cannot be asked.
    Unavailable,
}

/// What a successful command returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CommandOutput {
    /// The command did what it says and has nothing to return.
    Done {},
    /// Answers `read_card`: the raw blocks, decoded by the hub with
    /// [`crate::id_reader`] so every terminal decodes the same way.
    IdCard {
        /// The text block (UCS-2, 256 bytes).
        text: HexBytes,
        /// The photo block (WLT, as read).
        photo: HexBytes,
        /// The fingerprint block, when read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprints: Option<HexBytes>,
    },
    /// Answers `capture`.
    Photo {
        /// The camera's file name for it.
        file_name: String,
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
    /// Answers `connect` and `reconnect`.
    Atr {
        /// The answer to reset.
        atr: HexBytes,
    },
    /// Answers a card reader's `status`.
    ReaderStatus {
        /// What it holds.
        holds: ReaderHolds,
        /// The card's ATR when `present`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        atr: Option<HexBytes>,
        /// Whether the terminal holds a session with the card.
        connected: bool,
    },
    /// Answers a printer's `status`.
    PrinterStatus {
        /// The printer's state.
        state: PrinterCondition,
        /// Blank cards left, if the printer knows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hopper: Option<u32>,
        /// Ribbon prints left, if the printer knows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ribbon_left: Option<u32>,
        /// Where the card is.
        card: CardPlace,
    },
    /// Answers `card_position`.
    CardPosition {
        /// Where the card is.
        card: CardPlace,
    },
}

/// Why a command failed. The codes are the device drivers' error kinds, so
/// the hub rebuilds the same typed error a local driver would have given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CommandErrorCode {
    /// No device of that name on this terminal.
    UnknownDevice,
    /// The command's `kind` is not the device's kind.
    WrongDeviceKind,
    /// The device is offline (unplugged, powered off, not found).
    DeviceOffline,
    /// The device is running another command.
    Busy,
    /// No card on or in the device.
    NoCard,
    /// The card was taken away during the command.
    CardRemoved,
    /// A card is there but does not answer.
    CardMute,
    /// The device did not answer in time; the command may have run.
    Timeout,
    /// The link between the terminal and the device broke; `sent` says
    /// whether the command had gone out (it may have run).
    LinkLost,
    /// The device reports a state a person must deal with (a printer's
    /// jam, ribbon out, hopper empty, cover open: `condition` says which).
    DeviceState,
    /// The device refused the command (for this card, in this state).
    Refused,
    /// The device answered something the driver does not understand.
    Protocol,
    /// The card's data could not be decoded (an ID card's text block).
    BadData,
    /// The device reported a fault; `message` says which.
    DeviceFault,
    /// The terminal does not support this command.
    Unsupported,
}

/// A failed command: a code for programs, a message for the operator, and
/// what the code needs to be acted on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandError {
    /// What kind of failure.
    pub code: CommandErrorCode,
    /// What happened and what to try.
    pub message: String,
    /// For `device_state`: the printer's condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<PrinterCondition>,
    /// For `link_lost`: whether the command had been sent to the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<bool>,
    /// For `refused`: the device's own code word (a printer's `BAD_DATA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<String>,
}

impl CommandError {
    /// An error with only a code and a message.
    pub fn new(code: CommandErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            condition: None,
            sent: None,
            device_code: None,
        }
    }
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
    /// How a branch operation that used this terminal's devices ended.
    /// Pushed for every such operation, so a terminal whose link was cut
    /// in the middle learns after it reconnects whether the operation
    /// completed or was rolled back.
    OperationOutcome {
        /// The hub's id of the operation.
        operation_id: String,
        /// What it was (`card_check`, `instant_replacement`...).
        operation: String,
        /// How it ended.
        outcome: Outcome,
        /// What the operator should know.
        detail: String,
    },
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything was done and stored.
    Completed,
    /// Nothing of it was stored; it may be started again.
    RolledBack,
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
    /// Another connection of the same terminal authenticated and replaced
    /// this one (fatal). A terminal that reconnected before the hub saw its
    /// cut never sees it; two PCs sharing one terminal's key do, and each
    /// must be registered under its own id.
    Replaced,
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
