//! Secure messaging: the published purse vector, MACs computed by hand from
//! their definition, and the hub side (through [`SoftHsm`]) agreeing with
//! the card side (raw key bytes) for both algorithms.

use super::*;
use crate::crypto::{Padding, Sm4Mode, SoftHsm, sm4, tdes};

const KEY: [u8; 16] = [
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
];
const CHALLENGE: [u8; 8] = [0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18];

fn label(s: &str) -> KeyLabel {
    KeyLabel::from(s)
}

/// A store holding `KEY` as master of `alg` under "master".
fn store(alg: CardAlgorithm) -> SoftHsm {
    let hsm = SoftHsm::new();
    match alg {
        CardAlgorithm::Sm4 => hsm.insert_sm4("master", KEY),
        CardAlgorithm::Tdes => hsm.insert_tdes("master", KEY),
    }
    .expect("new label");
    hsm
}

fn update_record() -> Command {
    // UPDATE RECORD tag 0A of SFI 6: TLV 0A 01 '1'.
    Command::new(0x04, 0xDC, 0x0A, 0x30).with_data([0x0A, 0x01, 0x31])
}

#[test]
fn tdes_purse_session_key_is_the_published_vector() {
    let input = [0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x80, 0x00];
    let key = raw::session_key(CardAlgorithm::Tdes, &KEY, &input);
    assert_eq!(hex::encode(&key[..8]), "9b1d924e05595603");
    // The 16-byte form S || S is single DES with S.
    assert_eq!(key[8..], key[..8]);
}

#[test]
fn sm4_session_key_and_diversification_have_the_d_not_d_shape() {
    let d = [0x31, 0x01, 0x04, 0x19, 0x80, 0x01, 0x01, 0x12];
    let mut block = d.to_vec();
    block.extend(d.iter().map(|b| !b));
    let by_hand = sm4::encrypt(&KEY, Sm4Mode::Ecb, Padding::None, &block).expect("one block");
    assert_eq!(
        raw::diversify(CardAlgorithm::Sm4, &KEY, &d).to_vec(),
        by_hand
    );
    assert_eq!(
        raw::session_key(CardAlgorithm::Sm4, &KEY, &d).to_vec(),
        by_hand
    );
    assert_eq!(
        raw::diversify(CardAlgorithm::Tdes, &KEY, &d),
        tdes::diversify(&KEY, &d)
    );
}

#[test]
fn mac_input_counts_the_mac_in_lc() {
    assert_eq!(
        command_mac_input(&update_record(), 4),
        vec![0x04, 0xDC, 0x0A, 0x30, 0x07, 0x0A, 0x01, 0x31]
    );
    let unblock = Command::new(0x84, 0x24, 0x00, 0x10);
    assert_eq!(command_mac_input(&unblock, 4), vec![0x84, 0x24, 0, 0x10, 4]);
    let long = Command::new(0x84, 0xE0, 0, 0).with_data(vec![0; 300]);
    assert_eq!(command_mac_input(&long, 4)[4..7], [0x00, 0x01, 0x30]);
}

#[test]
fn sm4_command_mac_is_cbc_from_the_challenge_iv() {
    let cmd = update_record();
    let mut padded = command_mac_input(&cmd, 4);
    padded.push(0x80);
    padded.resize(16, 0);
    let mut iv = [0u8; 16];
    iv[..8].copy_from_slice(&CHALLENGE);
    let cbc = sm4::encrypt(&KEY, Sm4Mode::Cbc { iv }, Padding::None, &padded).expect("block");
    let mac = raw::command_mac(
        CardAlgorithm::Sm4,
        &KEY,
        &CHALLENGE,
        &command_mac_input(&cmd, 4),
    );
    assert_eq!(mac[..], cbc[..4]);
}

#[test]
fn tdes_command_mac_is_cbc_from_the_challenge() {
    // The 8-byte input is block-aligned, so padding adds a whole block.
    let cmd = update_record();
    let mut padded = command_mac_input(&cmd, 4);
    assert_eq!(padded.len(), 8);
    padded.push(0x80);
    padded.resize(16, 0);
    let mut chain = CHALLENGE.to_vec();
    for block in padded.chunks(8) {
        let xored: Vec<u8> = chain.iter().zip(block).map(|(a, b)| a ^ b).collect();
        chain = tdes::ecb_encrypt(&KEY, &xored).expect("block");
    }
    let mac = raw::command_mac(
        CardAlgorithm::Tdes,
        &KEY,
        &CHALLENGE,
        &command_mac_input(&cmd, 4),
    );
    assert_eq!(mac[..], chain[..4]);
}

#[test]
fn hub_macs_verify_on_the_card_and_tampering_fails() {
    for alg in [CardAlgorithm::Sm4, CardAlgorithm::Tdes] {
        let hsm = store(alg);
        let card_id = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0];
        let uk = label("card/x/maintenance");
        hsm.diversify(&label("master"), &card_id, &uk)
            .expect("derive");
        let card_uk = raw::diversify(alg, &KEY, &card_id);

        let sent = mac_command(&hsm, alg, &uk, &CHALLENGE, update_record()).expect("mac");
        assert_eq!(sent.data.len(), 3 + 4);
        assert_eq!(sent.data[..3], update_record().data[..]);
        assert!(
            verify_command_mac(alg, &card_uk, &CHALLENGE, &sent),
            "{alg:?}"
        );

        let mut flipped = sent.clone();
        flipped.data[1] ^= 1;
        assert!(!verify_command_mac(alg, &card_uk, &CHALLENGE, &flipped));
        let mut other_p1 = sent.clone();
        other_p1.p1 = 0x0B;
        assert!(!verify_command_mac(alg, &card_uk, &CHALLENGE, &other_p1));
        assert!(!verify_command_mac(alg, &card_uk, &[0; 8], &sent));
        assert!(
            !verify_command_mac(alg, &KEY, &CHALLENGE, &sent),
            "master is not the card key"
        );
        let short = Command::new(0x84, 0x24, 0, 0x10).with_data([1, 2, 3]);
        assert!(!verify_command_mac(alg, &card_uk, &CHALLENGE, &short));
    }
}

#[test]
fn authentication_cryptograms_agree_between_hub_and_card() {
    for (alg, len) in [(CardAlgorithm::Sm4, 16), (CardAlgorithm::Tdes, 8)] {
        let hsm = store(alg);
        let hub = external_auth_cryptogram(&hsm, alg, &label("master"), &CHALLENGE).expect("ecb");
        assert_eq!(hub.len(), len);
        assert_eq!(hub, raw::external_auth_cryptogram(alg, &KEY, &CHALLENGE));
        let answer = raw::internal_auth_answer(alg, &KEY, &CHALLENGE);
        assert!(
            check_internal_auth(&hsm, alg, &label("master"), &CHALLENGE, &answer).expect("ecb")
        );
        let mut copied = answer.clone();
        copied[0] ^= 0x80;
        assert!(
            !check_internal_auth(&hsm, alg, &label("master"), &CHALLENGE, &copied).expect("ecb")
        );
        assert!(
            !check_internal_auth(&hsm, alg, &label("master"), &CHALLENGE, &answer[..4])
                .expect("ecb")
        );
    }
    // SM4 encrypts challenge || 00×8, 3DES the challenge alone.
    let mut block = CHALLENGE.to_vec();
    block.resize(16, 0);
    assert_eq!(
        raw::external_auth_cryptogram(CardAlgorithm::Sm4, &KEY, &CHALLENGE),
        sm4::encrypt(&KEY, Sm4Mode::Ecb, Padding::None, &block).expect("block")
    );
    assert_eq!(
        raw::external_auth_cryptogram(CardAlgorithm::Tdes, &KEY, &CHALLENGE),
        tdes::ecb_encrypt(&KEY, &CHALLENGE).expect("block")
    );
}

#[test]
fn algorithm_bytes_blocks_and_errors() {
    for alg in [CardAlgorithm::Sm4, CardAlgorithm::Tdes] {
        assert_eq!(CardAlgorithm::from_byte(alg.algorithm_byte()), Some(alg));
        assert_eq!(alg.iv(&CHALLENGE).len(), alg.block_len());
        assert_eq!(alg.key_kind().block_len(), Some(alg.block_len()));
        let data = vec![7u8; 32];
        let ct = raw::ecb_encrypt(alg, &KEY, &data).expect("blocks");
        assert_eq!(raw::ecb_decrypt(alg, &KEY, &ct).expect("blocks"), data);
    }
    assert_eq!(CardAlgorithm::from_byte(0x01), None);
    assert_eq!(
        raw::ecb_encrypt(CardAlgorithm::Tdes, &KEY, &[0; 12]),
        Err(SmError::BlockLength { len: 12, block: 8 })
    );
    assert_eq!(
        raw::ecb_decrypt(CardAlgorithm::Sm4, &KEY, &[0; 8]),
        Err(SmError::BlockLength { len: 8, block: 16 })
    );
    assert_eq!(
        raw::cbc_mac(CardAlgorithm::Sm4, &KEY, &[0; 8], b""),
        Err(SmError::IvLength {
            expected: 16,
            found: 8
        })
    );
}
