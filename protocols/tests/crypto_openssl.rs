//! Interoperability of cardhub's SM2/SM3/SM4 with OpenSSL 3, through the
//! `openssl` program: signatures made by cardhub verify with OpenSSL and the
//! other way round, and digests and ciphertexts are byte-identical.
//!
//! These tests need `openssl` (3.0 or later) on PATH and fail, saying so,
//! when it is missing. Keys and messages go through files in a temporary
//! directory; OpenSSL signatures are DER and are converted to `r || s`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ::sm2::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use cardhub_protocols::crypto::sm2::{DIST_ID, SigningKey, VerifyingKey, generate_secret};
use cardhub_protocols::crypto::{Hsm, KeyFile, KeyLabel, Padding, Sm4Mode, SoftHsm, sm2, sm3, sm4};

/// Runs `openssl` with `args`; returns (success, stdout).
fn openssl(args: &[&str]) -> (bool, Vec<u8>) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("these tests need the `openssl` program (OpenSSL 3) on PATH");
    (output.status.success(), output.stdout)
}

fn openssl_ok(args: &[&str]) -> Vec<u8> {
    let (ok, stdout) = openssl(args);
    assert!(ok, "openssl {} failed", args.join(" "));
    stdout
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write scratch file");
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn distid() -> String {
    format!("distid:{DIST_ID}")
}

/// `r || s` from an OpenSSL DER signature.
fn der_to_raw(der: &[u8]) -> [u8; 64] {
    ::sm2::dsa::Signature::from_der(der)
        .expect("OpenSSL signature is DER")
        .to_bytes()
        .into()
}

/// An OpenSSL DER signature from `r || s`.
fn raw_to_der(raw: &[u8; 64]) -> Vec<u8> {
    ::sm2::dsa::Signature::from_slice(raw)
        .expect("r || s")
        .to_der()
        .as_bytes()
        .to_vec()
}

/// The SEC1 public key in an OpenSSL PEM public key file.
fn public_key_from_pem(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).expect("PEM is text");
    ::sm2::PublicKey::from_public_key_pem(text)
        .expect("SM2 public key")
        .to_sec1_bytes()
        .to_vec()
}

#[test]
fn cardhub_signature_verifies_with_openssl() {
    let scratch = Scratch::new();
    let secret = generate_secret();
    let key_pem = ::sm2::SecretKey::from_slice(&secret)
        .expect("valid")
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PEM");
    let key_path = scratch.write("key.pem", key_pem.as_bytes());
    let pub_pem = openssl_ok(&["pkey", "-in", path_str(&key_path), "-pubout"]);
    let pub_path = scratch.write("pub.pem", &pub_pem);

    // The key as the hub holds it: in a key file, loaded into the HSM.
    let key_file = format!(
        "version = 1\n[keys.dispatch-signing]\nkind = \"sm2\"\nhex = \"{}\"\n",
        hex::encode(secret)
    );
    let hsm =
        SoftHsm::from_key_file(&KeyFile::parse(&key_file).expect("valid key file")).expect("loads");
    let label = KeyLabel::from("dispatch-signing");
    assert_eq!(
        hsm.public_key(&label).expect("sm2 key"),
        public_key_from_pem(&pub_pem),
        "OpenSSL derives the same public key"
    );

    let message = "发卡批次 2024-0031: 480 张社保卡".as_bytes();
    let message_path = scratch.write("msg.bin", message);
    let signature = hsm.sign(&label, message).expect("sign");
    let sig_path = scratch.write("sig.der", &raw_to_der(&signature));
    let id = distid();
    let verify = |msg: &Path| {
        openssl(&[
            "dgst",
            "-sm3",
            "-verify",
            path_str(&pub_path),
            "-sigopt",
            &id,
            "-signature",
            path_str(&sig_path),
            path_str(msg),
        ])
    };
    let (ok, stdout) = verify(&message_path);
    assert!(ok && String::from_utf8_lossy(&stdout).contains("Verified OK"));

    let other = scratch.write("other.bin", b"a different batch");
    assert!(
        !verify(&other).0,
        "OpenSSL must reject the signature for another message"
    );

    // The plain signing key gives signatures OpenSSL accepts too.
    let direct = SigningKey::from_bytes(&secret)
        .expect("valid")
        .sign(message);
    scratch.write("sig.der", &raw_to_der(&direct));
    assert!(verify(&message_path).0);
}

#[test]
fn openssl_signature_verifies_in_cardhub() {
    let scratch = Scratch::new();
    let key_path = scratch.path("key.pem");
    openssl_ok(&["genpkey", "-algorithm", "SM2", "-out", path_str(&key_path)]);
    let public = public_key_from_pem(&openssl_ok(&[
        "pkey",
        "-in",
        path_str(&key_path),
        "-pubout",
    ]));

    let message = b"load 100.00 CNY onto purse, terminal 310104000231";
    let message_path = scratch.write("msg.bin", message);
    let id = distid();
    for tool in ["dgst", "pkeyutl"] {
        let der = match tool {
            "dgst" => openssl_ok(&[
                "dgst",
                "-sm3",
                "-sign",
                path_str(&key_path),
                "-sigopt",
                &id,
                path_str(&message_path),
            ]),
            _ => openssl_ok(&[
                "pkeyutl",
                "-sign",
                "-inkey",
                path_str(&key_path),
                "-rawin",
                "-digest",
                "sm3",
                "-pkeyopt",
                &id,
                "-in",
                path_str(&message_path),
            ]),
        };
        let signature = der_to_raw(&der);
        assert_eq!(
            sm2::verify(&public, message, &signature),
            Ok(true),
            "{tool}"
        );
        let prepared = VerifyingKey::from_sec1(&public).expect("valid key");
        assert_eq!(prepared.verify(message, &signature), Ok(true), "{tool}");
        assert_eq!(
            prepared.verify(b"load 900.00 CNY", &signature),
            Ok(false),
            "{tool}"
        );
        let hsm = SoftHsm::new();
        assert!(
            hsm.verify(&public, message, &signature)
                .expect("well formed"),
            "{tool}"
        );
    }
}

#[test]
fn sm3_digests_match_openssl() {
    let scratch = Scratch::new();
    for len in [0usize, 3, 55, 56, 64, 1000, 100_003] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let path = scratch.write("data.bin", &data);
        let out = openssl_ok(&["dgst", "-sm3", "-r", path_str(&path)]);
        let hex_digest = String::from_utf8_lossy(&out)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(hex_digest, hex::encode(sm3::digest(&data)), "length {len}");
    }
}

#[test]
fn sm4_modes_match_openssl() {
    let scratch = Scratch::new();
    let key = [
        0x2bu8, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f,
        0x3c,
    ];
    let iv = [
        0xf0u8, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe,
        0xff,
    ];
    let (k, v) = (hex::encode(key), hex::encode(iv));
    for len in [0usize, 1, 15, 16, 17, 64, 100, 1000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
        let path = scratch.write("plain.bin", &data);
        let enc = |cipher: &str, extra: &[&str]| {
            let mut args = vec!["enc", cipher, "-e", "-K", &k, "-in", path_str(&path)];
            args.extend_from_slice(extra);
            openssl_ok(&args)
        };
        let ours_cbc =
            sm4::encrypt(&key, Sm4Mode::Cbc { iv }, Padding::Pkcs7, &data).expect("padded");
        assert_eq!(
            ours_cbc,
            enc("-sm4-cbc", &["-iv", &v]),
            "CBC/PKCS#7, length {len}"
        );
        let ours_ctr = sm4::encrypt(&key, Sm4Mode::Ctr { iv }, Padding::None, &data).expect("ctr");
        assert_eq!(ours_ctr, enc("-sm4-ctr", &["-iv", &v]), "CTR, length {len}");
        if len.is_multiple_of(16) {
            let ours_ecb =
                sm4::encrypt(&key, Sm4Mode::Ecb, Padding::None, &data).expect("whole blocks");
            assert_eq!(ours_ecb, enc("-sm4-ecb", &["-nopad"]), "ECB, length {len}");
        }
    }
}

#[test]
fn card_mac_and_diversification_match_openssl_cbc() {
    let scratch = Scratch::new();
    let master = [
        0x11u8, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
        0x11,
    ];
    let challenge = [0xa1u8, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let k = hex::encode(master);

    // Diversification is one ECB block over D || !D.
    let d = [0x31u8, 0x01, 0x04, 0x19, 0x80, 0x01, 0x01, 0x12];
    let mut block = d.to_vec();
    block.extend(d.iter().map(|b| !b));
    let d_path = scratch.write("d.bin", &block);
    let child = openssl_ok(&[
        "enc",
        "-sm4-ecb",
        "-e",
        "-nopad",
        "-K",
        &k,
        "-in",
        path_str(&d_path),
    ]);
    assert_eq!(sm4::diversify(&master, &d).to_vec(), child);

    // The MAC is the last block of CBC over the data padded 80 00...
    let apdu = hex::decode("84e80000140102030405060708090a0b0c0d0e0f10111213").expect("hex");
    let mut padded = apdu.clone();
    padded.push(0x80);
    while !padded.len().is_multiple_of(16) {
        padded.push(0);
    }
    let p_path = scratch.write("apdu.bin", &padded);
    let cbc = openssl_ok(&[
        "enc",
        "-sm4-cbc",
        "-e",
        "-nopad",
        "-K",
        &k,
        "-iv",
        &hex::encode(challenge),
        "-in",
        path_str(&p_path),
    ]);
    assert_eq!(
        sm4::cbc_mac(&master, &challenge, &apdu).to_vec(),
        cbc[cbc.len() - 16..].to_vec()
    );
}
