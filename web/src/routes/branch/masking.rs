//! Masking (脱敏) of a holder's personal information by the viewer's role,
//! pure and in one place: branch operators see masked values, centre staff
//! and administrators see them whole ([`masks_for`]). Characters are
//! counted as Unicode scalar values, so a rare name character beyond the
//! BMP is one character, and every masked character becomes one `*`.
//!
//! | value | kept | example |
//! | --- | --- | --- |
//! | name | the first character | `张**` |
//! | document number | the first 6 (the region or nationality block) and the last 4 | `110105********002X` |
//! | phone | the first 3 (the carrier's segment) and the last 4 | `138****8000` |
//! | address | the first 6 (city and district), at most half | `上海市黄浦区*******` |
//!
//! A value too short to keep both ends and still hide something (a
//! document number of 10 characters or fewer, a phone of 7 digits or
//! fewer) is masked whole: it is not a number the centre issues, and
//! showing both ends of it would show all of it.
//!
//! Not here: who may query at all (the persons route), the audit of each
//! query (`cardhub_storage::branch::lookups`).

use cardhub_protocols::roles::Role;

/// The masking character.
const MASK: char = '*';

/// Characters of a document number kept at the start: the six-digit
/// region code (resident ID) or province and nationality (2023 permanent
/// residence).
const DOCUMENT_HEAD: usize = 6;
/// Characters of a document number kept at the end.
const DOCUMENT_TAIL: usize = 4;
/// Digits of a phone kept at the start: the mobile segment.
const PHONE_HEAD: usize = 3;
/// Digits of a phone kept at the end.
const PHONE_TAIL: usize = 4;
/// Characters of an address kept at the start: 上海市 and a district.
const ADDRESS_HEAD: usize = 6;

/// Whether `role` is shown masked values: everyone but the centre's staff
/// and administrators (branch operators, and any other role let in).
pub fn masks_for(role: Role) -> bool {
    !matches!(role, Role::CentreStaff | Role::Admin)
}

/// `text` with its first `head` and last `tail` characters kept and the
/// rest masked; wholly masked when it has no more than `head + tail`.
fn keep_ends(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= head + tail {
        return chars.iter().map(|_| MASK).collect();
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < head || i >= chars.len() - tail {
                *c
            } else {
                MASK
            }
        })
        .collect()
}

/// A name: the first character kept, the rest masked (`张三丰` → `张**`).
pub fn name(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| MASK)).collect(),
        None => String::new(),
    }
}

/// A document number: the first 6 and last 4 characters kept.
pub fn document_number(text: &str) -> String {
    keep_ends(text, DOCUMENT_HEAD, DOCUMENT_TAIL)
}

/// A phone number: the first 3 and last 4 digits kept.
pub fn phone(text: &str) -> String {
    keep_ends(text, PHONE_HEAD, PHONE_TAIL)
}

/// An address: the first 6 characters kept, but never more than half of
/// it.
pub fn address(text: &str) -> String {
    let len = text.chars().count();
    keep_ends(text, ADDRESS_HEAD.min(len / 2), 0)
}

/// `value` as `role` sees it, masked with `mask` where [`masks_for`] says.
pub fn for_role(role: Role, value: &str, mask: fn(&str) -> String) -> String {
    if masks_for(role) {
        mask(value)
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_first_character_only() {
        assert_eq!(name("张三丰"), "张**");
        assert_eq!(name("𠀀张三"), "𠀀**");
        assert_eq!(name("JANE DOE"), "J*******");
        assert_eq!(name("李"), "李");
        assert_eq!(name(""), "");
    }

    #[test]
    fn document_numbers_keep_six_and_four() {
        assert_eq!(document_number("11010519491231002X"), "110105********002X");
        assert_eq!(document_number("CAN123456789012"), "CAN123*****9012");
        assert_eq!(document_number("1234567890"), "**********");
    }

    #[test]
    fn phones_keep_the_segment_and_the_last_four() {
        assert_eq!(phone("13800138000"), "138****8000");
        assert_eq!(phone("1234567"), "*******");
    }

    #[test]
    fn addresses_keep_the_district_at_most_half() {
        assert_eq!(address("上海市黄浦区人民大道200号"), "上海市黄浦区********");
        assert_eq!(address("浦东新区"), "浦东**");
    }

    #[test]
    fn branch_operators_see_masked_values_and_the_centre_sees_them_whole() {
        let number = "11010519491231002X";
        assert_eq!(
            for_role(Role::BranchOperator, number, document_number),
            "110105********002X"
        );
        assert_eq!(for_role(Role::CentreStaff, number, document_number), number);
        assert_eq!(for_role(Role::Admin, number, document_number), number);
        assert!(masks_for(Role::OutsideSystem));
    }
}
