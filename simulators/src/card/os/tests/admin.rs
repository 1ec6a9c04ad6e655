//! GET DATA, WRITE KEY, SET STATUS, life-cycle enforcement, and the
//! refusals common to every command (class, instruction, malformed APDU).

use super::*;
use cardhub_protocols::chip::profile::LifeCycle;

#[test]
fn get_data_gives_card_id_life_cycle_and_key_ids() {
    let mut t = Terminal::blank(CardAlgorithm::Sm4);
    assert_eq!(
        t.ok(&get_data_cmd(get_data::CARD_ID_CODE)),
        CARD_ID.as_bytes()
    );
    assert_eq!(t.ok(&get_data_cmd(get_data::LIFE_CYCLE)), [0x01]);
    assert_eq!(t.ok(&get_data_cmd(get_data::KEY_IDS)), [key_id::TRANSPORT]);
    t.refused(&get_data_cmd(0xDF04), StatusWord::REF_DATA_NOT_FOUND);
    t.refused(
        &Command::new(cla::PLAIN, ins::GET_DATA, 0xDF, 0x01).with_le(256),
        StatusWord::CLA_NOT_SUPPORTED,
    );
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    assert_eq!(t.ok(&get_data_cmd(get_data::LIFE_CYCLE)), [0x07]);
    t.ok(&select_ssse());
    assert_eq!(
        t.ok(&get_data_cmd(get_data::KEY_IDS)),
        [1, 2, 3, 4, 5, 0x10]
    );
}

#[test]
fn write_key_refusals() {
    let mut t = Terminal::blank(CardAlgorithm::Sm4);
    assert_eq!(t.external_auth(CardKey::Transport).sw, StatusWord::OK);
    let c = t.create_file(ssse_fcp());
    t.ok(&c);
    t.ok(&select_ssse());
    let good = t.write_key(CardKey::Maintenance);
    t.ok(&get_data_cmd(get_data::LIFE_CYCLE));
    t.refused(&good, StatusWord::REF_DATA_NOT_USABLE);
    let body = Command::new(cla::PROPRIETARY_SM, ins::WRITE_KEY, 1, key_id::MAINTENANCE);
    let c = t.mac(
        CardKey::Maintenance,
        body.clone().with_data([0x36, 0x04, 0x0F]),
    );
    t.refused(&c, StatusWord::SM_DATA_INCORRECT);
    let c = t.mac(
        CardKey::Transport,
        body.clone().with_data([0x36, 0x04, 0x0F]),
    );
    t.refused(&c, StatusWord::WRONG_LENGTH);
    for bad in [
        [0x36, 0x07, 0x0F],
        [0x99, 0x04, 0x0F],
        [0x36, 0x04, 0x00],
        [0x36, 0x04, 0x10],
    ] {
        let data = [&bad[..], &[0u8; 16]].concat();
        let c = t.mac(CardKey::Transport, body.clone().with_data(data));
        t.refused(&c, StatusWord::INCORRECT_DATA);
    }
    // A PIN block that does not unwrap to BCD digits.
    let data = [&[key_usage::PIN, 0x04, 0x03][..], &[0u8; 16]].concat();
    let mut pin_body = body.clone().with_data(data);
    pin_body.p2 = key_id::PIN;
    let c = t.mac(CardKey::Transport, pin_body);
    t.refused(&c, StatusWord::INCORRECT_DATA);
    let mut wrong_p1 = t.write_key(CardKey::Maintenance);
    wrong_p1.p1 = 2;
    t.refused(&wrong_p1, StatusWord::INCORRECT_P1P2);
    assert_eq!(t.ok(&get_data_cmd(get_data::KEY_IDS)), Vec::<u8>::new());
    let c = t.write_key(CardKey::Maintenance);
    t.ok(&c);
    assert_eq!(
        t.ok(&get_data_cmd(get_data::KEY_IDS)),
        [key_id::MAINTENANCE]
    );
}

#[test]
fn written_keys_are_the_diversified_keys_with_their_algorithm() {
    let t = Terminal::formatted(CardAlgorithm::Tdes);
    let ssse = t.os.memory().df(&[fid::SSSE]).unwrap();
    for key in CardKey::DF_KEYS {
        let stored = ssse.key(key.id()).unwrap();
        assert_eq!(stored.usage, key.usage());
        assert_eq!(stored.algorithm, CardAlgorithm::Tdes);
        assert_eq!(stored.tries_left, profile::KEY_TRIES);
    }
    let pin = ssse.key(key_id::PIN).unwrap();
    assert_eq!(pin.max_tries, profile::DEFAULT_PIN_TRIES);
    assert_eq!(pin.value, pin_block(PIN, 16));
}

#[test]
fn structure_commands_are_refused_once_secured() {
    let mut t = Terminal::secured(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    let c = t.write_key(CardKey::Maintenance);
    t.refused(&c, StatusWord::CONDITIONS_NOT_SATISFIED);
    // Records can still be maintained under UK.
    let c = t.update_record(6, 0x0A, b"2");
    t.ok(&c);
}

#[test]
fn set_status_moves_forward_only() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    let c = t.set_status(LifeCycle::OpReady);
    t.refused(&c, StatusWord::CONDITIONS_NOT_SATISFIED);
    let c = t.set_status(LifeCycle::Initialized);
    t.refused(&c, StatusWord::CONDITIONS_NOT_SATISFIED);
    let bad_state = Command::new(cla::PROPRIETARY_SM, ins::SET_STATUS, 0x80, 0x03);
    let c = t.mac(CardKey::Transport, bad_state);
    t.refused(&c, StatusWord::INCORRECT_P1P2);
    let bad_p1 = Command::new(cla::PROPRIETARY_SM, ins::SET_STATUS, 0x00, 0x0F);
    let c = t.mac(CardKey::Transport, bad_p1);
    t.refused(&c, StatusWord::INCORRECT_P1P2);
    let body = Command::new(cla::PROPRIETARY_SM, ins::SET_STATUS, 0x80, 0x0F);
    let c = t.mac(CardKey::Maintenance, body.clone());
    t.refused(&c, StatusWord::SM_DATA_INCORRECT);
    let c = t.mac(CardKey::Transport, body.clone().with_data([1, 2]));
    t.refused(&c, StatusWord::WRONG_LENGTH);
    assert_eq!(t.os.memory().life_cycle, LifeCycle::Initialized);
    let c = t.set_status(LifeCycle::Secured);
    t.ok(&c);
    assert_eq!(t.ok(&get_data_cmd(get_data::LIFE_CYCLE)), [0x0F]);
}

#[test]
fn a_locked_card_answers_only_select_and_get_data() {
    let mut t = Terminal::secured(CardAlgorithm::Sm4);
    let c = t.set_status(LifeCycle::CardLocked);
    t.ok(&c);
    t.ok(&select_ssse());
    assert_eq!(t.ok(&get_data_cmd(get_data::LIFE_CYCLE)), [0x7F]);
    for cmd in [
        read_by_tag(6, 0x0A, 256),
        get_challenge(),
        verify(PIN),
        Command::new(0, ins::INTERNAL_AUTHENTICATE, 0, key_id::INTERNAL_AUTH).with_data([0; 8]),
        Command::new(cla::PROPRIETARY_SM, ins::SET_STATUS, 0x80, 0x7F).with_data([0; 4]),
    ] {
        t.refused(&cmd, StatusWord::FUNCTION_NOT_SUPPORTED);
    }
}

#[test]
fn unknown_class_instruction_and_malformed_apdus() {
    let mut t = Terminal::blank(CardAlgorithm::Sm4);
    t.refused(
        &Command::new(0xA0, ins::SELECT, 0, 0),
        StatusWord::CLA_NOT_SUPPORTED,
    );
    t.refused(
        &Command::new(0x00, 0xB0, 0, 0),
        StatusWord::INS_NOT_SUPPORTED,
    );
    for raw in [
        &[0x00, 0xA4, 0x00][..],
        &[0x00, 0xA4, 0x00, 0x00, 0x05, 0x3F],
    ] {
        assert_eq!(t.os.process(raw), [0x67, 0x00]);
    }
}
