//! `cardhub terminal`, the branch agent, end to end: the real binary with
//! simulated devices in their own processes (`cardhub sim id-reader` on a
//! pty, `cardhub sim camera` and `cardhub sim printer` over TCP), linked
//! to a scripted hub in this test: a tungstenite WebSocket server that
//! speaks `/ws/terminal` v1 with the protocol crate's own types and checks
//! the terminal's signature with `verify_challenge`. The hub's real
//! endpoint is tested on its own; this test is the terminal's side.

use std::collections::VecDeque;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use cardhub_devices::camera::PhotoRules;
use cardhub_devices::id_reader::IdCard;
use cardhub_protocols::crypto::sm2::VerifyingKey;
use cardhub_protocols::terminal::{
    CameraCommand, CardProtocol, CardReaderCommand, Challenge, CommandErrorCode, CommandOutput,
    CommandResult, DeviceCommand, DeviceEvent, DeviceKind, DeviceState, Envelope, HubMessage,
    IdReaderCommand, Outcome, PrinterCommand, PrinterCondition, PushEvent, ReaderHolds,
    RegisteredTerminal, Resume, TerminalMessage, verify_challenge,
};
use cardhub_tests::branch::{Sim, TerminalProcess};
use cardhub_tests::cardhub_bin;
use tungstenite::{Message, WebSocket};

const TERMINAL: &str = "T-0101-01";
const BRANCH: &str = "0101";
/// How long the scripted hub waits for any one frame or line.
const WAIT: Duration = Duration::from_secs(30);

fn terminal_command(dir: &Path, hub: &str) -> Command {
    let mut command = Command::new(cardhub_bin());
    command
        .current_dir(dir)
        .args([
            "terminal",
            "--hub",
            hub,
            "--branch",
            BRANCH,
            "--config",
            "terminal.toml",
        ])
        .env("RUST_LOG", "warn");
    command
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// One connection of the scripted hub.
struct Conn {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Device events read while waiting for something else.
    events: VecDeque<(u64, String, DeviceEvent)>,
}

impl Conn {
    /// The terminal's next connection (one it gave up on while the test
    /// was busy fails its upgrade and is passed over).
    fn accept(listener: &TcpListener) -> Conn {
        loop {
            let (stream, _) = listener.accept().expect("the terminal connects");
            stream.set_read_timeout(Some(WAIT)).unwrap();
            match tungstenite::accept(stream) {
                Ok(ws) => {
                    return Conn {
                        ws,
                        next_id: 1,
                        events: VecDeque::new(),
                    };
                }
                Err(e) => eprintln!("an abandoned connection: {e}"),
            }
        }
    }

    fn send(&mut self, in_reply_to: Option<&str>, message: HubMessage) -> String {
        let id = format!("h-{}", self.next_id);
        self.next_id += 1;
        let envelope = match in_reply_to {
            Some(to) => Envelope::reply(id.clone(), to, message),
            None => Envelope::new(id.clone(), message),
        };
        let text = serde_json::to_string(&envelope).unwrap();
        self.ws.send(Message::text(text)).expect("frame sent");
        id
    }

    /// The next frame, decoded strictly as a v1 terminal message.
    fn recv(&mut self) -> Envelope<TerminalMessage> {
        loop {
            match self.ws.read().expect("a frame from the terminal in time") {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                        panic!("the terminal sent a frame that is not v1 ({e}): {text}")
                    });
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Reads until a message that `pick` takes, keeping device events and
    /// passing over heartbeats.
    fn until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Envelope<TerminalMessage>) -> Option<T>,
    ) -> T {
        loop {
            let envelope = self.recv();
            if let Some(found) = pick(&envelope) {
                return found;
            }
            match envelope.message {
                TerminalMessage::DeviceEvent { seq, device, event } => {
                    self.events.push_back((seq, device, event));
                }
                TerminalMessage::Heartbeat => {}
                other => panic!("waiting for {what}, the terminal sent {other:?}"),
            }
        }
    }

    /// The next device event (kept or new).
    fn event(&mut self) -> (u64, String, DeviceEvent) {
        if let Some(event) = self.events.pop_front() {
            return event;
        }
        self.until("a device event", |e| match &e.message {
            TerminalMessage::DeviceEvent { seq, device, event } => {
                Some((*seq, device.clone(), event.clone()))
            }
            _ => None,
        })
    }

    /// Challenge, signature check, welcome; returns the hello's resume and
    /// the device list.
    fn handshake(
        &mut self,
        registered: &RegisteredTerminal,
        welcome: HubMessage,
    ) -> (Option<Resume>, Vec<cardhub_protocols::terminal::DeviceInfo>) {
        let hello = self.recv();
        let TerminalMessage::Hello {
            terminal_id,
            branch,
            resume,
            ..
        } = hello.message
        else {
            panic!("the first frame is not hello: {hello:?}");
        };
        assert_eq!((terminal_id.as_str(), branch.as_str()), (TERMINAL, BRANCH));
        let challenge = Challenge::random(now_ms());
        let challenge_id = self.send(Some(&hello.id), challenge.to_message());
        let auth = self.recv();
        assert_eq!(auth.in_reply_to.as_deref(), Some(challenge_id.as_str()));
        let TerminalMessage::AuthResponse { signature } = auth.message else {
            panic!("expected auth_response, got {auth:?}");
        };
        verify_challenge(
            registered,
            TERMINAL,
            BRANCH,
            &challenge,
            signature.as_bytes(),
            now_ms(),
        )
        .expect("the terminal's signature verifies under its registered key");
        self.send(Some(&auth.id), welcome);
        let devices = self.until("device_list", |e| match &e.message {
            TerminalMessage::DeviceList { devices } => Some(devices.clone()),
            _ => None,
        });
        (resume, devices)
    }

    /// Sends a request and waits for its response.
    fn request(&mut self, device: &str, command: DeviceCommand) -> CommandResult {
        let id = self.send(
            None,
            HubMessage::Request {
                device: device.to_owned(),
                command,
            },
        );
        self.until("a response", |e| match &e.message {
            TerminalMessage::Response { result }
                if e.in_reply_to.as_deref() == Some(id.as_str()) =>
            {
                Some(result.clone())
            }
            _ => None,
        })
    }

    fn push(&mut self, seq: u64, event: PushEvent) {
        self.send(None, HubMessage::Push { seq, event });
    }

    fn ack(&mut self) -> u64 {
        self.until("an ack", |e| match e.message {
            TerminalMessage::Ack { seq } => Some(seq),
            _ => None,
        })
    }
}

fn welcome(resumed: bool, last_seq: u64, heartbeat_secs: u64) -> HubMessage {
    HubMessage::Welcome {
        session: "s-1".into(),
        heartbeat_secs,
        timeout_secs: 60,
        resumed,
        last_seq,
    }
}

fn ok(result: CommandResult) -> CommandOutput {
    match result {
        CommandResult::Ok(output) => output,
        CommandResult::Error(e) => panic!("the command failed: {e:?}"),
    }
}

fn error_code(result: CommandResult) -> CommandErrorCode {
    match result {
        CommandResult::Error(e) => e.code,
        CommandResult::Ok(output) => panic!("expected an error, got {output:?}"),
    }
}

/// Runs `--new-key`, checks what it printed and made, and returns the
/// registration the scripted hub checks signatures against.
fn make_key(dir: &Path, hub: &str) -> RegisteredTerminal {
    let made = terminal_command(dir, hub)
        .arg("--new-key")
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let stdout = String::from_utf8_lossy(&made.stdout);
    let public_hex = stdout
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap_or_else(|| panic!("no public key printed: {stdout}"))
        .to_owned();
    assert_eq!(public_hex.len(), 130);
    assert!(
        stdout.contains(&format!(
            "cardhub terminals register --id {TERMINAL} --branch {BRANCH} --public-key {public_hex}"
        )),
        "{stdout}"
    );
    let key_file = dir.join("keys/terminal-key.toml");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public: Vec<u8> = (0..public_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&public_hex[i..i + 2], 16).unwrap())
        .collect();
    RegisteredTerminal {
        terminal_id: TERMINAL.into(),
        branch: BRANCH.into(),
        key: VerifyingKey::from_sec1(&public).expect("an SM2 public key"),
    }
}

#[test]
fn the_terminal_links_its_simulated_devices_to_a_hub_across_cuts() {
    let id_reader = Sim::start(
        &["id-reader", "--card", "resident"],
        "cardhub sim id-reader ready",
    );
    let camera = Sim::start(&["camera", "--seed", "3"], "cardhub sim camera ready");
    let printer_dir = tempfile::tempdir().unwrap();
    let printer = Sim::start(
        &[
            "printer",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            printer_dir.path().to_str().unwrap(),
            "--transport-key-hex",
            "00112233445566778899aabbccddeeff",
            "--faces",
            "none",
        ],
        "cardhub sim printer ready",
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("terminal.toml"),
        format!(
            r#"
            [terminal]
            id = "{TERMINAL}"
            key_file = "keys/terminal-key.toml"

            [link]
            reconnect_initial_ms = 200
            reconnect_max_secs = 2

            [[id_readers]]
            name = "id-reader"
            port = "{pty}"
            poll_ms = 200

            [[cameras]]
            name = "camera"
            address = "tcp://{camera}"

            [[printers]]
            name = "printer"
            address = "{printer}"
            "#,
            pty = id_reader.field("pty"),
            camera = camera.field("address"),
            printer = printer.field("address"),
        ),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let hub = format!("ws://{}/ws/terminal", listener.local_addr().unwrap());

    // Without a key the terminal refuses and says how to make one.
    let refused = terminal_command(dir.path(), &hub).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--new-key"), "{stderr}");

    // --new-key makes it and prints what the centre runs.
    let registered = make_key(dir.path(), &hub);

    let mut agent =
        TerminalProcess::start(TERMINAL, &dir.path().join("terminal.toml"), &hub, BRANCH);
    assert_eq!(
        agent.wait_line(WAIT, |l| l.starts_with("terminal ")),
        format!("terminal {TERMINAL} branch {BRANCH} hub {hub}")
    );
    let mut found: Vec<String> = (0..3)
        .map(|_| agent.wait_line(WAIT, |l| l.starts_with("device ")))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            "device camera camera ready",
            "device id-reader id_reader ready",
            "device printer printer ready",
        ]
    );

    // A hub that does not know the terminal yet: the refusal is shown,
    // and the terminal tries again after the longest delay.
    let mut conn = Conn::accept(&listener);
    let hello = conn.recv();
    conn.send(
        Some(&hello.id),
        HubMessage::Error {
            code: cardhub_protocols::terminal::ErrorCode::AuthFailed,
            message: format!("terminal {TERMINAL} is not registered"),
            fatal: true,
        },
    );
    assert_eq!(
        agent.wait_line(WAIT, |l| l.starts_with("auth failed: ")),
        format!("auth failed: terminal {TERMINAL} is not registered")
    );
    assert!(
        agent
            .wait_line(WAIT, |l| l.starts_with("link down: "))
            .ends_with("(reconnecting in 2.0 s)")
    );
    drop(conn);

    // First connection: a new session.
    let mut conn = Conn::accept(&listener);
    let (resume, devices) = conn.handshake(&registered, welcome(false, 0, 30));
    assert_eq!(resume, None);
    let mut listed: Vec<_> = devices
        .iter()
        .map(|d| (d.name.as_str(), d.kind, d.state))
        .collect();
    listed.sort_by_key(|d| d.0);
    assert_eq!(
        listed,
        vec![
            ("camera", DeviceKind::Camera, DeviceState::Ready),
            ("id-reader", DeviceKind::IdReader, DeviceState::Ready),
            ("printer", DeviceKind::Printer, DeviceState::Ready),
        ]
    );
    agent.wait_line(WAIT, |l| l.starts_with("linked session=s-1 resumed=false"));
    // The card on the reader, seen by the terminal's poll.
    let (seq, device, event) = conn.event();
    assert_eq!((seq, device.as_str()), (1, "id-reader"));
    assert_eq!(event, DeviceEvent::CardPresent { atr: None });

    // An ID card read: the raw text block decodes at the hub.
    for op in [IdReaderCommand::FindCard {}, IdReaderCommand::SelectCard {}] {
        assert_eq!(
            ok(conn.request("id-reader", DeviceCommand::IdReader(op))),
            CommandOutput::Done {}
        );
    }
    let CommandOutput::IdCard { text, photo, .. } = ok(conn.request(
        "id-reader",
        DeviceCommand::IdReader(IdReaderCommand::ReadCard {}),
    )) else {
        panic!("read_card is answered with id_card");
    };
    assert_eq!(text.as_bytes().len(), 256);
    assert_eq!(photo.as_bytes().len(), 1024);
    match IdCard::decode(text.as_bytes()).expect("the text block decodes") {
        IdCard::Resident { .. } => {}
        other => panic!("expected the resident card, got {other:?}"),
    }

    // A photo: the camera's JPEG as it gave it.
    let CommandOutput::Photo {
        file_name,
        mime,
        data_base64,
    } = ok(conn.request("camera", DeviceCommand::Camera(CameraCommand::Capture {})))
    else {
        panic!("capture is answered with photo");
    };
    assert!(!file_name.is_empty());
    assert_eq!(mime, "image/jpeg");
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(data_base64)
        .expect("base64");
    let facts = PhotoRules::default()
        .check(&jpeg)
        .expect("the simulated camera's photo passes the centre's rules");
    assert_eq!((facts.width, facts.height), (358, 441));

    // The printer's status.
    match ok(conn.request("printer", DeviceCommand::Printer(PrinterCommand::Status {}))) {
        CommandOutput::PrinterStatus { state, .. } => assert_eq!(state, PrinterCondition::Ready),
        other => panic!("status is answered with printer_status, got {other:?}"),
    }

    // Unknown devices and commands of another kind are refused.
    let unknown = conn.request("scanner", DeviceCommand::Camera(CameraCommand::Capture {}));
    assert_eq!(error_code(unknown), CommandErrorCode::UnknownDevice);
    let wrong = conn.request("camera", DeviceCommand::Printer(PrinterCommand::Status {}));
    assert_eq!(error_code(wrong), CommandErrorCode::WrongDeviceKind);

    // The link is cut before the card event was acked: the terminal
    // resumes the session and sends the event again, with its seq.
    drop(conn);
    agent.wait_line(WAIT, |l| l.starts_with("link down: "));
    let mut conn = Conn::accept(&listener);
    let (resume, _) = conn.handshake(&registered, welcome(true, 0, 30));
    assert_eq!(
        resume,
        Some(Resume {
            session: "s-1".into(),
            last_seq: 0
        })
    );
    agent.wait_line(WAIT, |l| l.starts_with("linked session=s-1 resumed=true"));
    let (seq, device, event) = conn.event();
    assert_eq!((seq, device.as_str()), (1, "id-reader"));
    assert_eq!(event, DeviceEvent::CardPresent { atr: None });
    conn.send(None, HubMessage::Ack { seq: 1 });

    // Pushes: printed once, acked every time (a re-sent one too).
    let outcome = PushEvent::OperationOutcome {
        operation_id: "op-42".into(),
        operation: "card_check".into(),
        outcome: Outcome::Completed,
        detail: "the card is genuine".into(),
    };
    conn.push(1, outcome.clone());
    assert_eq!(conn.ack(), 1);
    assert_eq!(
        agent.wait_line(WAIT, |l| l.starts_with("outcome ")),
        "outcome op-42 card_check completed: the card is genuine"
    );
    conn.push(1, outcome);
    assert_eq!(conn.ack(), 1);
    conn.push(
        2,
        PushEvent::Notice {
            text: "the counter closes at 17:00".into(),
        },
    );
    assert_eq!(conn.ack(), 2);
    assert_eq!(
        agent.wait_line(WAIT, |l| l.starts_with("notice: ")),
        "notice: the counter closes at 17:00"
    );

    // A push that skips one: the terminal drops the link and resumes from
    // the last push it processed; the acked event is not sent again.
    conn.push(
        4,
        PushEvent::CardReady {
            application_id: "app-1".into(),
        },
    );
    agent.wait_line(WAIT, |l| {
        l.starts_with("link down: push 4 came before push 3")
    });
    let mut conn = Conn::accept(&listener);
    let (resume, _) = conn.handshake(&registered, welcome(true, 1, 1));
    assert_eq!(
        resume,
        Some(Resume {
            session: "s-1".into(),
            last_seq: 2
        })
    );
    match conn.recv().message {
        TerminalMessage::Heartbeat => {}
        other => panic!("after the device list only heartbeats were due, got {other:?}"),
    }

    // SIGTERM: a clean close, exit 0.
    let (status, lines) = agent.stop(nix::sys::signal::Signal::SIGTERM);
    let status = status.expect("the terminal ran until now");
    let closed = loop {
        match conn.ws.read() {
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => {}
            Err(e) => panic!("the terminal did not close the WebSocket cleanly: {e}"),
        }
    };
    assert!(closed.is_some(), "the close frame says why");
    assert!(status.success(), "cardhub terminal exited with {status}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("outcome ")).count(),
        1,
        "a re-sent push is not shown twice: {lines:#?}"
    );
    assert!(lines.iter().any(|l| l == "terminal stopped"), "{lines:#?}");
}

/// A PC/SC reader of the test rig (pcscd with vpcd readers) behind the
/// terminal: the simulated social security card inserted and removed
/// shows as `card_present` (with its ATR) and `card_removed`, and APDUs go
/// through the terminal to the card.
#[test]
fn a_pcsc_reader_reports_its_card_and_carries_apdus_through_the_terminal() {
    let lease = cardhub_devices::rig::ReaderLease::acquire().expect("a rig reader");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("terminal.toml"),
        format!(
            r#"
            [terminal]
            id = "{TERMINAL}"
            key_file = "keys/terminal-key.toml"

            [[card_readers]]
            name = "card-reader"
            reader = "{reader}"
            "#,
            reader = lease.reader_name(),
        ),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let hub = format!("ws://{}/ws/terminal", listener.local_addr().unwrap());
    let registered = make_key(dir.path(), &hub);

    let mut agent =
        TerminalProcess::start(TERMINAL, &dir.path().join("terminal.toml"), &hub, BRANCH);
    assert_eq!(
        agent.wait_line(WAIT, |l| l.starts_with("device ")),
        "device card-reader card_reader ready"
    );
    let mut conn = Conn::accept(&listener);
    let (_, devices) = conn.handshake(&registered, welcome(false, 0, 30));
    assert_eq!(devices.len(), 1);
    assert_eq!(
        (devices[0].kind, devices[0].state),
        (DeviceKind::CardReader, DeviceState::Ready)
    );

    let keys = dir.path().join("dev-keys.toml");
    std::fs::write(
        &keys,
        cardhub_protocols::crypto::KeyFile::generate_development().to_toml(),
    )
    .unwrap();
    let mut card = cardhub_tests::SimCardProcess::start(
        lease.port(),
        &dir.path().join("card.json"),
        "31000086F1A2B3D1",
        &keys,
    );
    card.wait_inserted();
    let (_, device, event) = conn.event();
    assert_eq!(device, "card-reader");
    let DeviceEvent::CardPresent { atr: Some(atr) } = event else {
        panic!("expected card_present with the ATR, got {event:?}");
    };

    let CommandOutput::Atr { atr: connected } = ok(conn.request(
        "card-reader",
        DeviceCommand::CardReader(CardReaderCommand::Connect {
            protocol: CardProtocol::Any,
        }),
    )) else {
        panic!("connect is answered with the ATR");
    };
    assert_eq!(connected, atr);
    // SELECT the master file by its identifier: any answer ends in SW1 SW2.
    let CommandOutput::ApduResponse { response } = ok(conn.request(
        "card-reader",
        DeviceCommand::CardReader(CardReaderCommand::Transmit {
            apdu: vec![0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00].into(),
        }),
    )) else {
        panic!("transmit is answered with the response APDU");
    };
    assert!(response.as_bytes().len() >= 2, "{response:?}");
    match ok(conn.request(
        "card-reader",
        DeviceCommand::CardReader(CardReaderCommand::Status {}),
    )) {
        CommandOutput::ReaderStatus {
            holds, connected, ..
        } => assert_eq!((holds, connected), (ReaderHolds::Present, true)),
        other => panic!("status is answered with reader_status, got {other:?}"),
    }

    card.control.remove().expect("the card is taken out");
    let (_, _, event) = conn.event();
    assert_eq!(event, DeviceEvent::CardRemoved {});
    let gone = conn.request(
        "card-reader",
        DeviceCommand::CardReader(CardReaderCommand::Transmit {
            apdu: vec![0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00].into(),
        }),
    );
    assert!(
        matches!(
            error_code(gone),
            CommandErrorCode::CardRemoved | CommandErrorCode::NoCard
        ),
        "a command to a card taken out fails as the card's absence"
    );
    card.stop();
    let (status, _) = agent.stop(nix::sys::signal::Signal::SIGTERM);
    let status = status.expect("the terminal ran until now");
    assert!(status.success(), "cardhub terminal exited with {status}");
}
