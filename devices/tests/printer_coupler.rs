//! The simulated printer's encoder (its coupler) through the real pcscd of
//! the PC/SC test rig: a reader leased to this test, the printer's coupler
//! on that reader's vpcd port, the printer driven over TCP, the encoder
//! driven with `PcscReader`. Each card fed is seen, after the reset the
//! hub makes when a card reaches the station, with its own chip id; a card
//! that left is no longer answered.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use cardhub_devices::printer::{self, PrinterAddress, Station};
use cardhub_devices::reader::{
    CardReader, MonitorConfig, PcscReader, ProtocolPreference, ReaderEvent, ReaderMonitor,
};
use cardhub_devices::rig::ReaderLease;
use cardhub_protocols::apdu::{Response, StatusWord};
use cardhub_protocols::chip::commands;
use cardhub_protocols::chip::profile::get_data;
use cardhub_simulators::printer::{PrinterSimConfig, PrinterSimulator};

/// pcscd polls vpcd every 400 ms; this leaves room for a loaded machine.
const WAIT: Duration = Duration::from_secs(10);

fn wait_for(events: &Receiver<ReaderEvent>, wanted: impl Fn(&ReaderEvent) -> bool) {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(event) if wanted(&event) => return,
            Ok(event) => seen.push(event),
            Err(e) => panic!("no matching reader event ({e}); saw {seen:?}"),
        }
    }
}

/// SELECT MF, then GET DATA of the card identification code.
fn chip_id(reader: &mut PcscReader) -> String {
    let select = commands::select_mf().to_bytes().unwrap();
    assert_eq!(select, [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00]);
    let answer = Response::parse(&reader.transmit(&select).unwrap()).unwrap();
    assert_eq!(answer.sw, StatusWord::OK, "SELECT MF: {}", answer.sw);
    let get = commands::get_data(get_data::CARD_ID_CODE)
        .to_bytes()
        .unwrap();
    let answer = Response::parse(&reader.transmit(&get).unwrap()).unwrap();
    assert_eq!(answer.sw, StatusWord::OK, "GET DATA: {}", answer.sw);
    String::from_utf8(answer.data).expect("the code is ASCII hex")
}

#[test]
fn the_encoder_answers_for_the_card_at_its_station_after_a_reset() {
    let lease = ReaderLease::acquire().unwrap_or_else(|e| panic!("no rig reader: {e}"));
    let (_monitor, events) =
        ReaderMonitor::channel(MonitorConfig::with_prefixes([lease.reader_name()]))
            .expect("start the monitor");
    let dir = tempfile::tempdir().unwrap();
    let mut config = PrinterSimConfig::new(dir.path(), [0x5A; 16]);
    config.vpcd = Some(format!("127.0.0.1:{}", lease.port()).parse().unwrap());
    config.chip_prefix = "3100008A".into();
    let sim = PrinterSimulator::start(config).unwrap();
    assert!(sim.wait_coupler(true, WAIT), "the coupler reached vpcd");
    // Before any card, the coupler's slot already looks occupied to pcscd.
    wait_for(&events, |e| matches!(e, ReaderEvent::CardInserted { .. }));

    let address: PrinterAddress = sim.host_address().parse().unwrap();
    let mut printer = printer::open("P1", &address).unwrap();
    printer.feed().unwrap();
    printer.move_to(Station::Contact).unwrap();

    let mut reader = PcscReader::open(lease.reader_name()).unwrap();
    reader.connect(ProtocolPreference::Any).unwrap();
    reader.reconnect(true).unwrap();
    assert_eq!(chip_id(&mut reader), "3100008A00000001");
    assert_eq!(sim.snapshot().coupler.bound_card, Some(1));

    // The next card, the hub's normal way: eject, feed, move, reset.
    printer.eject().unwrap();
    printer.feed().unwrap();
    printer.move_to(Station::Contact).unwrap();
    reader.reconnect(true).unwrap();
    assert_eq!(
        chip_id(&mut reader),
        "3100008A00000002",
        "the second card, after a reset"
    );
    let coupler = sim.snapshot().coupler;
    assert!(coupler.connected);
    assert_eq!(coupler.connections, 1, "one vpcd connection for both cards");

    // A card that moved is not answered until the encoder is reset.
    printer.move_to(Station::Contactless).unwrap();
    let select = commands::select_mf().to_bytes().unwrap();
    // vpcd ends that transmit with no response bytes (pcsc-lite passes an
    // empty answer on; the hub's APDU parsing refuses it).
    let answer = reader.transmit(&select);
    let answered = answer.is_ok_and(|r| Response::parse(&r).is_ok());
    assert!(
        !answered,
        "a card that moved needs a reset before it answers"
    );
    // The coupler is back at once; once vpcd took it up again, a reset
    // reaches the card.
    assert!(sim.wait_until(WAIT, |s| s.coupler.connections == 2 && s.coupler.connected));
    reader.reconnect(true).unwrap();
    assert_eq!(
        chip_id(&mut reader),
        "3100008A00000002",
        "at the contactless station"
    );
    printer.reject().unwrap();
    drop(reader);
    sim.stop();
}
