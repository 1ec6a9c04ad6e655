//! One authenticated connection's link, as the hub's remote device drivers
//! use it: [`TerminalLink`] implements
//! [`cardhub_devices::remote::RemoteLink`]. A request is written to the
//! connection's bounded send queue with an envelope id unique on the
//! connection (`h-N`) and the calling thread waits (blocking, never on an
//! async executor) for the `response` whose `in_reply_to` names it. When
//! the connection ends, every request still waiting fails at once with
//! `LinkLost`, saying whether it had been written to the socket.
//!
//! The connection's task ([`super::socket`]) drains the queue onto the
//! socket, hands responses in ([`TerminalLink::complete`]), and watches
//! [`TerminalLink::closed`] for a request to close (the connection was
//! replaced, its queue overflowed, the terminal was disabled).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use cardhub_devices::remote::{RemoteError, RemoteLink};
use cardhub_protocols::terminal::{
    CommandOutput, CommandResult, DeviceCommand, Envelope, ErrorCode, HubMessage,
};
use tokio::sync::Notify;
use tokio::sync::mpsc::{self, error::TrySendError};

/// The prefix of the hub's envelope ids (`h-1`, `h-2`, ...).
const ID_PREFIX: &str = "h-";

/// One frame for the socket.
#[derive(Debug)]
pub struct Outgoing {
    /// The JSON text.
    pub text: ByteString,
    /// The request it carries (its id's number), to mark it sent once
    /// written.
    pub request: Option<u64>,
}

/// Why the hub closes a connection: the fatal `error` sent before closing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fatal {
    /// The code.
    pub code: ErrorCode,
    /// What happened and what to do.
    pub message: String,
}

/// The send queue refused a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// As many frames as the queue holds wait for the socket.
    Full,
    /// The connection has ended.
    Closed,
}

/// The hub's envelope ids on one connection: `h-1`, `h-2`, ...
#[derive(Debug, Default)]
pub struct Ids(AtomicU64);

impl Ids {
    /// The next id's number.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        format!("{ID_PREFIX}{}", self.next())
    }
}

/// The number in an id the hub gave (`h-17` → 17).
fn parse_id(id: &str) -> Option<u64> {
    id.strip_prefix(ID_PREFIX)?.parse().ok()
}

/// Serialises a hub frame (it cannot fail: every field is plain data).
pub fn frame(envelope: &Envelope<HubMessage>) -> ByteString {
    serde_json::to_string(envelope)
        .expect("hub messages always serialise")
        .into()
}

struct Pending {
    reply: SyncSender<Result<CommandOutput, RemoteError>>,
    /// Written to the socket (the device may have run it).
    sent: bool,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Pending>,
    /// The connection has ended: no more requests.
    ended: bool,
    /// Someone asked the connection to close.
    close: Option<Fatal>,
}

/// The link of one authenticated connection of one terminal.
pub struct TerminalLink {
    terminal_id: String,
    conn: u64,
    ids: Arc<Ids>,
    queue: mpsc::Sender<Outgoing>,
    max_in_flight: usize,
    state: Mutex<State>,
    close_requested: Notify,
}

impl fmt::Debug for TerminalLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalLink")
            .field("terminal_id", &self.terminal_id)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl TerminalLink {
    /// The link of connection `conn` of `terminal_id`, writing to `queue`
    /// with ids from `ids`; at most `max_in_flight` requests wait at once.
    pub fn new(
        terminal_id: &str,
        conn: u64,
        ids: Arc<Ids>,
        queue: mpsc::Sender<Outgoing>,
        max_in_flight: usize,
    ) -> Self {
        Self {
            terminal_id: terminal_id.to_owned(),
            conn,
            ids,
            queue,
            max_in_flight: max_in_flight.max(1),
            state: Mutex::new(State::default()),
            close_requested: Notify::new(),
        }
    }

    /// The connection's number (unique in this process).
    pub fn conn(&self) -> u64 {
        self.conn
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock left plain data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message that answers nothing (a push, an error).
    pub fn send(&self, message: HubMessage) -> Result<(), QueueError> {
        let text = frame(&Envelope::new(self.ids.next_id(), message));
        self.queue
            .try_send(Outgoing {
                text,
                request: None,
            })
            .map_err(|e| match e {
                TrySendError::Full(_) => QueueError::Full,
                TrySendError::Closed(_) => QueueError::Closed,
            })
    }

    /// Asks the connection to close after sending `fatal` (the first
    /// reason asked for wins).
    pub fn close(&self, code: ErrorCode, message: impl Into<String>) {
        let mut state = self.lock();
        if state.close.is_none() {
            state.close = Some(Fatal {
                code,
                message: message.into(),
            });
        }
        drop(state);
        self.close_requested.notify_one();
    }

    /// Resolves when [`TerminalLink::close`] has been called.
    pub async fn closed(&self) -> Fatal {
        loop {
            if let Some(fatal) = self.lock().close.clone() {
                return fatal;
            }
            self.close_requested.notified().await;
        }
    }

    /// The request numbered `n` has been written to the socket.
    pub fn mark_sent(&self, n: u64) {
        if let Some(p) = self.lock().pending.get_mut(&n) {
            p.sent = true;
        }
    }

    /// A `response` answering `in_reply_to` came. `false` when no request
    /// waits under that id (answered already, timed out, or never sent).
    pub fn complete(&self, in_reply_to: &str, result: CommandResult) -> bool {
        let Some(pending) = parse_id(in_reply_to).and_then(|n| self.lock().pending.remove(&n))
        else {
            return false;
        };
        let outcome = match result {
            CommandResult::Ok(output) => Ok(output),
            CommandResult::Error(error) => Err(RemoteError::Command(error)),
        };
        // Capacity 1 and one answer per request: never blocks. The caller
        // may have given up in the meantime; then nobody reads it.
        let _ = pending.reply.try_send(outcome);
        true
    }

    /// The connection has ended: every request waiting fails now with
    /// `LinkLost`, and later ones are refused.
    pub fn fail_all(&self) {
        let pending = {
            let mut state = self.lock();
            state.ended = true;
            std::mem::take(&mut state.pending)
        };
        for (_, p) in pending {
            let _ = p.reply.try_send(Err(RemoteError::LinkLost {
                terminal: self.terminal_id.clone(),
                sent: p.sent,
            }));
        }
    }

    /// Requests waiting for their response.
    pub fn in_flight(&self) -> usize {
        self.lock().pending.len()
    }

    fn forget(&self, n: u64) {
        self.lock().pending.remove(&n);
    }

    fn lost(&self, sent: bool) -> RemoteError {
        RemoteError::LinkLost {
            terminal: self.terminal_id.clone(),
            sent,
        }
    }

    fn send_request(
        &self,
        device: &str,
        command: DeviceCommand,
        timeout: Duration,
    ) -> Result<CommandOutput, RemoteError> {
        let n = self.ids.next();
        let (reply, answer) = sync_channel(1);
        {
            let mut state = self.lock();
            if state.ended || state.close.is_some() {
                return Err(self.lost(false));
            }
            if state.pending.len() >= self.max_in_flight {
                return Err(RemoteError::Overloaded {
                    terminal: self.terminal_id.clone(),
                });
            }
            state.pending.insert(n, Pending { reply, sent: false });
        }
        let text = frame(&Envelope::new(
            format!("{ID_PREFIX}{n}"),
            HubMessage::Request {
                device: device.to_owned(),
                command,
            },
        ));
        match self.queue.try_send(Outgoing {
            text,
            request: Some(n),
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.forget(n);
                return Err(RemoteError::Overloaded {
                    terminal: self.terminal_id.clone(),
                });
            }
            Err(TrySendError::Closed(_)) => {
                self.forget(n);
                return Err(self.lost(false));
            }
        }
        match answer.recv_timeout(timeout) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => {
                // An answer racing the timeout is dropped with the entry.
                self.forget(n);
                Err(RemoteError::Timeout {
                    terminal: self.terminal_id.clone(),
                    timeout,
                })
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.lost(true)),
        }
    }
}

/// The `outcome` label of `cardhub_terminal_requests_total`.
fn outcome(result: &Result<CommandOutput, RemoteError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(RemoteError::Command(_)) => "device_error",
        Err(RemoteError::Timeout { .. }) => "timeout",
        Err(RemoteError::LinkLost { .. }) => "link_lost",
        Err(RemoteError::Overloaded { .. }) => "overloaded",
        Err(RemoteError::NotConnected { .. }) => "not_connected",
        Err(_) => "other",
    }
}

impl RemoteLink for TerminalLink {
    fn terminal_id(&self) -> &str {
        &self.terminal_id
    }

    fn request(
        &self,
        device: &str,
        command: DeviceCommand,
        timeout: Duration,
    ) -> Result<CommandOutput, RemoteError> {
        let started = Instant::now();
        let result = self.send_request(device, command, timeout);
        let outcome = outcome(&result);
        metrics::counter!("cardhub_terminal_requests_total", "outcome" => outcome).increment(1);
        metrics::histogram!("cardhub_terminal_request_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = &result
            && e.is_link_problem()
        {
            tracing::info!(terminal = %self.terminal_id, device, error = %e, "remote device command failed");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use cardhub_protocols::terminal::{CardReaderCommand, CommandError, CommandErrorCode};

    use super::*;

    fn link(capacity: usize, in_flight: usize) -> (Arc<TerminalLink>, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity);
        let link = Arc::new(TerminalLink::new(
            "T-1",
            7,
            Arc::new(Ids::default()),
            tx,
            in_flight,
        ));
        (link, rx)
    }

    fn status() -> DeviceCommand {
        DeviceCommand::CardReader(CardReaderCommand::Status {})
    }

    /// The request as written, and its id.
    fn take(rx: &mut mpsc::Receiver<Outgoing>) -> (String, serde_json::Value) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(out) = rx.try_recv() {
                let v: serde_json::Value = serde_json::from_str(&out.text).unwrap();
                return (v["id"].as_str().unwrap().to_owned(), v);
            }
            assert!(Instant::now() < deadline, "no request was queued");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_response_answers_the_request_it_names() {
        let (link, mut rx) = link(4, 4);
        let caller = {
            let link = link.clone();
            std::thread::spawn(move || link.request("reader-1", status(), Duration::from_secs(5)))
        };
        let (id, frame) = take(&mut rx);
        assert_eq!(frame["type"], "request");
        assert_eq!(frame["payload"]["device"], "reader-1");
        assert!(!link.complete("h-999", CommandResult::Ok(CommandOutput::Done {})));
        let error = CommandError::new(CommandErrorCode::NoCard, "no card: insert it");
        assert!(link.complete(&id, CommandResult::Error(error.clone())));
        assert_eq!(caller.join().unwrap(), Err(RemoteError::Command(error)));
        assert_eq!(link.in_flight(), 0);
    }

    #[test]
    fn a_cut_fails_every_waiting_request_saying_whether_it_was_sent() {
        let (link, mut rx) = link(4, 4);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let link = link.clone();
                std::thread::spawn(move || link.request("r", status(), Duration::from_secs(30)))
            })
            .collect();
        let (first, _) = take(&mut rx);
        let (_second, _) = take(&mut rx);
        link.mark_sent(parse_id(&first).unwrap());
        let started = Instant::now();
        link.fail_all();
        let mut outcomes: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
        assert!(started.elapsed() < Duration::from_secs(5), "failed at once");
        outcomes.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(
            outcomes,
            [
                Err(RemoteError::LinkLost {
                    terminal: "T-1".into(),
                    sent: false
                }),
                Err(RemoteError::LinkLost {
                    terminal: "T-1".into(),
                    sent: true
                }),
            ]
        );
        assert_eq!(
            link.request("r", status(), Duration::from_secs(1)),
            Err(RemoteError::LinkLost {
                terminal: "T-1".into(),
                sent: false
            })
        );
    }

    #[test]
    fn unanswered_requests_time_out_and_too_many_are_refused() {
        let (link, _rx) = link(8, 1);
        let waiting = {
            let link = link.clone();
            std::thread::spawn(move || link.request("r", status(), Duration::from_millis(300)))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while link.in_flight() == 0 {
            assert!(Instant::now() < deadline);
            std::thread::yield_now();
        }
        assert_eq!(
            link.request("r", status(), Duration::from_secs(1)),
            Err(RemoteError::Overloaded {
                terminal: "T-1".into()
            })
        );
        assert!(matches!(
            waiting.join().unwrap(),
            Err(RemoteError::Timeout { .. })
        ));
        assert_eq!(link.in_flight(), 0, "a timed-out request is forgotten");
    }

    #[test]
    fn a_full_queue_refuses_without_sending() {
        let (link, _rx) = link(1, 8);
        link.send(HubMessage::Heartbeat).unwrap();
        assert_eq!(link.send(HubMessage::Heartbeat), Err(QueueError::Full));
        assert_eq!(
            link.request("r", status(), Duration::from_secs(1)),
            Err(RemoteError::Overloaded {
                terminal: "T-1".into()
            })
        );
    }

    #[tokio::test]
    async fn close_is_seen_by_the_connection() {
        let (link, _rx) = link(1, 1);
        let waiter = {
            let link = link.clone();
            tokio::spawn(async move { link.closed().await })
        };
        link.close(ErrorCode::Replaced, "replaced");
        link.close(ErrorCode::Overloaded, "second reason is ignored");
        let fatal = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fatal.code, ErrorCode::Replaced);
    }
}
