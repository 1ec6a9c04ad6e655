//! Why an identity number was refused: [`IdentityError`], one variant per
//! distinct mistake, each with a message an operator at a counter can act on
//! and a stable machine code ([`IdentityError::code`]) for the HTTP 422 body.
//!
//! This module only describes failures; the checks that raise them live in
//! [`super::gb11643`] (18-character numbers) and [`super::permanent_2017`]
//! (15-character numbers).

use std::fmt;

use chrono::NaiveDate;

/// What kind of character a position of an identity number must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// An ASCII digit 0-9.
    Digit,
    /// The check position of an 18-character number: a digit 0-9 or X.
    DigitOrX,
    /// A Latin letter A-Z (the nationality code of a 2017 permanent-residence number).
    Letter,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expected::Digit => "a digit 0-9",
            Expected::DigitOrX => "a digit 0-9 or X",
            Expected::Letter => "a letter A-Z",
        })
    }
}

/// Why the eight (or six) birth-date digits of a number are not a birth date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateProblem {
    /// The month is not 01-12.
    #[error("month {month:02} does not exist")]
    NoSuchMonth {
        /// The month as written.
        month: u32,
    },
    /// The day does not exist in that month of that year.
    #[error("day {day:02} does not exist in {year:04}-{month:02}")]
    NoSuchDay {
        /// The year as written.
        year: i32,
        /// The month as written.
        month: u32,
        /// The day as written.
        day: u32,
    },
    /// The date lies after the day the number was checked.
    #[error("it is after today ({today})")]
    InFuture {
        /// The business date the check was made on.
        today: NaiveDate,
    },
    /// The year is before 1900: no living card holder was born then.
    #[error("it is before 1900")]
    Before1900,
}

/// An identity number that cannot be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The number (after trimming surrounding whitespace) has neither 18 nor
    /// 15 characters.
    #[error(
        "the number has {got} characters; expected 18 (resident ID, 2023 permanent-residence ID) \
         or 15 (2017 permanent-residence ID): check for a missing or extra character"
    )]
    WrongLength {
        /// How many characters were given.
        got: usize,
    },
    /// Fifteen digits: a first-generation resident ID number (一代身份证),
    /// which stopped being a valid document on 2013-01-01.
    #[error(
        "a 15-digit number is a first-generation resident ID, no longer valid: \
         ask for the 18-character number on the holder's current card"
    )]
    FirstGenerationNumber,
    /// A character that cannot stand at its position.
    #[error("character {found:?} at position {position} is not {expected}{}", full_width_hint(*.found))]
    BadCharacter {
        /// The offending character.
        found: char,
        /// Its position, counting from 1, in the trimmed input.
        position: usize,
        /// What the position must hold.
        expected: Expected,
    },
    /// The check character (position 18) does not match the other 17 digits.
    #[error(
        "check character is {found} but the first 17 digits give {expected}: \
         a digit was probably mistyped, compare the number with the card"
    )]
    CheckDigitMismatch {
        /// The check character the first 17 digits call for.
        expected: char,
        /// The check character that was given.
        found: char,
    },
    /// The birth-date digits do not form an acceptable birth date.
    #[error("birth date {digits} is not valid: {problem}")]
    InvalidDate {
        /// The birth-date digits as written (YYYYMMDD).
        digits: String,
        /// What is wrong with them.
        problem: DateProblem,
    },
    /// The leading province code is not a province of GB/T 2260 (or, in a
    /// 2023 permanent-residence number, not a mainland province that issues
    /// the card).
    #[error("region code {code} is not a province of China: check the first digits")]
    UnknownRegion {
        /// The two-digit province code as written.
        code: String,
    },
    /// The nationality code is not in ISO 3166-1 (GB/T 2659).
    #[error("nationality code {code} is not an ISO 3166-1 country or region: check the number")]
    UnknownNationality {
        /// The code as written: three digits (2023) or three letters (2017).
        code: String,
    },
    /// A permanent-residence number names China, Hong Kong, Macao or Taiwan:
    /// the card is issued to foreigners only.
    #[error(
        "nationality code {code} ({name_zh}) cannot appear in a foreigner's permanent-residence \
         number: Chinese citizens hold a 居民身份证, Hong Kong, Macao and Taiwan residents a \
         港澳台居民居住证; check the number and the document"
    )]
    NotForeignNationality {
        /// The code as written.
        code: String,
        /// The Chinese name of that code, e.g. 中国香港.
        name_zh: &'static str,
    },
}

impl IdentityError {
    /// A stable machine-readable code for API clients (the HTTP 422 body):
    /// `length`, `obsolete`, `character`, `check-digit`, `date`, `region`,
    /// `nationality`.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::WrongLength { .. } => "length",
            IdentityError::FirstGenerationNumber => "obsolete",
            IdentityError::BadCharacter { .. } => "character",
            IdentityError::CheckDigitMismatch { .. } => "check-digit",
            IdentityError::InvalidDate { .. } => "date",
            IdentityError::UnknownRegion { .. } => "region",
            IdentityError::UnknownNationality { .. }
            | IdentityError::NotForeignNationality { .. } => "nationality",
        }
    }
}

/// Full-width digits and letters come from a Chinese input method left in
/// full-width mode; saying so saves the operator a puzzled second look.
fn full_width_hint(found: char) -> &'static str {
    if ('\u{FF10}'..='\u{FF19}').contains(&found)
        || ('\u{FF21}'..='\u{FF3A}').contains(&found)
        || ('\u{FF41}'..='\u{FF5A}').contains(&found)
    {
        " (a full-width character: switch the input method to half-width)"
    } else {
        ""
    }
}
