//! The three text block layouts of the reference, one table each (byte
//! offset, byte length; two bytes per character), and their decoding and
//! encoding. A test checks that each table tiles the 256 bytes.
//!
//! ```text
//! resident (space)  name 30 | sex 2 | ethnicity 4 | birth 16 | address 70 | number 36 |
//!                   authority 30 | valid from 16 | valid to 16 | reserved 36
//! 2017 (I)          English name 120 | sex 2 | number 30 | nationality 6 | Chinese name 30 |
//!                   issued 16 | expires 16 | birth 16 | version 4 | office 8 | type 2 | reserved 6
//! 2023 (Y)          Chinese name 30 | sex 2 | renewals 4 | birth 16 | English name 1-35 70 |
//!                   number 36 | reserved 30 | valid from 16 | valid to 16 |
//!                   English name 36-46 22 | nationality 6 | type 2 | previous-number link 6
//! ```

use super::field::{Field, blank_block, field, parse_date};
use super::{CardKind, EncodeError, IdCard, TEXT_LEN, TextBlockError, ValidUntil};

/// How 长期 (no end of validity) is written in a resident card's
/// valid-to field.
pub const LONG_TERM: &str = "长期";

/// The resident card (居民身份证).
pub(crate) mod resident {
    use super::{Field, field};

    pub(crate) const NAME: Field = field("name", 0, 30);
    pub(crate) const SEX: Field = field("sex", 30, 2);
    pub(crate) const ETHNICITY: Field = field("ethnicity", 32, 4);
    pub(crate) const BIRTH: Field = field("birth date", 36, 16);
    pub(crate) const ADDRESS: Field = field("address", 52, 70);
    pub(crate) const NUMBER: Field = field("number", 122, 36);
    pub(crate) const AUTHORITY: Field = field("issuing authority", 158, 30);
    pub(crate) const VALID_FROM: Field = field("valid from", 188, 16);
    pub(crate) const VALID_TO: Field = field("valid to", 204, 16);
    // The tiling test reads it; the codec skips it.
    #[cfg(test)]
    pub(crate) const RESERVED: Field = field("reserved", 220, 36);

    // The tiling test reads it; the codec skips it.
    #[cfg(test)]
    pub(crate) const ALL: [Field; 10] = [
        NAME, SEX, ETHNICITY, BIRTH, ADDRESS, NUMBER, AUTHORITY, VALID_FROM, VALID_TO, RESERVED,
    ];
}

/// The 2017 permanent residence card (marker `I`).
pub(crate) mod permanent_2017 {
    use super::{Field, field};

    pub(crate) const ENGLISH_NAME: Field = field("English name", 0, 120);
    pub(crate) const SEX: Field = field("sex", 120, 2);
    pub(crate) const NUMBER: Field = field("number", 122, 30);
    pub(crate) const NATIONALITY: Field = field("nationality", 152, 6);
    pub(crate) const CHINESE_NAME: Field = field("Chinese name", 158, 30);
    pub(crate) const ISSUED: Field = field("issue date", 188, 16);
    pub(crate) const EXPIRES: Field = field("expiry date", 204, 16);
    pub(crate) const BIRTH: Field = field("birth date", 220, 16);
    pub(crate) const VERSION: Field = field("card version", 236, 4);
    pub(crate) const OFFICE: Field = field("issuing office code", 240, 8);
    pub(crate) const TYPE: Field = field("card type", 248, 2);
    // The tiling test reads it; the codec skips it.
    #[cfg(test)]
    pub(crate) const RESERVED: Field = field("reserved", 250, 6);

    // The tiling test reads it; the codec skips it.
    #[cfg(test)]
    pub(crate) const ALL: [Field; 12] = [
        ENGLISH_NAME,
        SEX,
        NUMBER,
        NATIONALITY,
        CHINESE_NAME,
        ISSUED,
        EXPIRES,
        BIRTH,
        VERSION,
        OFFICE,
        TYPE,
        RESERVED,
    ];
}

/// The 2023 permanent residence card (marker `Y`).
pub(crate) mod permanent_2023 {
    use super::{Field, field};

    pub(crate) const CHINESE_NAME: Field = field("Chinese name", 0, 30);
    pub(crate) const SEX: Field = field("sex", 30, 2);
    pub(crate) const RENEWALS: Field = field("renewal count", 32, 4);
    pub(crate) const BIRTH: Field = field("birth date", 36, 16);
    pub(crate) const ENGLISH_NAME_1: Field = field("English name (characters 1-35)", 52, 70);
    pub(crate) const NUMBER: Field = field("number", 122, 36);
    // The tiling test reads it; the codec skips it.
    #[cfg(test)]
    pub(crate) const RESERVED: Field = field("reserved", 158, 30);
    pub(crate) const VALID_FROM: Field = field("valid from", 188, 16);
    pub(crate) const VALID_TO: Field = field("valid to", 204, 16);
    pub(crate) const ENGLISH_NAME_2: Field = field("English name (characters 36-46)", 220, 22);
    pub(crate) const NATIONALITY: Field = field("nationality code", 242, 6);
    pub(crate) const TYPE: Field = field("card type", 248, 2);
    pub(crate) const PREVIOUS_LINK: Field = field("previous-number link", 250, 6);

    // The tiling test reads it; the codec skips it.
    #[cfg(test)]
    pub(crate) const ALL: [Field; 13] = [
        CHINESE_NAME,
        SEX,
        RENEWALS,
        BIRTH,
        ENGLISH_NAME_1,
        NUMBER,
        RESERVED,
        VALID_FROM,
        VALID_TO,
        ENGLISH_NAME_2,
        NATIONALITY,
        TYPE,
        PREVIOUS_LINK,
    ];
}

pub(super) fn decode_resident(block: &[u8; TEXT_LEN]) -> Result<IdCard, TextBlockError> {
    use resident as f;
    let valid_to = f::VALID_TO.text(block)?;
    let valid_to = if valid_to == LONG_TERM {
        ValidUntil::LongTerm
    } else {
        ValidUntil::Date(
            parse_date(&valid_to).ok_or_else(|| f::VALID_TO.bad(valid_to, "YYYYMMDD or 长期"))?,
        )
    };
    Ok(IdCard::Resident {
        name: f::NAME.text(block)?,
        sex: f::SEX.sex(block)?,
        ethnicity: f::ETHNICITY.two_digits(block)?,
        birth_date: f::BIRTH.date(block)?,
        address: f::ADDRESS.text(block)?,
        number: f::NUMBER.text(block)?,
        authority: f::AUTHORITY.text(block)?,
        valid_from: f::VALID_FROM.date(block)?,
        valid_to,
    })
}

pub(super) fn encode_resident(card: &IdCard) -> Result<[u8; TEXT_LEN], EncodeError> {
    use resident as f;
    let IdCard::Resident {
        name,
        sex,
        ethnicity,
        birth_date,
        address,
        number,
        authority,
        valid_from,
        valid_to,
    } = card
    else {
        unreachable!("IdCard::encode dispatches by variant");
    };
    let mut block = blank_block();
    f::NAME.put(&mut block, name)?;
    f::SEX.put_sex(&mut block, *sex)?;
    f::ETHNICITY.put_two_digits(&mut block, *ethnicity)?;
    f::BIRTH.put_date(&mut block, *birth_date)?;
    f::ADDRESS.put(&mut block, address)?;
    f::NUMBER.put(&mut block, number)?;
    f::AUTHORITY.put(&mut block, authority)?;
    f::VALID_FROM.put_date(&mut block, *valid_from)?;
    match valid_to {
        ValidUntil::Date(date) => f::VALID_TO.put_date(&mut block, *date)?,
        ValidUntil::LongTerm => f::VALID_TO.put(&mut block, LONG_TERM)?,
    }
    Ok(block)
}

pub(super) fn decode_permanent_2017(block: &[u8; TEXT_LEN]) -> Result<IdCard, TextBlockError> {
    use permanent_2017 as f;
    Ok(IdCard::PermanentResidence2017 {
        english_name: f::ENGLISH_NAME.text(block)?,
        sex: f::SEX.sex(block)?,
        number: f::NUMBER.text(block)?,
        nationality: f::NATIONALITY.text(block)?,
        chinese_name: f::CHINESE_NAME.text(block)?,
        issued: f::ISSUED.date(block)?,
        expires: f::EXPIRES.date(block)?,
        birth_date: f::BIRTH.date(block)?,
        card_version: f::VERSION.text(block)?,
        office_code: f::OFFICE.text(block)?,
    })
}

pub(super) fn encode_permanent_2017(card: &IdCard) -> Result<[u8; TEXT_LEN], EncodeError> {
    use permanent_2017 as f;
    let IdCard::PermanentResidence2017 {
        english_name,
        sex,
        number,
        nationality,
        chinese_name,
        issued,
        expires,
        birth_date,
        card_version,
        office_code,
    } = card
    else {
        unreachable!("IdCard::encode dispatches by variant");
    };
    let mut block = blank_block();
    f::ENGLISH_NAME.put(&mut block, english_name)?;
    f::SEX.put_sex(&mut block, *sex)?;
    f::NUMBER.put(&mut block, number)?;
    f::NATIONALITY.put(&mut block, nationality)?;
    f::CHINESE_NAME.put(&mut block, chinese_name)?;
    f::ISSUED.put_date(&mut block, *issued)?;
    f::EXPIRES.put_date(&mut block, *expires)?;
    f::BIRTH.put_date(&mut block, *birth_date)?;
    f::VERSION.put(&mut block, card_version)?;
    f::OFFICE.put(&mut block, office_code)?;
    put_marker(&mut block, f::TYPE, CardKind::PermanentResidence2017)?;
    Ok(block)
}

pub(super) fn decode_permanent_2023(block: &[u8; TEXT_LEN]) -> Result<IdCard, TextBlockError> {
    use permanent_2023 as f;
    let rest = f::ENGLISH_NAME_2.text(block)?;
    let english_name = if rest.is_empty() {
        f::ENGLISH_NAME_1.text(block)?
    } else {
        // Characters 1-35 fill their field: a space at its end belongs
        // to the name.
        f::ENGLISH_NAME_1.raw(block)? + &rest
    };
    Ok(IdCard::PermanentResidence2023 {
        chinese_name: f::CHINESE_NAME.text(block)?,
        sex: f::SEX.sex(block)?,
        renewals: f::RENEWALS.two_digits(block)?,
        birth_date: f::BIRTH.date(block)?,
        english_name,
        number: f::NUMBER.text(block)?,
        valid_from: f::VALID_FROM.date(block)?,
        valid_to: f::VALID_TO.date(block)?,
        nationality: f::NATIONALITY.text(block)?,
        previous_number_link: f::PREVIOUS_LINK.text(block)?,
    })
}

pub(super) fn encode_permanent_2023(card: &IdCard) -> Result<[u8; TEXT_LEN], EncodeError> {
    use permanent_2023 as f;
    let IdCard::PermanentResidence2023 {
        chinese_name,
        sex,
        renewals,
        birth_date,
        english_name,
        number,
        valid_from,
        valid_to,
        nationality,
        previous_number_link,
    } = card
    else {
        unreachable!("IdCard::encode dispatches by variant");
    };
    let first = f::ENGLISH_NAME_1.chars();
    let max = first + f::ENGLISH_NAME_2.chars();
    if english_name.chars().count() > max {
        return Err(EncodeError::TooLong {
            field: "English name",
            value: english_name.clone(),
            max_chars: max,
        });
    }
    let split = english_name
        .char_indices()
        .nth(first)
        .map_or(english_name.len(), |(i, _)| i);
    let mut block = blank_block();
    f::CHINESE_NAME.put(&mut block, chinese_name)?;
    f::SEX.put_sex(&mut block, *sex)?;
    f::RENEWALS.put_two_digits(&mut block, *renewals)?;
    f::BIRTH.put_date(&mut block, *birth_date)?;
    f::ENGLISH_NAME_1.put(&mut block, &english_name[..split])?;
    f::NUMBER.put(&mut block, number)?;
    f::VALID_FROM.put_date(&mut block, *valid_from)?;
    f::VALID_TO.put_date(&mut block, *valid_to)?;
    f::ENGLISH_NAME_2.put(&mut block, &english_name[split..])?;
    f::NATIONALITY.put(&mut block, nationality)?;
    put_marker(&mut block, f::TYPE, CardKind::PermanentResidence2023)?;
    f::PREVIOUS_LINK.put(&mut block, previous_number_link)?;
    Ok(block)
}

fn put_marker(block: &mut [u8; TEXT_LEN], at: Field, kind: CardKind) -> Result<(), EncodeError> {
    debug_assert_eq!(at.at, CardKind::MARKER_AT);
    at.put(block, &kind.marker().to_string())
}
