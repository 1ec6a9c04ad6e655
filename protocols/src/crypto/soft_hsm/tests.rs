//! Tests of [`SoftHsm`] through the [`Hsm`] trait, as the storage, actor and
//! web crates use it.

use super::*;
use crate::crypto::{labels, sm2, sm4, tdes};

fn label(s: &str) -> KeyLabel {
    KeyLabel::from(s)
}

#[test]
fn for_tests_holds_the_four_hub_keys_with_their_kinds() {
    let hsm = SoftHsm::for_tests();
    for (name, kind) in labels::HUB_KEYS {
        assert_eq!(hsm.key_kind(&label(name)), Some(kind), "{name}");
    }
    assert_ne!(
        SoftHsm::for_tests()
            .hmac_sm3(&label(labels::FIELD_INDEX), b"x")
            .expect("hmac"),
        hsm.hmac_sm3(&label(labels::FIELD_INDEX), b"x")
            .expect("hmac"),
        "each store gets its own random keys"
    );
}

#[test]
fn field_encryption_round_trips_and_blind_index_is_stable() {
    let hsm = SoftHsm::for_tests();
    let key = label(labels::FIELD_ENCRYPTION);
    let mode = Sm4Mode::Cbc { iv: [3; 16] };
    let ct = hsm
        .encrypt(&key, mode, Padding::Pkcs7, "上海市徐汇区".as_bytes())
        .expect("encrypt");
    assert_ne!(ct, "上海市徐汇区".as_bytes());
    assert_eq!(
        hsm.decrypt(&key, mode, Padding::Pkcs7, &ct)
            .expect("decrypt"),
        "上海市徐汇区".as_bytes()
    );
    let index = label(labels::FIELD_INDEX);
    assert_eq!(
        hsm.hmac_sm3(&index, b"13800138000").expect("hmac"),
        hsm.hmac_sm3(&index, b"13800138000").expect("hmac")
    );
}

#[test]
fn results_match_the_plain_functions_for_an_inserted_key() {
    let hsm = SoftHsm::new();
    let key = [0x42u8; 16];
    hsm.insert_sm4("card-master/issuer", key)
        .expect("new label");
    hsm.insert_hmac("audit-chain", vec![9; 32])
        .expect("new label");
    let master = label("card-master/issuer");
    assert_eq!(
        hsm.cbc_mac(&master, &[0; 16], b"apdu").expect("mac"),
        sm4::cbc_mac(&key, &[0; 16], b"apdu").to_vec()
    );
    assert_eq!(
        hsm.encrypt(&master, Sm4Mode::Ecb, Padding::Iso9797M2, b"abc")
            .expect("ecb"),
        sm4::encrypt(&key, Sm4Mode::Ecb, Padding::Iso9797M2, b"abc").expect("ecb")
    );
    assert_eq!(
        hsm.hmac_sm3(&label("audit-chain"), b"row").expect("hmac"),
        crate::crypto::sm3::hmac_sm3(&[9; 32], b"row")
    );
}

#[test]
fn diversified_key_is_stored_under_the_new_label_and_works() {
    let hsm = SoftHsm::new();
    let master_bytes = [0x11u8; 16];
    hsm.insert_sm4("card-master/issuer", master_bytes)
        .expect("new label");
    let card_data = [0x31, 0x01, 0x04, 0x19, 0x80, 0x01, 0x01, 0x12];
    let child = label("card/3101041980010112/auth");
    hsm.diversify(&label("card-master/issuer"), &card_data, &child)
        .expect("diversify");
    assert_eq!(hsm.key_kind(&child), Some(KeyKind::Sm4));
    // The child behaves as SM4(master, D || !D): the card simulator's view.
    let expected_child = sm4::diversify(&master_bytes, &card_data);
    assert_eq!(
        hsm.cbc_mac(&child, &[0; 16], b"x").expect("mac"),
        sm4::cbc_mac(&expected_child, &[0; 16], b"x").to_vec()
    );
    // A second derivation into the same label is refused.
    assert!(matches!(
        hsm.diversify(&label("card-master/issuer"), &card_data, &child),
        Err(HsmError::Exists(_))
    ));
    hsm.destroy_key(&child).expect("destroy");
    assert_eq!(hsm.key_kind(&child), None);
    assert!(matches!(
        hsm.destroy_key(&child),
        Err(HsmError::UnknownKey(_))
    ));
}

#[test]
fn unknown_labels_and_wrong_kinds_are_refused() {
    let hsm = SoftHsm::for_tests();
    assert!(matches!(
        hsm.hmac_sm3(&label("nope"), b""),
        Err(HsmError::UnknownKey(_))
    ));
    let err = hsm
        .hmac_sm3(&label(labels::FIELD_ENCRYPTION), b"")
        .expect_err("sm4 key");
    assert!(matches!(
        err,
        HsmError::WrongKind {
            needed: KeyKind::HmacSm3,
            actual: KeyKind::Sm4,
            ..
        }
    ));
    assert!(matches!(
        hsm.sign(&label(labels::AUDIT_CHAIN), b""),
        Err(HsmError::WrongKind { .. })
    ));
    assert!(matches!(
        hsm.insert_sm4(labels::AUDIT_CHAIN, [0; 16]),
        Err(HsmError::Exists(_))
    ));
    assert!(matches!(
        hsm.insert_hmac("short", vec![1; 8]),
        Err(HsmError::Malformed { .. })
    ));
    assert!(matches!(
        hsm.encrypt(
            &label(labels::FIELD_ENCRYPTION),
            Sm4Mode::Ecb,
            Padding::None,
            &[0; 5]
        ),
        Err(HsmError::BlockLength { len: 5, block: 16 })
    ));
}

#[test]
fn signatures_verify_through_the_trait_and_outside_it() {
    let hsm = SoftHsm::new();
    let public = hsm.generate_sm2("hub-signing").expect("new label");
    assert_eq!(public.len(), 65);
    assert_eq!(hsm.public_key(&label("hub-signing")).expect("sm2"), public);
    let message = b"dispatch batch 2024-0031, 480 cards";
    let signature = hsm.sign(&label("hub-signing"), message).expect("sign");
    // First, second and third use of a key take the three cache paths.
    for _ in 0..3 {
        assert!(
            hsm.verify(&public, message, &signature)
                .expect("well formed")
        );
        assert!(
            !hsm.verify(&public, b"dispatch batch 2024-0031, 481 cards", &signature)
                .expect("well formed")
        );
    }
    assert_eq!(sm2::verify(&public, message, &signature), Ok(true));
    assert!(matches!(
        hsm.verify(&public[..10], message, &signature),
        Err(HsmError::Malformed { .. })
    ));
    assert!(matches!(
        hsm.verify(&public, message, &signature[..10]),
        Err(HsmError::Malformed { .. })
    ));
}

#[test]
fn verify_cache_stays_bounded_and_correct() {
    let hsm = SoftHsm::new();
    let keys: Vec<_> = (0..VERIFY_CACHE_CAPACITY + 5)
        .map(|_| sm2::SigningKey::generate())
        .collect();
    for round in 0..2 {
        for key in &keys {
            let signature = key.sign(b"m");
            assert!(
                hsm.verify(&key.public_key(), b"m", &signature)
                    .expect("well formed"),
                "round {round}"
            );
        }
    }
    let cache = hsm.verify_cache.lock().expect("not poisoned");
    assert!(cache.entries.len() <= VERIFY_CACHE_CAPACITY);
}

#[test]
fn key_file_keys_are_loaded_and_debug_shows_no_secrets() {
    let text = "version = 1\n[keys.field-encryption]\nkind = \"sm4\"\nhex = \"00112233445566778899aabbccddeeff\"\n\
                [keys.partner]\nkind = \"sm2\"\nhex = \"3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8\"\n";
    let file = KeyFile::parse(text).expect("valid");
    let hsm = SoftHsm::from_key_file(&file).expect("loads");
    let ct = hsm
        .encrypt(
            &label("field-encryption"),
            Sm4Mode::Ecb,
            Padding::None,
            &[0; 16],
        )
        .expect("ecb");
    let key: [u8; 16] = hex::decode("00112233445566778899aabbccddeeff")
        .expect("hex")
        .try_into()
        .expect("16");
    assert_eq!(
        ct,
        sm4::encrypt(&key, Sm4Mode::Ecb, Padding::None, &[0; 16]).expect("ecb")
    );
    let secret: [u8; 32] =
        hex::decode("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8")
            .expect("hex")
            .try_into()
            .expect("32");
    assert_eq!(
        hsm.public_key(&label("partner")).expect("sm2"),
        sm2::public_key_of(&secret).expect("valid").to_vec()
    );
    let debug = format!("{hsm:?}");
    assert!(debug.contains("field-encryption") && debug.contains("partner"));
    assert!(!debug.contains("00112233") && !debug.contains("3945208f"));
}

#[test]
fn usable_from_many_threads() {
    let hsm = Arc::new(SoftHsm::for_tests());
    let handles: Vec<_> = (0..4u8)
        .map(|i| {
            let hsm = Arc::clone(&hsm);
            std::thread::spawn(move || {
                let own = label(&format!("card/{i}"));
                hsm.diversify(&label(labels::FIELD_ENCRYPTION), &[i; 8], &own)
                    .expect("distinct labels");
                hsm.cbc_mac(&own, &[0; 16], &[i]).expect("mac")
            })
        })
        .collect();
    let macs: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    for (i, a) in macs.iter().enumerate() {
        for b in &macs[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

const PURSE_KEY: [u8; 16] = [
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
];

#[test]
fn tdes_keys_mac_diversify_and_derive_session_keys() {
    let hsm = SoftHsm::new();
    hsm.insert_tdes("purse/load", PURSE_KEY).expect("new label");
    let key = label("purse/load");
    assert_eq!(hsm.key_kind(&key), Some(KeyKind::Tdes));
    assert_eq!(
        hsm.cbc_mac(&key, &[7; 8], b"load").expect("mac"),
        tdes::cbc_mac(&PURSE_KEY, &[7; 8], b"load").to_vec()
    );
    assert!(matches!(
        hsm.cbc_mac(&key, &[0; 16], b"load"),
        Err(HsmError::IvLength {
            expected: 8,
            found: 16,
            ..
        })
    ));
    // The published purse vector, through the store: the session key
    // computes single DES with 9b1d924e05595603.
    let session = label("purse/session");
    hsm.session_key(&key, &[0x11, 0x22, 0x33, 0x44, 0, 0, 0x80, 0], &session)
        .expect("derive");
    let s = [0x9b, 0x1d, 0x92, 0x4e, 0x05, 0x59, 0x56, 0x03];
    let mut single = [0u8; 16];
    single[..8].copy_from_slice(&s);
    single[8..].copy_from_slice(&s);
    assert_eq!(
        hsm.ecb_encrypt(&session, b"12345678").expect("ecb"),
        tdes::ecb_encrypt(&single, b"12345678").expect("ecb")
    );
    // Diversification keeps the master's kind and shape.
    let child = label("card/x/maintenance");
    hsm.diversify(&key, &[1; 8], &child).expect("diversify");
    assert_eq!(hsm.key_kind(&child), Some(KeyKind::Tdes));
    assert_eq!(
        hsm.cbc_mac(&child, &[0; 8], b"x").expect("mac"),
        tdes::cbc_mac(&tdes::diversify(&PURSE_KEY, &[1; 8]), &[0; 8], b"x").to_vec()
    );
}

#[test]
fn sm4_session_key_is_the_diversification_shape() {
    let hsm = SoftHsm::new();
    hsm.insert_sm4("k", [5; 16]).expect("new label");
    hsm.session_key(&label("k"), &[9; 8], &label("s"))
        .expect("derive");
    assert_eq!(
        hsm.ecb_encrypt(&label("s"), &[0; 16]).expect("ecb"),
        sm4::encrypt(
            &sm4::diversify(&[5; 16], &[9; 8]),
            Sm4Mode::Ecb,
            Padding::None,
            &[0; 16]
        )
        .expect("ecb")
    );
    assert!(matches!(
        hsm.cbc_mac(&label("k"), &[0; 8], b""),
        Err(HsmError::IvLength {
            expected: 16,
            found: 8,
            ..
        })
    ));
    assert!(matches!(
        hsm.ecb_encrypt(&label("k"), &[0; 8]),
        Err(HsmError::BlockLength { len: 8, block: 16 })
    ));
}

#[test]
fn wrapped_keys_decrypt_to_the_key_bytes_under_the_wrapping_key() {
    let hsm = SoftHsm::new();
    hsm.insert_sm4("kt", [1; 16]).expect("new label");
    hsm.insert_sm4("uk", [2; 16]).expect("new label");
    hsm.insert_tdes("kt3", PURSE_KEY).expect("new label");
    hsm.insert_tdes("uk3", [3; 16]).expect("new label");
    hsm.insert_hmac("mac", vec![4; 16]).expect("new label");
    let wrapped = hsm.wrap_key(&label("uk"), &label("kt")).expect("wrap");
    assert_eq!(
        sm4::decrypt(&[1; 16], Sm4Mode::Ecb, Padding::None, &wrapped).expect("ecb"),
        vec![2; 16]
    );
    let wrapped = hsm.wrap_key(&label("uk3"), &label("kt3")).expect("wrap");
    assert_eq!(
        tdes::ecb_decrypt(&PURSE_KEY, &wrapped).expect("ecb"),
        vec![3; 16]
    );
    assert!(matches!(
        hsm.wrap_key(&label("uk"), &label("kt3")),
        Err(HsmError::WrongKind {
            needed: KeyKind::Sm4,
            actual: KeyKind::Tdes,
            ..
        })
    ));
    assert!(matches!(
        hsm.wrap_key(&label("mac"), &label("kt")),
        Err(HsmError::WrongKind { .. })
    ));
    assert!(matches!(
        hsm.wrap_key(&label("uk"), &label("none")),
        Err(HsmError::UnknownKey(_))
    ));
}

#[test]
fn development_stores_hold_the_chip_masters() {
    let hsm = SoftHsm::for_tests();
    for name in labels::CHIP_MASTERS {
        assert_eq!(hsm.key_kind(&label(name)), Some(KeyKind::Sm4), "{name}");
    }
}
