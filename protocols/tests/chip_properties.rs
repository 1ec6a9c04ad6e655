//! Property tests of the chip codecs: record and text decoders and the
//! observation reader never panic on arbitrary card answers, and valid
//! records and names survive encode → decode unchanged.

use std::collections::BTreeMap;

use cardhub_protocols::apdu::Command;
use cardhub_protocols::apdu::{Response, StatusWord};
use cardhub_protocols::chip::data::{CardRecords, CardType, HolderRecords, RecordValues};
use cardhub_protocols::chip::personalise;
use cardhub_protocols::chip::profile;
use cardhub_protocols::chip::text::{self, SubstitutionTable};
use cardhub_protocols::identity::Sex;
use chrono::NaiveDate;
use proptest::prelude::*;

/// Record values for every profile tag: mostly the right length, some
/// wrong, bytes arbitrary.
fn record_values() -> impl Strategy<Value = RecordValues> {
    let fields: Vec<_> = profile::EF05_RECORDS
        .iter()
        .chain(profile::EF06_RECORDS.iter())
        .map(|f| (f.tag, usize::from(f.len)))
        .collect();
    let per_field: Vec<_> = fields
        .into_iter()
        .map(|(tag, len)| {
            prop_oneof![
                8 => proptest::collection::vec(any::<u8>(), len).prop_map(Some),
                1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Some),
                1 => Just(None),
            ]
            .prop_map(move |v| (tag, v))
        })
        .collect();
    per_field.prop_map(|pairs| {
        pairs
            .into_iter()
            .filter_map(|(tag, v)| v.map(|v| (tag, v)))
            .collect()
    })
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (1900i32..=2099, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).expect("valid by construction"))
}

fn an(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9A-Z.]{{1,{max}}}")).expect("regex")
}

/// Names of common Chinese characters, Latin letters, spaces and the
/// middle dot, at most 25 characters (they always fit 50 GBK bytes).
fn name() -> impl Strategy<Value = String> {
    let chars: Vec<char> = "张王李赵钱孙周吴郑冯陈褚卫蒋沈韩杨朱秦尤许何吕施·ABCXYZ abc"
        .chars()
        .collect();
    proptest::collection::vec(proptest::sample::select(chars), 1..=25)
        .prop_map(|v| v.into_iter().collect::<String>())
        .prop_filter("no padding-like edges", |s| {
            !s.starts_with(' ') && !s.ends_with(' ')
        })
}

fn card_records() -> impl Strategy<Value = CardRecords> {
    (
        an(16),
        prop_oneof![
            Just(CardType::SocialSecurity),
            Just(CardType::ResidencePermitB),
            Just(CardType::Senior)
        ],
        an(4),
        any::<[u8; 12]>().prop_filter("not all zero", |b| b.iter().any(|&x| x != 0)),
        date(),
        date(),
        an(9),
    )
        .prop_map(
            |(
                card_id_code,
                card_type,
                spec_version,
                institution,
                issue_date,
                expiry_date,
                card_number,
            )| {
                CardRecords {
                    card_id_code,
                    card_type,
                    spec_version,
                    institution,
                    issue_date,
                    expiry_date,
                    card_number,
                }
            },
        )
}

fn holder_records() -> impl Strategy<Value = HolderRecords> {
    (
        an(18),
        name(),
        prop_oneof![Just(Sex::Male), Just(Sex::Female)],
        1u8..=255,
        proptest::string::string_regex("[0-9]{6}").expect("regex"),
        date(),
    )
        .prop_map(
            |(ssn, name, sex, ethnicity, birthplace, birth_date)| HolderRecords {
                ssn,
                name,
                sex,
                ethnicity,
                birthplace,
                birth_date,
            },
        )
}

fn status() -> impl Strategy<Value = StatusWord> {
    prop_oneof![
        Just(StatusWord::OK),
        Just(StatusWord::FILE_NOT_FOUND),
        Just(StatusWord::RECORD_NOT_FOUND),
        Just(StatusWord::REF_DATA_NOT_FOUND),
        any::<u16>().prop_map(StatusWord),
    ]
}

proptest! {
    #[test]
    fn record_decoders_never_panic(values in record_values()) {
        let _ = CardRecords::decode(&values);
        let _ = HolderRecords::decode(&values);
    }

    #[test]
    fn text_decoders_never_panic(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..30)) {
        let _ = text::decode_gbk("name", &a);
        let _ = text::decode_ascii("ssn", &a);
        let _ = text::decode_name(&a, &b);
    }

    #[test]
    fn observation_never_panics_whatever_the_card_answers(
        answers in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..24), status()),
            0..30,
        )
    ) {
        let mut answers = answers.into_iter();
        let mut card = |_: &Command| -> Result<Response, &'static str> {
            answers
                .next()
                .map(|(data, sw)| Response::new(data, sw))
                .ok_or("card removed")
        };
        let _ = personalise::observe(&mut card);
    }

    #[test]
    fn card_records_round_trip(card in card_records()) {
        let values: RecordValues = card.encode().expect("valid").into_iter().collect();
        prop_assert_eq!(CardRecords::decode(&values).expect("own encoding"), card);
    }

    #[test]
    fn holder_records_round_trip(holder in holder_records()) {
        let values: BTreeMap<u8, Vec<u8>> = holder.encode().expect("valid").into_iter().collect();
        prop_assert_eq!(HolderRecords::decode(&values).expect("own encoding"), holder);
    }

    #[test]
    fn names_split_and_join_unchanged(name in name()) {
        let split = text::split_name(&name, &SubstitutionTable::default()).expect("fits");
        prop_assert!(split.name.len() <= text::NAME_LEN);
        prop_assert!(split.extension.len() <= text::NAME_EXTENSION_LEN);
        // Tag 09 alone always decodes: no character is cut in two.
        prop_assert!(text::decode_gbk("name", &split.name).is_ok());
        prop_assert_eq!(text::decode_name(&split.name, &split.extension).expect("valid"), name);
    }
}
