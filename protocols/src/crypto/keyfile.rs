//! The key file a [`super::SoftHsm`] is loaded from: text in, text out (the
//! caller reads and writes the file and guards its permissions).
//!
//! # Format (TOML)
//!
//! ```toml
//! # cardhub key file
//! version = 1              # format version; only 1 exists
//! development = true       # generated for a laptop; production refuses such a file
//!
//! [keys.field-encryption]
//! kind = "sm4"             # sm4 | tdes | hmac-sm3 | sm2
//! hex = "00112233445566778899aabbccddeeff"
//!
//! [keys.field-index]
//! kind = "hmac-sm3"
//! hex = "…"                # 16 to 64 bytes
//! ```
//!
//! Each `[keys.<label>]` table is one key: `kind` says what it is and `hex`
//! holds its bytes: 16 for `sm4`, 16 for `tdes` (2-key triple DES, `K1 ||
//! K2`), 16 to 64 for `hmac-sm3`, and for `sm2` the 32-byte private scalar
//! (big-endian). Labels are ASCII letters, digits and `-_./`. The hub needs
//! the labels in [`super::labels::HUB_KEYS`]; a hub that personalises or
//! checks chips also needs [`super::labels::CHIP_MASTERS`]; other labels
//! (partner signing keys) may follow. Unknown
//! fields are refused, so a typo never silently drops a key.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::hsm::{KeyKind, KeyLabel};
use super::labels;

/// The only format version so far.
const VERSION: u32 = 1;

/// HMAC-SM3 key lengths accepted: at least 128 bits of secret, at most one
/// SM3 block (longer keys are hashed down by HMAC and gain nothing).
const HMAC_KEY_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// Length of HMAC-SM3 keys this module generates: one SM3 output.
const GENERATED_HMAC_LEN: usize = 32;

/// A parsed, validated key file. Debug output shows labels and kinds only.
pub struct KeyFile {
    development: bool,
    keys: BTreeMap<KeyLabel, KeyMaterial>,
}

/// One key's kind and bytes (zeroized on drop).
pub(crate) struct KeyMaterial {
    pub(crate) kind: KeyKind,
    pub(crate) bytes: Zeroizing<Vec<u8>>,
}

/// An error reading a key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The text is not valid TOML of the expected shape.
    #[error("key file is not valid: {0}")]
    Syntax(String),
    /// The file declares a format version this build does not read.
    #[error("key file version {0} is not supported; this build reads version 1")]
    UnsupportedVersion(u32),
    /// A label has characters outside `A-Za-z0-9-_./`.
    #[error("key label `{0}` is not allowed: use ASCII letters, digits and - _ . /")]
    BadLabel(String),
    /// A key's `hex` is not hexadecimal.
    #[error("key `{label}`: `hex` is not hexadecimal ({reason})")]
    NotHex {
        /// The key.
        label: String,
        /// What the decoder found.
        reason: String,
    },
    /// A key has the wrong length for its kind.
    #[error("key `{label}`: a {kind} key must be {expected}, found {found} bytes")]
    WrongLength {
        /// The key.
        label: String,
        /// The kind declared.
        kind: &'static str,
        /// What the kind needs.
        expected: &'static str,
        /// The length given.
        found: usize,
    },
    /// A key with this label is already in the file.
    #[error("key `{0}` is already in the key file; pick another label or remove the old key first")]
    Duplicate(String),
    /// An SM2 private key is not a valid scalar.
    #[error(
        "key `{label}`: not a valid SM2 private key (must be between 1 and n-2); generate a new one"
    )]
    BadSm2Key {
        /// The key.
        label: String,
    },
}

/// The file as written, before validation.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: u32,
    #[serde(default)]
    development: bool,
    #[serde(default)]
    keys: BTreeMap<String, RawKey>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    kind: KeyKind,
    hex: String,
}

impl KeyFile {
    /// Parses and validates key-file text.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            KeyFileError::Syntax(e.message().to_owned() + &location(text, e.span()))
        })?;
        if raw.version != VERSION {
            return Err(KeyFileError::UnsupportedVersion(raw.version));
        }
        let mut keys = BTreeMap::new();
        for (label, key) in raw.keys {
            if !valid_label(&label) {
                return Err(KeyFileError::BadLabel(label));
            }
            let hex_text = Zeroizing::new(key.hex);
            let bytes =
                Zeroizing::new(
                    hex::decode(hex_text.trim()).map_err(|e| KeyFileError::NotHex {
                        label: label.clone(),
                        reason: e.to_string(),
                    })?,
                );
            validate(&label, key.kind, &bytes)?;
            keys.insert(
                KeyLabel::new(label),
                KeyMaterial {
                    kind: key.kind,
                    bytes,
                },
            );
        }
        Ok(Self {
            development: raw.development,
            keys,
        })
    }

    /// A development key file: fresh random keys for every hub label and
    /// every chip master (SM4), marked `development = true`.
    pub fn generate_development() -> Self {
        let mut keys = BTreeMap::new();
        for (label, kind) in labels::HUB_KEYS {
            keys.insert(KeyLabel::new(label), KeyMaterial::generate(kind));
        }
        for label in labels::CHIP_MASTERS {
            keys.insert(KeyLabel::new(label), KeyMaterial::generate(KeyKind::Sm4));
        }
        Self {
            development: true,
            keys,
        }
    }

    /// The file as TOML text (it contains the secrets: write it with
    /// owner-only permissions).
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "# cardhub key file: keep secret (owner-only permissions), back it up offline.\n\
             version = {VERSION}\n\
             # true: generated for development; a production hub refuses it.\n\
             development = {}\n",
            self.development
        );
        for (label, key) in &self.keys {
            let kind = kind_name(key.kind);
            let quoted = toml_key(label.as_str());
            out.push_str(&format!(
                "\n[keys.{quoted}]\nkind = \"{kind}\"\nhex = \"{}\"\n",
                hex::encode(&*key.bytes)
            ));
        }
        out
    }

    /// Whether the file says it was generated for development.
    pub fn is_development(&self) -> bool {
        self.development
    }

    /// The hub labels ([`labels::HUB_KEYS`]) absent from this file or present
    /// with another kind.
    pub fn missing_hub_keys(&self) -> Vec<&'static str> {
        labels::HUB_KEYS
            .iter()
            .filter(|(label, kind)| {
                self.keys
                    .get(&KeyLabel::from(*label))
                    .is_none_or(|k| k.kind != *kind)
            })
            .map(|(label, _)| *label)
            .collect()
    }

    /// The chip masters ([`labels::CHIP_MASTERS`]) absent from this file or
    /// present with another kind than `kind` (SM4, or 3DES for a centre
    /// issuing 3DES cards). Check this only where chip personalisation or
    /// the card check is configured; other hubs need no chip keys.
    pub fn missing_chip_keys(&self, kind: KeyKind) -> Vec<&'static str> {
        labels::CHIP_MASTERS
            .iter()
            .filter(|label| {
                self.keys
                    .get(&KeyLabel::from(**label))
                    .is_none_or(|k| k.kind != kind)
            })
            .copied()
            .collect()
    }

    /// The raw bytes of the SM4 key `label`, `None` when absent or of
    /// another kind.
    ///
    /// For provisioning simulated blank cards from a development key file
    /// only (a simulated card holds its own keys, as a real card vendor
    /// does): the hub itself never reads key bytes, it goes through
    /// [`super::Hsm`].
    pub fn sm4_key_bytes(&self, label: &str) -> Option<[u8; 16]> {
        self.block_key_bytes(label, KeyKind::Sm4)
    }

    /// The raw bytes of the 2-key 3DES key `label`; as
    /// [`KeyFile::sm4_key_bytes`], for simulated cards only.
    pub fn tdes_key_bytes(&self, label: &str) -> Option<[u8; 16]> {
        self.block_key_bytes(label, KeyKind::Tdes)
    }

    fn block_key_bytes(&self, label: &str, kind: KeyKind) -> Option<[u8; 16]> {
        self.keys
            .get(&KeyLabel::from(label))
            .filter(|k| k.kind == kind)
            .and_then(|k| k.bytes.as_slice().try_into().ok())
    }

    /// Every label in the file with its kind, in label order.
    pub fn labels(&self) -> impl Iterator<Item = (&KeyLabel, KeyKind)> {
        self.keys.iter().map(|(label, key)| (label, key.kind))
    }

    /// Adds a fresh random key (for key-management commands); refuses a
    /// label that is already present.
    pub fn add_generated(&mut self, label: KeyLabel, kind: KeyKind) -> Result<(), KeyFileError> {
        if !valid_label(label.as_str()) {
            return Err(KeyFileError::BadLabel(label.0));
        }
        if self.keys.contains_key(&label) {
            return Err(KeyFileError::Duplicate(label.0));
        }
        self.keys.insert(label, KeyMaterial::generate(kind));
        Ok(())
    }

    /// The keys, for loading into a [`super::SoftHsm`].
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&KeyLabel, &KeyMaterial)> {
        self.keys.iter()
    }
}

impl KeyMaterial {
    fn generate(kind: KeyKind) -> Self {
        let bytes = match kind {
            KeyKind::Sm4 | KeyKind::Tdes => random_bytes(16),
            KeyKind::HmacSm3 => random_bytes(GENERATED_HMAC_LEN),
            KeyKind::Sm2 => Zeroizing::new(super::sm2::generate_secret().to_vec()),
        };
        Self { kind, bytes }
    }
}

fn random_bytes(len: usize) -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    super::os_random(&mut bytes);
    bytes
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("development", &self.development)
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|(l, k)| (l.as_str(), k.kind))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Labels are non-empty ASCII letters, digits and `-_./` (safe in TOML
/// keys, log lines and file names).
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Sm4 => "sm4",
        KeyKind::Tdes => "tdes",
        KeyKind::HmacSm3 => "hmac-sm3",
        KeyKind::Sm2 => "sm2",
    }
}

/// A TOML key for a label: bare when it can be, quoted otherwise (labels
/// with `.` or `/`).
fn toml_key(label: &str) -> String {
    if label
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        label.to_owned()
    } else {
        format!("\"{label}\"")
    }
}

fn validate(label: &str, kind: KeyKind, bytes: &[u8]) -> Result<(), KeyFileError> {
    let wrong = |expected| KeyFileError::WrongLength {
        label: label.to_owned(),
        kind: kind_name(kind),
        expected,
        found: bytes.len(),
    };
    match kind {
        KeyKind::Sm4 | KeyKind::Tdes if bytes.len() != 16 => Err(wrong("16 bytes (32 hex digits)")),
        KeyKind::HmacSm3 if !HMAC_KEY_LEN.contains(&bytes.len()) => {
            Err(wrong("16 to 64 bytes (32 to 128 hex digits)"))
        }
        KeyKind::Sm2 => {
            let secret: &[u8; 32] = bytes
                .try_into()
                .map_err(|_| wrong("32 bytes (64 hex digits)"))?;
            super::sm2::SigningKey::from_bytes(secret)
                .map(drop)
                .map_err(|_| KeyFileError::BadSm2Key {
                    label: label.to_owned(),
                })
        }
        _ => Ok(()),
    }
}

/// " (line N)" for an error span, when the parser gives one.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|s| {
        format!(
            " (line {})",
            text[..s.start.min(text.len())].matches('\n').count() + 1
        )
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
# cardhub key file
version = 1
development = false

[keys.field-encryption]
kind = "sm4"
hex = "00112233445566778899aabbccddeeff"

[keys.field-index]
kind = "hmac-sm3"
hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

[keys.audit-chain]
kind = "hmac-sm3"
hex = "000102030405060708090a0b0c0d0e0f"

[keys.token-digest]
kind = "hmac-sm3"
hex = "ffeeddccbbaa99887766554433221100"

[keys."card-master/issuer"]
kind = "sm4"
hex = "0123456789abcdeffedcba9876543210"

[keys."chip/transport"]
kind = "tdes"
hex = "11223344556677888877665544332211"

[keys.partner-signing]
kind = "sm2"
hex = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
"#;

    #[test]
    fn parses_a_production_file() {
        let file = KeyFile::parse(GOOD).expect("valid file");
        assert!(!file.is_development());
        assert!(file.missing_hub_keys().is_empty());
        let labels: Vec<_> = file
            .labels()
            .map(|(l, k)| (l.as_str().to_owned(), k))
            .collect();
        assert!(labels.contains(&("card-master/issuer".to_owned(), KeyKind::Sm4)));
        assert!(labels.contains(&("partner-signing".to_owned(), KeyKind::Sm2)));
    }

    #[test]
    fn round_trips_through_toml() {
        let file = KeyFile::parse(GOOD).expect("valid file");
        let again = KeyFile::parse(&file.to_toml()).expect("own output parses");
        assert_eq!(again.to_toml(), file.to_toml());
        let mut generated = KeyFile::generate_development();
        generated
            .add_generated(KeyLabel::from("card-master/issuer"), KeyKind::Sm4)
            .expect("new label");
        generated
            .add_generated(KeyLabel::from("hub-signing"), KeyKind::Sm2)
            .expect("new label");
        assert_eq!(
            generated.add_generated(KeyLabel::from("hub-signing"), KeyKind::Sm2),
            Err(KeyFileError::Duplicate("hub-signing".to_owned()))
        );
        let reparsed = KeyFile::parse(&generated.to_toml()).expect("own output parses");
        assert!(reparsed.is_development());
        assert!(reparsed.missing_hub_keys().is_empty());
        assert_eq!(reparsed.to_toml(), generated.to_toml());
    }

    #[test]
    fn chip_masters_are_generated_and_checked_by_kind() {
        let generated = KeyFile::generate_development();
        assert!(generated.missing_chip_keys(KeyKind::Sm4).is_empty());
        assert_eq!(generated.missing_chip_keys(KeyKind::Tdes).len(), 6);
        let file = KeyFile::parse(GOOD).expect("valid file");
        assert!(file.missing_hub_keys().is_empty(), "chip keys are optional");
        let missing = file.missing_chip_keys(KeyKind::Tdes);
        assert_eq!(missing.len(), 5);
        assert!(!missing.contains(&labels::CHIP_TRANSPORT));
        assert_eq!(
            file.tdes_key_bytes(labels::CHIP_TRANSPORT),
            Some([
                0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
                0x22, 0x11
            ])
        );
        assert_eq!(
            file.sm4_key_bytes(labels::CHIP_TRANSPORT),
            None,
            "wrong kind"
        );
        assert_eq!(file.sm4_key_bytes("nope"), None);
        let master = generated
            .sm4_key_bytes(labels::CHIP_MAINTENANCE)
            .expect("generated");
        let reparsed = KeyFile::parse(&generated.to_toml()).expect("own output parses");
        assert_eq!(
            reparsed.sm4_key_bytes(labels::CHIP_MAINTENANCE),
            Some(master)
        );
    }

    #[test]
    fn generated_files_differ() {
        assert_ne!(
            KeyFile::generate_development().to_toml(),
            KeyFile::generate_development().to_toml()
        );
    }

    #[test]
    fn missing_or_mistyped_hub_keys_are_listed() {
        let text = GOOD.replace(
            "[keys.audit-chain]\nkind = \"hmac-sm3\"",
            "[keys.audit-chain]\nkind = \"sm4\"",
        );
        let file = KeyFile::parse(&text).expect("still a valid file");
        assert_eq!(file.missing_hub_keys(), vec![labels::AUDIT_CHAIN]);
        let empty = KeyFile::parse("version = 1\n").expect("no keys is valid");
        assert_eq!(empty.missing_hub_keys().len(), 4);
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let short = GOOD.replace(
            "00112233445566778899aabbccddeeff",
            "00112233445566778899aabbccddee",
        );
        let err = KeyFile::parse(&short).expect_err("short key").to_string();
        assert!(
            err.contains("field-encryption") && err.contains("16 bytes") && err.contains("15"),
            "{err}"
        );

        let not_hex = GOOD.replace("ffeeddccbbaa99887766554433221100", "not hex at all");
        let err = KeyFile::parse(&not_hex).expect_err("bad hex").to_string();
        assert!(
            err.contains("token-digest") && err.contains("hexadecimal"),
            "{err}"
        );

        let short_hmac = GOOD.replace("ffeeddccbbaa99887766554433221100", "ffeeddcc");
        let err = KeyFile::parse(&short_hmac)
            .expect_err("short hmac")
            .to_string();
        assert!(
            err.contains("token-digest") && err.contains("16 to 64"),
            "{err}"
        );

        let zero_sm2 = GOOD.replace(
            "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8",
            &"00".repeat(32),
        );
        let err = KeyFile::parse(&zero_sm2).expect_err("zero sm2").to_string();
        assert!(
            err.contains("partner-signing") && err.contains("SM2"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_kinds_and_versions_are_refused() {
        let typo = GOOD.replace(
            "kind = \"sm4\"\nhex = \"0011",
            "kind = \"sm4\"\nhx = \"0011",
        );
        assert!(matches!(
            KeyFile::parse(&typo),
            Err(KeyFileError::Syntax(_))
        ));
        let extra = GOOD.replace("development = false", "development = false\nowner = \"me\"");
        assert!(matches!(
            KeyFile::parse(&extra),
            Err(KeyFileError::Syntax(_))
        ));
        let kind = GOOD.replace("kind = \"sm2\"", "kind = \"rsa\"");
        assert!(matches!(
            KeyFile::parse(&kind),
            Err(KeyFileError::Syntax(_))
        ));
        let version = GOOD.replace("version = 1", "version = 2");
        assert_eq!(
            KeyFile::parse(&version).err(),
            Some(KeyFileError::UnsupportedVersion(2))
        );
        assert!(matches!(
            KeyFile::parse("development = true\n"),
            Err(KeyFileError::Syntax(_))
        ));
        let label = GOOD.replace("[keys.partner-signing]", "[keys.\"partner signing\"]");
        assert!(matches!(
            KeyFile::parse(&label),
            Err(KeyFileError::BadLabel(_))
        ));
    }

    #[test]
    fn debug_output_has_no_key_bytes() {
        let file = KeyFile::parse(GOOD).expect("valid file");
        let debug = format!("{file:?}");
        assert!(debug.contains("field-encryption"));
        assert!(!debug.contains("00112233445566778899aabbccddeeff"));
    }
}
