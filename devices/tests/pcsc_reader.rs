//! The PC/SC driver and reader monitor against a real pcscd with vpcd
//! virtual readers (the test rig, `scripts/pcsc-rig.sh`, started on demand),
//! each test on a reader leased to it alone, with a minimal card on the far
//! side of the reader (`vpcd_card`).

mod vpcd_card;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use cardhub_devices::reader::{
    Atr, CardReader, MonitorConfig, PcscContext, PcscReader, ProtocolPreference, ReaderError,
    ReaderEvent, ReaderMonitor, ReaderState, VPCD_FRIENDLY_NAME, vpcd_card_port, vpcd_reader_name,
};
use cardhub_devices::rig::{self, ReaderLease};
use vpcd_card::{Received, VirtualCard};

/// A T=0 card's ATR: TS 3B, T0 02 (no interface bytes, two historical
/// bytes 14 50).
const ATR: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];

/// pcscd polls vpcd every 400 ms; this leaves room for a loaded machine.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

const READ_RECORD: [u8; 5] = [0x00, 0xB2, 0x01, 0x0C, 0x00];

/// Answers every APDU with its INS byte followed by 90 00.
fn ins_then_9000(apdu: &[u8]) -> Vec<u8> {
    vec![apdu[1], 0x90, 0x00]
}

fn lease() -> ReaderLease {
    ReaderLease::acquire().unwrap_or_else(|e| panic!("no rig reader: {e}"))
}

fn watch(reader: &str) -> (ReaderMonitor, Receiver<ReaderEvent>) {
    ReaderMonitor::channel(MonitorConfig::with_prefixes([reader])).expect("start the monitor")
}

/// The next event matching `wanted`, skipping others; panics after
/// [`EVENT_TIMEOUT`] with the events seen.
fn wait_for(events: &Receiver<ReaderEvent>, wanted: impl Fn(&ReaderEvent) -> bool) -> ReaderEvent {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let mut skipped = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if wanted(&event) => return event,
            Ok(event) => skipped.push(event),
            Err(e) => panic!("no matching reader event ({e}); saw {skipped:?}"),
        }
    }
}

/// Inserts a card into the leased reader and waits until pcscd has
/// powered it.
fn insert(lease: &ReaderLease, answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static) -> VirtualCard {
    let (_monitor, events) = watch(lease.reader_name());
    let card = VirtualCard::insert(lease.port(), &ATR, answer);
    wait_for(&events, |e| matches!(e, ReaderEvent::CardInserted { .. }));
    card
}

fn open(lease: &ReaderLease) -> PcscReader {
    PcscReader::open(lease.reader_name()).expect("open the leased reader")
}

#[test]
fn the_rig_lists_every_reader_under_its_documented_name() {
    rig::ensure_running().expect("start the rig");
    let context = PcscContext::establish().expect("pcscd runs");
    let listed = context
        .list_readers_with_prefix(&[VPCD_FRIENDLY_NAME.to_owned()])
        .expect("list readers");
    let expected = rig::rig_reader_names();
    assert_eq!(expected.len(), 2 * rig::rig_entries());
    assert_eq!(expected[0], "cardhub vpcd 35963 00 00");
    assert_eq!(expected[1], "cardhub vpcd 35963 00 01");
    assert_eq!(listed, expected, "pcscd's names for the rig readers");
}

#[test]
fn leases_hand_out_distinct_readers_with_their_ports() {
    let first = lease();
    let second = lease();
    assert_ne!(first.index(), second.index());
    for lease in [&first, &second] {
        assert_eq!(lease.port(), vpcd_card_port(lease.index()));
        assert_eq!(lease.reader_name(), vpcd_reader_name(lease.index()));
    }
}

#[test]
fn the_monitor_reports_a_card_inserted_and_removed() {
    let lease = lease();
    let name = lease.reader_name().to_owned();
    let (_monitor, events) = watch(&name);
    assert_eq!(
        wait_for(&events, |_| true),
        ReaderEvent::ReaderAdded(name.clone())
    );

    let card = VirtualCard::insert(lease.port(), &ATR, ins_then_9000);
    assert_eq!(
        wait_for(&events, |_| true),
        ReaderEvent::CardInserted {
            reader: name.clone(),
            atr: Atr::new(ATR)
        }
    );

    card.remove();
    assert_eq!(
        wait_for(&events, |_| true),
        ReaderEvent::CardRemoved { reader: name }
    );
}

#[test]
fn a_monitor_started_after_insertion_reports_the_card_already_there() {
    let lease = lease();
    let _card = insert(&lease, ins_then_9000);
    let (_monitor, events) = watch(lease.reader_name());
    assert_eq!(
        wait_for(&events, |_| true),
        ReaderEvent::ReaderAdded(lease.reader_name().to_owned())
    );
    assert!(matches!(
        wait_for(&events, |_| true),
        ReaderEvent::CardInserted { atr, .. } if atr.as_bytes() == ATR
    ));
}

#[test]
fn an_apdu_makes_the_round_trip_to_the_card() {
    let lease = lease();
    let card = insert(&lease, ins_then_9000);
    let mut reader = open(&lease);
    assert_eq!(reader.status(), ReaderState::Present { atr: Atr::new(ATR) });

    assert_eq!(
        reader.connect(ProtocolPreference::Any).unwrap(),
        Atr::new(ATR)
    );
    assert_eq!(reader.transmit(&READ_RECORD).unwrap(), [0xB2, 0x90, 0x00]);
    let select = [0x00, 0xA4, 0x04, 0x00, 0x02, 0x3F, 0x00];
    assert_eq!(reader.transmit(&select).unwrap(), [0xA4, 0x90, 0x00]);

    let apdus: Vec<Received> = card
        .drain()
        .into_iter()
        .filter(|r| matches!(r, Received::Apdu(_)))
        .collect();
    assert_eq!(
        apdus,
        [
            Received::Apdu(READ_RECORD.to_vec()),
            Received::Apdu(select.to_vec())
        ]
    );
    reader.disconnect().unwrap();
    assert!(!reader.is_connected());
}

#[test]
fn an_extended_length_response_arrives_whole() {
    let lease = lease();
    // READ BINARY with extended Le 0x1000: 4096 bytes of data plus 90 00.
    let _card = insert(&lease, |_| {
        let mut response: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        response.extend_from_slice(&[0x90, 0x00]);
        response
    });
    let mut reader = open(&lease);
    reader.connect(ProtocolPreference::Any).unwrap();
    let response = reader
        .transmit(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x10, 0x00])
        .unwrap();
    assert_eq!(response.len(), 4098);
    assert_eq!(response[4095], (4095 % 251) as u8);
    assert_eq!(&response[4096..], [0x90, 0x00]);
}

#[test]
fn pulling_the_card_fails_the_next_command_then_connect() {
    let lease = lease();
    let name = lease.reader_name().to_owned();
    let card = insert(&lease, ins_then_9000);
    let mut reader = open(&lease);
    reader.connect(ProtocolPreference::Any).unwrap();
    reader.transmit(&READ_RECORD).unwrap();

    let (_monitor, events) = watch(&name);
    card.remove();
    wait_for(&events, |e| matches!(e, ReaderEvent::CardRemoved { .. }));

    let err = reader.transmit(&READ_RECORD).unwrap_err();
    assert_eq!(
        err,
        ReaderError::CardRemoved {
            reader: name.clone(),
            command: "00B2010C".into()
        }
    );
    assert!(
        err.to_string().starts_with(&format!(
            "card removed from reader {name} during command 00B2010C"
        )),
        "{err}"
    );
    assert_eq!(reader.status(), ReaderState::Empty);
    assert_eq!(
        reader.connect(ProtocolPreference::Any).unwrap_err(),
        ReaderError::NoCard {
            reader: name.clone()
        }
    );
    assert_eq!(
        reader.transmit(&READ_RECORD).unwrap_err(),
        ReaderError::NotConnected { reader: name }
    );
}

#[test]
fn reconnect_with_reset_resets_the_card_and_keeps_the_session() {
    let lease = lease();
    let card = insert(&lease, ins_then_9000);
    let mut reader = open(&lease);
    reader.connect(ProtocolPreference::Any).unwrap();
    card.drain();

    assert_eq!(reader.reconnect(true).unwrap(), Atr::new(ATR));
    let sent = card.drain();
    assert!(
        sent.contains(&Received::Control(0x02)),
        "a reset reaches the card as vpcd's reset control, got {sent:?}"
    );
    assert_eq!(reader.transmit(&READ_RECORD).unwrap(), [0xB2, 0x90, 0x00]);

    assert_eq!(reader.reconnect(false).unwrap(), Atr::new(ATR));
    assert!(
        !card
            .drain()
            .iter()
            .any(|r| matches!(r, Received::Control(_))),
        "reconnecting without reset leaves the card alone"
    );
    assert_eq!(reader.transmit(&READ_RECORD).unwrap(), [0xB2, 0x90, 0x00]);
}

#[test]
fn a_reset_by_another_application_is_absorbed_by_one_reconnect() {
    let lease = lease();
    let card = insert(&lease, ins_then_9000);
    let mut ours = open(&lease);
    let mut theirs = open(&lease);
    ours.connect(ProtocolPreference::Any).unwrap();
    theirs.connect(ProtocolPreference::Any).unwrap();
    theirs.reconnect(true).unwrap();
    card.drain();

    assert_eq!(ours.transmit(&READ_RECORD).unwrap(), [0xB2, 0x90, 0x00]);
    assert_eq!(
        card.next_received(EVENT_TIMEOUT),
        Some(Received::Apdu(READ_RECORD.to_vec()))
    );
}

#[test]
fn asking_a_t0_card_for_t1_is_a_protocol_mismatch() {
    let lease = lease();
    let _card = insert(&lease, ins_then_9000);
    let mut reader = open(&lease);
    assert_eq!(
        reader.connect(ProtocolPreference::T1).unwrap_err(),
        ReaderError::ProtocolMismatch {
            reader: lease.reader_name().to_owned(),
            requested: "T=1".into()
        }
    );
    assert_eq!(
        reader.connect(ProtocolPreference::T0).unwrap(),
        Atr::new(ATR)
    );
}

#[test]
fn an_empty_reader_refuses_to_connect_and_commands_need_a_connection() {
    let lease = lease();
    let name = lease.reader_name().to_owned();
    let mut reader = open(&lease);
    assert_eq!(reader.status(), ReaderState::Empty);
    let err = reader.connect(ProtocolPreference::Any).unwrap_err();
    assert_eq!(
        err,
        ReaderError::NoCard {
            reader: name.clone()
        }
    );
    assert_eq!(
        err.to_string(),
        format!("no card in reader {name}: insert the card, then connect again")
    );
    assert_eq!(
        reader.transmit(&READ_RECORD).unwrap_err(),
        ReaderError::NotConnected { reader: name }
    );
}

#[test]
fn opening_a_reader_that_does_not_exist_says_it_is_gone() {
    rig::ensure_running().expect("start the rig");
    let name = "cardhub vpcd 1 00 00";
    assert_eq!(
        PcscReader::open(name).unwrap_err(),
        ReaderError::ReaderGone {
            reader: name.into()
        }
    );
}
