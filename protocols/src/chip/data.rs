//! The records of EF05 (card, 卡信息) and EF06 (holder, 持卡人信息) as typed
//! values: [`CardRecords`] and [`HolderRecords`] encode to the list of
//! record values `(tag, bytes)` UPDATE RECORD writes, and decode from the
//! values READ RECORD returned (`tag → bytes`).
//!
//! Decoding is strict and never panics: each malformation (wrong length,
//! bad BCD, impossible date, invalid GBK, non-zero bytes after the padding,
//! a record never written) is a [`DataError`] naming the field. Lengths,
//! tags and encodings are those of [`profile::EF05_RECORDS`] and
//! [`profile::EF06_RECORDS`]; text rules are in [`super::text`].
//!
//! A record whose value is all 00 is "not written" (the profile's rule).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::profile::{self, RecordField};
use super::text::{self, SubstitutionTable, TextError};
use crate::identity::Sex;
use crate::identity::nationality::Nationality;

/// A record value that cannot be encoded or was read malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// READ RECORD gave nothing for a tag.
    #[error("record {field} (tag {tag:02X}) was not read from the card")]
    Missing {
        /// The field.
        field: &'static str,
        /// Its tag.
        tag: u8,
    },
    /// The record is all 00.
    #[error("record {field} (tag {tag:02X}) has not been written (all 00): personalise the card")]
    NotWritten {
        /// The field.
        field: &'static str,
        /// Its tag.
        tag: u8,
    },
    /// The value has another length than the profile's.
    #[error("record {field} (tag {tag:02X}) is {found} bytes, the profile says {expected}")]
    WrongLength {
        /// The field.
        field: &'static str,
        /// Its tag.
        tag: u8,
        /// The profile's length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A nibble above 9 in a BCD field.
    #[error("record {field}: {hex} is not BCD digits")]
    BadBcd {
        /// The field.
        field: &'static str,
        /// The value as hex.
        hex: String,
    },
    /// Digits that are not a calendar date.
    #[error("record {field}: {digits} is not a date (YYYYMMDD)")]
    BadDate {
        /// The field.
        field: &'static str,
        /// The digits found.
        digits: String,
    },
    /// A value outside the field's allowed set.
    #[error("record {field}: {value} is not allowed here ({allowed})")]
    BadValue {
        /// The field.
        field: &'static str,
        /// What was found.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// A text problem (GBK, padding, ASCII, length).
    #[error(transparent)]
    Text(#[from] TextError),
}

/// 卡类别: the card type byte of tag 02.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardType {
    /// '1': social security card (社会保障卡).
    SocialSecurity,
    /// '2': residence-permit B card.
    ResidencePermitB,
    /// '3': senior card (cardhub).
    Senior,
}

impl CardType {
    /// The byte on the chip.
    pub const fn to_byte(self) -> u8 {
        match self {
            CardType::SocialSecurity => profile::CARD_TYPE_SOCIAL_SECURITY,
            CardType::ResidencePermitB => profile::CARD_TYPE_RESIDENCE_PERMIT_B,
            CardType::Senior => profile::CARD_TYPE_SENIOR,
        }
    }

    /// The type of a chip byte.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            profile::CARD_TYPE_SOCIAL_SECURITY => Some(CardType::SocialSecurity),
            profile::CARD_TYPE_RESIDENCE_PERMIT_B => Some(CardType::ResidencePermitB),
            profile::CARD_TYPE_SENIOR => Some(CardType::Senior),
            _ => None,
        }
    }
}

/// EF05: what the card says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRecords {
    /// 01 卡识别码: card identification code, up to 16 ASCII characters.
    pub card_id_code: String,
    /// 02 卡类别.
    pub card_type: CardType,
    /// 03 规范版本, e.g. "3.00".
    pub spec_version: String,
    /// 04 初始化机构编号: the centre's 12-byte code.
    pub institution: [u8; 12],
    /// 05 发卡日期.
    pub issue_date: NaiveDate,
    /// 06 卡有效期.
    pub expiry_date: NaiveDate,
    /// 07 卡号: card number, up to 9 ASCII characters.
    pub card_number: String,
}

/// EF06: who holds the card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderRecords {
    /// 08 社会保障号码: social security number, up to 18 ASCII characters.
    pub ssn: String,
    /// 09 + 4E 姓名 / 姓名扩展: the name as the chip carries it, i.e. after
    /// substitution ([`text::to_chip_text`]); encoding refuses anything GBK
    /// cannot hold rather than substituting again.
    pub name: String,
    /// 0A 性别.
    pub sex: Sex,
    /// 0B 民族: GB 3304 code as a binary byte (01 Han; 97 other → 0x61).
    pub ethnicity: u8,
    /// 0C 出生地: 6-digit region code (see [`birthplace_for_ssn`]).
    pub birthplace: String,
    /// 0D 出生日期.
    pub birth_date: NaiveDate,
}

/// Record values by tag, as READ RECORD returned them.
pub type RecordValues = BTreeMap<u8, Vec<u8>>;

impl CardRecords {
    /// The EF05 record values in tag order, each padded to its length.
    pub fn encode(&self) -> Result<Vec<(u8, Vec<u8>)>, DataError> {
        let [id, ty, ver, inst, issue, expiry, number] = &profile::EF05_RECORDS;
        Ok(vec![
            (id.tag, ascii(id, &self.card_id_code)?),
            (ty.tag, vec![self.card_type.to_byte()]),
            (ver.tag, ascii(ver, &self.spec_version)?),
            (inst.tag, self.institution.to_vec()),
            (issue.tag, date(issue, self.issue_date)?),
            (expiry.tag, date(expiry, self.expiry_date)?),
            (number.tag, ascii(number, &self.card_number)?),
        ])
    }

    /// Decodes EF05 from record values by tag.
    pub fn decode(values: &RecordValues) -> Result<Self, DataError> {
        let [id, ty, ver, inst, issue, expiry, number] = &profile::EF05_RECORDS;
        let type_byte = value(values, ty)?[0];
        Ok(Self {
            card_id_code: text::decode_ascii(id.name, value(values, id)?)?,
            card_type: CardType::from_byte(type_byte).ok_or(DataError::BadValue {
                field: ty.name,
                value: format!("{type_byte:#04X}"),
                allowed: "'1' social security, '2' residence permit B, '3' senior",
            })?,
            spec_version: text::decode_ascii(ver.name, value(values, ver)?)?,
            institution: value(values, inst)?
                .try_into()
                .expect("value() checked the length"),
            issue_date: parse_date(issue.name, value(values, issue)?)?,
            expiry_date: parse_date(expiry.name, value(values, expiry)?)?,
            card_number: text::decode_ascii(number.name, value(values, number)?)?,
        })
    }
}

impl HolderRecords {
    /// The EF06 record values in tag order (09, 4E padded even when the
    /// extension is empty), each padded to its length.
    pub fn encode(&self) -> Result<Vec<(u8, Vec<u8>)>, DataError> {
        let [ssn, name, ext, sex, ethnicity, birthplace, birth] = &profile::EF06_RECORDS;
        let split = text::split_name(&self.name, &SubstitutionTable::default())?;
        let sex_byte = match self.sex {
            Sex::Male => profile::SEX_MALE,
            Sex::Female => profile::SEX_FEMALE,
        };
        if self.ethnicity == 0 {
            return Err(DataError::BadValue {
                field: ethnicity.name,
                value: "0".into(),
                allowed: "a GB 3304 code from 1",
            });
        }
        Ok(vec![
            (ssn.tag, ascii(ssn, &self.ssn)?),
            (name.tag, padded(&split.name, name)),
            (ext.tag, padded(&split.extension, ext)),
            (sex.tag, vec![sex_byte]),
            (ethnicity.tag, vec![self.ethnicity]),
            (birthplace.tag, bcd_digits(birthplace, &self.birthplace)?),
            (birth.tag, date(birth, self.birth_date)?),
        ])
    }

    /// Decodes EF06 from record values by tag. An absent 4E is read as an
    /// empty extension (cards of other issuers may lack it).
    pub fn decode(values: &RecordValues) -> Result<Self, DataError> {
        let [ssn, name, ext, sex, ethnicity, birthplace, birth] = &profile::EF06_RECORDS;
        let extension = match values.get(&ext.tag) {
            None => &[][..],
            Some(v) if v.iter().all(|&b| b == 0) => &[][..],
            Some(_) => value(values, ext)?,
        };
        let sex_byte = value(values, sex)?[0];
        Ok(Self {
            ssn: text::decode_ascii(ssn.name, value(values, ssn)?)?,
            name: text::decode_name(value(values, name)?, extension)?,
            sex: match sex_byte {
                profile::SEX_MALE => Sex::Male,
                profile::SEX_FEMALE => Sex::Female,
                other => {
                    return Err(DataError::BadValue {
                        field: sex.name,
                        value: format!("{other:#04X}"),
                        allowed: "'1' male or '2' female",
                    });
                }
            },
            ethnicity: value(values, ethnicity)?[0],
            birthplace: bcd(birthplace.name, value(values, birthplace)?)?,
            birth_date: parse_date(birth.name, value(values, birth)?)?,
        })
    }
}

/// The birthplace (出生地) the hub writes for a social security number
/// (cardhub rule): its first six characters when they are digits (the
/// region code of a resident ID; `9` + province + … of a 2023
/// permanent-residence number), otherwise `000` + the 3-digit nationality
/// code of a 2017 permanent-residence number's three-letter prefix.
pub fn birthplace_for_ssn(ssn: &str) -> Result<String, DataError> {
    let head: String = ssn.chars().take(6).collect();
    if head.len() == 6 && head.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(head);
    }
    let alpha3: String = ssn.chars().take(3).collect();
    Nationality::by_alpha3(&alpha3)
        .map(|n| format!("000{}", n.numeric_code()))
        .ok_or(DataError::BadValue {
            field: "birthplace",
            value: ssn.to_owned(),
            allowed: "a number starting with six digits or with an ISO 3166 alpha-3 nationality",
        })
}

/// The value of `field`, present, of the profile's length, not all 00.
fn value<'a>(values: &'a RecordValues, field: &RecordField) -> Result<&'a [u8], DataError> {
    let v = values.get(&field.tag).ok_or(DataError::Missing {
        field: field.name,
        tag: field.tag,
    })?;
    if v.len() != usize::from(field.len) {
        return Err(DataError::WrongLength {
            field: field.name,
            tag: field.tag,
            expected: usize::from(field.len),
            found: v.len(),
        });
    }
    if v.iter().all(|&b| b == 0) {
        return Err(DataError::NotWritten {
            field: field.name,
            tag: field.tag,
        });
    }
    Ok(v)
}

fn padded(bytes: &[u8], field: &RecordField) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(usize::from(field.len), 0);
    v
}

/// Printable ASCII, non-empty, padded with 00.
fn ascii(field: &RecordField, text: &str) -> Result<Vec<u8>, DataError> {
    if let Some((offset, b)) = text
        .bytes()
        .enumerate()
        .find(|(_, b)| !(0x20..=0x7E).contains(b))
    {
        return Err(TextError::NotAscii {
            field: field.name,
            byte: b,
            offset,
        }
        .into());
    }
    if text.is_empty() || text.len() > usize::from(field.len) {
        return Err(DataError::WrongLength {
            field: field.name,
            tag: field.tag,
            expected: usize::from(field.len),
            found: text.len(),
        });
    }
    Ok(padded(text.as_bytes(), field))
}

/// Packs exactly `2 × len` decimal digits.
fn bcd_digits(field: &RecordField, digits: &str) -> Result<Vec<u8>, DataError> {
    let d = digits.as_bytes();
    if d.len() != 2 * usize::from(field.len) || !d.iter().all(u8::is_ascii_digit) {
        return Err(DataError::BadValue {
            field: field.name,
            value: digits.to_owned(),
            allowed: "exactly the profile's number of decimal digits",
        });
    }
    Ok(d.chunks(2)
        .map(|p| (p[0] - b'0') << 4 | (p[1] - b'0'))
        .collect())
}

/// Unpacks BCD digits, refusing nibbles above 9.
fn bcd(field: &'static str, bytes: &[u8]) -> Result<String, DataError> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            if nibble > 9 {
                return Err(DataError::BadBcd {
                    field,
                    hex: hex::encode_upper(bytes),
                });
            }
            out.push(char::from(b'0' + nibble));
        }
    }
    Ok(out)
}

/// YYYYMMDD as four BCD bytes (years 0000 to 9999).
fn date(field: &RecordField, d: NaiveDate) -> Result<Vec<u8>, DataError> {
    if !(0..=9999).contains(&d.year()) {
        return Err(DataError::BadDate {
            field: field.name,
            digits: d.to_string(),
        });
    }
    let digits = format!("{:04}{:02}{:02}", d.year(), d.month(), d.day());
    bcd_digits(field, &digits)
}

fn parse_date(field: &'static str, bytes: &[u8]) -> Result<NaiveDate, DataError> {
    let digits = bcd(field, bytes)?;
    let number =
        |range: std::ops::Range<usize>| digits.get(range).and_then(|d| d.parse::<u32>().ok());
    match (number(0..4), number(4..6), number(6..8)) {
        (Some(y), Some(m), Some(d)) if digits.len() == 8 => NaiveDate::from_ymd_opt(y as i32, m, d),
        _ => None,
    }
    .ok_or(DataError::BadDate { field, digits })
}

#[cfg(test)]
mod tests;
