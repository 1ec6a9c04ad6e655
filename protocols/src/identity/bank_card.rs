//! Bank card numbers (银行卡号): the Luhn (ISO/IEC 7812-1 mod 10) check that
//! every bank card number carries in its last digit, used when a holder
//! links a bank account to the social security card's financial function.
//!
//! This checks shape only; which bank issued the card (the BIN) is the bank
//! channel's business. Identity numbers are in [`super::gb11643`].

/// Whether `number` is all ASCII digits, at least two of them, and passes
/// the Luhn check. Spaces or dashes are not accepted: strip separators first.
pub fn luhn_valid(number: &str) -> bool {
    let bytes = number.as_bytes();
    bytes.len() >= 2
        && bytes.iter().all(u8::is_ascii_digit)
        && luhn_sum(bytes, false).is_multiple_of(10)
}

/// The Luhn check digit to append to `payload` (all ASCII digits, at least
/// one), or `None` if `payload` is not that.
pub fn luhn_check_digit(payload: &str) -> Option<char> {
    let bytes = payload.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let digit = (10 - luhn_sum(bytes, true) % 10) % 10;
    char::from_digit(digit, 10)
}

/// Luhn sum of `digits`, counting from the right; every second digit is
/// doubled, starting with the rightmost when `double_rightmost` (a payload
/// without its check digit) or the one left of it (a full number).
fn luhn_sum(digits: &[u8], double_rightmost: bool) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if (i % 2 == 0) == double_rightmost {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_completes_a_valid_number() {
        assert_eq!(luhn_check_digit("7992739871"), Some('3'));
        assert_eq!(luhn_check_digit("411111111111111"), Some('1'));
        assert_eq!(luhn_check_digit(""), None);
        assert_eq!(luhn_check_digit("12a"), None);
    }
}
