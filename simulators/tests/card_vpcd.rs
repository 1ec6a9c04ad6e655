//! The simulated card over vpcd's protocol, against a fake vpcd: framing,
//! controls, reconnection, and the faults that act on the connection.

mod common;

use std::time::{Duration, Instant};

use cardhub_protocols::apdu::StatusWord;
use cardhub_simulators::card::memory::DEFAULT_ATR;
use cardhub_simulators::card::{CardControl, CardSimulator};
use common::*;

#[test]
fn atr_and_apdus_travel_in_length_prefixed_frames() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &blank_card(dir.path()));
    assert_eq!(peer.atr(), DEFAULT_ATR);
    assert!(peer.transmit(&select_mf()).sw.is_ok());
    let r = peer.transmit(&get_data(0x01));
    assert_eq!(
        (r.sw, r.data.as_slice()),
        (StatusWord::OK, CARD_ID.as_bytes())
    );
    // A malformed APDU is answered, not dropped.
    assert_eq!(
        peer.try_transmit(&[0x00, 0xA4, 0x00]).unwrap(),
        Some(vec![0x67, 0x00])
    );
    assert_eq!(card.status().apdu_count, 3);
    card.stop();
    peer.expect_closed();
}

#[test]
fn reset_and_power_off_forget_the_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &blank_card(dir.path()));
    for forget in [common::Peer::reset, common::Peer::power_off] {
        let challenge = get_challenge(&mut peer);
        forget(&mut peer);
        peer.power_on();
        let r = peer.transmit(&external_auth_kt(&challenge, true));
        assert_eq!(r.sw, StatusWord::REF_DATA_NOT_USABLE);
    }
    let challenge = get_challenge(&mut peer);
    assert!(
        peer.transmit(&external_auth_kt(&challenge, true))
            .sw
            .is_ok()
    );
    card.stop();
}

#[test]
fn the_card_keeps_trying_until_vpcd_listens() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a port, then free it: vpcd is "not up yet".
    let addr = FakeVpcd::bind().addr();
    let card = CardSimulator::start(config(addr, &blank_card(dir.path()))).unwrap();
    assert!(!card.status().connected);
    let vpcd = FakeVpcd::bind_at(addr);
    let mut peer = vpcd.accept();
    assert!(card.wait_connected(true, WAIT));
    assert_eq!(peer.atr(), DEFAULT_ATR);
    card.stop();
}

#[test]
fn the_card_reconnects_when_vpcd_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, peer) = start_connected(&vpcd, &blank_card(dir.path()));
    assert!(card.wait_connected(true, WAIT));
    drop(peer);
    let mut again = vpcd.accept();
    assert_eq!(again.atr(), DEFAULT_ATR);
    assert!(card.status().inserted);
    card.stop();
}

#[test]
fn remove_closes_the_socket_and_insert_connects_again() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &blank_card(dir.path()));
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    control.remove().unwrap();
    peer.expect_closed();
    let state = control.wait_connected(false, WAIT).unwrap();
    assert!(!state.inserted && !state.connected);
    control.insert().unwrap();
    let mut peer = vpcd.accept();
    assert!(control.wait_connected(true, WAIT).unwrap().inserted);
    assert!(peer.transmit(&select_mf()).sw.is_ok());
    card.stop();
}

#[test]
fn a_card_can_start_removed() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let mut cfg = config(vpcd.addr(), &blank_card(dir.path()));
    cfg.inserted = false;
    let card = CardSimulator::start(cfg).unwrap();
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    assert!(!control.state().unwrap().inserted);
    control.insert().unwrap();
    let mut peer = vpcd.accept();
    assert_eq!(peer.atr(), DEFAULT_ATR);
    card.stop();
}

#[test]
fn remove_after_without_applying_the_last_apdu() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &blank_card(dir.path()));
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    let before = kt_tries(&card);
    control.remove_after(2, false).unwrap();
    let challenge = get_challenge(&mut peer);
    // A wrong cryptogram would cost a try; the card is pulled before it
    // sees it.
    peer.transmit_expecting_removal(&external_auth_kt(&challenge, false));
    assert!(card.wait_connected(false, WAIT));
    let state = control.state().unwrap();
    assert!(!state.inserted);
    assert_eq!(state.faults.remove_after, None);
    assert_eq!(kt_tries(&card), before);
    card.stop();
}

#[test]
fn remove_after_applying_the_last_apdu() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &blank_card(dir.path()));
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    let before = kt_tries(&card);
    control.remove_after(2, true).unwrap();
    let challenge = get_challenge(&mut peer);
    peer.transmit_expecting_removal(&external_auth_kt(&challenge, false));
    assert!(card.wait_connected(false, WAIT));
    assert_eq!(
        kt_tries(&card),
        before - 1,
        "the APDU took effect before removal"
    );
    card.stop();
}

#[test]
fn corrupt_next_flips_the_data_of_one_answer() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &blank_card(dir.path()));
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    control.corrupt_next().unwrap();
    // An answer without data leaves the corruption armed.
    assert_eq!(peer.transmit(&select_mf()).sw, StatusWord::OK);
    let r = peer.transmit(&get_data(0x01));
    assert_eq!(r.sw, StatusWord::OK);
    assert_ne!(r.data, CARD_ID.as_bytes());
    assert_eq!(&r.data[1..], &CARD_ID.as_bytes()[1..]);
    assert_eq!(peer.transmit(&get_data(0x01)).data, CARD_ID.as_bytes());
    card.stop();
}

#[test]
fn a_slow_card_answers_late_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &blank_card(dir.path()));
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    control.slow(150).unwrap();
    assert_eq!(control.state().unwrap().faults.slow_ms, 150);
    let started = Instant::now();
    assert!(peer.transmit(&select_mf()).sw.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(150));
    control.clear_faults().unwrap();
    assert_eq!(control.state().unwrap().faults.slow_ms, 0);
    card.stop();
}

#[test]
fn t0_answers_are_switched_on_through_the_control_channel() {
    let dir = tempfile::tempdir().unwrap();
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &blank_card(dir.path()));
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    control.set_t0_get_response(true).unwrap();
    let r = peer.transmit(&get_data(0x01));
    assert_eq!((r.sw, r.data.len()), (StatusWord::more_data(16), 0));
    let r = peer.transmit(&cardhub_protocols::apdu::Command::new(0, 0xC0, 0, 0).with_le(16));
    assert_eq!(
        (r.sw, r.data.as_slice()),
        (StatusWord::OK, CARD_ID.as_bytes())
    );
    assert!(control.state().unwrap().t0_get_response);
    card.stop();
}
