//! The control channel: malformed requests, record tampering, waiting,
//! shutdown; and the CLI entry that creates blank cards.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cardhub_protocols::chip::profile::LifeCycle;
use cardhub_protocols::chip::sm::CardAlgorithm;
use cardhub_simulators::card::cli::{self, BlankCard, CliError, SimCardArgs};
use cardhub_simulators::card::{CardControl, CardMemory, CardSimulator, ControlError, SimError};
use common::*;

fn raw_exchange(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    line: &[u8],
) -> serde_json::Value {
    stream.write_all(line).unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap()
}

#[test]
fn malformed_requests_get_an_error_line_and_the_connection_stays() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let card = CardSimulator::start(config(vpcd.addr(), &blank_card(dir.path()))).unwrap();
    let mut stream = TcpStream::connect(card.control_addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for (line, hint) in [
        (&b"{ not json\n"[..], "malformed request"),
        (b"{\"cmd\":\"explode\"}\n", "unknown variant"),
        (b"{\"cmd\":\"slow\"}\n", "missing field `ms`"),
        (b"{\"cmd\":\"remove\",\"now\":true}\n", "unknown field"),
        (b"\xFF\xFE\n", "not UTF-8"),
        (b"{\"cmd\":\"slow\",\"ms\":600000}\n", "more than"),
    ] {
        let reply = raw_exchange(&mut stream, &mut reader, line);
        assert_eq!(reply["ok"], false, "{reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.contains(hint), "{error}");
    }
    // Blank lines are skipped; the connection still answers.
    let reply = raw_exchange(&mut stream, &mut reader, b"\n{\"cmd\":\"state\"}\n");
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["state"]["card_id_code"], CARD_ID);
    assert_eq!(reply["state"]["life_cycle"], "01");
    card.stop();
}

#[test]
fn requests_in_the_documented_shapes_are_understood() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let card = CardSimulator::start(config(vpcd.addr(), &blank_card(dir.path()))).unwrap();
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    for line in [
        r#"{"cmd":"remove_after","apdus":3,"apply_last":false}"#,
        r#"{"cmd":"corrupt_next"}"#,
        r#"{"cmd":"slow","ms":50}"#,
    ] {
        assert!(control.send_line(line).unwrap().ok, "{line}");
    }
    let state = control.state().unwrap();
    assert_eq!(state.faults.slow_ms, 50);
    assert!(state.faults.corrupt_next);
    assert_eq!(state.faults.remove_after.map(|r| r.apdus), Some(3));
    card.stop();
}

#[test]
fn tamper_record_edits_a_record_and_refuses_what_cannot_be() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    // A formatted card file, built directly: SSSE with EF06.
    let mut memory = CardMemory::blank(CARD_ID, &TRANSPORT_MASTER, CardAlgorithm::Sm4).unwrap();
    let mut ssse =
        cardhub_simulators::card::memory::DedicatedFile::new(0x0001, Some(b"sx1".to_vec()));
    ssse.efs.push(cardhub_simulators::card::memory::RecordFile {
        fid: 0x0006,
        sfi: 6,
        records: vec![cardhub_simulators::card::memory::Record {
            tag: 0x09,
            value: vec![0; 30],
        }],
    });
    memory.mf.dfs.push(ssse);
    memory.save(&path).unwrap();

    let vpcd = FakeVpcd::bind();
    let card = CardSimulator::start(config(vpcd.addr(), &path)).unwrap();
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    control.tamper_record(6, 0x09, b"WANG WU").unwrap();
    let mut expected = b"WANG WU".to_vec();
    expected.resize(30, 0);
    assert_eq!(
        control.state().unwrap().record(6, 0x09),
        Some(expected.clone())
    );
    assert_eq!(
        CardMemory::load(&path).unwrap().mf.dfs[0].efs[0].records[0].value,
        expected,
        "the edit is saved"
    );
    for (line, hint) in [
        (
            r#"{"cmd":"tamper_record","sfi":6,"tag":9,"value_hex":"zz"}"#,
            "not hex",
        ),
        (
            r#"{"cmd":"tamper_record","sfi":5,"tag":1,"value_hex":"00"}"#,
            "no EF with SFI 5",
        ),
        (
            r#"{"cmd":"tamper_record","sfi":6,"tag":10,"value_hex":"00"}"#,
            "no record with tag 0A",
        ),
    ] {
        let reply = control.send_line(line).unwrap();
        assert!(!reply.ok);
        assert!(reply.error.as_deref().unwrap().contains(hint), "{reply:?}");
    }
    assert!(matches!(
        control.tamper_record(6, 0x09, &[1; 31]),
        Err(ControlError::Refused(e)) if e.contains("holds 30 bytes")
    ));
    card.stop();
}

#[test]
fn wait_connected_times_out_with_a_hint_when_vpcd_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let addr = FakeVpcd::bind().addr();
    let card = CardSimulator::start(config(addr, &blank_card(dir.path()))).unwrap();
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    let err = control
        .wait_connected(true, Duration::from_millis(100))
        .unwrap_err();
    assert!(err.to_string().contains("is vpcd"), "{err}");
    // Disconnected already: answered at once.
    assert!(!control.wait_connected(false, WAIT).unwrap().connected);
    card.stop();
}

#[test]
fn shutdown_ends_a_simulator_waiting_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let card = CardSimulator::start(config(vpcd.addr(), &blank_card(dir.path()))).unwrap();
    let addr = card.control_addr();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        card.wait_for_shutdown();
        let _ = done_tx.send(());
    });
    let mut control = CardControl::connect(addr).unwrap();
    control.shutdown().unwrap();
    done_rx.recv_timeout(WAIT).expect("the simulator stopped");
    assert!(matches!(
        control.state(),
        Err(ControlError::Closed | ControlError::Io(_))
    ));
    assert!(matches!(
        CardControl::connect(addr),
        Err(ControlError::Connect { .. })
    ));
}

#[test]
fn starting_without_a_card_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = CardSimulator::start(config(
        FakeVpcd::bind().addr(),
        &dir.path().join("none.json"),
    ))
    .unwrap_err();
    assert!(matches!(err, SimError::Memory(_)), "{err}");
    assert!(err.to_string().contains("none.json"), "{err}");
}

#[test]
fn the_cli_creates_a_blank_card_once_and_keeps_it_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    let vpcd = FakeVpcd::bind();
    let args = SimCardArgs {
        vpcd: cli::resolve_addr(&vpcd.addr().to_string()).unwrap(),
        card_file: path.clone(),
        control: "127.0.0.1:0".parse().unwrap(),
        blank: Some(BlankCard::parse(CARD_ID, &hex::encode([0x5A; 16]), "3des").unwrap()),
        inserted: true,
        t0_get_response: false,
    };
    let card = cli::start(args.clone()).unwrap();
    let mut peer = vpcd.accept();
    assert!(peer.transmit(&select_mf()).sw.is_ok());
    let status = card.status();
    assert_eq!(status.life_cycle(), Some(LifeCycle::OpReady));
    assert_eq!(status.keys[0].algorithm, CardAlgorithm::Tdes);
    card.stop();
    // The file now exists and is kept, even with another --blank.
    let mut memory = CardMemory::load(&path).unwrap();
    memory.life_cycle = LifeCycle::Initialized;
    memory.save(&path).unwrap();
    let mut again = args;
    again.blank = Some(BlankCard::parse("2200000012345678", &hex::encode([1; 16]), "sm4").unwrap());
    let card = cli::start(again).unwrap();
    assert_eq!(card.status().life_cycle(), Some(LifeCycle::Initialized));
    assert_eq!(card.status().card_id_code, CARD_ID);
    card.stop();
}

#[test]
fn cli_values_are_checked() {
    assert!(matches!(
        BlankCard::parse("123", &"00".repeat(16), "sm4"),
        Err(CliError::Memory(_))
    ));
    assert!(matches!(
        BlankCard::parse(CARD_ID, "0011", "sm4"),
        Err(CliError::TransportKey)
    ));
    assert!(matches!(
        BlankCard::parse(CARD_ID, &"00".repeat(16), "aes"),
        Err(CliError::Algorithm(_))
    ));
    assert_eq!(cli::parse_algorithm("SM4").unwrap(), CardAlgorithm::Sm4);
    assert_eq!(cli::parse_algorithm("tdes").unwrap(), CardAlgorithm::Tdes);
    assert!(
        cli::resolve_addr("localhost:35963")
            .unwrap()
            .ip()
            .is_loopback()
    );
    assert!(matches!(
        cli::resolve_addr("no port"),
        Err(CliError::Address { .. })
    ));
    let debug = format!(
        "{:?}",
        BlankCard::parse(CARD_ID, &"AB".repeat(16), "sm4").unwrap()
    );
    assert!(!debug.contains("AB") && !debug.contains("171"), "{debug}");
}
