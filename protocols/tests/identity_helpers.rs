//! The small shape checks met in the same forms as identity numbers: bank
//! card numbers (Luhn) and mainland mobile numbers.

use cardhub_protocols::identity::{is_mainland_mobile, luhn_check_digit, luhn_valid};

#[test]
fn luhn_accepts_valid_numbers() {
    for number in [
        "79927398713",
        "4111111111111111",
        "6212260200000000006",
        "0000000000000000",
    ] {
        assert!(luhn_valid(number), "{number}");
    }
}

#[test]
fn luhn_refuses_mistypes_and_garbage() {
    let good = "4111111111111111";
    for (i, original) in good.char_indices() {
        for d in '0'..='9' {
            if d == original {
                continue;
            }
            let mut changed = good.to_owned();
            changed.replace_range(i..i + 1, &d.to_string());
            assert!(!luhn_valid(&changed), "{changed}");
        }
    }
    for bad in [
        "",
        "0",
        "4111 1111 1111 1111",
        "411111111111111a",
        "４111111111111111",
    ] {
        assert!(!luhn_valid(bad), "{bad:?}");
    }
}

#[test]
fn luhn_check_digit_makes_a_valid_number() {
    for payload in ["622226020000000000", "3", "123456789012345678"] {
        let digit = luhn_check_digit(payload).expect("digits");
        assert!(luhn_valid(&format!("{payload}{digit}")), "{payload}{digit}");
    }
}

#[test]
fn mainland_mobile_shape() {
    assert!(is_mainland_mobile("13800138000"));
    assert!(is_mainland_mobile("19912345678"));
    for bad in [
        "1380013800",
        "138001380001",
        "23800138000",
        "+8613800138000",
        "138 0013 8000",
        "1380013800a",
    ] {
        assert!(!is_mainland_mobile(bad), "{bad}");
    }
}
