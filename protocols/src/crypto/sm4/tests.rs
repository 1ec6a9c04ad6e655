//! Tests of the SM4 modes: the GB/T 32907 vectors, the card MAC and
//! diversification computed by hand from their definitions, padding edge
//! cases, and property tests against `cbc`/`ctr` over RustCrypto's `sm4`.

use super::*;
use ::sm4::cipher::{
    BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit, StreamCipher,
};
use proptest::prelude::*;

fn h16(s: &str) -> [u8; 16] {
    hex::decode(s)
        .expect("test hex")
        .try_into()
        .expect("16 bytes")
}

const STANDARD_KEY: &str = "0123456789abcdeffedcba9876543210";

/// RustCrypto's SM4 on one block: the reference the fast path is held to.
fn reference_block(key: &[u8; 16], block: [u8; 16]) -> [u8; 16] {
    let mut b = block.into();
    ::sm4::Sm4::new(key.into()).encrypt_block(&mut b);
    b.into()
}

#[test]
fn gbt_32907_single_block() {
    let key = h16(STANDARD_KEY);
    let ct = encrypt(&key, Sm4Mode::Ecb, Padding::None, &key).expect("one block");
    assert_eq!(ct, h16("681edf34d206965e86b3e94f536e4246"));
    assert_eq!(
        decrypt(&key, Sm4Mode::Ecb, Padding::None, &ct).expect("one block"),
        key
    );
}

#[test]
fn gbt_32907_one_million_encryptions() {
    let key = Sm4Key::new(&h16(STANDARD_KEY));
    let mut block = h16(STANDARD_KEY);
    for _ in 0..1_000_000 {
        key.encrypt_block(&mut block);
    }
    assert_eq!(block, h16("595298c7c6fd271f0402f804c33d3f66"));
    for _ in 0..1_000_000 {
        key.decrypt_block(&mut block);
    }
    assert_eq!(block, h16(STANDARD_KEY));
}

#[test]
fn cbc_mac_is_iso9797_algorithm_1_with_method_2_padding() {
    let key = h16("11223344556677888877665544332211");
    let iv = h16("0102030405060708090a0b0c0d0e0f10");
    // 20 bytes: one whole block and four bytes, padded 80 00.. to 32 bytes.
    let data = hex::decode("0000271000000001020304050607081122334455").expect("hex");
    let mut b1 = [0u8; 16];
    b1.copy_from_slice(&data[..16]);
    let mut b2 = [0u8; 16];
    b2[..4].copy_from_slice(&data[16..]);
    b2[4] = 0x80;
    let x1 = reference_block(&key, std::array::from_fn(|i| b1[i] ^ iv[i]));
    let x2 = reference_block(&key, std::array::from_fn(|i| b2[i] ^ x1[i]));
    assert_eq!(cbc_mac(&key, &iv, &data), x2);

    // A whole number of blocks still gets a full padding block.
    let aligned = &data[..16];
    let y1 = reference_block(&key, std::array::from_fn(|i| b1[i] ^ iv[i]));
    let mut pad_block = [0u8; 16];
    pad_block[0] = 0x80;
    let y2 = reference_block(&key, std::array::from_fn(|i| pad_block[i] ^ y1[i]));
    assert_eq!(cbc_mac(&key, &iv, aligned), y2);

    // Empty data is one padding block.
    assert_eq!(
        cbc_mac(&key, &[0; 16], &[]),
        reference_block(&key, pad_block)
    );
}

#[test]
fn cbc_mac_changes_with_any_data_bit_and_with_the_iv() {
    let key = [0x5au8; 16];
    let data = b"CLA|04 INS P1 P2 Lc data".to_vec();
    let mac = cbc_mac(&key, &[0; 16], &data);
    let mut flipped = data.clone();
    flipped[3] ^= 1;
    assert_ne!(mac, cbc_mac(&key, &[0; 16], &flipped));
    assert_ne!(mac, cbc_mac(&key, &[1; 16], &data));
    // Padding is unambiguous: a trailing 80 is not the same message.
    let mut with_marker = data.clone();
    with_marker.push(0x80);
    assert_ne!(mac, cbc_mac(&key, &[0; 16], &with_marker));
}

#[test]
fn diversification_encrypts_data_and_its_inverse_as_one_block() {
    let master = h16("00112233445566778899aabbccddeeff");
    let d = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
    let expected = reference_block(&master, h16("123456789abcdef0edcba9876543210f"));
    assert_eq!(diversify(&master, &d), expected);
    assert_ne!(diversify(&master, &[0; 8]), expected);
}

#[test]
fn pkcs7_adds_a_full_block_to_aligned_data() {
    let key = [1u8; 16];
    let ct = encrypt(&key, Sm4Mode::Ecb, Padding::Pkcs7, &[0u8; 16]).expect("pads");
    assert_eq!(ct.len(), 32);
    let mut last = ct[16..].to_vec();
    let k = Sm4Key::new(&key);
    let block: &mut [u8; 16] = (&mut last[..]).try_into().expect("16");
    k.decrypt_block(block);
    assert_eq!(*block, [16u8; 16]);
}

#[test]
fn no_padding_refuses_partial_blocks() {
    let key = [1u8; 16];
    for mode in [Sm4Mode::Ecb, Sm4Mode::Cbc { iv: [0; 16] }] {
        assert_eq!(
            encrypt(&key, mode, Padding::None, &[0; 15]),
            Err(Sm4Error::BlockLength { len: 15 })
        );
        assert_eq!(
            decrypt(&key, mode, Padding::Pkcs7, &[0; 17]),
            Err(Sm4Error::BlockLength { len: 17 })
        );
        assert_eq!(
            decrypt(&key, mode, Padding::Pkcs7, &[]),
            Err(Sm4Error::BlockLength { len: 0 })
        );
    }
    // CTR needs no padding at all.
    let ct = encrypt(&key, Sm4Mode::Ctr { iv: [0; 16] }, Padding::Pkcs7, &[7; 5]).expect("ctr");
    assert_eq!(ct.len(), 5);
}

#[test]
fn wrong_key_is_reported_as_bad_padding() {
    let ct = encrypt(
        &[1; 16],
        Sm4Mode::Cbc { iv: [9; 16] },
        Padding::Pkcs7,
        b"310104198001011234",
    )
    .expect("enc");
    let wrong = (0u8..32)
        .map(|k| {
            decrypt(
                &[k.wrapping_add(2); 16],
                Sm4Mode::Cbc { iv: [9; 16] },
                Padding::Pkcs7,
                &ct,
            )
        })
        .filter(|r| *r == Err(Sm4Error::BadPadding))
        .count();
    // A random last byte is a valid PKCS#7 pad (01) about 1 time in 256.
    assert!(wrong >= 30, "only {wrong} of 32 wrong keys were detected");
}

#[test]
fn unpadding_rejects_malformed_pads() {
    let mut m2 = [0u8; 16];
    assert!(!bool::from(m2_pad_len(&m2).0), "all zero has no 80 marker");
    m2[3] = 0x80;
    assert_eq!(
        (bool::from(m2_pad_len(&m2).0), m2_pad_len(&m2).1),
        (true, 13)
    );
    m2[15] = 0x01;
    assert!(
        !bool::from(m2_pad_len(&m2).0),
        "last nonzero byte must be 80"
    );

    let mut p7 = [3u8; 16];
    assert_eq!(
        (bool::from(pkcs7_pad_len(&p7).0), pkcs7_pad_len(&p7).1),
        (true, 3)
    );
    p7[13] = 2;
    assert!(!bool::from(pkcs7_pad_len(&p7).0));
    assert!(!bool::from(pkcs7_pad_len(&[0u8; 16]).0));
    assert!(!bool::from(pkcs7_pad_len(&[17u8; 16]).0));
    assert!(bool::from(pkcs7_pad_len(&[16u8; 16]).0));
}

fn reference_cbc(key: &[u8; 16], iv: &[u8; 16], blocks: &[u8]) -> Vec<u8> {
    let mut enc = cbc::Encryptor::<::sm4::Sm4>::new(key.into(), iv.into());
    let mut out = Vec::new();
    for chunk in blocks.chunks_exact(16) {
        let mut block = *<&[u8; 16]>::try_from(chunk).expect("16");
        let b = (&mut block).into();
        enc.encrypt_block(b);
        out.extend_from_slice(&block);
    }
    out
}

fn reference_cbc_decrypt(key: &[u8; 16], iv: &[u8; 16], blocks: &[u8]) -> Vec<u8> {
    let mut dec = cbc::Decryptor::<::sm4::Sm4>::new(key.into(), iv.into());
    let mut out = Vec::new();
    for chunk in blocks.chunks_exact(16) {
        let mut block = *<&[u8; 16]>::try_from(chunk).expect("16");
        dec.decrypt_block((&mut block).into());
        out.extend_from_slice(&block);
    }
    out
}

fn padding_strategy() -> impl Strategy<Value = Padding> {
    prop_oneof![Just(Padding::Pkcs7), Just(Padding::Iso9797M2)]
}

proptest! {
    #[test]
    fn cbc_round_trips_for_any_length(key: [u8; 16], iv: [u8; 16], data in proptest::collection::vec(any::<u8>(), 0..200), padding in padding_strategy()) {
        let mode = Sm4Mode::Cbc { iv };
        let ct = encrypt(&key, mode, padding, &data).expect("padded");
        prop_assert_eq!(ct.len() % 16, 0);
        prop_assert!(ct.len() > data.len());
        prop_assert_eq!(decrypt(&key, mode, padding, &ct).expect("same key"), data);
    }

    #[test]
    fn ecb_round_trips_for_any_length(key: [u8; 16], data in proptest::collection::vec(any::<u8>(), 0..200), padding in padding_strategy()) {
        let ct = encrypt(&key, Sm4Mode::Ecb, padding, &data).expect("padded");
        prop_assert_eq!(decrypt(&key, Sm4Mode::Ecb, padding, &ct).expect("same key"), data);
    }

    #[test]
    fn ctr_round_trips_and_keeps_length(key: [u8; 16], iv: [u8; 16], data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mode = Sm4Mode::Ctr { iv };
        let ct = encrypt(&key, mode, Padding::None, &data).expect("ctr");
        prop_assert_eq!(ct.len(), data.len());
        prop_assert_eq!(decrypt(&key, mode, Padding::None, &ct).expect("ctr"), data);
    }

    #[test]
    fn cbc_matches_rustcrypto_block_for_block(key: [u8; 16], iv: [u8; 16], blocks in 0usize..12, seed: u8) {
        let data: Vec<u8> = (0..blocks * 16).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        let ours = encrypt(&key, Sm4Mode::Cbc { iv }, Padding::None, &data).expect("whole blocks");
        prop_assert_eq!(&ours, &reference_cbc(&key, &iv, &data));
        prop_assert_eq!(decrypt(&key, Sm4Mode::Cbc { iv }, Padding::None, &data).expect("whole blocks"), reference_cbc_decrypt(&key, &iv, &data));
    }

    #[test]
    fn ecb_matches_rustcrypto_block_for_block(key: [u8; 16], blocks in proptest::collection::vec(any::<[u8; 16]>(), 0..11)) {
        let data = blocks.concat();
        let ours = encrypt(&key, Sm4Mode::Ecb, Padding::None, &data).expect("whole blocks");
        let reference: Vec<u8> = blocks.iter().flat_map(|b| reference_block(&key, *b)).collect();
        prop_assert_eq!(ours, reference);
    }

    #[test]
    fn ctr_matches_rustcrypto_including_counter_wrap(key: [u8; 16], low in prop_oneof![Just(u64::MAX - 2), any::<u64>()], data in proptest::collection::vec(any::<u8>(), 0..150)) {
        // Counters near 2^128 - 1 check the wrap of the whole 128-bit block.
        let mut iv = [0xffu8; 16];
        iv[8..].copy_from_slice(&low.to_be_bytes());
        let ours = encrypt(&key, Sm4Mode::Ctr { iv }, Padding::None, &data).expect("ctr");
        let mut reference = data.clone();
        ctr::Ctr128BE::<::sm4::Sm4>::new(&key.into(), &iv.into()).apply_keystream(&mut reference);
        prop_assert_eq!(ours, reference);
    }
}
