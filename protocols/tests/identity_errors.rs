//! Every identity-number error is raised by a concrete mistake, names what
//! is wrong, and maps to its stable machine code.

use cardhub_protocols::identity::{self, DateProblem, Expected, IdentityError};
use chrono::NaiveDate;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).expect("valid test date")
}

/// A number with a correct check character around the given 17-digit body.
fn with_check(body: &str) -> String {
    let check = identity::check_char(body).expect("test body is 17 digits");
    format!("{body}{check}")
}

fn refuse(number: &str) -> IdentityError {
    match identity::parse(number, today()) {
        Ok(id) => panic!("{number} was accepted as {id:?}"),
        Err(e) => e,
    }
}

#[test]
fn wrong_length() {
    let e = refuse("1101051949123100");
    assert_eq!(e, IdentityError::WrongLength { got: 16 });
    assert_eq!(e.code(), "length");
    assert!(e.to_string().contains("has 16 characters"), "{e}");
    assert_eq!(refuse("   "), IdentityError::WrongLength { got: 0 });
}

#[test]
fn first_generation_fifteen_digits() {
    let e = refuse("110105491231002");
    assert_eq!(e, IdentityError::FirstGenerationNumber);
    assert_eq!(e.code(), "obsolete");
}

#[test]
fn bad_character_names_character_and_position() {
    let e = refuse("110105194912310O2X");
    assert_eq!(
        e,
        IdentityError::BadCharacter {
            found: 'O',
            position: 16,
            expected: Expected::Digit
        }
    );
    assert_eq!(e.code(), "character");
    assert!(e.to_string().contains("'O' at position 16"), "{e}");

    let e = refuse("11010519491231002A");
    assert_eq!(
        e,
        IdentityError::BadCharacter {
            found: 'A',
            position: 18,
            expected: Expected::DigitOrX
        }
    );

    let e = refuse("１1010519491231002X");
    assert!(e.to_string().contains("full-width"), "{e}");

    let e = refuse("U1A310085010112");
    assert_eq!(
        e,
        IdentityError::BadCharacter {
            found: '1',
            position: 2,
            expected: Expected::Letter
        }
    );
}

#[test]
fn check_digit_mismatch_says_expected_and_found() {
    let e = refuse("110105194912310021");
    assert_eq!(
        e,
        IdentityError::CheckDigitMismatch {
            expected: 'X',
            found: '1'
        }
    );
    assert_eq!(e.code(), "check-digit");
    assert!(e.to_string().contains("check character is 1"), "{e}");
    assert!(e.to_string().contains("give X"), "{e}");
}

#[test]
fn invalid_dates_say_why() {
    let cases = [
        (
            "11010519491331002",
            "19491331",
            DateProblem::NoSuchMonth { month: 13 },
        ),
        (
            "11010519490230002",
            "19490230",
            DateProblem::NoSuchDay {
                year: 1949,
                month: 2,
                day: 30,
            },
        ),
        ("11010518991231002", "18991231", DateProblem::Before1900),
        (
            "11010520250602002",
            "20250602",
            DateProblem::InFuture { today: today() },
        ),
    ];
    for (body, digits, problem) in cases {
        let e = refuse(&with_check(body));
        assert_eq!(
            e,
            IdentityError::InvalidDate {
                digits: digits.to_owned(),
                problem
            }
        );
        assert_eq!(e.code(), "date");
        assert!(e.to_string().contains(digits), "{e}");
    }
    // Born today is fine (a newborn's first card).
    identity::parse(&with_check("11010520250601002"), today()).expect("born today");
}

#[test]
fn unknown_province() {
    let e = refuse(&with_check("00010519491231002"));
    assert_eq!(
        e,
        IdentityError::UnknownRegion {
            code: "00".to_owned()
        }
    );
    assert_eq!(e.code(), "region");
    // A permanent-residence number is applied for in a mainland province only.
    let e = refuse(&with_check("98168219850101001"));
    assert_eq!(
        e,
        IdentityError::UnknownRegion {
            code: "81".to_owned()
        }
    );
}

#[test]
fn unknown_nationality() {
    let e = refuse(&with_check("93299919850101001"));
    assert_eq!(
        e,
        IdentityError::UnknownNationality {
            code: "999".to_owned()
        }
    );
    assert_eq!(e.code(), "nationality");
    let e = refuse("XYZ310085010112");
    assert_eq!(
        e,
        IdentityError::UnknownNationality {
            code: "XYZ".to_owned()
        }
    );
}

#[test]
fn china_hong_kong_macao_taiwan_never_in_a_permanent_residence_number() {
    for (code, name) in [
        ("156", "中国"),
        ("344", "中国香港"),
        ("446", "中国澳门"),
        ("158", "中国台湾"),
    ] {
        let e = refuse(&with_check(&format!("932{code}19850101001")));
        assert_eq!(
            e,
            IdentityError::NotForeignNationality {
                code: code.to_owned(),
                name_zh: name
            }
        );
        assert_eq!(e.code(), "nationality");
    }
    let e = refuse("CHN310085010112");
    assert_eq!(
        e,
        IdentityError::NotForeignNationality {
            code: "CHN".to_owned(),
            name_zh: "中国"
        }
    );
}
