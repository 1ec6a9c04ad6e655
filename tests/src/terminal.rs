//! A branch terminal's side of `/ws/terminal` for the end-to-end tests: a
//! blocking WebSocket client (tungstenite over a plain TCP socket) that
//! speaks the link protocol with the protocol crate's own types, and a
//! terminal key held in a [`SoftHsm`] that signs the hub's challenges.
//! Unlike `cardhub terminal` it does only what the test says, so a test
//! can answer a request late, not at all, or cut the link mid-request.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use cardhub_protocols::crypto::{KeyLabel, SoftHsm};
use cardhub_protocols::terminal::{
    Challenge, CommandResult, DeviceCommand, DeviceEvent, DeviceInfo, Envelope, ErrorCode,
    HexBytes, HubMessage, PushEvent, Resume, TerminalMessage, sign_challenge,
};
use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::HubProcess;

/// How long one read waits before a test's own deadline is looked at.
const READ_SLICE: Duration = Duration::from_millis(100);

/// How long [`TerminalClient::expect`] waits.
const EXPECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A terminal's SM2 key in a soft HSM.
pub struct TerminalKey {
    hsm: SoftHsm,
    label: KeyLabel,
    /// SEC1 uncompressed.
    pub public_key: Vec<u8>,
}

impl TerminalKey {
    /// A fresh key.
    pub fn generate() -> Self {
        let hsm = SoftHsm::new();
        let label = KeyLabel::new("terminal");
        let public_key = hsm
            .generate_sm2(label.clone())
            .expect("the soft HSM makes a key");
        Self {
            hsm,
            label,
            public_key,
        }
    }

    /// The public key as hex, as `cardhub terminals register` takes it.
    pub fn public_hex(&self) -> String {
        self.public_key.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The signature answering `challenge` for `terminal_id` at `branch`.
    pub fn sign(&self, terminal_id: &str, branch: &str, challenge: &Challenge) -> Vec<u8> {
        sign_challenge(&self.hsm, &self.label, terminal_id, branch, challenge)
            .expect("the soft HSM signs")
            .to_vec()
    }
}

/// Registers `terminal_id` for `branch` with `key` through `cardhub
/// terminals register`, failing the test if the command fails.
pub fn register(hub: &HubProcess, terminal_id: &str, branch: &str, key: &TerminalKey) {
    let out = hub.cli(
        &[
            "terminals",
            "register",
            "--id",
            terminal_id,
            "--branch",
            branch,
            "--public-key",
            &key.public_hex(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "cardhub terminals register failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Why the hub ended the connection.
#[derive(Debug)]
pub struct Closed {
    /// The fatal `error` it sent first, if any.
    pub error: Option<Box<Envelope<HubMessage>>>,
    /// What ended it (close frame, reset).
    pub how: String,
}

impl Closed {
    /// The fatal error's code and message (panics without one).
    pub fn fatal(&self) -> (ErrorCode, String) {
        match self.error.as_ref().map(|e| &e.message) {
            Some(HubMessage::Error {
                code,
                message,
                fatal: true,
            }) => (*code, message.clone()),
            other => panic!("no fatal error before the close ({}): {other:?}", self.how),
        }
    }
}

/// What the handshake came to.
#[derive(Debug)]
pub enum Handshake {
    /// `welcome`: the session, whether it was resumed, the hub's last
    /// device-event seq.
    Welcome {
        /// The session id.
        session: String,
        /// Whether `hello.resume` was picked up.
        resumed: bool,
        /// The last device event the hub has.
        last_seq: u64,
    },
    /// The hub closed the connection.
    Refused(Closed),
}

/// One connected terminal.
pub struct TerminalClient {
    ws: WebSocket<TcpStream>,
    ids: u64,
    /// The id this client says in its `hello`.
    pub terminal_id: String,
    /// The branch it says.
    pub branch: String,
    /// The last fatal error seen (kept for [`TerminalClient::wait_closed`]).
    fatal: Option<Box<Envelope<HubMessage>>>,
}

impl TerminalClient {
    /// Opens the WebSocket to `base`'s `/ws/terminal` (no message sent).
    pub fn connect(base: &str, terminal_id: &str, branch: &str) -> TerminalClient {
        let url = format!("{}/ws/terminal", base.replacen("http://", "ws://", 1));
        let request = url.as_str().into_client_request().expect("a ws URL");
        let addr = base.trim_start_matches("http://");
        let stream = TcpStream::connect(addr).expect("the hub accepts");
        // The upgrade may wait for a busy hub; reads after it are sliced.
        stream
            .set_read_timeout(Some(EXPECT_TIMEOUT))
            .expect("a read timeout");
        let (ws, _) = match tungstenite::client(request, stream) {
            Ok(done) => done,
            Err(e) => panic!("the hub did not upgrade /ws/terminal: {e}"),
        };
        ws.get_ref()
            .set_read_timeout(Some(READ_SLICE))
            .expect("a read timeout");
        TerminalClient {
            ws,
            ids: 0,
            terminal_id: terminal_id.to_owned(),
            branch: branch.to_owned(),
            fatal: None,
        }
    }

    /// Connects and authenticates with `key`, resuming `resume` if given;
    /// panics unless welcomed.
    pub fn link(
        base: &str,
        terminal_id: &str,
        branch: &str,
        key: &TerminalKey,
        resume: Option<Resume>,
    ) -> (TerminalClient, String, bool, u64) {
        let mut client = TerminalClient::connect(base, terminal_id, branch);
        match client.handshake(key, resume) {
            Handshake::Welcome {
                session,
                resumed,
                last_seq,
            } => (client, session, resumed, last_seq),
            Handshake::Refused(closed) => panic!("the hub refused the terminal: {closed:?}"),
        }
    }

    /// `hello` (with `resume`), the challenge signed with `key`, and the
    /// hub's answer.
    pub fn handshake(&mut self, key: &TerminalKey, resume: Option<Resume>) -> Handshake {
        self.send(TerminalMessage::Hello {
            terminal_id: self.terminal_id.clone(),
            branch: self.branch.clone(),
            software_version: "cardhub-tests 1".into(),
            resume,
        });
        let challenge = match self.expect_or_closed("challenge") {
            Ok(c) => c,
            Err(closed) => return Handshake::Refused(closed),
        };
        let HubMessage::Challenge { nonce, hub_time_ms } = challenge.message else {
            unreachable!("expect returns the type asked for")
        };
        let signature = key.sign(
            &self.terminal_id,
            &self.branch,
            &Challenge { nonce, hub_time_ms },
        );
        self.reply(
            &challenge.id,
            TerminalMessage::AuthResponse {
                signature: HexBytes(signature),
            },
        );
        match self.expect_or_closed("welcome") {
            Ok(Envelope {
                message:
                    HubMessage::Welcome {
                        session,
                        resumed,
                        last_seq,
                        ..
                    },
                ..
            }) => Handshake::Welcome {
                session,
                resumed,
                last_seq,
            },
            Ok(other) => unreachable!("expect returns the type asked for: {other:?}"),
            Err(closed) => Handshake::Refused(closed),
        }
    }

    fn next_id(&mut self) -> String {
        self.ids += 1;
        format!("t-{}", self.ids)
    }

    /// Sends a message that answers nothing; returns its id.
    pub fn send(&mut self, message: TerminalMessage) -> String {
        let id = self.next_id();
        self.send_envelope(&Envelope::new(id.clone(), message));
        id
    }

    /// Sends a message answering `to`; returns its id.
    pub fn reply(&mut self, to: &str, message: TerminalMessage) -> String {
        let id = self.next_id();
        self.send_envelope(&Envelope::reply(id.clone(), to, message));
        id
    }

    fn send_envelope(&mut self, envelope: &Envelope<TerminalMessage>) {
        let text = serde_json::to_string(envelope).expect("terminal messages serialise");
        self.send_text(&text);
    }

    /// Sends raw text (for malformed frames).
    pub fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .expect("the frame is sent");
    }

    /// Sends raw JSON (for frames the types cannot express).
    pub fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string());
    }

    /// `device_list`.
    pub fn device_list(&mut self, devices: Vec<DeviceInfo>) {
        self.send(TerminalMessage::DeviceList { devices });
    }

    /// `device_event { seq, device, event }`.
    pub fn device_event(&mut self, seq: u64, device: &str, event: DeviceEvent) {
        self.send(TerminalMessage::DeviceEvent {
            seq,
            device: device.to_owned(),
            event,
        });
    }

    /// The next hub message within `timeout` (`Ok(None)` on timeout), or
    /// how the connection ended. Every frame must be a valid hub message.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Envelope<HubMessage>>, Closed> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    let envelope: Envelope<HubMessage> = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("the hub sent an invalid frame ({e}): {text}"));
                    if matches!(envelope.message, HubMessage::Error { fatal: true, .. }) {
                        self.fatal = Some(Box::new(envelope.clone()));
                    }
                    return Ok(Some(envelope));
                }
                Ok(Message::Close(frame)) => {
                    return Err(Closed {
                        error: self.fatal.take(),
                        how: format!("close frame {frame:?}"),
                    });
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    return Err(Closed {
                        error: self.fatal.take(),
                        how: e.to_string(),
                    });
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Messages until one of type `kind` (heartbeats skipped; anything else
    /// fails the test), within 10 s; or how the connection ended.
    pub fn expect_or_closed(&mut self, kind: &str) -> Result<Envelope<HubMessage>, Closed> {
        let deadline = Instant::now() + EXPECT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left)? {
                Some(m) if type_of(&m) == kind => return Ok(m),
                Some(m) if matches!(m.message, HubMessage::Heartbeat) => {}
                // The close follows; it is reported with this error.
                Some(Envelope {
                    message: HubMessage::Error { fatal: true, .. },
                    ..
                }) => {}
                Some(m) => panic!("expected `{kind}`, the hub sent {m:?}"),
                None => panic!("no `{kind}` from the hub within {EXPECT_TIMEOUT:?}"),
            }
        }
    }

    /// Messages until one of type `kind` (heartbeats skipped), within 10 s.
    pub fn expect(&mut self, kind: &str) -> Envelope<HubMessage> {
        self.expect_or_closed(kind).unwrap_or_else(|closed| {
            panic!("the hub closed the link waiting for `{kind}`: {closed:?}")
        })
    }

    /// The next non-fatal `error`: its code, message and what it answers.
    pub fn expect_error(&mut self) -> (ErrorCode, String, Option<String>) {
        let e = self.expect("error");
        match e.message {
            HubMessage::Error {
                code,
                message,
                fatal: false,
            } => (code, message, e.in_reply_to),
            other => panic!("expected a non-fatal error, got {other:?}"),
        }
    }

    /// The next `request`: its id, device and command.
    pub fn expect_request(&mut self) -> (String, String, DeviceCommand) {
        let r = self.expect("request");
        match r.message {
            HubMessage::Request { device, command } => (r.id, device, command),
            other => unreachable!("expect returns the type asked for: {other:?}"),
        }
    }

    /// The next `push`: its seq and event.
    pub fn expect_push(&mut self) -> (u64, PushEvent) {
        match self.expect("push").message {
            HubMessage::Push { seq, event } => (seq, event),
            other => unreachable!("expect returns the type asked for: {other:?}"),
        }
    }

    /// The next `ack`'s seq.
    pub fn expect_ack(&mut self) -> u64 {
        match self.expect("ack").message {
            HubMessage::Ack { seq } => seq,
            other => unreachable!("expect returns the type asked for: {other:?}"),
        }
    }

    /// Answers the request `id` with `result`.
    pub fn respond(&mut self, id: &str, result: CommandResult) {
        self.reply(id, TerminalMessage::Response { result });
    }

    /// Reads until the hub closes the connection (within 10 s); returns how.
    pub fn wait_closed(&mut self) -> Closed {
        let deadline = Instant::now() + EXPECT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Err(closed) => return closed,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the hub did not close the link within {EXPECT_TIMEOUT:?}"),
            }
        }
    }

    /// Drops the TCP connection without a close handshake (a cut line).
    pub fn cut(self) {
        let stream = self.ws.get_ref();
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    /// Closes the connection politely.
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

/// The `type` of a hub message.
pub fn type_of(envelope: &Envelope<HubMessage>) -> &'static str {
    use cardhub_protocols::terminal::Correlated;
    envelope.message.type_name()
}
