//! SELECT, READ RECORD, UPDATE RECORD, CREATE FILE and their refusals.

use super::*;
use cardhub_protocols::chip::profile::LifeCycle;

#[test]
fn select_mf_by_id_or_empty_data_and_missing_files_are_6a82() {
    let mut t = Terminal::blank(CardAlgorithm::Sm4);
    t.ok(&select_mf());
    t.ok(&Command::new(cla::PLAIN, ins::SELECT, select::BY_FID, 0));
    t.refused(&select_ssse(), StatusWord::FILE_NOT_FOUND);
    t.refused(
        &Command::new(cla::PLAIN, ins::SELECT, select::BY_FID, 0)
            .with_data(fid::SSSE.to_be_bytes()),
        StatusWord::FILE_NOT_FOUND,
    );
    t.refused(&select_ef(fid::EF05), StatusWord::FILE_NOT_FOUND);
}

#[test]
fn select_refuses_bad_parameters_and_lengths() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.refused(
        &Command::new(cla::PLAIN, ins::SELECT, 0x01, 0).with_data([0x3F, 0x00]),
        StatusWord::INCORRECT_P1P2,
    );
    t.refused(
        &Command::new(cla::PLAIN, ins::SELECT, select::BY_FID, 0x02).with_data([0x3F, 0x00]),
        StatusWord::INCORRECT_P1P2,
    );
    t.refused(
        &Command::new(cla::PLAIN, ins::SELECT, select::BY_FID, 0).with_data([0x3F]),
        StatusWord::WRONG_LENGTH,
    );
    t.refused(
        &Command::new(cla::SM, ins::SELECT, select::BY_FID, 0).with_data([0x3F, 0x00]),
        StatusWord::CLA_NOT_SUPPORTED,
    );
}

#[test]
fn select_ssse_by_name_and_by_id_then_its_efs() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_mf());
    t.refused(&select_ef(fid::EF05), StatusWord::FILE_NOT_FOUND);
    t.ok(&Command::new(cla::PLAIN, ins::SELECT, select::BY_FID, 0x0C)
        .with_data(fid::SSSE.to_be_bytes()));
    t.ok(&select_ef(fid::EF05));
    t.ok(&select_ssse());
    t.ok(&select_ef(fid::EF06));
    t.refused(&select_ef(0x0007), StatusWord::FILE_NOT_FOUND);
}

#[test]
fn read_record_by_tag_by_number_and_current_ef() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    let mut name = b"ZHANG SAN".to_vec();
    name.resize(30, 0);
    let c = t.update_record(6, 0x09, &name);
    t.ok(&c);
    // Field shapes: 0x30 = SFI 6 by tag, 0x34 = SFI 6 by number, 0x2C = SFI 5 by number.
    let expected = tlv::encode_record(0x09, &name).unwrap();
    assert_eq!(
        t.ok(&Command::new(0, ins::READ_RECORD, 0x09, 0x30).with_le(256)),
        expected
    );
    assert_eq!(
        t.ok(&Command::new(0, ins::READ_RECORD, 2, 0x34).with_le(32)),
        expected
    );
    let card_id = t.ok(&Command::new(0, ins::READ_RECORD, 1, 0x2C).with_le(256));
    assert_eq!(
        card_id,
        [&[0x01, 16][..], &[0u8; 16]].concat(),
        "records start as 00"
    );
    // SFI 0: the current EF, which READ RECORD above made EF05.
    assert_eq!(
        t.ok(&read_by_tag(0, 0x07, 11)),
        [&[0x07, 9][..], &[0u8; 9]].concat()
    );
    t.ok(&select_ef(fid::EF06));
    assert_eq!(t.ok(&read_by_tag(0, 0x09, 32)), expected);
}

#[test]
fn read_record_refusals() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    t.refused(&read_by_tag(0, 0x09, 256), StatusWord::FILE_NOT_FOUND);
    t.refused(&read_by_tag(7, 0x09, 256), StatusWord::FILE_NOT_FOUND);
    t.refused(&read_by_tag(6, 0x01, 256), StatusWord::RECORD_NOT_FOUND);
    t.refused(
        &Command::new(0, ins::READ_RECORD, 8, 0x34).with_le(256),
        StatusWord::RECORD_NOT_FOUND,
    );
    t.refused(
        &Command::new(0, ins::READ_RECORD, 1, 6 << 3 | 1).with_le(256),
        StatusWord::INCORRECT_P1P2,
    );
    t.refused(
        &Command::new(cla::PROPRIETARY, ins::READ_RECORD, 1, 0x34).with_le(256),
        StatusWord::CLA_NOT_SUPPORTED,
    );
}

#[test]
fn wrong_le_gets_6cxx_and_the_reissue_succeeds() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    let r = t.send(&read_by_tag(6, 0x09, 30));
    assert_eq!(r.sw, StatusWord::wrong_le(32));
    assert!(r.data.is_empty());
    let le = r.sw.correct_le().unwrap();
    assert_eq!(t.ok(&read_by_tag(6, 0x09, le)).len(), 32);
    // Le absent or 00: the whole record.
    assert_eq!(
        t.ok(&Command::new(0, ins::READ_RECORD, 0x0A, 0x30)).len(),
        3
    );
    assert_eq!(t.ok(&read_by_tag(6, 0x0A, 256)).len(), 3);
}

#[test]
fn update_record_under_uk_mac() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    let c = t.update_record(5, 0x07, b"A12345678");
    t.ok(&c);
    assert_eq!(&t.ok(&read_by_tag(5, 0x07, 256))[2..], b"A12345678");
    // Replaying the same command: its challenge is gone.
    t.refused(&c, StatusWord::REF_DATA_NOT_USABLE);
}

#[test]
fn update_record_refusals() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    let plain = Command::new(cla::PLAIN, ins::UPDATE_RECORD, 0x0A, 6 << 3)
        .with_data([0x0A, 1, b'1', 0, 0, 0, 0]);
    t.refused(&plain, StatusWord::SECURITY_NOT_SATISFIED);

    let body = Command::new(cla::SM, ins::UPDATE_RECORD, 0x0A, 6 << 3).with_data([0x0A, 1, b'1']);
    let challenge = t.challenge();
    let mut wrong = t.mac_with(CardKey::Maintenance, &challenge, body.clone());
    *wrong.data.last_mut().unwrap() ^= 0xFF;
    t.refused(&wrong, StatusWord::SM_DATA_INCORRECT);
    let good = t.mac_with(CardKey::Maintenance, &challenge, body.clone());
    t.refused(&good, StatusWord::REF_DATA_NOT_USABLE);
    // MAC under the wrong key (KT) is a wrong MAC too.
    let c = t.mac(CardKey::Transport, body);
    t.refused(&c, StatusWord::SM_DATA_INCORRECT);

    let tag_mismatch =
        Command::new(cla::SM, ins::UPDATE_RECORD, 0x0A, 6 << 3).with_data([0x0B, 1, 1]);
    let c = t.mac(CardKey::Maintenance, tag_mismatch);
    t.refused(&c, StatusWord::INCORRECT_DATA);
    let too_long =
        Command::new(cla::SM, ins::UPDATE_RECORD, 0x0A, 6 << 3).with_data([0x0A, 2, 1, 1]);
    let c = t.mac(CardKey::Maintenance, too_long);
    t.refused(&c, StatusWord::WRONG_LENGTH);
    let garbled = Command::new(cla::SM, ins::UPDATE_RECORD, 0x0A, 6 << 3).with_data([0x0A, 5, 1]);
    let c = t.mac(CardKey::Maintenance, garbled);
    t.refused(&c, StatusWord::INCORRECT_DATA);
    let c = t.update_record(5, 0x07, b"1");
    let mut missing = c.clone();
    missing.p1 = 0x20;
    t.refused(&missing, StatusWord::RECORD_NOT_FOUND);
    let mut by_number = c;
    by_number.p2 = 5 << 3 | 4;
    t.refused(&by_number, StatusWord::INCORRECT_P1P2);
    assert_eq!(
        &t.ok(&read_by_tag(6, 0x0A, 256))[2..],
        [0],
        "nothing was written"
    );
}

#[test]
fn create_file_needs_external_authentication_with_kt() {
    let mut t = Terminal::blank(CardAlgorithm::Sm4);
    let c = t.create_file(ssse_fcp());
    t.refused(&c, StatusWord::SECURITY_NOT_SATISFIED);
    assert_eq!(t.external_auth(CardKey::Transport).sw, StatusWord::OK);
    let body = Command::new(cla::PROPRIETARY_SM, ins::CREATE_FILE, 0, 0).with_data(ssse_fcp());
    let challenge = t.challenge();
    let mut wrong = t.mac_with(CardKey::Transport, &challenge, body);
    wrong.data[3] ^= 1;
    t.refused(&wrong, StatusWord::SM_DATA_INCORRECT);
    let c = t.create_file(ssse_fcp());
    t.ok(&c);
    t.ok(&select_ssse());
    // Security status of the MF survives selecting the SSSE under it.
    let c = t.create_file(ef_fcp(fid::EF05, 5, &profile::EF05_RECORDS));
    t.ok(&c);
    // A reset forgets the authentication.
    t.os.reset();
    t.ok(&select_ssse());
    let c = t.create_file(ef_fcp(fid::EF06, 6, &profile::EF06_RECORDS));
    t.refused(&c, StatusWord::SECURITY_NOT_SATISFIED);
}

#[test]
fn create_file_refuses_duplicates_malformed_fcp_and_secured_cards() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_mf());
    assert_eq!(t.external_auth(CardKey::Transport).sw, StatusWord::OK);
    let c = t.create_file(ssse_fcp());
    t.refused(&c, StatusWord::INCORRECT_DATA);
    t.ok(&select_ssse());
    let c = t.create_file(ef_fcp(fid::EF05, 5, &profile::EF05_RECORDS));
    t.refused(&c, StatusWord::INCORRECT_DATA);
    let c = t.create_file(ef_fcp(0x0007, 5, &profile::EF05_RECORDS));
    t.refused(&c, StatusWord::INCORRECT_DATA);
    for bad in [
        vec![0x62, 0x03, 0x82, 0x01, 0x04],
        vec![0x62, 0x05, 0x82, 0x01],
        tlv::encode(0x6F, &tlv::encode(fcp::DESCRIPTOR, &[fcp::TYPE_DF])),
        ef_fcp(0x0007, 31, &profile::EF05_RECORDS),
    ] {
        let c = t.create_file(bad);
        t.refused(&c, StatusWord::INCORRECT_DATA);
    }
    let c = t.create_file(ef_fcp(0x0007, 7, &profile::EF05_RECORDS));
    t.ok(&c);
    t.ok(&select_ef(0x0007));

    let mut s = Terminal::secured(CardAlgorithm::Sm4);
    s.ok(&select_mf());
    assert_eq!(s.external_auth(CardKey::Transport).sw, StatusWord::OK);
    let c = s.create_file(ef_fcp(0x0008, 8, &profile::EF05_RECORDS));
    s.refused(&c, StatusWord::CONDITIONS_NOT_SATISFIED);
    assert_eq!(s.os.memory().life_cycle, LifeCycle::Secured);
}
