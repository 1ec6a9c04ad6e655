//! The terminal's side of one `/ws/terminal` link as a state machine: text
//! frames from the hub in, frames to send and things to do out. No socket,
//! no clock, no device: [`super::link`] owns those and feeds this.
//!
//! ```text
//! connect()            -> hello {resume?}
//! challenge            -> auth_response (sign_challenge)
//! welcome              -> Linked, device_list, re-sent device_events (Outbox::resume / restart)
//! request              -> Run (a device runs it; response() answers it later)
//! push                 -> Pushed + ack (Inbox: duplicates acked and dropped, a gap cuts the link)
//! ack                  -> the Outbox forgets
//! error auth_failed    -> LinkDown::AuthFailed (retry slowly)
//! ```
//!
//! What survives a cut: the [`Outbox`] of device events (re-sent after the
//! next `welcome`), the [`Inbox`] position and the session id (offered as
//! `hello.resume`). What does not: requests, which the hub fails when the
//! link drops (an APDU may not be safe to repeat), so an answer finished
//! after the cut is dropped ([`Session::response`] returns `None`).

use std::fmt;
use std::time::Duration;

use cardhub_protocols::terminal::{
    Challenge, CommandResult, Correlated, DeviceCommand, DeviceEvent, DeviceInfo, Envelope,
    ErrorCode, HubMessage, Inbox, Outbox, OutboxError, PushEvent, Received, Resume,
    TerminalMessage, VERSION, VersionProbe, sign_challenge,
};

use super::key::TerminalKey;

/// A device event waiting for the hub's ack: the device's name and what
/// happened.
pub type QueuedEvent = (String, DeviceEvent);

/// Who the terminal says it is in its `hello`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The registered terminal id.
    pub terminal_id: String,
    /// The branch code.
    pub branch: String,
    /// `cardhub 0.1.0`.
    pub software_version: String,
}

/// Where the link is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No connection.
    Down,
    /// `hello` sent.
    AwaitChallenge,
    /// `auth_response` sent.
    AwaitWelcome,
    /// `welcome` received.
    Linked,
}

/// What the link does after a frame.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Send this frame.
    Send(Envelope<TerminalMessage>),
    /// The link is up (the frames that follow are its first).
    Linked {
        /// The session id.
        session: String,
        /// Whether the previous session was picked up.
        resumed: bool,
        /// Send a heartbeat after this long without sending (`None`: never).
        heartbeat: Option<Duration>,
        /// Drop the link after this long without receiving (`None`: never).
        timeout: Option<Duration>,
    },
    /// Run `command` on `device` and answer `request_id` with
    /// [`Session::response`].
    Run {
        /// The request's id (the response's `in_reply_to`).
        request_id: String,
        /// The device's name.
        device: String,
        /// What to do.
        command: DeviceCommand,
    },
    /// The hub told the terminal something (already acked).
    Pushed(PushEvent),
    /// A non-fatal `error` from the hub, for the operator.
    HubError {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
}

/// Why the link has to be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkDown {
    /// The hub refused the terminal's key, id or branch.
    AuthFailed(String),
    /// Another connection of this terminal took its place at the hub (a
    /// second PC with this terminal's key).
    Replaced(String),
    /// The hub sent a fatal error.
    Fatal {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// The hub speaks another protocol version.
    Version(u32),
    /// A push was skipped: reconnect and resume from `expected`.
    Gap {
        /// The seq that should have come.
        expected: u64,
        /// The seq that came.
        got: u64,
    },
    /// The hub is confused about the session (an ack of events never
    /// sent); the next connection starts a new session.
    Confused(String),
    /// A message out of order (a `request` before `welcome`...).
    Unexpected(String),
    /// The key could not sign the challenge.
    Sign(String),
}

impl fmt::Display for LinkDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthFailed(message) => write!(f, "authentication refused: {message}"),
            Self::Replaced(message) => write!(f, "replaced at the hub: {message}"),
            Self::Fatal { code, message } => write!(f, "hub error {}: {message}", code_name(*code)),
            Self::Version(v) => write!(
                f,
                "the hub speaks link protocol version {v}, this terminal {VERSION}: update cardhub on this PC"
            ),
            Self::Gap { expected, got } => {
                write!(
                    f,
                    "push {got} came before push {expected}: reconnecting to get it again"
                )
            }
            Self::Confused(reason) => write!(f, "{reason}: starting a new session"),
            Self::Unexpected(what) => write!(f, "{what}"),
            Self::Sign(reason) => write!(
                f,
                "cannot sign the hub's challenge: {reason}; check the terminal's key file"
            ),
        }
    }
}

/// The snake_case name of a link error code, as on the wire.
pub fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

/// One terminal's link state across connections.
pub struct Session {
    identity: Identity,
    key: TerminalKey,
    outbox: Outbox<QueuedEvent>,
    inbox: Inbox,
    /// The session of the last `welcome`, offered for resumption.
    session: Option<String>,
    phase: Phase,
    /// The next message id on this connection.
    next_id: u64,
    /// The `hello`'s id (the challenge answers it).
    hello_id: String,
    /// The challenge's id (the welcome answers the auth_response to it).
    auth_id: String,
}

impl Session {
    /// A terminal that has not connected yet, keeping up to `event_buffer`
    /// unacknowledged device events.
    pub fn new(identity: Identity, key: TerminalKey, event_buffer: usize) -> Self {
        Self {
            identity,
            key,
            outbox: Outbox::new(event_buffer.max(1)),
            inbox: Inbox::new(),
            session: None,
            phase: Phase::Down,
            next_id: 1,
            hello_id: String::new(),
            auth_id: String::new(),
        }
    }

    /// Whether the link is up (after `welcome`).
    pub fn is_linked(&self) -> bool {
        self.phase == Phase::Linked
    }

    /// Device events waiting for the hub's ack.
    pub fn unacked(&self) -> usize {
        self.outbox.len()
    }

    fn id(&mut self) -> String {
        let id = format!("t-{}", self.next_id);
        self.next_id += 1;
        id
    }

    /// A new connection is open: the `hello` to send first.
    pub fn connect(&mut self) -> Envelope<TerminalMessage> {
        self.next_id = 1;
        self.phase = Phase::AwaitChallenge;
        let resume = self.session.clone().map(|session| Resume {
            session,
            last_seq: self.inbox.last_seq(),
        });
        let id = self.id();
        self.hello_id = id.clone();
        Envelope::new(
            id,
            TerminalMessage::Hello {
                terminal_id: self.identity.terminal_id.clone(),
                branch: self.identity.branch.clone(),
                software_version: self.identity.software_version.clone(),
                resume,
            },
        )
    }

    /// The connection is gone.
    pub fn disconnected(&mut self) {
        self.phase = Phase::Down;
    }

    /// A text frame from the hub. `devices` is asked for the device list
    /// when the link comes up.
    pub fn receive(
        &mut self,
        text: &str,
        devices: impl FnOnce() -> Vec<DeviceInfo>,
    ) -> Result<Vec<Action>, LinkDown> {
        match serde_json::from_str::<VersionProbe>(text) {
            Ok(probe) if probe.check().is_err() => return Err(LinkDown::Version(probe.v)),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "a frame from the hub without a version was dropped");
                return Ok(Vec::new());
            }
        }
        let envelope = match serde_json::from_str::<Envelope<HubMessage>>(text) {
            Ok(envelope) => envelope,
            Err(e) => {
                // The hub answers for its own frames; the terminal cannot
                // report them (it has no `error` message), so it logs.
                tracing::warn!(error = %e, "a frame from the hub that is not a v1 message was dropped");
                return Ok(Vec::new());
            }
        };
        self.on_message(envelope, devices)
    }

    fn on_message(
        &mut self,
        envelope: Envelope<HubMessage>,
        devices: impl FnOnce() -> Vec<DeviceInfo>,
    ) -> Result<Vec<Action>, LinkDown> {
        let Envelope {
            id,
            in_reply_to,
            message,
            ..
        } = envelope;
        let type_name = message.type_name();
        match (self.phase, message) {
            (_, HubMessage::Heartbeat) => Ok(Vec::new()),
            (
                _,
                HubMessage::Error {
                    code: ErrorCode::AuthFailed,
                    message,
                    ..
                },
            ) => Err(LinkDown::AuthFailed(message)),
            (
                _,
                HubMessage::Error {
                    code: ErrorCode::Replaced,
                    message,
                    ..
                },
            ) => Err(LinkDown::Replaced(message)),
            (
                _,
                HubMessage::Error {
                    code,
                    message,
                    fatal: true,
                },
            ) => Err(LinkDown::Fatal { code, message }),
            // `resume_refused` among them: the welcome says `resumed =
            // false`, which is what restarts the numbering.
            (_, HubMessage::Error { code, message, .. }) => {
                Ok(vec![Action::HubError { code, message }])
            }
            (Phase::AwaitChallenge, HubMessage::Challenge { nonce, hub_time_ms })
                if in_reply_to.as_deref() == Some(self.hello_id.as_str()) =>
            {
                let challenge = Challenge { nonce, hub_time_ms };
                let signature = sign_challenge(
                    &*self.key.hsm,
                    &self.key.label,
                    &self.identity.terminal_id,
                    &self.identity.branch,
                    &challenge,
                )
                .map_err(|e| LinkDown::Sign(e.to_string()))?;
                self.auth_id = self.id();
                self.phase = Phase::AwaitWelcome;
                Ok(vec![Action::Send(Envelope::reply(
                    self.auth_id.clone(),
                    id,
                    TerminalMessage::AuthResponse {
                        signature: signature.to_vec().into(),
                    },
                ))])
            }
            (
                Phase::AwaitWelcome,
                HubMessage::Welcome {
                    session,
                    heartbeat_secs,
                    timeout_secs,
                    resumed,
                    last_seq,
                },
            ) if in_reply_to.as_deref() == Some(self.auth_id.as_str()) => self.welcome(
                session,
                heartbeat_secs,
                timeout_secs,
                resumed,
                last_seq,
                devices,
            ),
            (Phase::Linked, HubMessage::Request { device, command }) => Ok(vec![Action::Run {
                request_id: id,
                device,
                command,
            }]),
            (Phase::Linked, HubMessage::Push { seq, event }) => match self.inbox.receive(seq) {
                Received::New { ack } => {
                    Ok(vec![Action::Pushed(event), Action::Send(self.ack(ack))])
                }
                Received::Duplicate { ack } => Ok(vec![Action::Send(self.ack(ack))]),
                Received::Gap { expected, got } => Err(LinkDown::Gap { expected, got }),
            },
            (Phase::Linked, HubMessage::Ack { seq }) => match self.outbox.ack(seq) {
                Ok(()) => Ok(Vec::new()),
                Err(e) => Err(self.confused(e)),
            },
            (phase, _) => Err(LinkDown::Unexpected(format!(
                "the hub sent `{type_name}` {}: its software does not follow the link protocol",
                match phase {
                    Phase::Down => "with no connection",
                    Phase::AwaitChallenge => "instead of the challenge to this hello",
                    Phase::AwaitWelcome => "instead of the welcome to this auth_response",
                    Phase::Linked => "after welcome",
                }
            ))),
        }
    }

    fn welcome(
        &mut self,
        session: String,
        heartbeat_secs: u64,
        timeout_secs: u64,
        resumed: bool,
        last_seq: u64,
        devices: impl FnOnce() -> Vec<DeviceInfo>,
    ) -> Result<Vec<Action>, LinkDown> {
        let resend: Vec<(u64, QueuedEvent)> = if resumed {
            let pending = self
                .outbox
                .resume(last_seq)
                .map(|pending| pending.map(|(seq, e)| (seq, e.clone())).collect());
            match pending {
                Ok(pending) => pending,
                Err(e) => return Err(self.confused(e)),
            }
        } else {
            self.inbox.restart();
            self.outbox
                .restart()
                .map(|(seq, e)| (seq, e.clone()))
                .collect()
        };
        self.session = Some(session.clone());
        self.phase = Phase::Linked;
        let secs = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        let mut actions = vec![
            Action::Linked {
                session,
                resumed,
                heartbeat: secs(heartbeat_secs),
                timeout: secs(timeout_secs),
            },
            Action::Send(self.device_list_frame(devices())),
        ];
        for (seq, (device, event)) in resend {
            actions.push(Action::Send(self.event_frame(seq, device, event)));
        }
        Ok(actions)
    }

    /// The hub lost track of the session: the next connection starts anew.
    fn confused(&mut self, e: OutboxError) -> LinkDown {
        self.session = None;
        LinkDown::Confused(format!("the hub's ack does not fit this session ({e})"))
    }

    fn ack(&mut self, seq: u64) -> Envelope<TerminalMessage> {
        let id = self.id();
        Envelope::new(id, TerminalMessage::Ack { seq })
    }

    fn device_list_frame(&mut self, devices: Vec<DeviceInfo>) -> Envelope<TerminalMessage> {
        let id = self.id();
        Envelope::new(id, TerminalMessage::DeviceList { devices })
    }

    fn event_frame(
        &mut self,
        seq: u64,
        device: String,
        event: DeviceEvent,
    ) -> Envelope<TerminalMessage> {
        let id = self.id();
        Envelope::new(id, TerminalMessage::DeviceEvent { seq, device, event })
    }

    /// A device did something: numbered and kept until acked; the frame to
    /// send now when the link is up. [`OutboxError::Full`] when too many
    /// wait (the event is dropped).
    pub fn event(
        &mut self,
        device: String,
        event: DeviceEvent,
    ) -> Result<Option<Envelope<TerminalMessage>>, OutboxError> {
        let seq = self.outbox.push((device.clone(), event.clone()))?;
        Ok(self
            .is_linked()
            .then(|| self.event_frame(seq, device, event)))
    }

    /// The devices changed: the frame to send when the link is up.
    pub fn device_list(&mut self, devices: Vec<DeviceInfo>) -> Option<Envelope<TerminalMessage>> {
        self.is_linked().then(|| self.device_list_frame(devices))
    }

    /// A request's answer: the frame when the link it came on is still up
    /// (the caller checks the connection), `None` when it is down.
    pub fn response(
        &mut self,
        request_id: String,
        result: CommandResult,
    ) -> Option<Envelope<TerminalMessage>> {
        if !self.is_linked() {
            return None;
        }
        let id = self.id();
        Some(Envelope::reply(
            id,
            request_id,
            TerminalMessage::Response { result },
        ))
    }

    /// A heartbeat frame.
    pub fn heartbeat(&mut self) -> Envelope<TerminalMessage> {
        let id = self.id();
        Envelope::new(id, TerminalMessage::Heartbeat)
    }
}

#[cfg(test)]
mod tests;
