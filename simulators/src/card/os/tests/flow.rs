//! Whole flows: format and personalise as the profile's script does, then
//! the card check (验卡); T=0 behaviour (61xx and GET RESPONSE); what
//! counts as a change of memory.

use super::*;
use cardhub_protocols::chip::profile::LifeCycle;

/// The holder and card data the personalisation writes, by tag.
fn target_records() -> Vec<(u8, u8, Vec<u8>)> {
    let fields = [
        (0x01, CARD_ID.as_bytes().to_vec()),
        (0x02, b"1".to_vec()),
        (0x03, b"3.00".to_vec()),
        (0x04, vec![0x31; 12]),
        (0x05, vec![0x20, 0x25, 0x01, 0x15]),
        (0x06, vec![0x20, 0x35, 0x01, 0x15]),
        (0x07, b"A12345678".to_vec()),
        (0x08, b"11010519491231002X".to_vec()),
        (0x09, vec![0xD5, 0xC5, 0xC8, 0xFD]),
        (0x4E, vec![]),
        (0x0A, b"1".to_vec()),
        (0x0B, vec![0x01]),
        (0x0C, vec![0x11, 0x01, 0x05]),
        (0x0D, vec![0x19, 0x49, 0x12, 0x31]),
    ];
    fields
        .into_iter()
        .map(|(tag, mut value)| {
            let (sfi, field) = profile::record_field(tag).unwrap();
            value.resize(usize::from(field.len), 0);
            (sfi, tag, value)
        })
        .collect()
}

fn format_personalise_and_check(alg: CardAlgorithm) {
    let mut t = Terminal::formatted(alg);
    assert_eq!(t.os.memory().life_cycle, LifeCycle::Initialized);
    t.ok(&select_ssse());
    for (sfi, tag, value) in target_records() {
        let c = t.update_record(sfi, tag, &value);
        t.ok(&c);
    }
    let c = t.set_status(LifeCycle::Secured);
    t.ok(&c);

    // The card check, from a fresh session.
    t.os.reset();
    t.ok(&select_ssse());
    let data = [9, 8, 7, 6, 5, 4, 3, 2];
    let answer = t.ok(
        &Command::new(0, ins::INTERNAL_AUTHENTICATE, 0, key_id::INTERNAL_AUTH)
            .with_data(data)
            .with_le(256),
    );
    let iak = card_label(CardKey::InternalAuth);
    assert!(sm::check_internal_auth(&t.hsm, alg, &iak, &data, &answer).unwrap());
    for (sfi, tag, value) in target_records() {
        let got = t.ok(&read_by_tag(sfi, tag, 256));
        assert_eq!(
            tlv::parse_record(&got).unwrap(),
            (tag, value.as_slice()),
            "tag {tag:02X}"
        );
    }
    t.ok(&verify(PIN));
}

#[test]
fn format_personalise_and_check_an_sm4_card() {
    format_personalise_and_check(CardAlgorithm::Sm4);
}

#[test]
fn format_personalise_and_check_a_3des_card() {
    format_personalise_and_check(CardAlgorithm::Tdes);
}

#[test]
fn a_copied_card_with_other_keys_fails_internal_authentication() {
    let mut genuine = Terminal::formatted(CardAlgorithm::Sm4);
    let mut copy = Terminal::formatted(CardAlgorithm::Sm4);
    // The copy carries the same records but its IAK is not the centre's.
    copy.os
        .memory_mut()
        .df_mut(&[fid::SSSE])
        .unwrap()
        .key_mut(key_id::INTERNAL_AUTH)
        .unwrap()
        .value = vec![0x55; 16];
    let cmd = Command::new(0, ins::INTERNAL_AUTHENTICATE, 0, key_id::INTERNAL_AUTH)
        .with_data([1; 8])
        .with_le(256);
    let iak = card_label(CardKey::InternalAuth);
    for (t, genuine_card) in [(&mut genuine, true), (&mut copy, false)] {
        t.ok(&select_ssse());
        let answer = t.ok(&cmd);
        let ok = sm::check_internal_auth(&t.hsm, t.alg, &iak, &[1; 8], &answer).unwrap();
        assert_eq!(ok, genuine_card);
    }
}

#[test]
fn t0_mode_hands_data_out_through_get_response() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.os.set_config(OsConfig {
        t0_get_response: true,
    });
    let get_response = |le| Command::new(0, ins::GET_RESPONSE, 0, 0).with_le(le);
    // GET CHALLENGE's answer arrives through GET RESPONSE and still counts
    // as the challenge for the command after it.
    let r = t.send(&get_challenge());
    assert_eq!((r.sw, r.data.len()), (StatusWord::more_data(8), 0));
    let challenge: [u8; 8] = t.ok(&get_response(8)).try_into().unwrap();
    let cryptogram =
        sm::external_auth_cryptogram(&t.hsm, t.alg, &card_label(CardKey::Transport), &challenge)
            .unwrap();
    t.ok(&external_authenticate(key_id::TRANSPORT, cryptogram));

    t.ok(&select_ssse());
    let r = t.send(&read_by_tag(6, 0x09, 256));
    assert_eq!(r.sw, StatusWord::more_data(32));
    let r = t.send(&get_response(16));
    assert_eq!((r.sw, r.data.len()), (StatusWord::more_data(16), 16));
    let r = t.send(&get_response(20));
    assert_eq!(r.sw, StatusWord::wrong_le(16));
    let r = t.send(&get_response(16));
    assert_eq!((r.sw, &r.data[..]), (StatusWord::OK, &[0u8; 16][..]));
    t.refused(&get_response(16), StatusWord::CONDITIONS_NOT_SATISFIED);

    // Any other command drops data not yet fetched.
    assert_eq!(
        t.send(&read_by_tag(6, 0x09, 256)).sw,
        StatusWord::more_data(32)
    );
    t.ok(&select_ssse());
    t.refused(&get_response(256), StatusWord::CONDITIONS_NOT_SATISFIED);
    t.refused(
        &Command::new(0, ins::GET_RESPONSE, 1, 0).with_le(8),
        StatusWord::INCORRECT_P1P2,
    );
}

#[test]
fn get_response_without_t0_mode_has_nothing_to_give() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&get_challenge());
    t.refused(
        &Command::new(0, ins::GET_RESPONSE, 0, 0).with_le(8),
        StatusWord::CONDITIONS_NOT_SATISFIED,
    );
}

#[test]
fn only_commands_that_change_memory_move_the_revision() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    let before = t.os.revision();
    t.ok(&select_ssse());
    t.ok(&read_by_tag(6, 0x09, 256));
    t.ok(&get_data_cmd(get_data::KEY_IDS));
    t.ok(&verify(PIN));
    assert_eq!(
        t.os.revision(),
        before,
        "reads and a first-time right PIN change nothing"
    );
    t.refused(&verify("000000"), StatusWord::verify_failed(2));
    let after_failure = t.os.revision();
    assert!(after_failure > before, "a failed PIN is persistent");
    let c = t.update_record(6, 0x0A, b"2");
    t.ok(&c);
    assert!(t.os.revision() > after_failure);
}
