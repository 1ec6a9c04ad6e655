//! Property: any 17-digit body with a real province, a valid birth date and
//! a sequence number, completed with its computed check character, parses
//! and gives back what went in.

use cardhub_protocols::identity::{self, IdentityKind, Nationality, Sex, nationality, region};
use chrono::{Days, NaiveDate};
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).expect("valid test date")
}

/// A birth date between 1900-01-01 and today.
fn birth_date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
    let span = (today() - first).num_days() as u64;
    (0..=span).prop_map(move |d| first + Days::new(d))
}

fn province() -> impl Strategy<Value = &'static str> {
    prop::sample::select(region::mainland_provinces()).prop_map(|p| p.code)
}

fn foreign_nationality() -> impl Strategy<Value = &'static Nationality> {
    let foreign: Vec<&'static Nationality> = nationality::NATIONALITIES
        .iter()
        .filter(|n| n.is_foreign())
        .collect();
    prop::sample::select(foreign)
}

fn expected_sex(sequence: u16) -> Sex {
    if sequence % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    }
}

proptest! {
    #[test]
    fn resident_ids_round_trip(
        province in province(),
        county in 0u16..10_000,
        born in birth_date(),
        sequence in 0u16..1000,
        lowercase in any::<bool>(),
    ) {
        let body = format!("{province}{county:04}{}{sequence:03}", born.format("%Y%m%d"));
        let check = identity::check_char(&body).expect("17 digits");
        let number = format!("{body}{check}");
        let typed = if lowercase { number.to_lowercase() } else { number.clone() };
        let id = identity::parse(&typed, today()).expect("generated number is valid");
        prop_assert_eq!(id.kind(), IdentityKind::ResidentId);
        prop_assert_eq!(id.number(), number.as_str());
        prop_assert_eq!(id.birth_date(), Some(born));
        prop_assert_eq!(id.sex(), Some(expected_sex(sequence)));
        prop_assert_eq!(id.region_code(), Some(&number[..6]));
        prop_assert_eq!(id.nationality().alpha3, "CHN");
        // A different check character is always refused.
        for wrong in "0123456789X".chars().filter(|c| *c != check) {
            let e = identity::parse(&format!("{body}{wrong}"), today());
            prop_assert!(e.is_err(), "{}{} accepted", body, wrong);
        }
    }

    #[test]
    fn permanent_residence_2023_round_trip(
        province in province(),
        nationality in foreign_nationality(),
        born in birth_date(),
        sequence in 0u16..1000,
    ) {
        let body = format!(
            "9{province}{:03}{}{sequence:03}",
            nationality.numeric,
            born.format("%Y%m%d")
        );
        let number = format!("{body}{}", identity::check_char(&body).expect("17 digits"));
        let id = identity::parse(&number, today()).expect("generated number is valid");
        prop_assert_eq!(id.kind(), IdentityKind::PermanentResidence2023);
        prop_assert_eq!(id.number(), number.as_str());
        prop_assert_eq!(id.nationality(), nationality);
        prop_assert_eq!(id.province().map(|p| p.code), Some(province));
        prop_assert_eq!(id.birth_date(), Some(born));
        prop_assert_eq!(id.sex(), Some(expected_sex(sequence)));
        prop_assert_eq!(id.document_type().as_zh(), "外国人永久居留身份证");
    }

    #[test]
    fn parse_never_panics(input in "\\PC{0,20}") {
        let _ = identity::parse(&input, today());
    }
}
