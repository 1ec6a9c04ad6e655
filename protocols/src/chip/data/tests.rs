//! EF05/EF06 records: exact bytes of a known card, round trips, and one
//! test per malformation the decoders must report.

use super::*;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

fn sample_card() -> CardRecords {
    CardRecords {
        card_id_code: "310000D15600000500A1B2C3D4".chars().take(16).collect(),
        card_type: CardType::SocialSecurity,
        spec_version: "3.00".into(),
        institution: *b"310000000001",
        issue_date: day(2024, 3, 1),
        expiry_date: day(2034, 3, 1),
        card_number: "A12345678".into(),
    }
}

fn sample_holder() -> HolderRecords {
    HolderRecords {
        ssn: "11010519491231002X".into(),
        name: "张三".into(),
        sex: Sex::Male,
        ethnicity: 1,
        birthplace: "110105".into(),
        birth_date: day(1949, 12, 31),
    }
}

fn values(records: Vec<(u8, Vec<u8>)>) -> RecordValues {
    records.into_iter().collect()
}

#[test]
fn card_records_encode_to_the_profile_bytes() {
    let encoded = sample_card().encode().expect("valid");
    let tags: Vec<u8> = encoded.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, vec![1, 2, 3, 4, 5, 6, 7]);
    for ((_, v), field) in encoded.iter().zip(profile::EF05_RECORDS.iter()) {
        assert_eq!(v.len(), usize::from(field.len), "{}", field.name);
    }
    assert_eq!(encoded[1].1, b"1");
    assert_eq!(encoded[4].1, vec![0x20, 0x24, 0x03, 0x01]);
    assert_eq!(
        CardRecords::decode(&values(encoded)).expect("round trip"),
        sample_card()
    );
}

#[test]
fn holder_records_encode_to_the_profile_bytes() {
    let encoded = sample_holder().encode().expect("valid");
    let tags: Vec<u8> = encoded.iter().map(|(t, _)| *t).collect();
    assert_eq!(tags, vec![0x08, 0x09, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D]);
    let mut name = vec![0xD5, 0xC5, 0xC8, 0xFD];
    name.resize(30, 0);
    assert_eq!(encoded[1].1, name);
    assert_eq!(encoded[2].1, vec![0; 20]);
    assert_eq!(encoded[3].1, b"1");
    assert_eq!(encoded[5].1, vec![0x11, 0x01, 0x05]);
    assert_eq!(encoded[6].1, vec![0x19, 0x49, 0x12, 0x31]);
    assert_eq!(
        HolderRecords::decode(&values(encoded)).expect("round trip"),
        sample_holder()
    );
}

#[test]
fn a_long_name_round_trips_through_the_extension() {
    let mut holder = sample_holder();
    holder.name = "MUHAMMAD ABDULLAH BIN ABDUL RAHMAN".into();
    let encoded = holder.encode().expect("fits");
    assert_eq!(&encoded[2].1[..4], b"HMAN");
    let mut v = values(encoded);
    assert_eq!(HolderRecords::decode(&v).expect("valid").name, holder.name);
    // Readers of other issuers' cards may lack 4E altogether.
    v.remove(&0x4E);
    assert_eq!(
        HolderRecords::decode(&v).expect("valid").name,
        "MUHAMMAD ABDULLAH BIN ABDUL RA"
    );
}

#[test]
fn every_malformation_is_named() {
    let good = values(sample_holder().encode().expect("valid"));
    let with = |tag: u8, bytes: &[u8]| {
        let mut v = good.clone();
        v.insert(tag, bytes.to_vec());
        HolderRecords::decode(&v).expect_err("malformed")
    };
    assert!(matches!(
        with(0x0C, &[0x11, 0x0A, 0x05]),
        DataError::BadBcd {
            field: "birthplace",
            ..
        }
    ));
    assert_eq!(
        with(0x0D, &[0x19, 0x49, 0x02, 0x30]),
        DataError::BadDate {
            field: "birth_date",
            digits: "19490230".into()
        }
    );
    assert!(matches!(
        with(0x0D, &[0x19, 0x49, 0x02]),
        DataError::WrongLength {
            field: "birth_date",
            expected: 4,
            found: 3,
            ..
        }
    ));
    assert!(matches!(
        with(0x0A, b"3"),
        DataError::BadValue { field: "sex", .. }
    ));
    let mut bad_gbk = vec![0xD5, 0xC5, 0xC8];
    bad_gbk.resize(30, 0);
    assert!(matches!(
        with(0x09, &bad_gbk),
        DataError::Text(TextError::BadGbk { field: "name", .. })
    ));
    let mut garbage = b"ZHANG".to_vec();
    garbage.resize(30, 0);
    garbage[29] = b'X';
    assert!(matches!(
        with(0x09, &garbage),
        DataError::Text(TextError::PaddingGarbage {
            field: "name",
            offset: 29
        })
    ));
    assert_eq!(
        with(0x08, &[0; 18]),
        DataError::NotWritten {
            field: "ssn",
            tag: 0x08
        }
    );
    let mut missing = good.clone();
    missing.remove(&0x0B);
    assert_eq!(
        HolderRecords::decode(&missing),
        Err(DataError::Missing {
            field: "ethnicity",
            tag: 0x0B
        })
    );
    let card = values(sample_card().encode().expect("valid"));
    let mut bad_type = card.clone();
    bad_type.insert(0x02, b"9".to_vec());
    assert!(matches!(
        CardRecords::decode(&bad_type),
        Err(DataError::BadValue {
            field: "card_type",
            ..
        })
    ));
    let mut bad_number = card;
    bad_number.insert(0x07, b"A123\x015678".to_vec());
    assert!(matches!(
        CardRecords::decode(&bad_number),
        Err(DataError::Text(TextError::NotAscii {
            field: "card_number",
            ..
        }))
    ));
}

#[test]
fn values_that_cannot_be_written_are_refused() {
    let mut card = sample_card();
    card.card_number = "A123456789".into();
    assert!(matches!(
        card.encode(),
        Err(DataError::WrongLength {
            field: "card_number",
            found: 10,
            ..
        })
    ));
    let mut holder = sample_holder();
    holder.name = "王𪚥".into();
    assert!(matches!(
        holder.encode(),
        Err(DataError::Text(TextError::Unencodable { .. }))
    ));
    let mut holder = sample_holder();
    holder.birthplace = "11010".into();
    assert!(matches!(
        holder.encode(),
        Err(DataError::BadValue {
            field: "birthplace",
            ..
        })
    ));
    let mut holder = sample_holder();
    holder.ethnicity = 0;
    assert!(holder.encode().is_err());
}

#[test]
fn birthplace_follows_the_number() {
    assert_eq!(
        birthplace_for_ssn("11010519491231002X").expect("resident"),
        "110105"
    );
    assert_eq!(
        birthplace_for_ssn("932682198501010017").expect("2023 permanent residence"),
        "932682"
    );
    assert_eq!(
        birthplace_for_ssn("CAN110075090123").expect("2017 permanent residence"),
        "000124"
    );
    assert!(birthplace_for_ssn("XXX110075090123").is_err());
    assert!(birthplace_for_ssn("").is_err());
}
