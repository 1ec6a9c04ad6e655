//! [`Session`]: the initiator's side of a PTP session as a state machine.
//! It hands out transaction ids, builds command containers, and matches
//! the data and response containers that come back to the one outstanding
//! transaction. It does no I/O and reads no clock: every call that starts
//! or ends a transaction takes `now`, and [`Session::check_timeout`] takes
//! the limit.
//!
//! ```text
//!            open(id) ── OpenSession, tid 0 ──▶ Ok ──▶ Open { id }, next tid 1
//!  Closed ◀──────────────── CloseSession Ok / any SessionNotOpen / reset()
//!            command(op) ── tid n ──▶ [Data tid n] ──▶ Response tid n ──▶ Completed
//! ```
//!
//! Rules (ISO 15740 as libgphoto2 applies it):
//! - Outside a session only `GetDeviceInfo` is sent, with transaction id 0;
//!   `OpenSession` also goes with transaction id 0, and the session's
//!   transactions count 1, 2, 3... (0 and 0xFFFFFFFF are skipped on wrap).
//! - One transaction at a time: a second command while one is outstanding
//!   is refused.
//! - A data container must carry the outstanding operation's code and
//!   transaction id, come at most once, and only for an operation whose
//!   data phase goes to the initiator.
//! - The session state follows the camera: a `SessionNotOpen` answer closes
//!   it; a `SessionAlreadyOpened` answer to `OpenSession` counts as open
//!   (so that it can be closed and opened again).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use super::codes::{DataPhase, OperationCode, ResponseCode};
use super::container::{Container, ContainerError, ContainerKind, Params};

/// Whether a session is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No session: only `GetDeviceInfo` and `OpenSession` may be sent.
    Closed,
    /// A session is open.
    Open {
        /// Its id.
        session_id: NonZeroU32,
    },
}

/// A transaction that ended with a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    /// The operation.
    pub operation: OperationCode,
    /// Its transaction id.
    pub transaction_id: u32,
    /// The camera's answer.
    pub response: ResponseCode,
    /// The response's parameters.
    pub params: Params,
    /// The data phase's bytes, if the camera sent one.
    pub data: Option<Vec<u8>>,
    /// From the command to the response.
    pub elapsed: Duration,
}

impl Completed {
    /// Whether the camera answered `Ok`.
    pub fn is_ok(&self) -> bool {
        self.response == ResponseCode::Ok
    }
}

/// What a container received did to the outstanding transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Its data phase arrived; the response is still to come.
    Data {
        /// The data's length.
        len: usize,
    },
    /// Its response arrived: the transaction is over.
    Done(Completed),
}

/// A container or a command that does not fit the session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The operation needs a session and none is open.
    #[error("{operation} needs an open session")]
    NotOpen {
        /// The operation refused.
        operation: OperationCode,
    },
    /// `OpenSession` while a session is open.
    #[error("session {session_id} is already open")]
    AlreadyOpen {
        /// The open session.
        session_id: NonZeroU32,
    },
    /// A command while another transaction is outstanding.
    #[error("{outstanding} (transaction {transaction_id}) is still outstanding")]
    Busy {
        /// The outstanding operation.
        outstanding: OperationCode,
        /// Its transaction id.
        transaction_id: u32,
    },
    /// `OpenSession` and `CloseSession` go through their own calls.
    #[error("{operation} is sent with Session::open or Session::close")]
    SessionOperation {
        /// The operation.
        operation: OperationCode,
    },
    /// More than five parameters.
    #[error(transparent)]
    Params(#[from] ContainerError),
    /// A data or response container with no transaction outstanding.
    #[error("a {kind} container for transaction {transaction_id} arrived with none outstanding")]
    NothingOutstanding {
        /// Its type.
        kind: ContainerKind,
        /// Its transaction id.
        transaction_id: u32,
    },
    /// A container for another transaction.
    #[error(
        "a {kind} container for transaction {received} arrived while {operation} waits for {expected}"
    )]
    WrongTransaction {
        /// The outstanding operation.
        operation: OperationCode,
        /// Its transaction id.
        expected: u32,
        /// The container's type.
        kind: ContainerKind,
        /// The container's transaction id.
        received: u32,
    },
    /// A data container that does not fit the operation.
    #[error("unexpected data for {operation}: {reason}")]
    UnexpectedData {
        /// The outstanding operation.
        operation: OperationCode,
        /// Why it does not fit.
        reason: &'static str,
    },
    /// A command or event given to the initiator's session.
    #[error("a {kind} container is not an answer (events go to the event endpoint)")]
    NotAnAnswer {
        /// Its type.
        kind: ContainerKind,
    },
    /// The outstanding transaction took longer than its limit; it is
    /// forgotten.
    #[error("{operation} (transaction {transaction_id}) got no answer within {waited:?}")]
    TimedOut {
        /// The operation.
        operation: OperationCode,
        /// Its transaction id.
        transaction_id: u32,
        /// How long it had been waiting.
        waited: Duration,
    },
}

/// The outstanding transaction.
#[derive(Clone, Debug)]
struct Pending {
    operation: OperationCode,
    transaction_id: u32,
    started: Instant,
    sent_data: bool,
    data: Option<Vec<u8>>,
    /// For `OpenSession`: the session id asked for.
    opening: Option<NonZeroU32>,
}

/// The initiator's side of a PTP session.
#[derive(Clone, Debug)]
pub struct Session {
    state: SessionState,
    next_transaction: u32,
    pending: Option<Pending>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// No session, nothing outstanding.
    pub fn new() -> Self {
        Self {
            state: SessionState::Closed,
            next_transaction: 0,
            pending: None,
        }
    }

    /// Whether a session is open.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Whether a session is open.
    pub fn is_open(&self) -> bool {
        matches!(self.state, SessionState::Open { .. })
    }

    /// The outstanding operation and its transaction id.
    pub fn outstanding(&self) -> Option<(OperationCode, u32)> {
        self.pending
            .as_ref()
            .map(|p| (p.operation, p.transaction_id))
    }

    /// When the outstanding transaction runs out of `limit`.
    pub fn deadline(&self, limit: Duration) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.started + limit)
    }

    /// `OpenSession(session_id)` with transaction id 0.
    pub fn open(
        &mut self,
        session_id: NonZeroU32,
        now: Instant,
    ) -> Result<Container, SessionError> {
        if let SessionState::Open { session_id } = self.state {
            return Err(SessionError::AlreadyOpen { session_id });
        }
        self.idle()?;
        self.next_transaction = 0;
        let command = self.start(
            OperationCode::OpenSession,
            0,
            [session_id.get()].into(),
            now,
            false,
        );
        if let Some(pending) = self.pending.as_mut() {
            pending.opening = Some(session_id);
        }
        Ok(command)
    }

    /// `CloseSession`.
    pub fn close(&mut self, now: Instant) -> Result<Container, SessionError> {
        self.command_container(OperationCode::CloseSession, Params::EMPTY, now, false)
    }

    /// The command for `operation` with `params` (any but `OpenSession` and
    /// `CloseSession`), as the next transaction.
    pub fn command(
        &mut self,
        operation: OperationCode,
        params: &[u32],
        now: Instant,
    ) -> Result<Container, SessionError> {
        if matches!(
            operation,
            OperationCode::OpenSession | OperationCode::CloseSession
        ) {
            return Err(SessionError::SessionOperation { operation });
        }
        self.command_container(operation, Params::new(params)?, now, false)
    }

    /// The command for `operation` and its outgoing data phase
    /// (`SendObjectInfo`, `SetDevicePropValue`), to be sent in this order.
    pub fn command_with_data(
        &mut self,
        operation: OperationCode,
        params: &[u32],
        data: Vec<u8>,
        now: Instant,
    ) -> Result<[Container; 2], SessionError> {
        let params = Params::new(params)?;
        let command = self.command_container(operation, params, now, true)?;
        let data = Container::Data {
            code: operation,
            transaction_id: command.transaction_id(),
            data,
        };
        Ok([command, data])
    }

    fn command_container(
        &mut self,
        operation: OperationCode,
        params: Params,
        now: Instant,
        sent_data: bool,
    ) -> Result<Container, SessionError> {
        self.idle()?;
        let transaction_id = match self.state {
            SessionState::Closed if operation.needs_session() => {
                return Err(SessionError::NotOpen { operation });
            }
            SessionState::Closed => 0,
            SessionState::Open { .. } => {
                let id = self.next_transaction;
                self.next_transaction = match id.wrapping_add(1) {
                    0 | u32::MAX => 1,
                    next => next,
                };
                id
            }
        };
        Ok(self.start(operation, transaction_id, params, now, sent_data))
    }

    fn idle(&self) -> Result<(), SessionError> {
        match &self.pending {
            Some(p) => Err(SessionError::Busy {
                outstanding: p.operation,
                transaction_id: p.transaction_id,
            }),
            None => Ok(()),
        }
    }

    fn start(
        &mut self,
        operation: OperationCode,
        transaction_id: u32,
        params: Params,
        now: Instant,
        sent_data: bool,
    ) -> Container {
        self.pending = Some(Pending {
            operation,
            transaction_id,
            started: now,
            sent_data,
            data: None,
            opening: None,
        });
        Container::Command {
            code: operation,
            transaction_id,
            params,
        }
    }

    /// A container from the responder's bulk-in endpoint: the outstanding
    /// transaction's data or response.
    pub fn receive(
        &mut self,
        container: Container,
        now: Instant,
    ) -> Result<Progress, SessionError> {
        let kind = container.kind();
        let transaction_id = container.transaction_id();
        if matches!(kind, ContainerKind::Command | ContainerKind::Event) {
            return Err(SessionError::NotAnAnswer { kind });
        }
        let Some(pending) = self.pending.as_mut() else {
            return Err(SessionError::NothingOutstanding {
                kind,
                transaction_id,
            });
        };
        if transaction_id != pending.transaction_id {
            return Err(SessionError::WrongTransaction {
                operation: pending.operation,
                expected: pending.transaction_id,
                kind,
                received: transaction_id,
            });
        }
        match container {
            Container::Data { code, data, .. } => {
                let unexpected = |reason| SessionError::UnexpectedData {
                    operation: pending.operation,
                    reason,
                };
                if code != pending.operation {
                    return Err(unexpected("its code is another operation's"));
                }
                if pending.sent_data
                    || matches!(
                        pending.operation.data_phase(),
                        DataPhase::None | DataPhase::Out
                    )
                {
                    return Err(unexpected(
                        "the operation's data goes to the camera, or there is none",
                    ));
                }
                if pending.data.is_some() {
                    return Err(unexpected("a second data phase"));
                }
                let len = data.len();
                pending.data = Some(data);
                Ok(Progress::Data { len })
            }
            Container::Response { code, params, .. } => {
                let pending = self
                    .pending
                    .take()
                    .expect("checked above that a transaction is outstanding");
                self.follow(&pending, code, params);
                Ok(Progress::Done(Completed {
                    operation: pending.operation,
                    transaction_id,
                    response: code,
                    params,
                    data: pending.data,
                    elapsed: now.saturating_duration_since(pending.started),
                }))
            }
            Container::Command { .. } | Container::Event { .. } => {
                unreachable!("commands and events were refused above")
            }
        }
    }

    /// Moves the session state as the camera's answer says.
    fn follow(&mut self, pending: &Pending, response: ResponseCode, params: Params) {
        match (pending.operation, response) {
            (OperationCode::OpenSession, ResponseCode::Ok | ResponseCode::SessionAlreadyOpened) => {
                // SessionAlreadyOpened names the open session in its
                // first parameter; Ok means the one asked for.
                let session_id = match response {
                    ResponseCode::SessionAlreadyOpened => params.get(0).and_then(NonZeroU32::new),
                    _ => None,
                }
                .or(pending.opening)
                .unwrap_or(NonZeroU32::MIN);
                self.state = SessionState::Open { session_id };
                self.next_transaction = 1;
            }
            (OperationCode::CloseSession, ResponseCode::Ok) | (_, ResponseCode::SessionNotOpen) => {
                self.state = SessionState::Closed;
                self.next_transaction = 0;
            }
            _ => {}
        }
    }

    /// Whether the outstanding transaction has waited longer than `limit`
    /// at `now`; if so it is forgotten and the error says so (what came
    /// late for it is then refused as [`SessionError::NothingOutstanding`]
    /// or [`SessionError::WrongTransaction`]).
    pub fn check_timeout(&mut self, now: Instant, limit: Duration) -> Result<(), SessionError> {
        let Some(pending) = &self.pending else {
            return Ok(());
        };
        let waited = now.saturating_duration_since(pending.started);
        if waited <= limit {
            return Ok(());
        }
        let error = SessionError::TimedOut {
            operation: pending.operation,
            transaction_id: pending.transaction_id,
            waited,
        };
        self.pending = None;
        Err(error)
    }

    /// Forgets the session and any outstanding transaction: the link was
    /// lost (a USB camera that comes back has closed its session).
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests;
