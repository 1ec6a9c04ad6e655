//! What lies on the simulated reader: a [`SimCard`] (the text block, a
//! photo, fingerprints), built from an [`IdCard`] or from any 256 bytes
//! (a `J` permit, a misprinted number, a marker nobody knows), and three
//! sample cards carrying the published sample numbers of
//! `/work/shared/reference/identity.md`.
//!
//! The photo is [`placeholder_photo`]: 1024 bytes that are NOT real WLT
//! (no WLT decoder would turn them into a face); they only have the
//! length and a recognisable pattern.

use cardhub_protocols::id_reader::{
    CardKind, EncodeError, IdCard, NaiveDate, PHOTO_LEN, TEXT_LEN, ValidUntil, WltPhoto,
};
use cardhub_protocols::identity::Sex;

/// The placeholder photo's pattern, repeated.
const PLACEHOLDER: &[u8] = b"cardhub placeholder, not real WLT data. ";

/// A card on the simulated reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCard {
    /// The text block the read answers with, as is.
    pub text: Box<[u8; TEXT_LEN]>,
    /// The photo the read answers with.
    pub photo: WltPhoto,
    /// Fingerprint templates (answered to `30 10` only), up to 1024 bytes.
    pub fingerprints: Option<Vec<u8>>,
}

impl SimCard {
    /// The card whose text block is `card`'s, with the placeholder photo
    /// and no fingerprints.
    pub fn from_card(card: &IdCard) -> Result<Self, EncodeError> {
        Ok(Self::from_text_block(card.encode()?))
    }

    /// A card with any text block (one that does not decode included).
    pub fn from_text_block(text: [u8; TEXT_LEN]) -> Self {
        Self {
            text: Box::new(text),
            photo: placeholder_photo(),
            fingerprints: None,
        }
    }

    /// The same card with fingerprint templates.
    pub fn with_fingerprints(mut self, templates: Vec<u8>) -> Self {
        self.fingerprints = Some(templates);
        self
    }

    /// The kind its marker names, if any.
    pub fn kind(&self) -> Option<CardKind> {
        CardKind::of_block(&self.text).ok()
    }
}

/// 1024 bytes standing in for a WLT photo: not real WLT.
pub fn placeholder_photo() -> WltPhoto {
    let bytes: Vec<u8> = PLACEHOLDER
        .iter()
        .copied()
        .cycle()
        .take(PHOTO_LEN)
        .collect();
    WltPhoto::from_bytes(&bytes).expect("PHOTO_LEN bytes")
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid sample date")
}

/// A resident card with the published sample number 11010519491231002X
/// (born 1949-12-31, female), valid 长期.
pub fn sample_resident() -> IdCard {
    IdCard::Resident {
        name: "李华".to_owned(),
        sex: Sex::Female,
        ethnicity: 1,
        birth_date: day(1949, 12, 31),
        address: "北京市西城区复兴门外大街1号".to_owned(),
        number: "11010519491231002X".to_owned(),
        authority: "北京市西城区公安分局".to_owned(),
        valid_from: day(2015, 3, 1),
        valid_to: ValidUntil::LongTerm,
    }
}

/// A 2017 permanent residence card (Canada). The reference has no
/// published 2017 sample: the number follows the layout identity.md calls
/// unverified (office 3100, born 850101, sequence 1, check 2).
pub fn sample_permanent_2017() -> IdCard {
    IdCard::PermanentResidence2017 {
        english_name: "JOHNSON, EMILY ROSE".to_owned(),
        sex: Sex::Female,
        number: "CAN310085010112".to_owned(),
        nationality: "CAN".to_owned(),
        chinese_name: "艾米莉".to_owned(),
        issued: day(2017, 6, 15),
        expires: day(2027, 6, 14),
        birth_date: day(1985, 1, 1),
        card_version: "01".to_owned(),
        office_code: "3100".to_owned(),
    }
}

/// A 2023 permanent residence card with the published sample number
/// 932682198501010017 (Jiangsu, Saudi Arabia, male), and an English name
/// long enough to use both of its fields.
pub fn sample_permanent_2023() -> IdCard {
    IdCard::PermanentResidence2023 {
        chinese_name: "阿卜杜拉".to_owned(),
        sex: Sex::Male,
        renewals: 0,
        birth_date: day(1985, 1, 1),
        english_name: "ABDULLAH MOHAMMED BIN SALMAN AL SAUD KHALID".to_owned(),
        number: "932682198501010017".to_owned(),
        valid_from: day(2023, 12, 1),
        valid_to: day(2033, 11, 30),
        nationality: "682".to_owned(),
        previous_number_link: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_encode_and_pass_their_checks() {
        let today = day(2025, 6, 1);
        for card in [
            sample_resident(),
            sample_permanent_2017(),
            sample_permanent_2023(),
        ] {
            let sim = SimCard::from_card(&card).unwrap();
            assert_eq!(sim.kind(), Some(card.kind()));
            assert_eq!(IdCard::decode(&sim.text[..]).unwrap(), card);
            assert!(card.check_number(today).is_ok(), "{card:?}");
        }
    }

    #[test]
    fn the_placeholder_photo_says_what_it_is() {
        let photo = placeholder_photo();
        assert!(
            photo
                .as_bytes()
                .starts_with(b"cardhub placeholder, not real WLT")
        );
    }
}
