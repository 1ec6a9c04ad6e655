//! The card check's comparison (验卡比对): the records read back from a chip
//! against what the database says they must be, field by field. The result
//! is the list of [`Mismatch`]es, empty when the chip is right, never just
//! yes or no.
//!
//! Values are compared as bytes (what the chip must carry, encoded by
//! [`super::data`], against what it carries) and shown to people decoded:
//! text as text, BCD dates as `YYYY-MM-DD`, binary as hex. The name is
//! compared as one field: tag 09 and the extension 4E concatenated, after
//! the centre's substitutions (the expected holder records already carry
//! the substituted name). For a permanent-residence holder the chip's name
//! is the English name; the Chinese name on the permanent-residence card is
//! not on the chip, and the caller compares it against the
//! permanent-residence record itself (it is reported beside the result).

use serde::Serialize;

use super::data::{CardRecords, DataError, HolderRecords, RecordValues};
use super::profile::{self, FieldEncoding, RecordField};
use super::text;

/// One field where the chip and the database differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// The field (`name`, `card_number`, `birth_date` ...).
    pub field: &'static str,
    /// What the database says, as people read it.
    pub expected: String,
    /// What the chip carries, as people read it (`(absent)` when the record
    /// is missing, `(unreadable: …)` when it cannot be decoded).
    pub found: String,
}

/// EF05 read back against the expected card records.
pub fn compare_card(
    expected: &CardRecords,
    found: &RecordValues,
) -> Result<Vec<Mismatch>, DataError> {
    let encoded = expected.encode()?;
    Ok(compare_fields(&profile::EF05_RECORDS, &encoded, found))
}

/// EF06 read back against the expected holder records (name and name
/// extension compared together as `name`).
pub fn compare_holder(
    expected: &HolderRecords,
    found: &RecordValues,
) -> Result<Vec<Mismatch>, DataError> {
    let encoded = expected.encode()?;
    let fields: Vec<RecordField> = profile::EF06_RECORDS
        .iter()
        .copied()
        .filter(|f| !is_name(f.tag))
        .collect();
    let mut mismatches = compare_fields(&fields, &encoded, found);
    let found_name = match (found.get(&NAME), found.get(&NAME_EXTENSION)) {
        (None, _) => Err("(absent)".to_owned()),
        (Some(name), ext) => text::decode_name(name, ext.map_or(&[][..], Vec::as_slice))
            .map_err(|e| format!("(unreadable: {e})")),
    };
    match found_name {
        Ok(name) if name == expected.name => {}
        Ok(name) => mismatches.insert(0, name_mismatch(expected, name)),
        Err(shown) => mismatches.insert(0, name_mismatch(expected, shown)),
    }
    let order = |m: &Mismatch| {
        profile::EF06_RECORDS
            .iter()
            .position(|f| f.name == m.field)
            .unwrap_or(usize::MAX)
    };
    mismatches.sort_by_key(order);
    Ok(mismatches)
}

const NAME: u8 = 0x09;
const NAME_EXTENSION: u8 = 0x4E;

fn is_name(tag: u8) -> bool {
    tag == NAME || tag == NAME_EXTENSION
}

fn name_mismatch(expected: &HolderRecords, found: String) -> Mismatch {
    Mismatch {
        field: "name",
        expected: expected.name.clone(),
        found,
    }
}

fn compare_fields(
    fields: &[RecordField],
    expected: &[(u8, Vec<u8>)],
    found: &RecordValues,
) -> Vec<Mismatch> {
    fields
        .iter()
        .filter_map(|field| {
            let want = expected.iter().find(|(tag, _)| *tag == field.tag)?;
            let have = found.get(&field.tag);
            if have == Some(&want.1) {
                return None;
            }
            Some(Mismatch {
                field: field.name,
                expected: show(field, &want.1),
                found: have.map_or_else(|| "(absent)".to_owned(), |v| show(field, v)),
            })
        })
        .collect()
}

/// A record value as people read it.
fn show(field: &RecordField, value: &[u8]) -> String {
    let shown = match field.encoding {
        FieldEncoding::Alphanumeric => text::decode_ascii(field.name, value).ok(),
        FieldEncoding::Gbk => text::decode_gbk(field.name, value).ok(),
        FieldEncoding::Bcd => Some(bcd_text(value)),
        FieldEncoding::Binary => None,
    };
    match shown {
        Some(text) if field.encoding == FieldEncoding::Bcd && text.len() == 8 => {
            format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..])
        }
        Some(text) => text,
        None => hex::encode_upper(value),
    }
}

fn bcd_text(value: &[u8]) -> String {
    value
        .iter()
        .flat_map(|b| [b >> 4, b & 0x0F])
        .map(|n| {
            char::from_digit(u32::from(n), 16)
                .unwrap_or('?')
                .to_ascii_uppercase()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::chip::data::CardType;
    use crate::identity::Sex;

    fn holder() -> HolderRecords {
        HolderRecords {
            ssn: "11010519491231002X".into(),
            name: "张三".into(),
            sex: Sex::Male,
            ethnicity: 1,
            birthplace: "110105".into(),
            birth_date: NaiveDate::from_ymd_opt(1949, 12, 31).unwrap(),
        }
    }

    fn card() -> CardRecords {
        CardRecords {
            card_id_code: "31000086F1A2B3C4".into(),
            card_type: CardType::SocialSecurity,
            spec_version: "3.00".into(),
            institution: [0x31; 12],
            issue_date: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            expiry_date: NaiveDate::from_ymd_opt(2036, 11, 22).unwrap(),
            card_number: "A00000001".into(),
        }
    }

    fn values(records: Vec<(u8, Vec<u8>)>) -> RecordValues {
        records.into_iter().collect()
    }

    #[test]
    fn a_right_chip_has_no_mismatch() {
        let h = holder();
        assert_eq!(
            compare_holder(&h, &values(h.encode().unwrap())).unwrap(),
            []
        );
        let c = card();
        assert_eq!(compare_card(&c, &values(c.encode().unwrap())).unwrap(), []);
    }

    #[test]
    fn each_altered_field_is_named_with_both_values() {
        let h = holder();
        let mut found = values(h.encode().unwrap());
        let mut name = vec![0xC0, 0xEE, 0xCB, 0xC4]; // 李四
        name.resize(30, 0);
        found.insert(0x09, name);
        found.insert(0x0D, vec![0x19, 0x50, 0x01, 0x01]);
        assert_eq!(
            compare_holder(&h, &found).unwrap(),
            [
                Mismatch {
                    field: "name",
                    expected: "张三".into(),
                    found: "李四".into()
                },
                Mismatch {
                    field: "birth_date",
                    expected: "1949-12-31".into(),
                    found: "1950-01-01".into()
                },
            ]
        );
        let c = card();
        let mut found = values(c.encode().unwrap());
        found.remove(&0x07);
        assert_eq!(
            compare_card(&c, &found).unwrap(),
            [Mismatch {
                field: "card_number",
                expected: "A00000001".into(),
                found: "(absent)".into()
            }]
        );
    }

    #[test]
    fn an_unreadable_name_is_reported_not_decoded_into_garbage() {
        let h = holder();
        let mut found = values(h.encode().unwrap());
        let mut name = vec![0xFF, 0x30];
        name.resize(30, 0);
        found.insert(0x09, name);
        let m = compare_holder(&h, &found).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].field, "name");
        assert!(m[0].found.starts_with("(unreadable"), "{}", m[0].found);
    }
}
