//! Text blocks: each card type against a block written out field by field
//! in hex from the reference's table (widths in bytes, padding `20 00`),
//! the number check's flags, and round trips over random cards.

use chrono::NaiveDate;
use proptest::prelude::*;

use super::layout::{permanent_2017, permanent_2023, resident};
use super::*;
use crate::identity::{DateProblem, IdentityError};

/// A sample with some fields changed (struct variants have no `..base`):
/// `with!(resident_card(), IdCard::Resident { sex: Sex::Male })`.
macro_rules! with {
    ($card:expr, $variant:path { $($field:ident : $value:expr),+ $(,)? }) => {{
        let mut card = $card;
        match &mut card {
            $variant { $($field),+, .. } => { $(*$field = $value;)+ }
            _ => unreachable!("the sample is of this variant"),
        }
        card
    }};
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid test date")
}

/// The business date of the checks.
fn today() -> NaiveDate {
    day(2025, 6, 1)
}

/// A block from (hex of the value's UCS-2LE bytes, field width in bytes).
fn block_of(fields: &[(&str, usize)]) -> [u8; TEXT_LEN] {
    let mut out = Vec::new();
    for (value, width) in fields {
        let mut bytes = hex::decode(value).expect("test hex");
        assert!(bytes.len() <= *width, "{value} overflows {width}");
        while bytes.len() < *width {
            bytes.extend_from_slice(&[0x20, 0x00]);
        }
        out.extend(bytes);
    }
    out.try_into().expect("the fields add up to 256 bytes")
}

fn resident_block() -> [u8; TEXT_LEN] {
    block_of(&[
        ("4e674e53", 30),                         // 李华
        ("3200", 2),                              // 2: female
        ("30003100", 4),                          // 01
        ("31003900340039003100320033003100", 16), // 19491231
        (
            "1753ac4e025e7f89ce573a530d597451e8951659275957883100f753",
            70,
        ), // 北京市西城区复兴门外大街1号
        (
            "310031003000310030003500310039003400390031003200330031003000300032005800",
            36,
        ), // 11010519491231002X
        ("1753ac4e025e7f89ce573a536c51895b0652405c", 30), // 北京市西城区公安分局
        ("32003000310035003000330030003100", 16), // 20150301
        ("7f951f67", 16),                         // 长期
        ("", 36),                                 // reserved
    ])
}

fn resident_card() -> IdCard {
    IdCard::Resident {
        name: "李华".into(),
        sex: Sex::Female,
        ethnicity: 1,
        birth_date: day(1949, 12, 31),
        address: "北京市西城区复兴门外大街1号".into(),
        number: "11010519491231002X".into(),
        authority: "北京市西城区公安分局".into(),
        valid_from: day(2015, 3, 1),
        valid_to: ValidUntil::LongTerm,
    }
}

fn permanent_2017_block() -> [u8; TEXT_LEN] {
    block_of(&[
        (
            "4a004f0048004e0053004f004e002c00200045004d0049004c005900200052004f0053004500",
            120,
        ), // JOHNSON, EMILY ROSE
        ("3200", 2), // female
        (
            "430041004e00330031003000300038003500300031003000310031003200",
            30,
        ), // CAN310085010112
        ("430041004e00", 6), // CAN
        ("7e82737c8983", 30), // 艾米莉
        ("32003000310037003000360031003500", 16), // 20170615
        ("32003000320037003000360031003400", 16), // 20270614
        ("31003900380035003000310030003100", 16), // 19850101
        ("30003100", 4), // 01
        ("3300310030003000", 8), // 3100
        ("4900", 2), // I
        ("", 6),     // reserved
    ])
}

fn permanent_2017_card() -> IdCard {
    IdCard::PermanentResidence2017 {
        english_name: "JOHNSON, EMILY ROSE".into(),
        sex: Sex::Female,
        number: "CAN310085010112".into(),
        nationality: "CAN".into(),
        chinese_name: "艾米莉".into(),
        issued: day(2017, 6, 15),
        expires: day(2027, 6, 14),
        birth_date: day(1985, 1, 1),
        card_version: "01".into(),
        office_code: "3100".into(),
    }
}

fn permanent_2023_block() -> [u8; TEXT_LEN] {
    block_of(&[
        ("3f965c535c67c962", 30),                 // 阿卜杜拉
        ("3100", 2),                              // male
        ("30003000", 4),                          // 00
        ("31003900380035003000310030003100", 16), // 19850101
        (
            "41004200440055004c004c004100480020004d004f00480041004d004d00450044002000420049004e002000530041004c004d0041004e00200041004c002000530041005500",
            70,
        ), // ABDULLAH MOHAMMED BIN SALMAN AL SAU
        (
            "390033003200360038003200310039003800350030003100300031003000300031003700",
            36,
        ), // 932682198501010017
        ("", 30),                                 // reserved
        ("32003000320033003100320030003100", 16), // 20231201
        ("32003000330033003100310033003000", 16), // 20331130
        ("440020004b00480041004c0049004400", 22), // D KHALID
        ("360038003200", 6),                      // 682
        ("5900", 2),                              // Y
        ("410042003100", 6),                      // AB1
    ])
}

fn permanent_2023_card() -> IdCard {
    IdCard::PermanentResidence2023 {
        chinese_name: "阿卜杜拉".into(),
        sex: Sex::Male,
        renewals: 0,
        birth_date: day(1985, 1, 1),
        english_name: "ABDULLAH MOHAMMED BIN SALMAN AL SAUD KHALID".into(),
        number: "932682198501010017".into(),
        valid_from: day(2023, 12, 1),
        valid_to: day(2033, 11, 30),
        nationality: "682".into(),
        previous_number_link: "AB1".into(),
    }
}

#[test]
fn each_layout_tiles_the_block() {
    let layouts: [&[field::Field]; 3] =
        [&resident::ALL, &permanent_2017::ALL, &permanent_2023::ALL];
    for fields in layouts {
        let mut at = 0;
        for f in fields {
            assert_eq!(f.at, at, "{} starts where the previous ends", f.name);
            assert_eq!(f.bytes % 2, 0, "{} holds whole characters", f.name);
            at += f.bytes;
        }
        assert_eq!(at, TEXT_LEN);
    }
    assert_eq!(permanent_2017::TYPE.at, CardKind::MARKER_AT);
    assert_eq!(permanent_2023::TYPE.at, CardKind::MARKER_AT);
    // A resident card's marker position lies in its reserved area.
    let reserved = resident::RESERVED.at..resident::RESERVED.at + resident::RESERVED.bytes;
    assert!(reserved.contains(&CardKind::MARKER_AT));
}

#[test]
fn resident_card_decodes_and_encodes_byte_for_byte() {
    let block = resident_block();
    assert_eq!(CardKind::of_block(&block), Ok(CardKind::Resident));
    assert_eq!(IdCard::decode(&block), Ok(resident_card()));
    assert_eq!(resident_card().encode(), Ok(block));
}

#[test]
fn permanent_2017_card_decodes_and_encodes_byte_for_byte() {
    let block = permanent_2017_block();
    assert_eq!(IdCard::decode(&block), Ok(permanent_2017_card()));
    assert_eq!(permanent_2017_card().encode(), Ok(block));
}

#[test]
fn permanent_2023_card_joins_its_english_name_and_encodes_byte_for_byte() {
    let block = permanent_2023_block();
    assert_eq!(IdCard::decode(&block), Ok(permanent_2023_card()));
    assert_eq!(permanent_2023_card().encode(), Ok(block));
}

#[test]
fn a_space_at_character_35_stays_in_the_english_name() {
    let name = format!("{} TAIL", "A".repeat(34));
    assert_eq!(name.chars().nth(34), Some(' '));
    let card = with!(
        permanent_2023_card(),
        IdCard::PermanentResidence2023 {
            english_name: name.clone()
        }
    );
    let decoded = IdCard::decode(&card.encode().unwrap()).unwrap();
    assert!(
        matches!(decoded, IdCard::PermanentResidence2023 { english_name, .. } if english_name == name)
    );
}

#[test]
fn a_resident_card_may_end_on_a_date() {
    let mut block = resident_block();
    let to = hex::decode("32003000330035003000330030003100").unwrap(); // 20350301
    block[204..220].copy_from_slice(&to);
    let card = IdCard::decode(&block).unwrap();
    assert_eq!(card.valid_to(), Some(day(2035, 3, 1)));
}

#[test]
fn the_j_permit_is_recognised_and_refused_as_not_yet_supported() {
    let mut block = resident_block();
    block[248] = b'J';
    assert_eq!(
        CardKind::of_block(&block),
        Ok(CardKind::HkMacaoTaiwanResidencePermit)
    );
    let error = IdCard::decode(&block).unwrap_err();
    assert_eq!(
        error,
        TextBlockError::Unsupported {
            kind: CardKind::HkMacaoTaiwanResidencePermit
        }
    );
    assert!(error.to_string().contains("type the holder's details"));
}

#[test]
fn blocks_that_are_not_a_card_say_why() {
    let mut block = resident_block();
    block[248] = b'Z';
    assert_eq!(
        IdCard::decode(&block),
        Err(TextBlockError::UnknownCardType { marker: 0x005A })
    );
    assert_eq!(
        IdCard::decode(&block[..255]),
        Err(TextBlockError::WrongLength { got: 255 })
    );
    let mut bad_sex = resident_block();
    bad_sex[30] = b'9';
    assert!(matches!(
        IdCard::decode(&bad_sex),
        Err(TextBlockError::BadField { field: "sex", .. })
    ));
    let mut bad_date = permanent_2017_block();
    bad_date[188 + 8] = b'9'; // 20179615
    assert!(matches!(
        IdCard::decode(&bad_date),
        Err(TextBlockError::BadField { field: "issue date", text, .. }) if text == "20179615"
    ));
    let mut surrogate = resident_block();
    surrogate[0..2].copy_from_slice(&0xDC00u16.to_le_bytes());
    assert!(matches!(
        IdCard::decode(&surrogate),
        Err(TextBlockError::NotUcs2 { offset: 0, .. })
    ));
}

#[test]
fn cards_that_do_not_fit_a_block_are_refused() {
    let long_name = with!(
        resident_card(),
        IdCard::Resident {
            name: "很".repeat(16)
        }
    );
    assert!(matches!(
        long_name.encode(),
        Err(EncodeError::TooLong { max_chars: 15, .. })
    ));
    let long_english = with!(
        permanent_2023_card(),
        IdCard::PermanentResidence2023 {
            english_name: "A".repeat(47)
        }
    );
    assert!(matches!(
        long_english.encode(),
        Err(EncodeError::TooLong { max_chars: 46, .. })
    ));
    let ethnicity = with!(resident_card(), IdCard::Resident { ethnicity: 100 });
    assert!(matches!(
        ethnicity.encode(),
        Err(EncodeError::OutOfRange { .. })
    ));
}

#[test]
fn the_samples_numbers_check_out() {
    for card in [
        resident_card(),
        permanent_2017_card(),
        permanent_2023_card(),
    ] {
        let checked = card.check_number(today()).unwrap();
        assert_eq!(checked.number(), card.number());
    }
    assert_eq!(
        permanent_2023_card().nationality().map(|n| n.alpha3),
        Some("SAU")
    );
    assert_eq!(resident_card().nationality().map(|n| n.alpha3), Some("CHN"));
    assert_eq!(permanent_2017_card().name(), "艾米莉");
}

#[test]
fn a_card_whose_number_fails_is_decoded_and_flagged() {
    let mut block = resident_block();
    // 11010519491231002X → ...0021: a wrong check character.
    block[122 + 34..122 + 36].copy_from_slice(&[b'1', 0]);
    let card = IdCard::decode(&block).expect("the card still decodes");
    assert_eq!(card.number(), "110105194912310021");
    assert_eq!(card.name(), "李华");
    let problem = card.check_number(today()).unwrap_err();
    assert!(matches!(
        &problem,
        NumberProblem::Invalid {
            source: IdentityError::CheckDigitMismatch {
                expected: 'X',
                found: '1'
            },
            ..
        }
    ));
    assert!(problem.to_string().contains("read the card again"));
}

#[test]
fn a_number_that_disagrees_with_its_card_is_flagged() {
    let disagreement = |card: IdCard| match card.check_number(today()) {
        Err(NumberProblem::Disagrees { field, .. }) => field,
        other => panic!("{card:?}: {other:?}"),
    };
    let born_later = with!(
        resident_card(),
        IdCard::Resident {
            birth_date: day(1950, 1, 1)
        }
    );
    assert_eq!(disagreement(born_later), "birth date");
    let male = with!(resident_card(), IdCard::Resident { sex: Sex::Male });
    assert_eq!(disagreement(male), "sex");
    let canada = with!(
        permanent_2023_card(),
        IdCard::PermanentResidence2023 {
            nationality: "124".into()
        }
    );
    assert_eq!(disagreement(canada), "nationality");
    let usa = with!(
        permanent_2017_card(),
        IdCard::PermanentResidence2017 {
            nationality: "USA".into()
        }
    );
    assert_eq!(disagreement(usa), "nationality");
    let foreign_number = with!(
        resident_card(),
        IdCard::Resident {
            number: "932682198501010017".into(),
            birth_date: day(1985, 1, 1),
        }
    );
    assert!(matches!(
        foreign_number.check_number(today()),
        Err(NumberProblem::WrongKind { .. })
    ));
}

#[test]
fn the_business_date_is_the_checks_today() {
    let error = resident_card().check_number(day(1949, 12, 30)).unwrap_err();
    assert!(matches!(
        error,
        NumberProblem::Invalid {
            source: IdentityError::InvalidDate {
                problem: DateProblem::InFuture { .. },
                ..
            },
            ..
        }
    ));
}

/// A value for a field of `max` characters: any UCS-2 characters, no
/// trailing padding (which decoding trims).
fn text(max: usize) -> impl Strategy<Value = String> {
    let ucs2 = prop_oneof![
        4 => 0x20u32..0x7F,
        4 => 0x4E00u32..0x9FA6,
        1 => 0u32..0xD800,
        1 => 0xE000u32..=0xFFFF,
    ]
    .prop_map(|u| char::from_u32(u).expect("no surrogates in the ranges"));
    proptest::collection::vec(ucs2, 0..=max).prop_map(|chars| {
        let s: String = chars.into_iter().collect();
        s.trim_end_matches([' ', '\0']).to_owned()
    })
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (0i32..=9999, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| day(y, m, d))
}

fn sex() -> impl Strategy<Value = Sex> {
    prop_oneof![Just(Sex::Male), Just(Sex::Female)]
}

fn resident_cards() -> impl Strategy<Value = IdCard> {
    let valid_to = prop_oneof![
        Just(ValidUntil::LongTerm),
        date().prop_map(ValidUntil::Date)
    ];
    (
        (text(15), sex(), 0u8..=99, date(), text(35)),
        (text(18), text(15), date(), valid_to),
    )
        .prop_map(
            |(
                (name, sex, ethnicity, birth_date, address),
                (number, authority, valid_from, valid_to),
            )| {
                IdCard::Resident {
                    name,
                    sex,
                    ethnicity,
                    birth_date,
                    address,
                    number,
                    authority,
                    valid_from,
                    valid_to,
                }
            },
        )
}

fn permanent_2017_cards() -> impl Strategy<Value = IdCard> {
    (
        (text(60), sex(), text(15), text(3), text(15)),
        (date(), date(), date(), text(2), text(4)),
    )
        .prop_map(
            |(
                (english_name, sex, number, nationality, chinese_name),
                (issued, expires, birth_date, card_version, office_code),
            )| IdCard::PermanentResidence2017 {
                english_name,
                sex,
                number,
                nationality,
                chinese_name,
                issued,
                expires,
                birth_date,
                card_version,
                office_code,
            },
        )
}

fn permanent_2023_cards() -> impl Strategy<Value = IdCard> {
    (
        (text(15), sex(), 0u8..=99, date(), text(46)),
        (text(18), date(), date(), text(3), text(3)),
    )
        .prop_map(
            |(
                (chinese_name, sex, renewals, birth_date, english_name),
                (number, valid_from, valid_to, nationality, previous_number_link),
            )| IdCard::PermanentResidence2023 {
                chinese_name,
                sex,
                renewals,
                birth_date,
                english_name,
                number,
                valid_from,
                valid_to,
                nationality,
                previous_number_link,
            },
        )
}

proptest! {
    #[test]
    fn every_card_round_trips(card in prop_oneof![
        resident_cards(),
        permanent_2017_cards(),
        permanent_2023_cards(),
    ]) {
        let block = card.encode().unwrap();
        prop_assert_eq!(CardKind::of_block(&block), Ok(card.kind()));
        let decoded = IdCard::decode(&block).unwrap();
        prop_assert_eq!(&decoded, &card);
        prop_assert_eq!(decoded.encode().unwrap(), block);
    }

    #[test]
    fn a_corrupted_block_decodes_or_says_why(
        card in prop_oneof![resident_cards(), permanent_2017_cards(), permanent_2023_cards()],
        flips in proptest::collection::vec((0..TEXT_LEN, any::<u8>()), 1..6),
    ) {
        let mut block = card.encode().unwrap();
        for (at, bits) in flips {
            block[at] ^= bits;
        }
        if let Ok(decoded) = IdCard::decode(&block) {
            let _ = decoded.check_number(today());
            let again = decoded.encode().unwrap();
            prop_assert_eq!(IdCard::decode(&again).unwrap(), decoded);
        }
    }

}
