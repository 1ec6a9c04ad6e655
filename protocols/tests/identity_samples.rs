//! Published identity-number samples parse with the facts they carry, and
//! any single mistyped character makes them fail.

use cardhub_protocols::identity::{self, DocumentType, IdentityKind, Sex};
use chrono::NaiveDate;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

/// The business date the tests run on.
fn today() -> NaiveDate {
    day(2025, 6, 1)
}

const SAMPLES: [&str; 3] = [
    "11010519491231002X",
    "932682198501010017",
    "911124198108030024",
];

#[test]
fn resident_id_sample() {
    let id = identity::parse("11010519491231002X", today()).expect("published sample is valid");
    assert_eq!(id.kind(), IdentityKind::ResidentId);
    assert_eq!(id.number(), "11010519491231002X");
    assert_eq!(id.document_type(), DocumentType::ResidentIdCard);
    assert_eq!(id.document_type().as_zh(), "居民身份证");
    assert_eq!(id.birth_date(), Some(day(1949, 12, 31)));
    assert_eq!(id.sex(), Some(Sex::Female));
    assert_eq!(id.region_code(), Some("110105"));
    assert_eq!(id.province().map(|p| p.name_zh), Some("北京市"));
    assert_eq!(id.nationality().alpha3, "CHN");
}

#[test]
fn permanent_residence_2023_saudi_sample() {
    let id = identity::parse("932682198501010017", today()).expect("published sample is valid");
    assert_eq!(id.kind(), IdentityKind::PermanentResidence2023);
    assert_eq!(id.document_type().as_zh(), "外国人永久居留身份证");
    assert_eq!(id.province().map(|p| p.code), Some("32"));
    assert_eq!(id.province().map(|p| p.name_zh), Some("江苏省"));
    assert_eq!(id.nationality().numeric, 682);
    assert_eq!(id.nationality().alpha3, "SAU");
    assert_eq!(id.nationality().display_label(), "沙特阿拉伯");
    assert_eq!(id.birth_date(), Some(day(1985, 1, 1)));
    assert_eq!(id.sex(), Some(Sex::Male));
    assert_eq!(id.region_code(), None);
}

#[test]
fn permanent_residence_2023_canada_sample() {
    let id = identity::parse("911124198108030024", today()).expect("published sample is valid");
    assert_eq!(id.kind(), IdentityKind::PermanentResidence2023);
    assert_eq!(
        id.document_type(),
        DocumentType::ForeignerPermanentResidenceCard
    );
    assert_eq!(id.province().map(|p| p.code), Some("11"));
    assert_eq!(id.nationality().numeric, 124);
    assert_eq!(id.nationality().display_label(), "加拿大");
    assert_eq!(id.nationality().name_en, "Canada");
    assert_eq!(id.birth_date(), Some(day(1981, 8, 3)));
    assert_eq!(id.sex(), Some(Sex::Female));
}

#[test]
fn every_single_character_change_is_refused() {
    for sample in SAMPLES {
        identity::parse(sample, today()).expect("sample itself is valid");
        for (i, original) in sample.char_indices() {
            for replacement in "0123456789Xx".chars() {
                if replacement.eq_ignore_ascii_case(&original) {
                    continue;
                }
                let mut changed = sample.to_owned();
                changed.replace_range(i..i + 1, &replacement.to_string());
                assert!(
                    identity::parse(&changed, today()).is_err(),
                    "{changed} (position {} of {sample} changed to {replacement}) was accepted",
                    i + 1
                );
            }
        }
    }
}

#[test]
fn lowercase_x_and_surrounding_whitespace_are_normalised() {
    let id = identity::parse("  11010519491231002x\t", today()).expect("lowercase x is accepted");
    assert_eq!(id.number(), "11010519491231002X");
    let id = identity::parse("\u{3000}932682198501010017\u{3000}", today())
        .expect("full-width spaces around the number are trimmed");
    assert_eq!(id.number(), "932682198501010017");
    assert_eq!(id.to_string(), "932682198501010017");
}

#[test]
fn hong_kong_residence_permit_is_not_a_resident_id_card() {
    let body = "81000019900101001";
    let check = identity::check_char(body).expect("17 digits");
    let id = identity::parse(&format!("{body}{check}"), today()).expect("valid permit number");
    assert_eq!(id.kind(), IdentityKind::ResidentId);
    assert_eq!(id.document_type().as_zh(), "港澳台居民居住证");
    assert_eq!(id.nationality().display_label(), "中国香港");
    assert_eq!(id.sex(), Some(Sex::Male));
}

#[test]
fn permanent_residence_2017_number() {
    let id = identity::parse("usa310085010112", today()).expect("2017 number is accepted");
    assert_eq!(id.kind(), IdentityKind::PermanentResidence2017);
    assert_eq!(id.number(), "USA310085010112");
    assert_eq!(id.nationality().numeric, 840);
    assert_eq!(id.nationality().display_label(), "美国");
    assert_eq!(id.document_type().as_zh(), "外国人永久居留身份证");
    assert_eq!(id.birth_date(), Some(day(1985, 1, 1)));
    assert_eq!(id.sex(), None);
    // The digit layout is unverified: digits that are no date there do not refuse the number.
    let id = identity::parse("CAN310099999912", today()).expect("unverified date never refuses");
    assert_eq!(id.birth_date(), None);
}

#[test]
fn json_carries_the_fields_the_business_needs() {
    let id = identity::parse("932682198501010017", today()).expect("published sample is valid");
    let json = serde_json::to_value(&id).expect("serialisable");
    assert_eq!(
        json,
        serde_json::json!({
            "kind": "permanent-residence-2023",
            "number": "932682198501010017",
            "document_type": "外国人永久居留身份证",
            "birth_date": "1985-01-01",
            "sex": "male",
            "region_code": null,
            "province": {"code": "32", "name_zh": "江苏省"},
            "nationality": {"numeric": "682", "alpha3": "SAU", "name_zh": "沙特阿拉伯", "name_en": "Saudi Arabia"},
        })
    );
}
