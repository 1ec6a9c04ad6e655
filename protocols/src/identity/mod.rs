//! Identity numbers met at a social security counter, parsed and checked
//! without I/O: [`parse`] takes what an operator typed (or an ID reader
//! returned) and the business date, and returns an [`IdentityNumber`] with
//! the facts the number carries, or an [`IdentityError`] that says what is
//! wrong.
//!
//! Accepted forms:
//! - 居民身份证 (resident ID, GB 11643), 18 characters: [`gb11643`].
//!   Numbers with region 81/82/83 are 港澳台居民居住证 (residence permits
//!   for Hong Kong, Macao and Taiwan residents), same layout.
//! - 外国人永久居留身份证 (Foreigner's Permanent Residence ID), 2023
//!   version, 18 digits starting with `9`: [`gb11643`].
//! - The same card's 2017 version, 15 characters, three letters first:
//!   [`permanent_2017`] (its digit layout is partly unverified, see there).
//!
//! Input rules: surrounding whitespace (including the full-width space) is
//! trimmed; a lowercase `x` check character is accepted and stored as `X`
//! (typing it in lowercase is common and changes nothing); letters of a
//! 2017 number are uppercased. Nothing else is rewritten: full-width digits
//! and inner spaces are refused with the position of the character.
//!
//! Also here: the nationality table ([`nationality`]), province codes
//! ([`region`]), and two small shape checks met in the same forms:
//! [`luhn_valid`] for bank card numbers and [`is_mainland_mobile`].
//! Storage encrypts these numbers; this module never sees a key.

pub mod bank_card;
pub mod error;
pub mod gb11643;
pub mod mobile;
pub mod nationality;
pub mod permanent_2017;
pub mod region;

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

pub use bank_card::{luhn_check_digit, luhn_valid};
pub use error::{DateProblem, Expected, IdentityError};
pub use gb11643::check_char;
pub use mobile::is_mainland_mobile;
pub use nationality::Nationality;
pub use region::Province;

/// Which layout a number has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum IdentityKind {
    /// GB 11643, 18 characters (居民身份证, also 港澳台居民居住证).
    #[serde(rename = "resident-id")]
    ResidentId,
    /// Foreigner's Permanent Residence ID, 2023 version, 18 digits starting with 9.
    #[serde(rename = "permanent-residence-2023")]
    PermanentResidence2023,
    /// Foreigner's Permanent Residence ID, 2017 version, 3 letters + 12 digits.
    #[serde(rename = "permanent-residence-2017")]
    PermanentResidence2017,
}

impl IdentityKind {
    /// Stable name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::ResidentId => "resident-id",
            IdentityKind::PermanentResidence2023 => "permanent-residence-2023",
            IdentityKind::PermanentResidence2017 => "permanent-residence-2017",
        }
    }
}

/// The document type (证件类型) recorded with an application, decided by the
/// holder's nationality ([`DocumentType::for_nationality`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DocumentType {
    /// 居民身份证: resident identity card of a Chinese citizen.
    #[serde(rename = "居民身份证")]
    ResidentIdCard,
    /// 港澳台居民居住证: residence permit for Hong Kong, Macao and Taiwan residents.
    #[serde(rename = "港澳台居民居住证")]
    HkMacaoTaiwanResidencePermit,
    /// 外国人永久居留身份证: Foreigner's Permanent Residence ID card.
    #[serde(rename = "外国人永久居留身份证")]
    ForeignerPermanentResidenceCard,
}

impl DocumentType {
    /// The one rule: a foreign nationality means 外国人永久居留身份证;
    /// Hong Kong, Macao and Taiwan mean 港澳台居民居住证; China means 居民身份证.
    pub fn for_nationality(nationality: &Nationality) -> DocumentType {
        if nationality.is_foreign() {
            DocumentType::ForeignerPermanentResidenceCard
        } else if nationality.numeric == Nationality::CHINA_NUMERIC {
            DocumentType::ResidentIdCard
        } else {
            DocumentType::HkMacaoTaiwanResidencePermit
        }
    }

    /// The Chinese name, as shown to operators and sent to the card-holder database.
    pub fn as_zh(self) -> &'static str {
        match self {
            DocumentType::ResidentIdCard => "居民身份证",
            DocumentType::HkMacaoTaiwanResidencePermit => "港澳台居民居住证",
            DocumentType::ForeignerPermanentResidenceCard => "外国人永久居留身份证",
        }
    }
}

/// Sex as encoded by the sequence number (odd = male).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sex {
    /// 男.
    Male,
    /// 女.
    Female,
}

/// A checked identity number and what it says about its holder. Only
/// [`parse`] makes one, so holding one means the number passed every check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdentityNumber {
    kind: IdentityKind,
    number: String,
    document_type: DocumentType,
    birth_date: Option<NaiveDate>,
    sex: Option<Sex>,
    region_code: Option<String>,
    province: Option<&'static Province>,
    nationality: &'static Nationality,
}

impl IdentityNumber {
    /// Which layout the number has.
    pub fn kind(&self) -> IdentityKind {
        self.kind
    }

    /// The normalised number: trimmed, check character `X` uppercase,
    /// 2017 letters uppercase. Store and compare this form.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// 证件类型, derived from the nationality.
    pub fn document_type(&self) -> DocumentType {
        self.document_type
    }

    /// Birth date: always present for 18-character numbers; for a 2017
    /// number a best-effort decoding that may be `None` (see [`permanent_2017`]).
    pub fn birth_date(&self) -> Option<NaiveDate> {
        self.birth_date
    }

    /// Sex, for 18-character numbers; `None` for a 2017 number.
    pub fn sex(&self) -> Option<Sex> {
        self.sex
    }

    /// The six-digit administrative region code of a resident ID, e.g. `110105`.
    pub fn region_code(&self) -> Option<&str> {
        self.region_code.as_deref()
    }

    /// The province: of the region (resident ID) or of application (2023
    /// permanent residence); `None` for a 2017 number.
    pub fn province(&self) -> Option<&'static Province> {
        self.province
    }

    /// The holder's nationality (国家/地区): China for a resident ID, Hong
    /// Kong / Macao / Taiwan for a 港澳台居民居住证, the coded nationality for
    /// a permanent-residence number.
    pub fn nationality(&self) -> &'static Nationality {
        self.nationality
    }
}

impl fmt::Display for IdentityNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.number)
    }
}

/// Parse and check an identity number as typed or read. `today` is the
/// business date: a birth date after it, or before 1900, is refused.
///
/// Errors name the first problem found; positions count characters from 1
/// in the trimmed input.
pub fn parse(number: &str, today: NaiveDate) -> Result<IdentityNumber, IdentityError> {
    let trimmed = number.trim();
    match trimmed.chars().count() {
        18 => gb11643::parse(trimmed, today),
        15 => permanent_2017::parse(trimmed, today),
        got => Err(IdentityError::WrongLength { got }),
    }
}
