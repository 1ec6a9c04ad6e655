//! The holder's number checked against [`crate::identity`] and against the
//! card it is printed on: [`IdCard::check_number`].
//!
//! The rule: a text block whose number fails is still decoded, and the
//! failure comes back beside the card as a [`NumberProblem`] (the device
//! driver returns both). The data is signed by the issuing authority and
//! verified by the reader's security module, so a failing number is
//! either a misread (read again) or a card that needs a person's look;
//! either way the operator is better served seeing the card than an
//! opaque refusal. Code that needs a checked number can only get one from
//! the `Ok` side.
//!
//! Checks, in order: the number parses ([`crate::identity::parse`], with
//! the business date); its kind is the card's (a resident card carries a
//! citizen's number, not a 9-prefixed one nor a 港澳台 permit's); the birth
//! date, sex and nationality it encodes agree with the card's fields (the
//! 2017 number's birth date is unverified and not compared).

use chrono::NaiveDate;

use super::{CardKind, IdCard};
use crate::identity::{self, DocumentType, IdentityError, IdentityKind, IdentityNumber, Sex};

/// Why the number on a decoded card is not to be trusted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberProblem {
    /// The number fails its own check.
    #[error(
        "the number {number} on this {card} fails its check ({source}): read the card again; \
         if it repeats, compare the number printed on the card and refer the card to a supervisor"
    )]
    Invalid {
        /// The number as on the card.
        number: String,
        /// The card.
        card: CardKind,
        /// What is wrong.
        #[source]
        source: IdentityError,
    },
    /// A valid number of another kind of document.
    #[error(
        "the number {number} is {found}, which a {card} does not carry: read the card again; \
         if it repeats, refer the card to a supervisor"
    )]
    WrongKind {
        /// The number.
        number: String,
        /// The card.
        card: CardKind,
        /// What the number is.
        found: &'static str,
    },
    /// The number and another field of the card disagree.
    #[error(
        "this {card} gives {field} {on_card} but its number {number} encodes {in_number}: \
         read the card again; if it repeats, refer the card to a supervisor"
    )]
    Disagrees {
        /// The number.
        number: String,
        /// The card.
        card: CardKind,
        /// The field (`birth date`, `sex`, `nationality`).
        field: &'static str,
        /// The field's value.
        on_card: String,
        /// What the number says.
        in_number: String,
    },
}

impl IdCard {
    /// Checks the card's number on the business date `today`: the
    /// number's facts when it passes, the problem when it does not.
    pub fn check_number(&self, today: NaiveDate) -> Result<IdentityNumber, NumberProblem> {
        let card = self.kind();
        let number = self.number();
        let checked = identity::parse(number, today).map_err(|source| NumberProblem::Invalid {
            number: number.to_owned(),
            card,
            source,
        })?;
        let expected = match card {
            CardKind::PermanentResidence2017 => IdentityKind::PermanentResidence2017,
            CardKind::PermanentResidence2023 => IdentityKind::PermanentResidence2023,
            _ => IdentityKind::ResidentId,
        };
        let wrong_kind = |found| NumberProblem::WrongKind {
            number: number.to_owned(),
            card,
            found,
        };
        if checked.kind() != expected {
            return Err(wrong_kind(kind_text(checked.kind())));
        }
        if card == CardKind::Resident && checked.document_type() != DocumentType::ResidentIdCard {
            return Err(wrong_kind("the number of a 港澳台居民居住证"));
        }
        let disagrees = |field, on_card: String, in_number: String| NumberProblem::Disagrees {
            number: number.to_owned(),
            card,
            field,
            on_card,
            in_number,
        };
        if card != CardKind::PermanentResidence2017
            && let Some(born) = checked.birth_date()
            && born != self.birth_date()
        {
            return Err(disagrees(
                "birth date",
                self.birth_date().to_string(),
                born.to_string(),
            ));
        }
        if let Some(sex) = checked.sex()
            && sex != self.sex()
        {
            return Err(disagrees("sex", sex_text(self.sex()), sex_text(sex)));
        }
        let in_number = checked.nationality();
        let on_card = match self {
            IdCard::PermanentResidence2017 { nationality, .. } => {
                (!in_number.alpha3.eq_ignore_ascii_case(nationality)).then(|| nationality.clone())
            }
            IdCard::PermanentResidence2023 { nationality, .. } => {
                (in_number.numeric_code() != *nationality).then(|| nationality.clone())
            }
            IdCard::Resident { .. } => None,
        };
        if let Some(on_card) = on_card {
            return Err(disagrees(
                "nationality",
                on_card,
                format!(
                    "{} ({} {})",
                    in_number.name_en,
                    in_number.alpha3,
                    in_number.numeric_code()
                ),
            ));
        }
        Ok(checked)
    }
}

fn kind_text(kind: IdentityKind) -> &'static str {
    match kind {
        IdentityKind::ResidentId => "a resident ID number",
        IdentityKind::PermanentResidence2023 => "a 2023 permanent-residence number",
        IdentityKind::PermanentResidence2017 => "a 2017 permanent-residence number",
    }
}

fn sex_text(sex: Sex) -> String {
    match sex {
        Sex::Male => "male".to_owned(),
        Sex::Female => "female".to_owned(),
    }
}
