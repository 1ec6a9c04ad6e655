//! Serde helpers that write the card file's bytes as upper-case hex (file
//! ids as `"3F00"`, tags as `"4E"`, values as `"3130..."`), so a card file
//! can be read and edited by hand while debugging.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// `Vec<u8>` as a hex string.
pub mod bytes {
    use super::*;

    /// Serialises bytes as upper-case hex.
    pub fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(value))
    }

    /// Parses a hex string (either case).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(&text).map_err(|e| D::Error::custom(format!("`{text}` is not hex: {e}")))
    }
}

/// `Option<Vec<u8>>` as a hex string or null.
pub mod opt_bytes {
    use super::*;

    /// Serialises bytes as upper-case hex, `None` as null.
    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&hex::encode_upper(v)),
            None => s.serialize_none(),
        }
    }

    /// Parses a hex string or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                hex::decode(&text)
                    .map_err(|e| D::Error::custom(format!("`{text}` is not hex: {e}")))
            })
            .transpose()
    }
}

/// `u8` as two hex digits.
pub mod byte {
    use super::*;

    /// Serialises a byte as two upper-case hex digits.
    pub fn serialize<S: Serializer>(value: &u8, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{value:02X}"))
    }

    /// Parses two hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        let text = String::deserialize(d)?;
        match hex::decode(&text).as_deref() {
            Ok([b]) => Ok(*b),
            _ => Err(D::Error::custom(format!(
                "`{text}` is not one byte in hex (two digits)"
            ))),
        }
    }
}

/// `u16` (a file id) as four hex digits.
pub mod fid {
    use super::*;

    /// Serialises a file id as four upper-case hex digits.
    pub fn serialize<S: Serializer>(value: &u16, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{value:04X}"))
    }

    /// Parses four hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        let text = String::deserialize(d)?;
        match hex::decode(&text).as_deref() {
            Ok([hi, lo]) => Ok(u16::from_be_bytes([*hi, *lo])),
            _ => Err(D::Error::custom(format!(
                "`{text}` is not a file id in hex (four digits)"
            ))),
        }
    }
}
