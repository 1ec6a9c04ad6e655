//! One field of a text block: where it sits ([`Field`]) and how its
//! UCS-2LE characters read and write. Values are space padded on the
//! right; reading trims trailing spaces (and NULs, which some cards leave
//! in unused space), never leading ones. UCS-2 is the Basic Multilingual
//! Plane only: a surrogate code unit does not read and a character past
//! U+FFFF does not write.

use chrono::{Datelike, NaiveDate};

use super::{EncodeError, TEXT_LEN, TextBlockError};
use crate::identity::Sex;

/// A field: its name for messages, its byte offset and its length in
/// bytes (two per character).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) at: usize,
    pub(crate) bytes: usize,
}

/// A field at byte `at`, `bytes` long.
pub(crate) const fn field(name: &'static str, at: usize, bytes: usize) -> Field {
    Field { name, at, bytes }
}

/// The padding character.
const SPACE: [u8; 2] = [0x20, 0x00];

/// How a date is written: YYYYMMDD.
const DATE_FORMAT: &str = "%Y%m%d";

/// A block of spaces, ready for fields to be written into it.
pub(crate) fn blank_block() -> [u8; TEXT_LEN] {
    let mut block = [0; TEXT_LEN];
    for pair in block.chunks_exact_mut(2) {
        pair.copy_from_slice(&SPACE);
    }
    block
}

impl Field {
    /// How many characters fit.
    pub(crate) fn chars(self) -> usize {
        self.bytes / 2
    }

    /// The field's characters, trailing padding trimmed.
    pub(crate) fn text(self, block: &[u8; TEXT_LEN]) -> Result<String, TextBlockError> {
        Ok(self.raw(block)?.trim_end_matches([' ', '\0']).to_owned())
    }

    /// The field's characters, padding included.
    pub(crate) fn raw(self, block: &[u8; TEXT_LEN]) -> Result<String, TextBlockError> {
        let bytes = &block[self.at..self.at + self.bytes];
        bytes
            .chunks_exact(2)
            .enumerate()
            .map(|(i, pair)| {
                let unit = u16::from_le_bytes([pair[0], pair[1]]);
                char::from_u32(u32::from(unit)).ok_or(TextBlockError::NotUcs2 {
                    field: self.name,
                    offset: self.at + 2 * i,
                    unit,
                })
            })
            .collect()
    }

    /// Writes `value` and pads it with spaces.
    pub(crate) fn put(self, block: &mut [u8; TEXT_LEN], value: &str) -> Result<(), EncodeError> {
        let count = value.chars().count();
        if count > self.chars() {
            return Err(EncodeError::TooLong {
                field: self.name,
                value: value.to_owned(),
                max_chars: self.chars(),
            });
        }
        let bytes = &mut block[self.at..self.at + self.bytes];
        for (i, c) in value.chars().enumerate() {
            let unit = u16::try_from(u32::from(c)).map_err(|_| EncodeError::NotUcs2 {
                field: self.name,
                character: c,
            })?;
            bytes[2 * i..2 * i + 2].copy_from_slice(&unit.to_le_bytes());
        }
        for pair in bytes[2 * count..].chunks_exact_mut(2) {
            pair.copy_from_slice(&SPACE);
        }
        Ok(())
    }

    /// A date written YYYYMMDD.
    pub(crate) fn date(self, block: &[u8; TEXT_LEN]) -> Result<NaiveDate, TextBlockError> {
        let text = self.text(block)?;
        parse_date(&text).ok_or_else(|| self.bad(text, "a date written YYYYMMDD"))
    }

    /// Writes a date YYYYMMDD (years 0 to 9999).
    pub(crate) fn put_date(
        self,
        block: &mut [u8; TEXT_LEN],
        date: NaiveDate,
    ) -> Result<(), EncodeError> {
        if !(0..=9999).contains(&date.year()) {
            return Err(EncodeError::OutOfRange {
                field: self.name,
                value: date.to_string(),
                allowed: "years 0000 to 9999",
            });
        }
        self.put(block, &date.format(DATE_FORMAT).to_string())
    }

    /// Sex as GB/T 2261.1 codes it: `1` male, `2` female.
    pub(crate) fn sex(self, block: &[u8; TEXT_LEN]) -> Result<Sex, TextBlockError> {
        let text = self.text(block)?;
        match text.as_str() {
            "1" => Ok(Sex::Male),
            "2" => Ok(Sex::Female),
            _ => Err(self.bad(text, "1 (male) or 2 (female)")),
        }
    }

    /// Writes sex as `1` or `2`.
    pub(crate) fn put_sex(self, block: &mut [u8; TEXT_LEN], sex: Sex) -> Result<(), EncodeError> {
        self.put(
            block,
            match sex {
                Sex::Male => "1",
                Sex::Female => "2",
            },
        )
    }

    /// A two-digit number (ethnicity code, renewal count).
    pub(crate) fn two_digits(self, block: &[u8; TEXT_LEN]) -> Result<u8, TextBlockError> {
        let text = self.text(block)?;
        if text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(text.parse().expect("two ASCII digits"))
        } else {
            Err(self.bad(text, "two digits"))
        }
    }

    /// Writes a two-digit number.
    pub(crate) fn put_two_digits(
        self,
        block: &mut [u8; TEXT_LEN],
        value: u8,
    ) -> Result<(), EncodeError> {
        if value > 99 {
            return Err(EncodeError::OutOfRange {
                field: self.name,
                value: value.to_string(),
                allowed: "00 to 99",
            });
        }
        self.put(block, &format!("{value:02}"))
    }

    pub(crate) fn bad(self, text: String, expected: &'static str) -> TextBlockError {
        TextBlockError::BadField {
            field: self.name,
            text,
            expected,
        }
    }
}

/// Eight ASCII digits YYYYMMDD as a date.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(text, DATE_FORMAT).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: Field = field("name", 0, 6);

    #[test]
    fn values_are_ucs2le_space_padded_and_trimmed_back() {
        let mut block = blank_block();
        NAME.put(&mut block, "张三").unwrap();
        assert_eq!(block[..6], [0x20, 0x5F, 0x09, 0x4E, 0x20, 0x00]);
        assert_eq!(NAME.text(&block).unwrap(), "张三");
        assert_eq!(NAME.raw(&block).unwrap(), "张三 ");
        block[4..6].copy_from_slice(&[0, 0]);
        assert_eq!(NAME.text(&block).unwrap(), "张三", "NUL padding trims too");
        NAME.put(&mut block, " A").unwrap();
        assert_eq!(NAME.text(&block).unwrap(), " A", "leading spaces stay");
    }

    #[test]
    fn what_does_not_fit_is_refused() {
        let mut block = blank_block();
        assert!(matches!(
            NAME.put(&mut block, "ABCD"),
            Err(EncodeError::TooLong { max_chars: 3, .. })
        ));
        assert!(matches!(
            NAME.put(&mut block, "𠀀"),
            Err(EncodeError::NotUcs2 { .. })
        ));
        block[2..4].copy_from_slice(&0xD800u16.to_le_bytes());
        assert_eq!(
            NAME.text(&block),
            Err(TextBlockError::NotUcs2 {
                field: "name",
                offset: 2,
                unit: 0xD800
            })
        );
    }

    #[test]
    fn dates_are_eight_digits() {
        assert_eq!(
            parse_date("19491231"),
            NaiveDate::from_ymd_opt(1949, 12, 31)
        );
        for bad in [
            "1949123",
            "19491232",
            "1949-12-31",
            "２０２０0101",
            "+1949123",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
