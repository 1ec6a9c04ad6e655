//! The `/ws/terminal` link, protocol version [`VERSION`]: how a branch PC
//! running `cardhub terminal` connects its devices (ID card reader, camera,
//! smart-card reader, card printer) to the hub over one WebSocket. This
//! module is the protocol only: types, the authentication arithmetic and
//! the delivery state machines. It opens no socket and reads no clock;
//! times come in as arguments, and the WebSocket, timers and device drivers
//! live in the crates that use it.
//!
//! # A connection
//! ```text
//! terminal                                   hub
//!   hello {terminal_id, branch, ..., resume?} ->
//!                    <- challenge {nonce, hub_time_ms}    (in_reply_to hello)
//!   auth_response {signature}                ->          (in_reply_to challenge)
//!                    <- welcome {session, ..., resumed, last_seq}
//!   device_list {devices}                    ->
//!   (re-sent device_events after last_seq)   ->
//!                    <- (re-sent pushes after hello.resume.last_seq)
//!                    <- request {device, command}
//!   response {result}                        ->          (in_reply_to request)
//!   device_event {seq, ...}                  ->  <- ack {seq}
//!                    <- push {seq, ...}      ->  ack {seq}
//!   heartbeat                                <-> heartbeat
//! ```
//! Every frame is an [`Envelope`] (`v`, `id`, `in_reply_to`, `type`,
//! `payload`); the messages are [`TerminalMessage`] and [`HubMessage`].
//! Authentication is an SM2 signature over a challenge ([`auth`]). Device
//! events and pushes are delivered at least once, numbered per session and
//! direction from 1 and acknowledged cumulatively; after a cut, the
//! terminal's `hello.resume` and the hub's `welcome.last_seq` say where each
//! side re-sends from ([`delivery`]). Requests are not re-sent: a request
//! unanswered when the link drops fails at the hub, which decides whether to
//! repeat it (an APDU may not be safe to repeat).
//!
//! # Version rules
//! - Every frame carries `v`. Read it first ([`VersionProbe`]); a frame of
//!   another version is answered with a fatal `error`
//!   (`unsupported_version`) and the link is closed.
//! - Version 1 is fixed once released: unknown keys and unknown `type`s are
//!   refused (`malformed`), so adding a field, a message, a command or an
//!   enum value is a new version. The hub may speak several versions at
//!   once, choosing by the `v` of the `hello`; a terminal speaks one.
//! - Until the first release, v1 may still grow in place.
//!
//! # Layout
//! - [`envelope`]: [`Envelope`], correlation, [`VersionProbe`].
//! - [`messages`]: the two message enums and the device, command, result
//!   and event types.
//! - [`bytes`]: hex-encoded fields ([`HexBytes`], [`Nonce`]).
//! - [`auth`]: the challenge, [`auth_message`], [`sign_challenge`],
//!   [`verify_challenge`].
//! - [`delivery`]: [`Outbox`] and [`Inbox`], at-least-once delivery over a
//!   reconnecting link.
//!
//! Neighbours: the hub's WebSocket actor and the terminal's link loop
//! (outside this crate) drive these types; keys are [`crate::crypto`]'s.

pub mod auth;
pub mod bytes;
pub mod delivery;
pub mod envelope;
pub mod messages;

pub use auth::{
    AUTH_CONTEXT, AuthError, CHALLENGE_WINDOW_MS, Challenge, RegisteredTerminal, auth_message,
    sign_challenge, verify_challenge,
};
pub use bytes::{HexBytes, NONCE_LEN, Nonce};
pub use delivery::{Inbox, Outbox, OutboxError, Received};
pub use envelope::{Correlated, Envelope, VersionProbe};
pub use messages::{
    CameraCommand, CardPlace, CardProtocol, CardReaderCommand, CommandError, CommandErrorCode,
    CommandOutput, CommandResult, DeviceCommand, DeviceEvent, DeviceInfo, DeviceKind, DeviceState,
    EncoderStation, ErrorCode, HubMessage, IdReaderCommand, Outcome, PrintPanel, PrinterCommand,
    PrinterCondition, PushEvent, ReaderHolds, Resume, TerminalMessage,
};

/// The link protocol version every frame carries in `v`.
pub const VERSION: u32 = 1;

#[cfg(test)]
mod tests;
