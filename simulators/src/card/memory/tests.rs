//! Tests of the card memory: the blank card, navigation, the card file.

use super::*;
use cardhub_protocols::chip::profile::key_id;

const MASTER: [u8; 16] = [0x42; 16];

#[test]
fn a_blank_card_holds_only_the_mf_and_the_diversified_kt() {
    for alg in [CardAlgorithm::Sm4, CardAlgorithm::Tdes] {
        let m = CardMemory::blank("1100000012345678", &MASTER, alg).unwrap();
        assert_eq!(m.life_cycle, LifeCycle::OpReady);
        assert_eq!(m.mf.fid, profile::fid::MF);
        assert!(m.mf.dfs.is_empty() && m.mf.efs.is_empty());
        assert_eq!(m.mf.keys.len(), 1);
        let kt = m.mf.key(key_id::TRANSPORT).unwrap();
        let d = [0x11, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78];
        assert_eq!(kt.value, raw::diversify(alg, &MASTER, &d));
        assert_ne!(kt.value, MASTER);
        assert_eq!(kt.algorithm, alg);
        assert_eq!(kt.tries_left, profile::KEY_TRIES);
        assert_eq!(m.atr, DEFAULT_ATR);
    }
}

#[test]
fn card_identification_codes_must_be_16_hex_characters() {
    for bad in [
        "",
        "110000001234567",
        "11000000123456789",
        "11000000123456ZZ",
    ] {
        assert!(matches!(
            CardMemory::blank(bad, &MASTER, CardAlgorithm::Sm4),
            Err(MemoryError::CardIdCode(_))
        ));
    }
    let m = CardMemory::blank("abcdef0123456789", &MASTER, CardAlgorithm::Sm4).unwrap();
    assert_eq!(m.card_id_code, "ABCDEF0123456789");
}

fn with_ssse() -> CardMemory {
    let mut m = CardMemory::blank("1100000012345678", &MASTER, CardAlgorithm::Sm4).unwrap();
    let mut ssse = DedicatedFile::new(profile::fid::SSSE, Some(profile::SSSE_NAME.to_vec()));
    ssse.efs.push(RecordFile {
        fid: profile::fid::EF06,
        sfi: 6,
        records: vec![Record {
            tag: 0x09,
            value: vec![0; 30],
        }],
    });
    ssse.put_key(StoredKey {
        id: key_id::MAINTENANCE,
        usage: profile::key_usage::MAINTENANCE,
        algorithm: CardAlgorithm::Sm4,
        value: vec![1; 16],
        max_tries: 15,
        tries_left: 15,
    });
    m.mf.dfs.push(ssse);
    m
}

#[test]
fn keys_are_found_in_the_current_df_then_its_ancestors() {
    let m = with_ssse();
    let ssse = [profile::fid::SSSE];
    assert_eq!(
        m.find_key(&ssse, key_id::MAINTENANCE),
        Some(vec![profile::fid::SSSE])
    );
    assert_eq!(m.find_key(&ssse, key_id::TRANSPORT), Some(vec![]));
    assert_eq!(m.find_key(&[], key_id::MAINTENANCE), None);
    assert_eq!(m.find_df_by_name(profile::SSSE_NAME), Some(ssse.to_vec()));
    assert_eq!(m.find_df_by_name(b"nope"), None);
    assert!(m.df(&[0x0002]).is_none());
}

#[test]
fn the_card_file_round_trips_and_is_readable_hex() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    let m = with_ssse();
    m.save(&path).unwrap();
    assert_eq!(CardMemory::load(&path).unwrap(), m);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"fid\": \"3F00\""), "{text}");
    assert!(text.contains("\"life_cycle\": \"01\""), "{text}");
    assert!(text.contains("\"algorithm\": \"sm4\""), "{text}");
    assert!(
        !dir.path().join("card.json.tmp").exists(),
        "the temporary file was renamed"
    );
    // Saving again replaces the file whole.
    let mut changed = m.clone();
    changed.life_cycle = LifeCycle::Initialized;
    changed.save(&path).unwrap();
    assert_eq!(
        CardMemory::load(&path).unwrap().life_cycle,
        LifeCycle::Initialized
    );
}

#[test]
fn bad_card_files_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    assert!(matches!(
        CardMemory::load(&path),
        Err(MemoryError::Io { .. })
    ));
    std::fs::write(&path, "{ not json").unwrap();
    assert!(matches!(
        CardMemory::load(&path),
        Err(MemoryError::Parse { .. })
    ));
    let m = with_ssse();
    let text = serde_json::to_string(&m).unwrap();
    std::fs::write(
        &path,
        text.replace("\"life_cycle\":\"01\"", "\"life_cycle\":\"03\""),
    )
    .unwrap();
    let err = CardMemory::load(&path).unwrap_err().to_string();
    assert!(err.contains("life cycle 03"), "{err}");
    std::fs::write(&path, text.replace("\"format\":1", "\"format\":9")).unwrap();
    assert!(matches!(
        CardMemory::load(&path),
        Err(MemoryError::Version { found: 9, .. })
    ));
    std::fs::write(
        &path,
        text.replace("\"format\":1", "\"format\":1,\"extra\":0"),
    )
    .unwrap();
    assert!(matches!(
        CardMemory::load(&path),
        Err(MemoryError::Parse { .. })
    ));
}

#[test]
fn set_record_pads_and_refuses_what_does_not_fit() {
    let mut m = with_ssse();
    m.set_record(6, 0x09, b"LI SI").unwrap();
    let ef = m
        .df(&[profile::fid::SSSE])
        .unwrap()
        .ef(profile::fid::EF06)
        .unwrap();
    let value = &ef.record_by_tag(0x09).unwrap().value;
    assert_eq!(value.len(), 30);
    assert_eq!(&value[..5], b"LI SI");
    assert_eq!(
        m.set_record(5, 0x01, b"x"),
        Err(RecordEditError::NoFile { sfi: 5 })
    );
    assert_eq!(
        m.set_record(6, 0x0A, b"x"),
        Err(RecordEditError::NoRecord { sfi: 6, tag: 0x0A })
    );
    assert!(matches!(
        m.set_record(6, 0x09, &[1; 31]),
        Err(RecordEditError::TooLong {
            len: 31,
            max: 30,
            ..
        })
    ));
}
