//! Tests of cardhub's SM2 signing and verification against the `sm2`
//! crate's `dsa` module, which stays the reference.

use super::*;
use proptest::prelude::*;
use sm2::dsa::signature::{Signer, Verifier};

fn reference_keys(secret: &[u8; 32]) -> (sm2::dsa::SigningKey, sm2::dsa::VerifyingKey) {
    let signing = sm2::dsa::SigningKey::from_slice(DIST_ID, secret).expect("valid test key");
    let verifying = signing.verifying_key().clone();
    (signing, verifying)
}

#[test]
fn public_key_matches_the_reference() {
    let secret = generate_secret();
    let (_, reference) = reference_keys(&secret);
    assert_eq!(
        public_key_of(&secret).expect("valid").as_slice(),
        &*reference.to_sec1_bytes()
    );
}

#[test]
fn our_signature_verifies_with_the_reference_and_theirs_with_ours() {
    let secret = generate_secret();
    let ours = SigningKey::from_bytes(&secret).expect("valid");
    let (reference_signer, reference_verifier) = reference_keys(&secret);
    let message = b"card 310104198001011234 issued at branch 0231";

    let signature = ours.sign(message);
    let parsed = sm2::dsa::Signature::from_slice(&signature).expect("64 bytes");
    assert!(reference_verifier.verify(message, &parsed).is_ok());

    let theirs: sm2::dsa::Signature = reference_signer.sign(message);
    let theirs = theirs.to_bytes();
    let prepared = VerifyingKey::from_sec1(&ours.public_key()).expect("valid key");
    assert_eq!(prepared.verify(message, &theirs), Ok(true));
    assert_eq!(verify(&ours.public_key(), message, &theirs), Ok(true));
}

#[test]
fn signatures_are_hedged_but_always_valid() {
    let key = SigningKey::generate();
    let a = key.sign(b"same message");
    let b = key.sign(b"same message");
    assert_ne!(a, b, "fresh randomness goes into every nonce");
    let prepared = VerifyingKey::from_sec1(&key.public_key()).expect("valid key");
    assert_eq!(prepared.verify(b"same message", &a), Ok(true));
    assert_eq!(prepared.verify(b"same message", &b), Ok(true));
}

#[test]
fn wrong_message_key_or_signature_is_false_not_an_error() {
    let key = SigningKey::generate();
    let other = SigningKey::generate();
    let signature = key.sign(b"amount 100.00");
    let prepared = VerifyingKey::from_sec1(&key.public_key()).expect("valid key");
    assert_eq!(prepared.verify(b"amount 900.00", &signature), Ok(false));
    assert_eq!(
        verify(&key.public_key(), b"amount 900.00", &signature),
        Ok(false)
    );
    assert_eq!(
        verify(&other.public_key(), b"amount 100.00", &signature),
        Ok(false)
    );
    let mut altered = signature;
    altered[40] ^= 0x01;
    assert_eq!(prepared.verify(b"amount 100.00", &altered), Ok(false));
}

#[test]
fn malformed_inputs_are_errors() {
    let key = SigningKey::generate();
    let signature = key.sign(b"m");
    let public = key.public_key();
    assert!(matches!(
        verify(&public[..64], b"m", &signature),
        Err(Sm2Error::MalformedPublicKey(_))
    ));
    let mut off_curve = public;
    off_curve[64] ^= 1;
    assert!(matches!(
        verify(&off_curve, b"m", &signature),
        Err(Sm2Error::MalformedPublicKey(_))
    ));
    assert!(matches!(
        verify(&public, b"m", &signature[..63]),
        Err(Sm2Error::MalformedSignature(_))
    ));
    assert!(matches!(
        verify(&public, b"m", &[0u8; 64]),
        Err(Sm2Error::MalformedSignature(_))
    ));
    assert!(matches!(
        verify(&public, b"m", &[0xffu8; 64]),
        Err(Sm2Error::MalformedSignature(_))
    ));
}

#[test]
fn compressed_public_keys_are_accepted_and_re_encoded_uncompressed() {
    let key = SigningKey::generate();
    let public = key.public_key();
    let mut compressed = [0u8; 33];
    compressed[0] = 0x02 | (public[64] & 1);
    compressed[1..].copy_from_slice(&public[1..33]);
    let prepared = VerifyingKey::from_sec1(&compressed).expect("compressed key");
    assert_eq!(prepared.public_key(), public);
    assert_eq!(prepared.verify(b"x", &key.sign(b"x")), Ok(true));
}

#[test]
fn secret_keys_out_of_range_are_refused() {
    let order: [u8; 32] =
        hex::decode("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123")
            .expect("hex")
            .try_into()
            .expect("32");
    let mut n_minus_one = order;
    n_minus_one[31] -= 1;
    let mut n_minus_two = order;
    n_minus_two[31] -= 2;
    assert_eq!(
        SigningKey::from_bytes(&[0; 32]).err(),
        Some(Sm2Error::InvalidSecretKey)
    );
    assert_eq!(
        SigningKey::from_bytes(&order).err(),
        Some(Sm2Error::InvalidSecretKey)
    );
    assert_eq!(
        SigningKey::from_bytes(&n_minus_one).err(),
        Some(Sm2Error::InvalidSecretKey)
    );
    assert!(SigningKey::from_bytes(&n_minus_two).is_ok());
}

#[test]
fn debug_output_shows_no_secret() {
    let secret = [0x42u8; 32];
    let key = SigningKey::from_bytes(&secret).expect("valid");
    assert!(!format!("{key:?}").contains(&hex::encode(secret)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn prepared_one_shot_and_reference_verification_agree(message in proptest::collection::vec(any::<u8>(), 0..300), tamper in any::<Option<(usize, u8)>>()) {
        let secret = generate_secret();
        let (reference_signer, reference_verifier) = reference_keys(&secret);
        let signature: sm2::dsa::Signature = reference_signer.sign(&message);
        let mut bytes: [u8; 64] = signature.to_bytes().into();
        if let Some((at, bits)) = tamper {
            bytes[at % 64] ^= bits.max(1);
        }
        let expected = sm2::dsa::Signature::from_slice(&bytes).is_ok_and(|s| reference_verifier.verify(&message, &s).is_ok());
        let public = reference_verifier.to_sec1_bytes();
        let prepared = VerifyingKey::from_sec1(&public).expect("valid key");
        prop_assert_eq!(prepared.verify(&message, &bytes).unwrap_or(false), expected);
        prop_assert_eq!(verify(&public, &message, &bytes).unwrap_or(false), expected);
    }
}
