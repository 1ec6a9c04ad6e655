//! The 256-byte text block a read returns: UCS-2LE, space padded, laid
//! out by the card type marker at byte offset 248 ([`CardKind`]), decoded
//! into an [`IdCard`] and built from one (the simulator's side).
//!
//! | marker at 248 | card | decoded |
//! | --- | --- | --- |
//! | space (or NUL) | 居民身份证, resident ID | [`IdCard::Resident`] |
//! | `I` | 外国人永久居留身份证, 2017 version | [`IdCard::PermanentResidence2017`] |
//! | `Y` | 外国人永久居留身份证, 2023 version | [`IdCard::PermanentResidence2023`] |
//! | `J` | 港澳台居民居住证, Hong Kong / Macao / Taiwan residence permit | not yet: [`TextBlockError::Unsupported`] |
//! | anything else | | [`TextBlockError::UnknownCardType`] |
//!
//! The `J` permit is recognised but not decoded: the reference names the
//! marker without the layout, and cardhub does not guess a layout it would
//! then show an operator as fact.
//!
//! Fields are trimmed of their padding; dates (YYYYMMDD) become
//! [`NaiveDate`]s, a resident card's end of validity may be 长期
//! ([`ValidUntil::LongTerm`]). Decoding checks the shape of each field,
//! not the holder's number: [`IdCard::check_number`] does that with
//! [`crate::identity`] and the business date, and a failure is a flag on
//! a decoded card, not a refusal to decode it (see [`check`]). The field
//! tables are in [`layout`].

pub mod check;
mod field;
pub mod layout;

use chrono::NaiveDate;

use crate::identity::{Nationality, Sex};

pub use check::NumberProblem;

/// The text block's length.
pub const TEXT_LEN: usize = 256;

/// A card's end of validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValidUntil {
    /// Valid to the end of this day.
    Date(NaiveDate),
    /// 长期: valid without end (resident cards of holders over 46).
    LongTerm,
}

/// Which card a text block is from, by its marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CardKind {
    /// 居民身份证: marker space.
    Resident,
    /// 外国人永久居留身份证, 2017 version: marker `I`.
    PermanentResidence2017,
    /// 外国人永久居留身份证, 2023 version: marker `Y`.
    PermanentResidence2023,
    /// 港澳台居民居住证: marker `J` (recognised, not decoded yet).
    HkMacaoTaiwanResidencePermit,
}

impl CardKind {
    /// The byte offset of the marker.
    pub const MARKER_AT: usize = 248;

    /// The marker character (a space for the resident card).
    pub fn marker(self) -> char {
        match self {
            CardKind::Resident => ' ',
            CardKind::PermanentResidence2017 => 'I',
            CardKind::PermanentResidence2023 => 'Y',
            CardKind::HkMacaoTaiwanResidencePermit => 'J',
        }
    }

    /// The card's Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            CardKind::Resident => "居民身份证",
            CardKind::PermanentResidence2017 => "外国人永久居留身份证 (2017)",
            CardKind::PermanentResidence2023 => "外国人永久居留身份证 (2023)",
            CardKind::HkMacaoTaiwanResidencePermit => "港澳台居民居住证",
        }
    }

    /// The kind a block's marker names.
    pub fn of_block(block: &[u8; TEXT_LEN]) -> Result<Self, TextBlockError> {
        let at = Self::MARKER_AT;
        match [block[at], block[at + 1]] {
            [b' ' | 0, 0] => Ok(CardKind::Resident),
            [b'I', 0] => Ok(CardKind::PermanentResidence2017),
            [b'Y', 0] => Ok(CardKind::PermanentResidence2023),
            [b'J', 0] => Ok(CardKind::HkMacaoTaiwanResidencePermit),
            pair => Err(TextBlockError::UnknownCardType {
                marker: u16::from_le_bytes(pair),
            }),
        }
    }
}

impl std::fmt::Display for CardKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name_zh())
    }
}

/// What an identity card's text block says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdCard {
    /// 居民身份证: a Chinese citizen's resident identity card.
    Resident {
        /// 姓名, up to 15 characters.
        name: String,
        /// 性别.
        sex: Sex,
        /// 民族: the two-digit GB 3304 code as on the card (`01`: 1). The
        /// names are not tabled here.
        ethnicity: u8,
        /// 出生日期.
        birth_date: NaiveDate,
        /// 住址, up to 35 characters.
        address: String,
        /// 公民身份号码, 18 characters as on the card (check it with
        /// [`IdCard::check_number`]).
        number: String,
        /// 签发机关, up to 15 characters.
        authority: String,
        /// 有效期限 start.
        valid_from: NaiveDate,
        /// 有效期限 end, or 长期.
        valid_to: ValidUntil,
    },
    /// 外国人永久居留身份证, 2017 version (marker `I`).
    PermanentResidence2017 {
        /// English name, up to 60 characters.
        english_name: String,
        /// Sex.
        sex: Sex,
        /// The 15-character number (three letters, twelve digits).
        number: String,
        /// Nationality, ISO 3166-1 alpha-3 as on the card.
        nationality: String,
        /// Chinese name, up to 15 characters (may be empty).
        chinese_name: String,
        /// Issue date.
        issued: NaiveDate,
        /// Expiry date.
        expires: NaiveDate,
        /// Birth date.
        birth_date: NaiveDate,
        /// Card version, two characters as on the card.
        card_version: String,
        /// Issuing office code, four characters as on the card.
        office_code: String,
    },
    /// 外国人永久居留身份证, 2023 version (marker `Y`).
    PermanentResidence2023 {
        /// Chinese name, up to 15 characters (may be empty).
        chinese_name: String,
        /// Sex.
        sex: Sex,
        /// 换证次数: how many times the card was renewed.
        renewals: u8,
        /// Birth date.
        birth_date: NaiveDate,
        /// English name, up to 46 characters: the card keeps characters
        /// 1-35 and 36-46 in two fields, joined here.
        english_name: String,
        /// The 18-digit number.
        number: String,
        /// Start of validity.
        valid_from: NaiveDate,
        /// End of validity.
        valid_to: NaiveDate,
        /// Nationality, the three-digit ISO 3166-1 numeric code as on the card.
        nationality: String,
        /// The link to the holder's previous (2017) card number, three
        /// characters as on the card (the reference gives no more).
        previous_number_link: String,
    },
}

/// Why a text block does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextBlockError {
    /// Not 256 bytes.
    #[error(
        "the text block has {got} bytes, not 256: the read answer is malformed; read the card again"
    )]
    WrongLength {
        /// How many bytes there were.
        got: usize,
    },
    /// The marker at offset 248 is none the reference knows.
    #[error(
        "the card type marker U+{marker:04X} is not one cardhub knows (space, I, Y, J): \
         the card is of an unknown kind or was misread; read it again"
    )]
    UnknownCardType {
        /// The marker's UCS-2 code unit.
        marker: u16,
    },
    /// A kind cardhub recognises and does not decode yet.
    #[error(
        "the card is a {kind}, which cardhub cannot decode yet (its layout is not in the reference): \
         type the holder's details from the card by hand"
    )]
    Unsupported {
        /// The kind.
        kind: CardKind,
    },
    /// A code unit that is not UCS-2 (a surrogate).
    #[error(
        "field {field}: code unit {unit:04X} at byte {offset} is not UCS-2: the card was misread; read it again"
    )]
    NotUcs2 {
        /// The field.
        field: &'static str,
        /// The byte offset in the block.
        offset: usize,
        /// The code unit.
        unit: u16,
    },
    /// A field that does not read as what it holds.
    #[error("field {field} reads `{text}`, not {expected}: the card was misread; read it again")]
    BadField {
        /// The field.
        field: &'static str,
        /// What it holds, trimmed.
        text: String,
        /// What it should hold.
        expected: &'static str,
    },
}

/// Why a card does not fit a text block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A value longer than its field.
    #[error("{field} `{value}` is longer than the {max_chars} characters its field holds")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
        /// How many characters fit.
        max_chars: usize,
    },
    /// A character past U+FFFF, which UCS-2 cannot write.
    #[error("{field}: character {character:?} is outside UCS-2 (the Basic Multilingual Plane)")]
    NotUcs2 {
        /// The field.
        field: &'static str,
        /// The character.
        character: char,
    },
    /// A number or date the field cannot write.
    #[error("{field} {value} is out of range: {allowed}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
        /// What the field takes.
        allowed: &'static str,
    },
}

impl IdCard {
    /// Decodes a text block (the shape of every field; the number is
    /// checked separately by [`IdCard::check_number`]).
    pub fn decode(block: &[u8]) -> Result<Self, TextBlockError> {
        let block: &[u8; TEXT_LEN] = block
            .try_into()
            .map_err(|_| TextBlockError::WrongLength { got: block.len() })?;
        match CardKind::of_block(block)? {
            CardKind::Resident => layout::decode_resident(block),
            CardKind::PermanentResidence2017 => layout::decode_permanent_2017(block),
            CardKind::PermanentResidence2023 => layout::decode_permanent_2023(block),
            kind @ CardKind::HkMacaoTaiwanResidencePermit => {
                Err(TextBlockError::Unsupported { kind })
            }
        }
    }

    /// The card's text block.
    pub fn encode(&self) -> Result<[u8; TEXT_LEN], EncodeError> {
        match self {
            IdCard::Resident { .. } => layout::encode_resident(self),
            IdCard::PermanentResidence2017 { .. } => layout::encode_permanent_2017(self),
            IdCard::PermanentResidence2023 { .. } => layout::encode_permanent_2023(self),
        }
    }

    /// Which card this is.
    pub fn kind(&self) -> CardKind {
        match self {
            IdCard::Resident { .. } => CardKind::Resident,
            IdCard::PermanentResidence2017 { .. } => CardKind::PermanentResidence2017,
            IdCard::PermanentResidence2023 { .. } => CardKind::PermanentResidence2023,
        }
    }

    /// The holder's number as on the card.
    pub fn number(&self) -> &str {
        match self {
            IdCard::Resident { number, .. }
            | IdCard::PermanentResidence2017 { number, .. }
            | IdCard::PermanentResidence2023 { number, .. } => number,
        }
    }

    /// The name to show: the Chinese name, or the English name when the
    /// card has no Chinese one.
    pub fn name(&self) -> &str {
        match self {
            IdCard::Resident { name, .. } => name,
            IdCard::PermanentResidence2017 {
                chinese_name,
                english_name,
                ..
            }
            | IdCard::PermanentResidence2023 {
                chinese_name,
                english_name,
                ..
            } => {
                if chinese_name.is_empty() {
                    english_name
                } else {
                    chinese_name
                }
            }
        }
    }

    /// The holder's sex.
    pub fn sex(&self) -> Sex {
        match self {
            IdCard::Resident { sex, .. }
            | IdCard::PermanentResidence2017 { sex, .. }
            | IdCard::PermanentResidence2023 { sex, .. } => *sex,
        }
    }

    /// The holder's birth date.
    pub fn birth_date(&self) -> NaiveDate {
        match self {
            IdCard::Resident { birth_date, .. }
            | IdCard::PermanentResidence2017 { birth_date, .. }
            | IdCard::PermanentResidence2023 { birth_date, .. } => *birth_date,
        }
    }

    /// The last day the card is valid (`None`: 长期).
    pub fn valid_to(&self) -> Option<NaiveDate> {
        match self {
            IdCard::Resident { valid_to, .. } => match valid_to {
                ValidUntil::Date(d) => Some(*d),
                ValidUntil::LongTerm => None,
            },
            IdCard::PermanentResidence2017 { expires, .. } => Some(*expires),
            IdCard::PermanentResidence2023 { valid_to, .. } => Some(*valid_to),
        }
    }

    /// The nationality the card states (China for a resident card); `None`
    /// when its code is not in the table.
    pub fn nationality(&self) -> Option<&'static Nationality> {
        match self {
            IdCard::Resident { .. } => Nationality::by_numeric(Nationality::CHINA_NUMERIC),
            IdCard::PermanentResidence2017 { nationality, .. } => {
                Nationality::by_alpha3(nationality)
            }
            IdCard::PermanentResidence2023 { nationality, .. } => {
                nationality.parse().ok().and_then(Nationality::by_numeric)
            }
        }
    }
}

#[cfg(test)]
mod tests;
