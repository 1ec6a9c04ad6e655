//! 18-character numbers in the GB 11643 layout: the resident ID (居民身份证,
//! also the 港澳台居民居住证 with region 81/82/83) and the 2023
//! Foreigner's Permanent Residence ID (外国人永久居留身份证, leading `9`).
//!
//! ```text
//! resident ID     RRRRRR YYYYMMDD SSS C    R region, S sequence (odd = male), C check
//! 2023 permanent  9 PP NNN YYYYMMDD SSS C  P province of application, N nationality (ISO 3166-1 numeric)
//! ```
//!
//! The check character is ISO 7064 MOD 11-2 over the first 17 digits
//! ([`check_char`]). Checks run in this order, so an operator hears about
//! the most likely mistake first: characters, check character, region,
//! birth date, nationality. The 15-character 2017 layout is in
//! [`super::permanent_2017`]; the entry point is [`super::parse`].

use chrono::NaiveDate;

use super::error::{DateProblem, Expected, IdentityError};
use super::nationality::Nationality;
use super::region;
use super::{DocumentType, IdentityKind, IdentityNumber, Sex};

/// ISO 7064 MOD 11-2 weights for positions 1-17: 2^(18-i) mod 11.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The check character for each value of (weighted sum mod 11).
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Year before which a birth date is refused: nobody alive was born earlier,
/// so such a date is a typing mistake.
const EARLIEST_BIRTH_YEAR: i32 = 1900;

/// The GB 11643 check character (`0`-`9` or `X`) for the first 17 digits of
/// an 18-character number, or `None` if `body` is not exactly 17 ASCII digits.
pub fn check_char(body: &str) -> Option<char> {
    let bytes = body.as_bytes();
    if bytes.len() != WEIGHTS.len() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(CHECK_CHARS[(sum % 11) as usize])
}

/// Parse an 18-character number (already trimmed, exactly 18 characters).
pub(super) fn parse(trimmed: &str, today: NaiveDate) -> Result<IdentityNumber, IdentityError> {
    let number = normalise(trimmed)?;
    let (body, given) = number.split_at(17);
    let expected = check_char(body).expect("normalise() leaves 17 ASCII digits before the check");
    let given = given
        .chars()
        .next()
        .expect("normalise() leaves 18 characters");
    if given != expected {
        return Err(IdentityError::CheckDigitMismatch {
            expected,
            found: given,
        });
    }
    let sex = if (number.as_bytes()[16] - b'0') % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    };
    if number.starts_with('9') {
        permanent_2023(number, sex, today)
    } else {
        resident(number, sex, today)
    }
}

/// Check every character and return the number with a lowercase `x` made `X`.
fn normalise(trimmed: &str) -> Result<String, IdentityError> {
    let mut out = String::with_capacity(18);
    for (i, c) in trimmed.chars().enumerate() {
        let position = i + 1;
        match (position, c) {
            (_, '0'..='9') => out.push(c),
            (18, 'X' | 'x') => out.push('X'),
            _ => {
                let expected = if position == 18 {
                    Expected::DigitOrX
                } else {
                    Expected::Digit
                };
                return Err(IdentityError::BadCharacter {
                    found: c,
                    position,
                    expected,
                });
            }
        }
    }
    Ok(out)
}

/// Resident ID (or 港澳台居民居住证): region, birth date.
fn resident(number: String, sex: Sex, today: NaiveDate) -> Result<IdentityNumber, IdentityError> {
    let province_code = &number[0..2];
    let province =
        region::resident_province(province_code).ok_or_else(|| IdentityError::UnknownRegion {
            code: province_code.to_owned(),
        })?;
    let birth_date = birth_date(&number[6..14], today)?;
    let alpha3 = region::residence_permit_region(province_code).unwrap_or("CHN");
    let nationality =
        Nationality::by_alpha3(alpha3).expect("CHN, HKG, MAC and TWN are in the table");
    Ok(IdentityNumber {
        kind: IdentityKind::ResidentId,
        document_type: DocumentType::for_nationality(nationality),
        region_code: Some(number[0..6].to_owned()),
        number,
        birth_date: Some(birth_date),
        sex: Some(sex),
        province: Some(province),
        nationality,
    })
}

/// 2023 permanent-residence number: province of application, birth date,
/// nationality (which must be foreign).
fn permanent_2023(
    number: String,
    sex: Sex,
    today: NaiveDate,
) -> Result<IdentityNumber, IdentityError> {
    let province_code = &number[1..3];
    let province =
        region::mainland_province(province_code).ok_or_else(|| IdentityError::UnknownRegion {
            code: province_code.to_owned(),
        })?;
    let birth_date = birth_date(&number[6..14], today)?;
    let code = &number[3..6];
    let numeric: u16 = code.parse().expect("three ASCII digits fit in u16");
    let nationality =
        Nationality::by_numeric(numeric).ok_or_else(|| IdentityError::UnknownNationality {
            code: code.to_owned(),
        })?;
    if !nationality.is_foreign() {
        return Err(IdentityError::NotForeignNationality {
            code: code.to_owned(),
            name_zh: nationality.name_zh,
        });
    }
    Ok(IdentityNumber {
        kind: IdentityKind::PermanentResidence2023,
        document_type: DocumentType::for_nationality(nationality),
        number,
        birth_date: Some(birth_date),
        sex: Some(sex),
        region_code: None,
        province: Some(province),
        nationality,
    })
}

/// Decode eight ASCII digits YYYYMMDD as a birth date that is neither
/// before 1900 nor after `today`.
pub(super) fn birth_date(digits: &str, today: NaiveDate) -> Result<NaiveDate, IdentityError> {
    let field = |range: std::ops::Range<usize>| -> u32 {
        digits[range]
            .parse()
            .expect("birth-date digits were checked to be ASCII digits")
    };
    let (year, month, day) = (field(0..4) as i32, field(4..6), field(6..8));
    birth_date_from_parts(year, month, day, today).map_err(|problem| IdentityError::InvalidDate {
        digits: digits.to_owned(),
        problem,
    })
}

/// The birth date from its parts, or what is wrong with them.
pub(super) fn birth_date_from_parts(
    year: i32,
    month: u32,
    day: u32,
    today: NaiveDate,
) -> Result<NaiveDate, DateProblem> {
    if !(1..=12).contains(&month) {
        return Err(DateProblem::NoSuchMonth { month });
    }
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(DateProblem::NoSuchDay {
        year,
        month,
        day,
    })?;
    if year < EARLIEST_BIRTH_YEAR {
        return Err(DateProblem::Before1900);
    }
    if date > today {
        return Err(DateProblem::InFuture { today });
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_char_of_published_samples() {
        assert_eq!(check_char("11010519491231002"), Some('X'));
        assert_eq!(check_char("93268219850101001"), Some('7'));
        assert_eq!(check_char("91112419810803002"), Some('4'));
    }

    #[test]
    fn check_char_refuses_wrong_bodies() {
        assert_eq!(check_char("1101051949123100"), None);
        assert_eq!(check_char("1101051949123100X"), None);
        assert_eq!(check_char("110105194912310021"), None);
    }

    #[test]
    fn weights_are_powers_of_two_mod_11() {
        for (i, w) in WEIGHTS.iter().enumerate() {
            assert_eq!(*w, (1u32 << (17 - i)) % 11, "weight of position {}", i + 1);
        }
    }
}
