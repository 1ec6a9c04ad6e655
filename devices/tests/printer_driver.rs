//! The printer driver against the simulated printer over a real TCP
//! connection and a real pseudo-terminal (opened as a serial device): a
//! whole card, every printer fault and the error the driver reports, a
//! link dropped mid-command and the reconnection that finds the card
//! where it was, garbled replies and timeouts.

use std::path::Path;
use std::time::Duration;

use cardhub_devices::printer::{
    self, CardPosition, CardPrinter, ErrorCode, Panel, Printer, PrinterAddress, PrinterError,
    PrinterOptions, PrinterState, Station, Timeouts, Transport,
};
use cardhub_simulators::printer::{
    HostTransport, PrinterControl, PrinterSimConfig, PrinterSimulator, RunningPrinter,
};

const TRANSPORT_MASTER: [u8; 16] = [0x5A; 16];
const CHIP_1: &str = "3100008600000001";

fn face_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fastest);
    let mut writer = encoder.write_header().unwrap();
    let mut pixels = vec![0xE0u8; (width * height * 3) as usize];
    for (i, p) in pixels.iter_mut().enumerate().step_by(7) {
        *p = (i % 256) as u8;
    }
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

fn decoded_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("the face file is a PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).expect("the face file decodes");
    (frame.width, frame.height)
}

fn simulator(dir: &Path, host: HostTransport) -> RunningPrinter {
    let mut config = PrinterSimConfig::new(dir, TRANSPORT_MASTER);
    config.host = host;
    PrinterSimulator::start(config).expect("the simulated printer starts")
}

fn tcp_simulator(dir: &Path) -> RunningPrinter {
    simulator(dir, HostTransport::Tcp("127.0.0.1:0".parse().unwrap()))
}

fn address(sim: &RunningPrinter) -> PrinterAddress {
    sim.host_address()
        .parse()
        .expect("the simulator's address parses")
}

fn connect(sim: &RunningPrinter, timeouts: Timeouts) -> Printer<Box<dyn Transport>> {
    let options = PrinterOptions {
        timeouts,
        ..PrinterOptions::default()
    };
    printer::open_with("P1", &address(sim), options).expect("the driver connects")
}

fn control(sim: &RunningPrinter) -> PrinterControl {
    PrinterControl::connect(sim.control_addr()).unwrap()
}

/// A whole card: feed, both stations, face, print, overlay, eject.
fn make_a_card(p: &mut dyn CardPrinter, dir: &Path) {
    let status = p.status().unwrap();
    assert_eq!(status.state, PrinterState::Ready);
    assert_eq!(status.card, CardPosition::None);
    assert!(status.state.is_ready());
    p.feed().unwrap();
    assert_eq!(p.card_position().unwrap(), CardPosition::InPrinter);
    p.move_to(Station::Contact).unwrap();
    assert_eq!(p.card_position().unwrap(), CardPosition::Contact);
    p.move_to(Station::Contactless).unwrap();
    assert_eq!(p.status().unwrap().card, CardPosition::Contactless);
    p.download_panel(Panel::Colour, &face_png(1016, 648))
        .unwrap();
    p.print().unwrap();
    p.overlay().unwrap();
    p.eject().unwrap();
    assert_eq!(p.card_position().unwrap(), CardPosition::None);
    let face = dir.join(format!("out/000001-{CHIP_1}-face.png"));
    assert_eq!(decoded_size(&face), (1016, 648));
    assert!(dir.join(format!("out/000001-{CHIP_1}.card.json")).exists());
}

#[test]
fn a_card_is_made_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let sim = tcp_simulator(dir.path());
    let mut p = printer::open("P1", &address(&sim)).expect("open");
    assert_eq!(p.name(), "P1");
    make_a_card(p.as_mut(), dir.path());
    let status = p.status().unwrap();
    assert_eq!((status.hopper, status.ribbon_left), (Some(249), Some(499)));
    sim.stop();
}

#[test]
fn a_card_is_made_over_a_pty_opened_as_a_serial_line() {
    let dir = tempfile::tempdir().unwrap();
    let sim = simulator(dir.path(), HostTransport::Pty);
    let address = address(&sim);
    assert!(
        matches!(address, PrinterAddress::Serial { .. }),
        "{address}"
    );
    let mut p = connect(&sim, Timeouts::default());
    make_a_card(&mut p, dir.path());
    assert_eq!(p.ribbon_left().unwrap(), 499);
    let info = p.info().unwrap();
    assert_eq!(info.serial, "SIM-31000086");
    assert!(p.transport().peer().starts_with("serial:///dev/"));
    sim.stop();
}

#[test]
fn each_printer_fault_is_reported_with_its_state_and_advice() {
    let dir = tempfile::tempdir().unwrap();
    let sim = tcp_simulator(dir.path());
    let mut ctl = control(&sim);
    let mut p = connect(&sim, Timeouts::default());

    let err = p.move_to(Station::Contact).unwrap_err();
    assert!(
        matches!(err, PrinterError::NoCard { command: "Sic", .. }),
        "{err}"
    );
    assert!(!err.needs_operator() && !err.is_connection_lost());

    p.feed().unwrap();
    let err = p.feed().unwrap_err();
    assert!(
        matches!(err, PrinterError::Busy { command: "Si", .. }),
        "{err}"
    );

    ctl.jam().unwrap();
    let err = p.move_to(Station::Contact).unwrap_err();
    assert_eq!(err.state(), Some(PrinterState::CardJam));
    assert!(err.needs_operator());
    assert!(
        err.to_string()
            .contains("refused Sic: CARD_JAM: card jammed: open the cover and remove the card"),
        "{err}"
    );
    assert_eq!(p.status().unwrap().state, PrinterState::CardJam);
    assert_eq!(
        p.clear_error().unwrap_err().state(),
        Some(PrinterState::CardJam)
    );
    ctl.clear().unwrap();
    p.clear_error().unwrap();
    assert_eq!(
        p.status().unwrap().card,
        CardPosition::None,
        "the jammed card was taken out"
    );

    ctl.cover_open().unwrap();
    let err = p.feed().unwrap_err();
    assert_eq!(err.state(), Some(PrinterState::CoverOpen));
    assert!(
        err.to_string().contains("close the printer's cover"),
        "{err}"
    );
    ctl.cover_close().unwrap();

    ctl.hopper_empty().unwrap();
    let err = p.feed().unwrap_err();
    assert!(err.is_hopper_empty() && err.needs_operator(), "{err}");
    ctl.refill(None, None).unwrap();
    p.clear_error().unwrap();

    p.feed().unwrap();
    p.download_panel(Panel::Colour, &face_png(800, 600))
        .unwrap();
    let err = p.print().unwrap_err();
    assert!(
        matches!(&err, PrinterError::Refused { code: ErrorCode::BadData, text, .. } if text.contains("800 x 600")),
        "{err}"
    );
    ctl.ribbon_out().unwrap();
    p.download_panel(Panel::Colour, &face_png(1016, 648))
        .unwrap();
    let err = p.print().unwrap_err();
    assert_eq!(err.state(), Some(PrinterState::RibbonOut));
    assert!(err.to_string().contains("fit a new ribbon"), "{err}");

    let too_big = vec![0u8; cardhub_protocols::printer::MAX_PANEL_BYTES + 1];
    let err = p.download_panel(Panel::Colour, &too_big).unwrap_err();
    assert!(matches!(err, PrinterError::PanelTooLarge { .. }), "{err}");
    sim.stop();
}

#[test]
fn a_link_dropped_mid_command_is_reported_and_the_reconnection_finds_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let sim = tcp_simulator(dir.path());
    let mut ctl = control(&sim);
    let mut p = connect(&sim, Timeouts::default());
    p.feed().unwrap();
    ctl.drop_after(0, true).unwrap();
    let err = p.move_to(Station::Contact).unwrap_err();
    match &err {
        PrinterError::Disconnected {
            command,
            mid_command,
            ..
        } => assert_eq!((*command, *mid_command), ("Sic", true)),
        other => panic!("{other}"),
    }
    assert!(err.is_connection_lost());
    assert!(
        err.to_string().contains("may have been carried out"),
        "{err}"
    );
    // The next command reconnects by itself and finds the card moved.
    assert_eq!(p.card_position().unwrap(), CardPosition::Contact);
    assert_eq!(sim.snapshot().host.connections, 2);

    // A printer that went away entirely: nothing is carried out.
    ctl.drop_connection().unwrap();
    let port = sim.addr().unwrap().port();
    sim.stop();
    let err = p.eject().unwrap_err();
    assert!(
        matches!(err, PrinterError::Disconnected { .. }) && err.is_connection_lost(),
        "{err}"
    );
    let refused = printer::open(
        "P1",
        &PrinterAddress::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
    )
    .err()
    .expect("nothing listens any more");
    assert!(
        matches!(
            &refused,
            PrinterError::Disconnected {
                command: "connect",
                mid_command: false,
                ..
            }
        ),
        "{refused}"
    );
    assert!(refused.to_string().contains("nothing was carried out"));

    // Restarted on its state, the printer still holds the card.
    let sim = tcp_simulator(dir.path());
    let mut p = printer::open("P1", &address(&sim)).unwrap();
    assert_eq!(p.card_position().unwrap(), CardPosition::Contact);
    sim.stop();
}

#[test]
fn a_garbled_reply_is_a_protocol_error_and_the_next_reply_is_read_right() {
    let dir = tempfile::tempdir().unwrap();
    let sim = tcp_simulator(dir.path());
    let mut ctl = control(&sim);
    let mut p = connect(&sim, Timeouts::default());
    p.feed().unwrap();
    ctl.garble_next().unwrap();
    let err = p.card_position().unwrap_err();
    match &err {
        PrinterError::Protocol {
            command, received, ..
        } => {
            assert_eq!(*command, "Rlr");
            assert!(received.starts_with("\\xc3"), "hex-escaped: {received}");
        }
        other => panic!("{other}"),
    }
    assert!(!err.is_connection_lost());
    assert_eq!(p.card_position().unwrap(), CardPosition::InPrinter);
    sim.stop();
}

#[test]
fn a_slow_printer_times_out_naming_the_command_and_the_driver_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let sim = tcp_simulator(dir.path());
    let mut ctl = control(&sim);
    let mut p = connect(
        &sim,
        Timeouts {
            query_ms: 200,
            ..Timeouts::default()
        },
    );
    ctl.slow(5_000).unwrap();
    let err = p.status().unwrap_err();
    assert!(
        matches!(err, PrinterError::Timeout { command: "Rps", waited, .. } if waited == Duration::from_millis(200)),
        "{err}"
    );
    assert!(err.is_connection_lost());
    ctl.slow(0).unwrap();
    assert_eq!(p.status().unwrap().state, PrinterState::Ready);
    sim.stop();
}

#[test]
fn over_a_pty_a_dead_line_is_a_timeout_and_the_next_command_gets_through() {
    let dir = tempfile::tempdir().unwrap();
    let sim = simulator(dir.path(), HostTransport::Pty);
    let mut ctl = control(&sim);
    let mut p = connect(
        &sim,
        Timeouts {
            feed_ms: 300,
            ..Timeouts::default()
        },
    );
    ctl.drop_after(0, true).unwrap();
    let err = p.feed().unwrap_err();
    assert!(
        matches!(err, PrinterError::Timeout { command: "Si", .. }),
        "{err}"
    );
    assert_eq!(
        p.card_position().unwrap(),
        CardPosition::InPrinter,
        "the feed happened"
    );
    sim.stop();
}
