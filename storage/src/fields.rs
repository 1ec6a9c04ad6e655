//! Sensitive columns (identity number, phone, address): SM4-CBC encryption
//! under the `field-encryption` key with a random IV prepended to the
//! ciphertext (PKCS#7 padding), and blind indexes (HMAC-SM3 under the
//! `field-index` key of the normalised value) so that look-ups by document
//! number or phone need no decryption. All key work goes through the
//! [`Hsm`]; this module never sees a key.
//!
//! Not here: which columns are sensitive (the repositories decide), keys
//! (the key file, loaded by `cardhub_protocols::crypto`).

use cardhub_protocols::crypto::{Hsm, KeyLabel, Padding, Sm4Mode, labels};

use crate::error::StorageError;

/// Length of the IV stored in front of every ciphertext.
const IV_LEN: usize = 16;

/// A column that holds SM4-encrypted text; the name is `table.column` and
/// appears in errors and as domain separation in blind indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedColumn {
    /// `table.column`, for messages.
    pub name: &'static str,
    /// Operation name for an encryption failure.
    encrypt_op: &'static str,
    /// Operation name for a blind-index failure.
    index_op: &'static str,
}

/// `persons.document_number` (the identity or permanent-residence number).
pub const DOCUMENT_NUMBER: SealedColumn = SealedColumn {
    name: "persons.document_number",
    encrypt_op: "encrypt persons.document_number",
    index_op: "compute the blind index of persons.document_number",
};

/// `persons.phone`.
pub const PHONE: SealedColumn = SealedColumn {
    name: "persons.phone",
    encrypt_op: "encrypt persons.phone",
    index_op: "compute the blind index of persons.phone",
};

/// `persons.address`.
pub const ADDRESS: SealedColumn = SealedColumn {
    name: "persons.address",
    encrypt_op: "encrypt persons.address",
    index_op: "compute the blind index of persons.address",
};

/// Encrypts `plaintext` for `column`: `IV || SM4-CBC(key, IV, PKCS7(text))`
/// with a fresh random IV, so equal values encrypt differently.
pub fn seal(hsm: &dyn Hsm, column: SealedColumn, plaintext: &str) -> Result<Vec<u8>, StorageError> {
    let iv: [u8; IV_LEN] = rand::random();
    let ciphertext = hsm
        .encrypt(
            &KeyLabel::from(labels::FIELD_ENCRYPTION),
            Sm4Mode::Cbc { iv },
            Padding::Pkcs7,
            plaintext.as_bytes(),
        )
        .map_err(|source| StorageError::Crypto {
            operation: column.encrypt_op,
            source,
        })?;
    let mut stored = Vec::with_capacity(IV_LEN + ciphertext.len());
    stored.extend_from_slice(&iv);
    stored.extend_from_slice(&ciphertext);
    Ok(stored)
}

/// Decrypts a value written by [`seal`]. Any failure (truncated data, bad
/// padding, missing key, not UTF-8) is [`StorageError::Decrypt`] naming the
/// column.
pub fn open(hsm: &dyn Hsm, column: SealedColumn, stored: &[u8]) -> Result<String, StorageError> {
    let fail = |reason: String| StorageError::Decrypt {
        column: column.name,
        reason,
    };
    if stored.len() < IV_LEN * 2 || !stored.len().is_multiple_of(IV_LEN) {
        return Err(fail(format!(
            "{} bytes stored; expected a 16-byte IV and whole 16-byte blocks",
            stored.len()
        )));
    }
    let (iv, ciphertext) = stored.split_at(IV_LEN);
    let iv: [u8; IV_LEN] = iv.try_into().expect("split_at(IV_LEN) yields IV_LEN bytes");
    let plaintext = hsm
        .decrypt(
            &KeyLabel::from(labels::FIELD_ENCRYPTION),
            Sm4Mode::Cbc { iv },
            Padding::Pkcs7,
            ciphertext,
        )
        .map_err(|e| fail(e.to_string()))?;
    String::from_utf8(plaintext)
        .map_err(|_| fail("the decrypted value is not UTF-8 text".to_owned()))
}

/// The blind index of an already normalised value: HMAC-SM3 over the column
/// name and the value, each length-prefixed, so equal values in different
/// columns do not share an index.
pub fn blind_index(
    hsm: &dyn Hsm,
    column: SealedColumn,
    normalised: &str,
) -> Result<Vec<u8>, StorageError> {
    let mut input = Vec::with_capacity(8 + column.name.len() + normalised.len());
    push_field(&mut input, column.name.as_bytes());
    push_field(&mut input, normalised.as_bytes());
    let mac = hsm
        .hmac_sm3(&KeyLabel::from(labels::FIELD_INDEX), &input)
        .map_err(|source| StorageError::Crypto {
            operation: column.index_op,
            source,
        })?;
    Ok(mac.to_vec())
}

/// Appends `bytes` with a 4-byte big-endian length in front.
pub(crate) fn push_field(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("stored fields are far below 4 GiB");
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
}

/// The form a document number is stored and indexed in: surrounding and
/// inner white space removed, letters upper-cased (the check character `x`
/// becomes `X`; old permanent-residence numbers start with letters).
pub fn normalise_document_number(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The form a phone number is stored and indexed in: white space, `-` and
/// brackets removed, a mainland country prefix (`+86`, `0086`) dropped, so
/// `+86 138-0013-8000` and `13800138000` find the same person.
pub fn normalise_phone(raw: &str) -> String {
    let digits: String = raw
        .chars()
        .filter(|c| !(c.is_whitespace() || matches!(c, '-' | '(' | ')')))
        .collect();
    for prefix in ["+86", "0086"] {
        if let Some(rest) = digits.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return rest.to_owned();
        }
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_numbers_normalise_case_and_space() {
        assert_eq!(
            normalise_document_number(" 11010519491231002x "),
            "11010519491231002X"
        );
        assert_eq!(
            normalise_document_number("ABC 123456789012"),
            "ABC123456789012"
        );
    }

    #[test]
    fn phones_normalise_prefix_and_separators() {
        assert_eq!(normalise_phone("+86 138-0013-8000"), "13800138000");
        assert_eq!(normalise_phone("008613800138000"), "13800138000");
        assert_eq!(normalise_phone("(021) 6888 0000"), "02168880000");
    }
}
