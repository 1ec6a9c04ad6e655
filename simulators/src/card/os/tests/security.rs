//! GET CHALLENGE, EXTERNAL and INTERNAL AUTHENTICATE, the challenge rule.

use super::*;

#[test]
fn challenges_are_eight_fresh_bytes_and_wrong_le_is_6c08() {
    let mut t = Terminal::blank(CardAlgorithm::Sm4);
    let a = t.challenge();
    let b = t.challenge();
    assert_ne!(a, b);
    let r = t.send(&Command::new(0, ins::GET_CHALLENGE, 0, 0).with_le(4));
    assert_eq!(r.sw, StatusWord::wrong_le(8));
    assert_eq!(
        t.ok(&Command::new(0, ins::GET_CHALLENGE, 0, 0).with_le(256))
            .len(),
        8
    );
    t.refused(
        &Command::new(0, ins::GET_CHALLENGE, 1, 0).with_le(8),
        StatusWord::INCORRECT_P1P2,
    );
}

#[test]
fn a_challenge_is_consumed_by_whatever_command_follows() {
    let mut t = Terminal::blank(CardAlgorithm::Sm4);
    let challenge = t.challenge();
    t.ok(&select_mf());
    let cryptogram =
        sm::external_auth_cryptogram(&t.hsm, t.alg, &card_label(CardKey::Transport), &challenge)
            .unwrap();
    t.refused(
        &external_authenticate(key_id::TRANSPORT, cryptogram.clone()),
        StatusWord::REF_DATA_NOT_USABLE,
    );
    // Even a refused or unknown command consumes it.
    let challenge = t.challenge();
    t.refused(&Command::new(0, 0x44, 0, 0), StatusWord::INS_NOT_SUPPORTED);
    let cryptogram =
        sm::external_auth_cryptogram(&t.hsm, t.alg, &card_label(CardKey::Transport), &challenge)
            .unwrap();
    t.refused(
        &external_authenticate(key_id::TRANSPORT, cryptogram),
        StatusWord::REF_DATA_NOT_USABLE,
    );
}

#[test]
fn external_authenticate_counts_failures_and_blocks() {
    for alg in [CardAlgorithm::Sm4, CardAlgorithm::Tdes] {
        let mut t = Terminal::blank(alg);
        let wrong = vec![0u8; alg.block_len()];
        for left in (1..profile::KEY_TRIES).rev().take(2) {
            t.challenge();
            t.refused(
                &external_authenticate(key_id::TRANSPORT, wrong.clone()),
                StatusWord::verify_failed(left),
            );
        }
        // Success restores the counter.
        assert_eq!(t.external_auth(CardKey::Transport).sw, StatusWord::OK);
        let kt = t.os.memory().mf.key(key_id::TRANSPORT).unwrap().clone();
        assert_eq!(kt.tries_left, profile::KEY_TRIES);
        for left in (0..profile::KEY_TRIES).rev() {
            t.challenge();
            t.refused(
                &external_authenticate(key_id::TRANSPORT, wrong.clone()),
                StatusWord::verify_failed(left),
            );
        }
        let r = t.external_auth(CardKey::Transport);
        assert_eq!(r.sw, StatusWord::AUTH_BLOCKED, "{alg:?}");
        // A blocked KT no longer MACs anything either.
        let c = t.set_status(profile::LifeCycle::Initialized);
        t.refused(&c, StatusWord::AUTH_BLOCKED);
    }
}

#[test]
fn external_authenticate_refusals() {
    let mut t = Terminal::formatted(CardAlgorithm::Sm4);
    t.ok(&select_ssse());
    t.refused(
        &external_authenticate(key_id::TRANSPORT, vec![0; 16]),
        StatusWord::REF_DATA_NOT_USABLE,
    );
    t.challenge();
    t.refused(
        &external_authenticate(0x09, vec![0; 16]),
        StatusWord::REF_DATA_NOT_FOUND,
    );
    t.challenge();
    t.refused(
        &external_authenticate(key_id::TRANSPORT, vec![0; 8]),
        StatusWord::WRONG_LENGTH,
    );
    t.challenge();
    t.refused(
        &external_authenticate(key_id::INTERNAL_AUTH, vec![0; 16]),
        StatusWord::CONDITIONS_NOT_SATISFIED,
    );
    t.refused(
        &Command::new(0, ins::EXTERNAL_AUTHENTICATE, 1, 0).with_data([0; 16]),
        StatusWord::INCORRECT_P1P2,
    );
    // The DF's own external-authentication key works from inside the SSSE.
    assert_eq!(t.external_auth(CardKey::ExternalAuth).sw, StatusWord::OK);
}

#[test]
fn internal_authenticate_answers_what_the_hub_expects() {
    for alg in [CardAlgorithm::Sm4, CardAlgorithm::Tdes] {
        let mut t = Terminal::formatted(alg);
        t.ok(&select_ssse());
        let data = [1, 2, 3, 4, 5, 6, 7, 8];
        let cmd = Command::new(0, ins::INTERNAL_AUTHENTICATE, 0, key_id::INTERNAL_AUTH)
            .with_data(data)
            .with_le(256);
        let answer = t.ok(&cmd);
        assert_eq!(answer.len(), alg.block_len());
        let label = card_label(CardKey::InternalAuth);
        assert!(sm::check_internal_auth(&t.hsm, alg, &label, &data, &answer).unwrap());
        assert!(!sm::check_internal_auth(&t.hsm, alg, &label, &[0; 8], &answer).unwrap());
        t.refused(
            &Command::new(0, ins::INTERNAL_AUTHENTICATE, 0, key_id::INTERNAL_AUTH)
                .with_data([1; 7]),
            StatusWord::WRONG_LENGTH,
        );
        t.refused(
            &Command::new(0, ins::INTERNAL_AUTHENTICATE, 0, key_id::MAINTENANCE).with_data([1; 8]),
            StatusWord::CONDITIONS_NOT_SATISFIED,
        );
    }
    let mut blank = Terminal::blank(CardAlgorithm::Sm4);
    blank.refused(
        &Command::new(0, ins::INTERNAL_AUTHENTICATE, 0, key_id::INTERNAL_AUTH).with_data([1; 8]),
        StatusWord::REF_DATA_NOT_FOUND,
    );
}
