//! The ID card reader driver against the simulated reader over a real
//! pseudo-terminal (opened as a serial device): each card type read and
//! decoded, no card, a card placed while polling, the reader's checksum
//! error, a garbled answer, noise before an answer, a lost answer, the
//! card lifted mid-read, a number that fails its check, the `J` permit,
//! the SAM.

use std::time::Duration;

use cardhub_devices::id_reader::{
    self, CardKind, IdCard, IdCardReader, IdReaderConfig, IdReaderError, NaiveDate, NumberProblem,
    SerialIdReader, SerialTransport, Status, Timeouts,
};
use cardhub_protocols::id_reader::{FrameError, TextBlockError};
use cardhub_simulators::id_reader::{
    self as sim, Fault, RunningIdReader, SimCard, placeholder_photo,
};

/// Long enough for any answer on a pty, short enough for the tests that
/// wait for an answer that never comes.
const TIMEOUT_MS: u64 = 700;

/// How long a test waits for the simulator to see something.
const WAIT: Duration = Duration::from_secs(5);

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
}

fn simulator(card: Option<IdCard>) -> RunningIdReader {
    let card = card.map(|c| SimCard::from_card(&c).expect("the sample encodes"));
    sim::start(card).expect("the simulated reader starts")
}

fn connect(sim: &RunningIdReader) -> SerialIdReader<SerialTransport> {
    let config = IdReaderConfig {
        timeouts: Timeouts::all(TIMEOUT_MS),
        ..IdReaderConfig::new(sim.path())
    };
    id_reader::open("counter-1", &config).expect("the driver opens the pty")
}

#[test]
fn each_card_type_is_read_and_decoded() {
    for card in [
        sim::sample_resident(),
        sim::sample_permanent_2017(),
        sim::sample_permanent_2023(),
    ] {
        let sim = simulator(Some(card.clone()));
        let mut reader = connect(&sim);
        reader.sam_status().unwrap();
        let read = reader
            .read_when_present(Duration::from_secs(3), today())
            .unwrap();
        assert_eq!(read.card, card);
        let number = read.number.expect("the sample's number passes");
        assert_eq!(number.number(), card.number());
        assert_eq!(read.photo, placeholder_photo());
        assert_eq!(read.fingerprints, None);
    }
}

#[test]
fn fields_arrive_as_the_card_states_them() {
    let sim = simulator(Some(sim::sample_permanent_2023()));
    let mut reader = connect(&sim);
    let read = reader
        .read_when_present(Duration::from_secs(3), today())
        .unwrap();
    let IdCard::PermanentResidence2023 {
        english_name,
        nationality,
        ..
    } = &read.card
    else {
        panic!("a 2023 card: {:?}", read.card);
    };
    assert_eq!(english_name, "ABDULLAH MOHAMMED BIN SALMAN AL SAUD KHALID");
    assert_eq!(nationality, "682");
    assert_eq!(read.card.nationality().map(|n| n.alpha3), Some("SAU"));
}

#[test]
fn no_card_is_said_plainly_and_polling_gives_up_in_time() {
    let sim = simulator(None);
    let mut reader = connect(&sim);
    let error = reader.find_card().unwrap_err();
    assert!(matches!(error, IdReaderError::NoCard { .. }));
    assert!(error.to_string().contains("place the card"));
    let error = reader
        .read_when_present(Duration::from_millis(500), today())
        .unwrap_err();
    assert!(
        matches!(error, IdReaderError::NoCardWithin { .. }),
        "{error}"
    );
}

#[test]
fn a_card_placed_while_polling_is_read() {
    let sim = simulator(None);
    let control = sim.control();
    let mut reader = connect(&sim);
    let placer = std::thread::spawn(move || {
        // Place the card once the poll has found the reader empty twice.
        assert!(control.wait_until(WAIT, |s| s.requests >= 2));
        control.place(SimCard::from_card(&sim::sample_resident()).unwrap());
    });
    let read = reader
        .read_when_present(Duration::from_secs(5), today())
        .unwrap();
    placer.join().unwrap();
    assert_eq!(read.card.kind(), CardKind::Resident);
}

#[test]
fn a_checksum_error_from_the_reader_is_reported_and_the_next_command_works() {
    let sim = simulator(Some(sim::sample_resident()));
    let mut reader = connect(&sim);
    sim.control().arm(Fault::ChecksumErrorOnNextCommand);
    let error = reader.find_card().unwrap_err();
    assert!(
        matches!(
            error,
            IdReaderError::Refused {
                status: Status::ChecksumError,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("check the reader's cable"));
    reader.find_card().unwrap();
}

#[test]
fn a_garbled_answer_is_an_error_and_the_line_recovers() {
    let sim = simulator(Some(sim::sample_resident()));
    let mut reader = connect(&sim);
    sim.control().arm(Fault::GarbleNextAnswer);
    let error = reader.find_card().unwrap_err();
    assert!(
        matches!(
            error,
            IdReaderError::Garbled {
                source: FrameError::BadChecksum { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_link_problem());
    let read = reader
        .read_when_present(Duration::from_secs(3), today())
        .unwrap();
    assert_eq!(read.card, sim::sample_resident());
}

#[test]
fn noise_before_an_answer_is_skipped() {
    let sim = simulator(Some(sim::sample_permanent_2017()));
    let mut reader = connect(&sim);
    reader.find_card().unwrap();
    reader.select_card().unwrap();
    // Noise that starts like a preamble, then the whole read answer.
    sim.control().arm(Fault::NoiseBeforeNextAnswer(vec![
        0x00, 0xAA, 0xAA, 0x13, 0x96, 0x69, 0xFF,
    ]));
    let read = reader.read_card(today()).unwrap();
    assert_eq!(read.card, sim::sample_permanent_2017());
}

#[test]
fn an_answer_that_never_comes_is_no_reply_and_the_next_command_works() {
    let sim = simulator(Some(sim::sample_resident()));
    let mut reader = connect(&sim);
    sim.control().arm(Fault::DropNextAnswer);
    let error = reader.find_card().unwrap_err();
    assert!(
        matches!(error, IdReaderError::NoReply { received: 0, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("powered and connected"));
    reader.find_card().unwrap();
}

#[test]
fn a_card_lifted_mid_read_is_a_failed_read_and_the_reader_is_empty() {
    let sim = simulator(Some(sim::sample_resident()));
    let mut reader = connect(&sim);
    sim.control().arm(Fault::RemoveCardDuringNextRead);
    let error = reader
        .read_when_present(Duration::from_secs(3), today())
        .unwrap_err();
    assert!(matches!(error, IdReaderError::ReadFailed { .. }), "{error}");
    assert!(error.to_string().contains("keep it still"));
    assert!(!sim.control().snapshot().card_present);
    assert!(matches!(
        reader.find_card(),
        Err(IdReaderError::NoCard { .. })
    ));
}

#[test]
fn a_number_that_fails_its_check_is_read_and_flagged() {
    let IdCard::Resident {
        name,
        sex,
        ethnicity,
        birth_date,
        address,
        authority,
        valid_from,
        valid_to,
        ..
    } = sim::sample_resident()
    else {
        unreachable!("the resident sample");
    };
    let misprinted = IdCard::Resident {
        name,
        sex,
        ethnicity,
        birth_date,
        address,
        number: "110105194912310021".to_owned(),
        authority,
        valid_from,
        valid_to,
    };
    let sim = simulator(Some(misprinted.clone()));
    let mut reader = connect(&sim);
    let read = reader
        .read_when_present(Duration::from_secs(3), today())
        .unwrap();
    assert_eq!(read.card, misprinted);
    assert!(matches!(read.number, Err(NumberProblem::Invalid { .. })));
}

#[test]
fn a_residence_permit_is_recognised_and_refused_as_not_supported() {
    let mut block = sim::sample_resident().encode().unwrap();
    block[CardKind::MARKER_AT] = b'J';
    let sim = sim::start(Some(SimCard::from_text_block(block))).unwrap();
    let mut reader = connect(&sim);
    let error = reader
        .read_when_present(Duration::from_secs(3), today())
        .unwrap_err();
    assert!(
        matches!(
            error,
            IdReaderError::Text {
                source: TextBlockError::Unsupported {
                    kind: CardKind::HkMacaoTaiwanResidencePermit
                },
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("by hand"));
}

#[test]
fn fingerprints_are_read_when_configured() {
    let card = SimCard::from_card(&sim::sample_resident())
        .unwrap()
        .with_fingerprints(vec![0xF1; 1024]);
    let sim = sim::start(Some(card)).unwrap();
    let config = IdReaderConfig {
        timeouts: Timeouts::all(TIMEOUT_MS),
        fingerprints: true,
        ..IdReaderConfig::new(sim.path())
    };
    let mut reader = id_reader::open("counter-1", &config).unwrap();
    let read = reader
        .read_when_present(Duration::from_secs(3), today())
        .unwrap();
    assert_eq!(read.fingerprints.as_deref(), Some(&[0xF1; 1024][..]));
}

#[test]
fn a_failing_sam_is_reported_with_its_advice() {
    let sim = simulator(None);
    let mut reader = connect(&sim);
    sim.control().set_sam_ok(false);
    let error = reader.sam_status().unwrap_err();
    assert!(
        matches!(
            error,
            IdReaderError::Refused {
                status: Status::SamSelfTestFailed,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("restart the reader"));
}
