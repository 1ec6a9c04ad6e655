//! VERIFY, CHANGE PIN, RESET PIN, UNBLOCK PIN.

use super::*;

fn pin_tries(t: &Terminal) -> u8 {
    t.os.memory()
        .df(&[fid::SSSE])
        .unwrap()
        .key(key_id::PIN)
        .unwrap()
        .tries_left
}

fn ask_counter() -> Command {
    Command::new(cla::PLAIN, ins::VERIFY, 0, key_id::PIN)
}

#[test]
fn verify_counts_down_blocks_and_the_no_data_form_reports() {
    let mut t = Terminal::secured(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    t.refused(&ask_counter(), StatusWord::verify_failed(3));
    t.refused(&verify("654321"), StatusWord::verify_failed(2));
    t.refused(&ask_counter(), StatusWord::verify_failed(2));
    t.ok(&verify(PIN));
    assert_eq!(pin_tries(&t), 3);
    t.ok(&ask_counter());
    t.refused(&verify("111111"), StatusWord::verify_failed(2));
    t.refused(&verify("111111"), StatusWord::verify_failed(1));
    t.refused(&verify("111111"), StatusWord::verify_failed(0));
    t.refused(&verify(PIN), StatusWord::AUTH_BLOCKED);
    t.refused(&ask_counter(), StatusWord::AUTH_BLOCKED);
    assert_eq!(pin_tries(&t), 0);
}

#[test]
fn verify_refusals() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_mf());
    t.refused(&verify(PIN), StatusWord::REF_DATA_NOT_FOUND);
    t.ok(&select_ssse());
    t.refused(
        &Command::new(0, ins::VERIFY, 0, key_id::PIN).with_data([0x12]),
        StatusWord::WRONG_LENGTH,
    );
    t.refused(
        &Command::new(0, ins::VERIFY, 0, key_id::PIN).with_data([0x12, 0xA4]),
        StatusWord::INCORRECT_DATA,
    );
    t.refused(
        &Command::new(0, ins::VERIFY, 0, key_id::MAINTENANCE).with_data([0x12, 0x34]),
        StatusWord::REF_DATA_NOT_FOUND,
    );
    assert_eq!(pin_tries(&t), 3, "malformed PINs cost no try");
}

#[test]
fn change_pin_needs_the_old_pin() {
    let mut t = Terminal::secured(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    let change = |old: &str, new: &str| {
        let data = [
            wire_pin(old),
            vec![profile::CHANGE_PIN_SEPARATOR],
            wire_pin(new),
        ]
        .concat();
        Command::new(
            cla::PROPRIETARY,
            ins::CHANGE_OR_RESET_PIN,
            profile::CHANGE_PIN_P1,
            key_id::PIN,
        )
        .with_data(data)
    };
    t.refused(&change("000000", "2468"), StatusWord::verify_failed(2));
    t.ok(&change(PIN, "2468"));
    assert_eq!(pin_tries(&t), 3);
    t.refused(&verify(PIN), StatusWord::verify_failed(2));
    t.ok(&verify("2468"));
    let no_separator = Command::new(cla::PROPRIETARY, ins::CHANGE_OR_RESET_PIN, 1, key_id::PIN)
        .with_data([0x24, 0x68, 0x13, 0x57]);
    t.refused(&no_separator, StatusWord::INCORRECT_DATA);
    t.refused(&change("2468", "1"), StatusWord::WRONG_LENGTH);
    t.refused(
        &Command::new(cla::PROPRIETARY, ins::CHANGE_OR_RESET_PIN, 2, key_id::PIN),
        StatusWord::INCORRECT_P1P2,
    );
}

#[test]
fn reset_pin_under_rpk_sets_the_pin_and_restores_the_counter() {
    let mut t = Terminal::secured(CardAlgorithm::Tdes);
    t.ok(&select_ssse());
    for _ in 0..3 {
        t.send(&verify("999999"));
    }
    t.refused(&verify(PIN), StatusWord::AUTH_BLOCKED);
    let body = Command::new(
        cla::PROPRIETARY_SM,
        ins::CHANGE_OR_RESET_PIN,
        profile::RESET_PIN_P1,
        key_id::PIN,
    )
    .with_data(wire_pin("778899"));
    t.refused(&body, StatusWord::WRONG_LENGTH);
    let c = t.mac(CardKey::PinUnblock, body.clone());
    t.refused(&c, StatusWord::SM_DATA_INCORRECT);
    let c = t.mac(CardKey::PinReset, body.clone());
    let mut plain = c.clone();
    plain.cla = cla::PROPRIETARY;
    t.refused(&plain, StatusWord::SECURITY_NOT_SATISFIED);
    t.refused(&c, StatusWord::REF_DATA_NOT_USABLE);
    let c = t.mac(CardKey::PinReset, body);
    t.ok(&c);
    assert_eq!(pin_tries(&t), 3);
    t.refused(&verify(PIN), StatusWord::verify_failed(2));
    t.ok(&verify("778899"));
}

#[test]
fn unblock_pin_under_puk_keeps_the_pin() {
    let mut t = Terminal::secured(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    for _ in 0..3 {
        t.send(&verify("999999"));
    }
    t.refused(&verify(PIN), StatusWord::AUTH_BLOCKED);
    let body = Command::new(cla::PROPRIETARY_SM, ins::UNBLOCK_PIN, 0, key_id::PIN);
    let c = t.mac(CardKey::PinReset, body.clone());
    t.refused(&c, StatusWord::SM_DATA_INCORRECT);
    let c = t.mac(CardKey::PinUnblock, body.clone().with_data([0x12]));
    t.refused(&c, StatusWord::WRONG_LENGTH);
    let c = t.mac(CardKey::PinUnblock, body);
    t.ok(&c);
    assert_eq!(pin_tries(&t), 3);
    t.ok(&verify(PIN));
}

#[test]
fn a_reset_forgets_the_verified_pin() {
    let mut t = Terminal::secured(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    t.ok(&verify(PIN));
    t.ok(&ask_counter());
    t.os.reset();
    t.ok(&select_ssse());
    t.refused(&ask_counter(), StatusWord::verify_failed(3));
}
