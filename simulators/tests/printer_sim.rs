//! The simulated printer as a hub meets it, with raw protocol bytes over a
//! real TCP connection and a real pseudo-terminal: a whole card, bad
//! frames, the files it leaves (faces, finished cards' chips, its state),
//! restarts, one host at a time, link faults, and the control channel.
//! (The driver's view of the same printer is in
//! devices/tests/printer_driver.rs.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cardhub_protocols::printer::{
    CardPosition, Command, ErrorCode, Panel, PrinterState, Reply, ReplyDecoder, Station,
    StatusReport,
};
use cardhub_simulators::card::CardMemory;
use cardhub_simulators::printer::{
    ControlError, HostTransport, PrinterControl, PrinterSimConfig, PrinterSimulator,
    RunningPrinter, cli,
};
use serialport::SerialPort;

const WAIT: Duration = Duration::from_secs(10);
const TRANSPORT_MASTER: [u8; 16] = [0x5A; 16];

fn face_png() -> Vec<u8> {
    let (width, height) = (1016, 648);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fastest);
    let mut writer = encoder.write_header().unwrap();
    let pixels: Vec<u8> = (0..width * height * 3).map(|i| (i % 251) as u8).collect();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

fn decoded_size(png_bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("the face file is a PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).expect("the face file decodes");
    (frame.width, frame.height)
}

fn start(dir: &Path) -> RunningPrinter {
    PrinterSimulator::start(PrinterSimConfig::new(dir, TRANSPORT_MASTER)).unwrap()
}

/// A host on any byte link, reading replies with the real decoder.
struct Host<L: Read + Write> {
    link: L,
    decoder: ReplyDecoder,
}

impl Host<TcpStream> {
    fn tcp(printer: &RunningPrinter) -> Self {
        let stream = TcpStream::connect(printer.addr().unwrap()).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Host {
            link: stream,
            decoder: ReplyDecoder::new(),
        }
    }

    /// Whether the printer closed the connection (read returns 0).
    fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.link.read(&mut byte), Ok(0) | Err(_))
    }
}

impl<L: Read + Write> Host<L> {
    fn send_raw(&mut self, bytes: &[u8]) {
        self.link.write_all(bytes).unwrap();
    }

    fn reply(&mut self) -> Reply {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(reply) = self.decoder.decode() {
                return reply.expect("a well-formed reply");
            }
            assert!(Instant::now() < deadline, "no reply in time");
            let mut chunk = [0u8; 512];
            match self.link.read(&mut chunk) {
                Ok(0) => panic!("the printer closed the link"),
                Ok(n) => self.decoder.push(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    fn send(&mut self, command: &Command) -> Reply {
        self.send_raw(&command.to_bytes().unwrap());
        self.reply()
    }

    fn ok(&mut self, command: Command) {
        assert_eq!(self.send(&command), Reply::Ok, "{command:?}");
    }

    fn status(&mut self) -> StatusReport {
        match self.send(&Command::ReadStatus) {
            Reply::Value(v) => StatusReport::parse(&v).unwrap(),
            other => panic!("Rps: {other:?}"),
        }
    }

    fn position(&mut self) -> String {
        match self.send(&Command::ReadCardPosition) {
            Reply::Value(v) => v,
            other => panic!("Rlr: {other:?}"),
        }
    }
}

fn code(reply: &Reply) -> Option<ErrorCode> {
    match reply {
        Reply::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn a_card_made_over_tcp_leaves_its_face_and_its_chip_in_the_out_directory() {
    let dir = tempfile::tempdir().unwrap();
    let printer = start(dir.path());
    let mut host = Host::tcp(&printer);
    let setup = b"\x1bPem;2\r\x1bPcim;F\r\x1bPcem;I\r\x1bPneab;E\r\x1bPr;ymcko\r";
    host.send_raw(setup);
    for _ in 0..5 {
        assert_eq!(host.reply(), Reply::Ok);
    }
    assert_eq!(host.status().state, PrinterState::Ready);
    host.ok(Command::Insert);
    host.ok(Command::MoveTo(Station::Contact));
    assert_eq!(host.position(), "SMART");
    host.ok(Command::MoveTo(Station::Contactless));
    assert_eq!(host.position(), "CONTACTLESS");
    let face = face_png();
    host.ok(Command::DownloadPanel {
        panel: Panel::Colour,
        data: face.clone(),
    });
    host.ok(Command::Print);
    host.ok(Command::Overlay);
    host.ok(Command::Eject);

    let chip = "3100008600000001";
    let face_file = dir.path().join(format!("out/000001-{chip}-face.png"));
    let written = std::fs::read(&face_file).expect("the face file was written");
    assert_eq!(written, face, "the face file is the panel as sent");
    assert_eq!(decoded_size(&written), (1016, 648));
    let card = CardMemory::load(&dir.path().join(format!("out/000001-{chip}.card.json")))
        .expect("the ejected card's chip was kept");
    assert_eq!(card.card_id_code, chip);
    assert!(
        !dir.path().join("card-in-printer.json").exists(),
        "no card is inside any more"
    );
    let state = printer.snapshot();
    assert_eq!(state.printer.counters.ejected, 1);
    assert_eq!(state.printer.hopper, 249);
    assert_eq!(state.printer.ribbon, 499);
    assert_eq!(state.host.commands, 15, "5 setup + Rps + 9 card commands");
    printer.stop();
}

#[test]
fn bad_frames_are_answered_and_the_stream_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let printer = start(dir.path());
    let mut host = Host::tcp(&printer);
    host.send_raw(b"hello\x1bSx\r\x1bRlr;q\r\x1bDbmp;c;3;abcd\r\x1bSi\x1bRlr;p\r");
    let replies: Vec<Reply> = (0..6).map(|_| host.reply()).collect();
    assert_eq!(code(&replies[0]), Some(ErrorCode::BadCommand), "garbage");
    assert!(matches!(&replies[0], Reply::Error { text, .. } if text.contains("hello")));
    assert_eq!(
        code(&replies[1]),
        Some(ErrorCode::BadCommand),
        "unknown command"
    );
    assert_eq!(code(&replies[2]), Some(ErrorCode::BadParameter));
    assert_eq!(code(&replies[3]), Some(ErrorCode::BadData), "wrong length");
    assert_eq!(
        code(&replies[4]),
        Some(ErrorCode::BadCommand),
        "Si without CR"
    );
    assert_eq!(replies[5], Reply::Value("NONE".into()));
    printer.stop();
}

#[test]
fn a_pty_host_opens_the_slave_as_a_serial_device_as_often_as_it_likes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = PrinterSimConfig::new(dir.path(), TRANSPORT_MASTER);
    config.host = HostTransport::Pty;
    let printer = PrinterSimulator::start(config).unwrap();
    let path = printer
        .pty_path()
        .expect("a pty printer has a slave path")
        .to_owned();
    assert!(printer.host_address().starts_with("serial:///dev/"));
    for round in 0..2 {
        let port = serialport::new(path.to_string_lossy(), 115_200)
            .timeout(WAIT)
            .open_native()
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        port.clear(serialport::ClearBuffer::Input).unwrap();
        let mut host = Host {
            link: port,
            decoder: ReplyDecoder::new(),
        };
        if round == 0 {
            host.ok(Command::Insert);
            host.ok(Command::MoveTo(Station::Contact));
        }
        assert_eq!(host.position(), "SMART", "round {round}: the card stays");
    }
    printer.stop();
}

#[test]
fn a_restarted_printer_continues_with_its_card_and_its_chip_counter() {
    let dir = tempfile::tempdir().unwrap();
    let printer = start(dir.path());
    let mut host = Host::tcp(&printer);
    host.ok(Command::Insert);
    host.ok(Command::MoveTo(Station::Contact));
    drop(host);
    printer.stop();
    assert!(dir.path().join("card-in-printer.json").exists());

    let printer = start(dir.path());
    let mut host = Host::tcp(&printer);
    assert_eq!(host.position(), "SMART");
    assert_eq!(
        printer.snapshot().chip_in_printer.as_deref(),
        Some("3100008600000001")
    );
    host.ok(Command::Reject);
    assert!(
        dir.path()
            .join("out/reject/000001-3100008600000001.card.json")
            .exists(),
        "a rejected card's chip goes under reject/"
    );
    host.ok(Command::Insert);
    assert_eq!(
        printer.snapshot().printer.card.unwrap().chip_id,
        "3100008600000002",
        "the chip counter survived the restart"
    );
    printer.stop();
}

#[test]
fn a_new_host_connection_takes_over_and_finds_the_card_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let printer = start(dir.path());
    let mut first = Host::tcp(&printer);
    first.ok(Command::Insert);
    let mut second = Host::tcp(&printer);
    assert_eq!(second.position(), "CARD");
    assert!(first.is_closed(), "the old connection was closed");
    assert_eq!(printer.snapshot().host.connections, 2);
    printer.stop();
}

#[test]
fn link_faults_drop_the_link_mid_command_and_garble_a_reply() {
    let dir = tempfile::tempdir().unwrap();
    let printer = start(dir.path());
    let mut control = PrinterControl::connect(printer.control_addr()).unwrap();
    let mut host = Host::tcp(&printer);
    host.ok(Command::Insert);
    // The next command is carried out but never answered.
    control.drop_after(0, true).unwrap();
    host.send_raw(&Command::MoveTo(Station::Contact).to_bytes().unwrap());
    assert!(host.is_closed());
    let mut host = Host::tcp(&printer);
    assert_eq!(host.position(), "SMART", "the move happened");
    // One command answered, then one dropped without being carried out.
    control.drop_after(1, false).unwrap();
    host.status();
    host.send_raw(&Command::Eject.to_bytes().unwrap());
    assert!(host.is_closed());
    let mut host = Host::tcp(&printer);
    assert_eq!(host.position(), "SMART", "the eject did not happen");
    control.garble_next().unwrap();
    host.send_raw(&Command::ReadCardPosition.to_bytes().unwrap());
    let mut raw = [0u8; 6];
    host.link.read_exact(&mut raw).unwrap();
    assert_eq!(&raw, b"\xd3MART\r", "SMART with its first byte garbled");
    assert_eq!(host.position(), "SMART", "the next reply is clean");
    control.drop_connection().unwrap();
    assert!(host.is_closed());
    printer.stop();
}

#[test]
fn printer_faults_from_the_control_channel_reach_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let printer = start(dir.path());
    let mut control = PrinterControl::connect(printer.control_addr()).unwrap();
    let mut host = Host::tcp(&printer);
    host.ok(Command::Insert);
    control.jam().unwrap();
    let reply = host.send(&Command::MoveTo(Station::Contact));
    assert!(
        matches!(&reply, Reply::Error { code: ErrorCode::CardJam, text } if text.starts_with("card jammed: open the cover")),
        "{reply:?}"
    );
    assert_eq!(host.status().state, PrinterState::CardJam);
    control.clear().unwrap();
    host.ok(Command::ClearError);
    assert_eq!(host.status().card, CardPosition::None);
    assert!(
        dir.path()
            .join("out/reject/000001-3100008600000001.card.json")
            .exists(),
        "the jammed card taken out is kept under reject/"
    );
    control.cover_open().unwrap();
    assert_eq!(
        code(&host.send(&Command::Insert)),
        Some(ErrorCode::CoverOpen)
    );
    control.cover_close().unwrap();
    control.hopper_empty().unwrap();
    assert_eq!(
        code(&host.send(&Command::Insert)),
        Some(ErrorCode::HopperEmpty)
    );
    control.refill(Some(2), None).unwrap();
    host.ok(Command::ClearError);
    host.ok(Command::Insert);
    control.ribbon_out().unwrap();
    host.ok(Command::DownloadPanel {
        panel: Panel::Colour,
        data: face_png(),
    });
    assert_eq!(
        code(&host.send(&Command::Print)),
        Some(ErrorCode::RibbonOut)
    );
    let state = control.state().unwrap();
    assert_eq!(state.state, "RIBBON_OUT");
    assert_eq!(state.printer.hopper, 1);
    printer.stop();
}

#[test]
fn the_control_channel_refuses_what_it_does_not_understand() {
    let dir = tempfile::tempdir().unwrap();
    let printer = start(dir.path());
    let mut control = PrinterControl::connect(printer.control_addr()).unwrap();
    let reply = control.send_line("{\"cmd\":\"explode\"}").unwrap();
    assert!(!reply.ok && reply.error.unwrap().contains("malformed request"));
    let reply = control.send_line("{\"cmd\":\"jam\",\"now\":true}").unwrap();
    assert!(!reply.ok && reply.error.unwrap().contains("unknown field `now`"));
    let reply = control
        .send_line("{\"cmd\":\"refill\",\"hopper\":3}")
        .unwrap();
    assert!(reply.ok, "refill takes optional fields");
    assert!(matches!(
        control.slow(10_000_000),
        Err(ControlError::Refused(_))
    ));
    let err = control
        .wait_coupler(true, Duration::from_millis(50))
        .unwrap_err();
    assert!(err.to_string().contains("coupler did not become connected"));
    control.shutdown().unwrap();
    printer.wait_for_shutdown();
}

#[test]
fn faces_can_be_switched_off_and_the_cli_announces_its_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let args = cli::SimPrinterArgs {
        host: HostTransport::Tcp("127.0.0.1:0".parse().unwrap()),
        vpcd: None,
        state_dir: dir.path().to_owned(),
        out_dir: None,
        timing: cli::parse_timing("zero").unwrap(),
        write_faces: cli::parse_faces("none").unwrap(),
        chip_prefix: "3100".into(),
        transport_key: TRANSPORT_MASTER,
        hopper: Some(7),
        control: "127.0.0.1:0".parse().unwrap(),
    };
    let printer = cli::start(args).unwrap();
    let mut lines = Vec::new();
    cli::announce(&printer, &mut lines).unwrap();
    let text = String::from_utf8(lines).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(": ").map_or(l, |(k, _)| k))
        .collect();
    assert_eq!(
        keys,
        [
            "listen",
            "address",
            "control",
            "vpcd",
            "state-dir",
            "out",
            "cardhub sim printer ready"
        ]
    );
    assert!(text.contains(&format!("address: tcp://{}", printer.addr().unwrap())));
    assert!(text.contains("vpcd: none"));
    let mut host = Host::tcp(&printer);
    assert_eq!(host.status().hopper, Some(7));
    host.ok(Command::Insert);
    host.ok(Command::DownloadPanel {
        panel: Panel::Colour,
        data: face_png(),
    });
    host.ok(Command::Print);
    host.ok(Command::Eject);
    let chip = "3100000000000001";
    assert!(
        !dir.path()
            .join(format!("out/000001-{chip}-face.png"))
            .exists()
    );
    assert!(
        dir.path()
            .join(format!("out/000001-{chip}.card.json"))
            .exists()
    );
    printer.stop();
}
