//! Mainland China mobile numbers (手机号): a shape check only.
//!
//! A mobile number is 11 digits starting with `1`. Which carrier serves it
//! is decided by the 3-digit segment (号段), but numbers move between
//! carriers and new segments appear, so that table lives in configuration,
//! not here; this check deliberately goes no further than the shape.

/// Digits in a mainland mobile number.
const MOBILE_DIGITS: usize = 11;

/// Whether `number` has the shape of a mainland mobile number: exactly 11
/// ASCII digits, the first being `1`. No `+86` prefix, spaces or dashes.
pub fn is_mainland_mobile(number: &str) -> bool {
    number.len() == MOBILE_DIGITS
        && number.starts_with('1')
        && number.bytes().all(|b| b.is_ascii_digit())
}
