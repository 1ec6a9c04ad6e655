//! Binary fields of the `/ws/terminal` messages, carried as lowercase hex
//! strings: [`HexBytes`] for any length (APDUs, ATRs, signatures, card
//! text blocks) and [`Nonce`] for the 32-byte authentication challenge.
//! Decoding accepts either case and refuses anything that is not hex, so a
//! malformed field fails at the envelope, not deep inside a driver.

use std::borrow::Cow;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// Bytes of any length, as hex on the wire.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl HexBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for HexBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for HexBytes {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes({})", hex::encode(&self.0))
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        hex::decode(text.as_ref())
            .map(Self)
            .map_err(|e| D::Error::custom(format_args!("expected hex bytes: {e}")))
    }
}

impl PartialSchema for HexBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^([0-9a-fA-F]{2})*$"))
            .description(Some("bytes as hex"))
            .into()
    }
}

impl ToSchema for HexBytes {}

/// Length of the authentication nonce: 256 bits, so a challenge never
/// repeats by chance over the life of the centre.
pub const NONCE_LEN: usize = 32;

/// The hub's authentication challenge, 32 bytes as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce(pub [u8; NONCE_LEN]);

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", hex::encode(self.0))
    }
}

impl Serialize for Nonce {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = HexBytes::deserialize(deserializer)?.0;
        let len = bytes.len();
        bytes.try_into().map(Self).map_err(|_| {
            D::Error::custom(format_args!(
                "a nonce is {NONCE_LEN} bytes ({} hex digits), got {len} bytes",
                NONCE_LEN * 2
            ))
        })
    }
}

impl PartialSchema for Nonce {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9a-fA-F]{64}$"))
            .description(Some("32 bytes as hex"))
            .into()
    }
}

impl ToSchema for Nonce {}
