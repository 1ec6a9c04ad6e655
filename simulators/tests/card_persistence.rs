//! A card outlives the simulator process: its memory is saved after every
//! change and loaded at start, as a real card keeps its EEPROM.

mod common;

use cardhub_protocols::apdu::{Command, StatusWord, tlv};
use cardhub_protocols::chip::profile::{SSSE_NAME, cla, fcp, fid, ins};
use cardhub_simulators::card::{CardControl, CardMemory};
use common::*;

fn ssse_fcp() -> Vec<u8> {
    let mut body = tlv::encode(fcp::DESCRIPTOR, &[fcp::TYPE_DF]);
    body.extend(tlv::encode(fcp::FILE_ID, &fid::SSSE.to_be_bytes()));
    body.extend(tlv::encode(fcp::DF_NAME, SSSE_NAME));
    tlv::encode(fcp::TEMPLATE, &body)
}

fn select_ssse() -> Command {
    Command::new(cla::PLAIN, ins::SELECT, 4, 0).with_data(SSSE_NAME)
}

#[test]
fn files_and_counters_survive_a_restart_but_the_session_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = blank_card(dir.path());
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &path);
    // One failed external authentication, then a good one and CREATE FILE.
    let challenge = get_challenge(&mut peer);
    let r = peer.transmit(&external_auth_kt(&challenge, false));
    assert_eq!(r.sw, StatusWord::verify_failed(14));
    let challenge = get_challenge(&mut peer);
    let r = peer.transmit(&external_auth_kt(&challenge, true));
    assert!(r.sw.is_ok());
    let challenge = get_challenge(&mut peer);
    let create = Command::new(cla::PROPRIETARY_SM, ins::CREATE_FILE, 0, 0).with_data(ssse_fcp());
    assert!(peer.transmit(&mac_kt(&challenge, create)).sw.is_ok());
    assert!(peer.transmit(&select_ssse()).sw.is_ok());
    let challenge = get_challenge(&mut peer);
    assert_eq!(
        peer.transmit(&external_auth_kt(&challenge, false)).sw,
        StatusWord::verify_failed(14)
    );
    card.stop();
    assert!(
        CardMemory::load(&path)
            .unwrap()
            .find_df_by_name(SSSE_NAME)
            .is_some()
    );

    let (card, mut peer) = start_connected(&vpcd, &path);
    assert_eq!(kt_tries(&card), 14);
    assert!(
        peer.transmit(&select_ssse()).sw.is_ok(),
        "the DF is still there"
    );
    // The authentication of the last session is gone.
    let challenge = get_challenge(&mut peer);
    let create = Command::new(cla::PROPRIETARY_SM, ins::CREATE_FILE, 0, 0).with_data(ssse_fcp());
    assert_eq!(
        peer.transmit(&mac_kt(&challenge, create)).sw,
        StatusWord::SECURITY_NOT_SATISFIED
    );
    card.stop();
}

#[test]
fn a_change_applied_as_the_card_is_pulled_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = blank_card(dir.path());
    let vpcd = FakeVpcd::bind();
    let (card, mut peer) = start_connected(&vpcd, &path);
    let mut control = CardControl::connect(card.control_addr()).unwrap();
    let challenge = get_challenge(&mut peer);
    control.remove_after(1, true).unwrap();
    peer.transmit_expecting_removal(&external_auth_kt(&challenge, false));
    assert!(card.wait_connected(false, WAIT));
    let saved = CardMemory::load(&path).unwrap();
    assert_eq!(saved.mf.keys[0].tries_left, 14);
    card.stop();
}
