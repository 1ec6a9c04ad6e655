//! Operator password hashing: PBKDF2 with HMAC-SM3, stored as one
//! self-describing string
//!
//! ```text
//! pbkdf2-sm3$<iterations>$<salt, hex>$<derived key, hex>
//! ```
//!
//! e.g. `pbkdf2-sm3$150000$3f0c…$9a41…` (16-byte salt, 32-byte key). The
//! iteration count travels with the hash, so raising [`ITERATIONS`] later
//! leaves existing hashes verifiable; callers may re-hash on the next
//! successful login when [`needs_rehash`] says so.
//!
//! This module only computes and checks strings; storing them and
//! throttling login attempts belong to `cardhub-storage` and `cardhub-web`.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::sm3::Sm3;

/// Scheme tag at the start of every stored hash.
const SCHEME: &str = "pbkdf2-sm3";

/// PBKDF2 iterations for new hashes. One HMAC-SM3 iteration is two SM3
/// compressions, about 0.45 µs on the hub's 2-core class of machine
/// (release build), so 150,000 iterations cost about 70 ms: a stolen hash
/// costs an attacker about 15 guesses per second per core, while a branch
/// login is not noticeably delayed and two cores absorb the burst of logins
/// at the start of a shift.
pub const ITERATIONS: u32 = 150_000;

/// Iteration counts accepted when verifying. The floor refuses hashes made
/// for tests; the ceiling keeps a doctored row from stalling a login
/// thread for minutes.
const ACCEPTED_ITERATIONS: std::ops::RangeInclusive<u32> = 1..=10_000_000;

/// Salt length for new hashes: 128 bits, so no two operators ever share one.
const SALT_LEN: usize = 16;

/// Derived key length: one SM3 output, so PBKDF2 runs a single block.
const HASH_LEN: usize = 32;

/// A stored password hash could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The string does not have the `pbkdf2-sm3$iterations$salt$hash` shape.
    #[error("stored password hash is malformed ({0}); reset the operator's password")]
    Malformed(&'static str),
    /// The string names another scheme.
    #[error(
        "stored password hash uses scheme `{0}`, not pbkdf2-sm3; reset the operator's password"
    )]
    UnknownScheme(String),
}

/// Hashes `password` with a fresh random salt and [`ITERATIONS`].
pub fn hash_password(password: &str) -> String {
    hash_password_with(password, ITERATIONS)
}

/// Hashes `password` with a fresh random salt and the given iteration count
/// (tests use a low count; production uses [`hash_password`]).
pub fn hash_password_with(password: &str, iterations: u32) -> String {
    let mut salt = [0u8; SALT_LEN];
    super::os_random(&mut salt);
    let hash = derive(password, &salt, iterations);
    format!(
        "{SCHEME}${iterations}${}${}",
        hex::encode(salt),
        hex::encode(*hash)
    )
}

/// Checks `password` against a stored hash, comparing in constant time.
/// `Ok(false)` for a wrong password; `Err` when `stored` cannot be read.
pub fn verify_password(password: &str, stored: &str) -> Result<bool, PasswordError> {
    let parsed = parse(stored)?;
    let hash = derive(password, &parsed.salt, parsed.iterations);
    Ok(bool::from(hash.as_slice().ct_eq(&parsed.hash)))
}

/// Whether `stored` was made with fewer iterations than [`ITERATIONS`]
/// (re-hash it after the next successful login).
pub fn needs_rehash(stored: &str) -> Result<bool, PasswordError> {
    Ok(parse(stored)?.iterations < ITERATIONS)
}

struct Parsed {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(stored: &str) -> Result<Parsed, PasswordError> {
    let mut parts = stored.split('$');
    let scheme = parts.next().unwrap_or_default();
    if scheme != SCHEME {
        return Err(PasswordError::UnknownScheme(
            scheme.chars().take(32).collect(),
        ));
    }
    let (Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PasswordError::Malformed(
            "expected four `$`-separated fields",
        ));
    };
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| PasswordError::Malformed("iteration count is not a number"))?;
    if !ACCEPTED_ITERATIONS.contains(&iterations) {
        return Err(PasswordError::Malformed("iteration count out of range"));
    }
    let salt = hex::decode(salt).map_err(|_| PasswordError::Malformed("salt is not hex"))?;
    if !(8..=64).contains(&salt.len()) {
        return Err(PasswordError::Malformed("salt must be 8 to 64 bytes"));
    }
    let hash = hex::decode(hash).map_err(|_| PasswordError::Malformed("hash is not hex"))?;
    if hash.len() != HASH_LEN {
        return Err(PasswordError::Malformed("hash must be 32 bytes"));
    }
    Ok(Parsed {
        iterations,
        salt,
        hash,
    })
}

fn derive(password: &str, salt: &[u8], iterations: u32) -> Zeroizing<[u8; HASH_LEN]> {
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    pbkdf2::pbkdf2_hmac::<Sm3>(password.as_bytes(), salt, iterations, out.as_mut());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A low count keeps the tests fast; the scheme is the same.
    const TEST_ITERATIONS: u32 = 1_000;

    #[test]
    fn right_password_verifies_and_wrong_one_does_not() {
        let stored = hash_password_with("Branch-0231 早班", TEST_ITERATIONS);
        assert_eq!(verify_password("Branch-0231 早班", &stored), Ok(true));
        assert_eq!(verify_password("Branch-0231 早班 ", &stored), Ok(false));
        assert_eq!(verify_password("", &stored), Ok(false));
    }

    #[test]
    fn stored_string_is_self_describing_and_salted() {
        let a = hash_password_with("secret", TEST_ITERATIONS);
        let b = hash_password_with("secret", TEST_ITERATIONS);
        assert_ne!(a, b, "each hash has its own salt");
        let fields: Vec<&str> = a.split('$').collect();
        assert_eq!(fields[0], "pbkdf2-sm3");
        assert_eq!(fields[1], "1000");
        assert_eq!(fields[2].len(), 32);
        assert_eq!(fields[3].len(), 64);
        assert_eq!(needs_rehash(&a), Ok(true));
    }

    /// PBKDF2 from RFC 8018 §5.2 for a single block:
    /// `U1 = PRF(P, S || 00000001)`, `Ui = PRF(P, Ui-1)`, `T = U1 ^ … ^ Uc`.
    #[test]
    fn derived_key_is_pbkdf2_by_definition() {
        let salt = hex::decode("000102030405060708090a0b0c0d0e0f").expect("hex");
        let stored = format!("pbkdf2-sm3$3${}${}", hex::encode(&salt), "00".repeat(32));
        let u1 = super::super::sm3::hmac_sm3(b"pw", &[salt.as_slice(), &[0, 0, 0, 1]].concat());
        let u2 = super::super::sm3::hmac_sm3(b"pw", &u1);
        let u3 = super::super::sm3::hmac_sm3(b"pw", &u2);
        let t: Vec<u8> = (0..32).map(|i| u1[i] ^ u2[i] ^ u3[i]).collect();
        assert_eq!(*derive("pw", &salt, 3), t.as_slice());
        let good = stored.replace(&"00".repeat(32), &hex::encode(&t));
        assert_eq!(verify_password("pw", &good), Ok(true));
    }

    #[test]
    fn malformed_stored_strings_are_errors() {
        let ok = hash_password_with("x", TEST_ITERATIONS);
        let fields: Vec<&str> = ok.split('$').collect();
        let cases = [
            String::new(),
            "bcrypt$2b$12$abc".to_owned(),
            format!("pbkdf2-sm3${}${}", fields[1], fields[2]),
            format!("{ok}$extra"),
            format!("pbkdf2-sm3$many${}${}", fields[2], fields[3]),
            format!("pbkdf2-sm3$0${}${}", fields[2], fields[3]),
            format!("pbkdf2-sm3${}$zz${}", fields[1], fields[3]),
            format!(
                "pbkdf2-sm3${}${}${}",
                fields[1],
                fields[2],
                &fields[3][..62]
            ),
        ];
        for case in cases {
            assert!(verify_password("x", &case).is_err(), "accepted {case:?}");
        }
        assert!(
            matches!(verify_password("x", "bcrypt$2b$12$abc"), Err(PasswordError::UnknownScheme(s)) if s == "bcrypt")
        );
    }
}
