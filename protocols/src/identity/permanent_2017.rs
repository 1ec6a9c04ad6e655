//! The 15-character Foreigner's Permanent Residence ID number of the 2017
//! (and earlier) card: three Latin letters, the ISO 3166-1 alpha-3
//! nationality, then twelve digits.
//!
//! Only the nationality prefix and "twelve digits" are verified facts. The
//! split of the digits usually given (4 issuing office, 6 YYMMDD birth date,
//! 1 sequence, 1 check) is UNVERIFIED: the birth date is decoded from that
//! position as a best effort, is `None` when the digits there are not a date,
//! and is never a reason to refuse the number. The check digit's algorithm
//! is unknown and is not checked; sex is not derived. The whole rule is the
//! `LAYOUT` constant below, so correcting it is a one-line change.
//! The 18-character layouts are in [`super::gb11643`].

use std::ops::Range;

use chrono::{Datelike, NaiveDate};

use super::error::{Expected, IdentityError};
use super::gb11643::birth_date_from_parts;
use super::nationality::Nationality;
use super::{DocumentType, IdentityKind, IdentityNumber};

/// Where the fields sit in a 15-character number (0-based character ranges).
struct Layout2017 {
    /// ISO 3166-1 alpha-3 nationality: verified.
    nationality: Range<usize>,
    /// YYMMDD birth date: unverified.
    birth_date_yymmdd: Range<usize>,
}

/// The one statement of the 2017 layout.
const LAYOUT: Layout2017 = Layout2017 {
    nationality: 0..3,
    birth_date_yymmdd: 7..13,
};

/// Parse a 15-character number (already trimmed, exactly 15 characters).
pub(super) fn parse(trimmed: &str, today: NaiveDate) -> Result<IdentityNumber, IdentityError> {
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdentityError::FirstGenerationNumber);
    }
    let number = normalise(trimmed)?;
    let code = &number[LAYOUT.nationality.clone()];
    let nationality =
        Nationality::by_alpha3(code).ok_or_else(|| IdentityError::UnknownNationality {
            code: code.to_owned(),
        })?;
    if !nationality.is_foreign() {
        return Err(IdentityError::NotForeignNationality {
            code: code.to_owned(),
            name_zh: nationality.name_zh,
        });
    }
    let birth_date = decode_birth_date(&number[LAYOUT.birth_date_yymmdd.clone()], today);
    Ok(IdentityNumber {
        kind: IdentityKind::PermanentResidence2017,
        document_type: DocumentType::for_nationality(nationality),
        number,
        birth_date,
        sex: None,
        region_code: None,
        province: None,
        nationality,
    })
}

/// Check the letters and digits; return the number with the letters uppercased.
fn normalise(trimmed: &str) -> Result<String, IdentityError> {
    let mut out = String::with_capacity(15);
    for (i, c) in trimmed.chars().enumerate() {
        let (ok, expected) = if LAYOUT.nationality.contains(&i) {
            (c.is_ascii_alphabetic(), Expected::Letter)
        } else {
            (c.is_ascii_digit(), Expected::Digit)
        };
        if !ok {
            return Err(IdentityError::BadCharacter {
                found: c,
                position: i + 1,
                expected,
            });
        }
        out.push(c.to_ascii_uppercase());
    }
    Ok(out)
}

/// Best-effort birth date from six ASCII digits YYMMDD: the century is the
/// latest one that does not put the date after `today`.
fn decode_birth_date(yymmdd: &str, today: NaiveDate) -> Option<NaiveDate> {
    let field = |r: Range<usize>| -> u32 { yymmdd[r].parse().expect("checked to be ASCII digits") };
    let (yy, month, day) = (field(0..2) as i32, field(2..4), field(4..6));
    let this_century = today.year() / 100 * 100;
    [this_century + yy, this_century - 100 + yy]
        .into_iter()
        .find_map(|year| birth_date_from_parts(year, month, day, today).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn century_is_the_latest_not_in_the_future() {
        let today = day(2025, 6, 1);
        assert_eq!(decode_birth_date("850101", today), Some(day(1985, 1, 1)));
        assert_eq!(decode_birth_date("100101", today), Some(day(2010, 1, 1)));
        assert_eq!(decode_birth_date("250601", today), Some(day(2025, 6, 1)));
        assert_eq!(decode_birth_date("250602", today), Some(day(1925, 6, 2)));
    }

    #[test]
    fn undecodable_dates_are_none() {
        let today = day(2025, 6, 1);
        assert_eq!(decode_birth_date("851301", today), None);
        assert_eq!(decode_birth_date("850230", today), None);
    }
}
