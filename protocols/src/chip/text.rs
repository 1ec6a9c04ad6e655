//! Text on the chip: GBK for names, ASCII for alphanumeric fields, 00
//! padding.
//!
//! # The rule (docs/chip-profile.md, "Records")
//! - A name is GBK-encoded. Up to 30 bytes go in tag 09 (姓名) and the rest,
//!   up to 20 more bytes, in tag 4E (姓名扩展), never splitting a two-byte
//!   character: [`split_name`]. A reader strips the 00 padding of both and
//!   concatenates them: [`decode_name`].
//! - A character GBK cannot hold (rare characters, CJK extension B and
//!   later, U+20000 and up, anything else outside GBK) is replaced by the
//!   centre's [`SubstitutionTable`] (`[chip.substitutions]` in config: one
//!   character to a replacement string). A character with no entry is
//!   refused with an error naming the field, the character, its U+ code
//!   point and what to do. The hub never writes `?` or a numeric character
//!   reference to a chip.
//! - Also refused unless substituted (cardhub): control characters (a 00
//!   would end the text early) and private-use characters (U+E000 to
//!   U+F8FF), whose glyphs differ from one system to the next so other
//!   readers would show something else.
//!
//! [`to_chip_text`] gives the text exactly as the chip will carry it (after
//! substitution); the card check compares the chip's name with that.

use std::collections::BTreeMap;

use encoding_rs::{DecoderResult, EncoderResult, GBK};

/// Bytes of tag 09 (姓名).
pub const NAME_LEN: usize = 30;
/// Bytes of tag 4E (姓名扩展).
pub const NAME_EXTENSION_LEN: usize = 20;

/// Text that cannot go on, or did not come off, the chip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// A character with no GBK encoding and no substitution.
    #[error(
        "{field}: the character {character} ({code_point}) cannot be written to the chip ({why}); add a replacement for it under [chip.substitutions] in config, or correct the record"
    )]
    Unencodable {
        /// The record field ("name").
        field: &'static str,
        /// The character.
        character: char,
        /// Its code point, `U+20BB7`.
        code_point: String,
        /// Why: not in GBK, a control character, private use.
        why: &'static str,
    },
    /// The encoded text does not fit its record(s).
    #[error(
        "{field}: {found} bytes in GBK, but the chip holds at most {max}; shorten it as the centre's rules for long names say, or add substitutions"
    )]
    TooLong {
        /// The record field.
        field: &'static str,
        /// Bytes the text needs.
        found: usize,
        /// Bytes the chip holds.
        max: usize,
    },
    /// Bytes read from a chip are not valid GBK.
    #[error(
        "{field}: the chip's bytes are not valid GBK (at byte {offset}): the card was written by another system or is damaged"
    )]
    BadGbk {
        /// The record field.
        field: &'static str,
        /// Where decoding failed.
        offset: usize,
    },
    /// Non-zero bytes after the 00 padding started.
    #[error(
        "{field}: non-zero byte after the 00 padding (at byte {offset}): the record is damaged or was written by another system"
    )]
    PaddingGarbage {
        /// The record field.
        field: &'static str,
        /// Offset of the first non-zero byte after padding.
        offset: usize,
    },
    /// A byte outside printable ASCII in an alphanumeric field.
    #[error(
        "{field}: byte {byte:#04X} at {offset} is not printable ASCII, which this field must be"
    )]
    NotAscii {
        /// The record field.
        field: &'static str,
        /// The byte.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
    /// A substitution table entry that is itself unusable.
    #[error("[chip.substitutions]: the entry for {key:?} is unusable ({reason}); fix it in config")]
    BadSubstitution {
        /// The entry's key as written.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The centre's replacements for characters GBK cannot hold
/// (`[chip.substitutions]` in config), e.g. `𠮷` → `吉`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubstitutionTable {
    map: BTreeMap<char, String>,
}

impl SubstitutionTable {
    /// A table from character/replacement pairs. Every replacement must be
    /// non-empty and itself writable (GBK, no control or private-use
    /// characters); replacements are not substituted again.
    pub fn new(entries: impl IntoIterator<Item = (char, String)>) -> Result<Self, TextError> {
        let mut map = BTreeMap::new();
        for (c, replacement) in entries {
            let bad = |reason: String| TextError::BadSubstitution {
                key: c.to_string(),
                reason,
            };
            if replacement.is_empty() {
                return Err(bad("the replacement is empty".into()));
            }
            if let Some(r) = replacement.chars().find(|r| writable(*r).is_err()) {
                return Err(bad(format!(
                    "its replacement contains {r} ({}), which cannot be written either",
                    code_point(r)
                )));
            }
            map.insert(c, replacement);
        }
        Ok(Self { map })
    }

    /// A table from config, where keys are strings: each key must be exactly
    /// one character.
    pub fn from_config(entries: &BTreeMap<String, String>) -> Result<Self, TextError> {
        let mut pairs = Vec::with_capacity(entries.len());
        for (key, replacement) in entries {
            let mut chars = key.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => pairs.push((c, replacement.clone())),
                _ => {
                    return Err(TextError::BadSubstitution {
                        key: key.clone(),
                        reason: "a key must be exactly one character".into(),
                    });
                }
            }
        }
        Self::new(pairs)
    }

    /// The replacement of `c`, if any.
    pub fn get(&self, c: char) -> Option<&str> {
        self.map.get(&c).map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// `U+20BB7`.
fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// The GBK bytes of one character, or why it cannot be written.
fn writable(c: char) -> Result<Vec<u8>, &'static str> {
    if c.is_control() {
        return Err("a control character");
    }
    if ('\u{E000}'..='\u{F8FF}').contains(&c) {
        return Err("a private-use character, shown differently on every system");
    }
    let mut utf8 = [0u8; 4];
    let mut out = [0u8; 8];
    let mut encoder = GBK.new_encoder();
    let (result, _, written) =
        encoder.encode_from_utf8_without_replacement(c.encode_utf8(&mut utf8), &mut out, true);
    match result {
        EncoderResult::InputEmpty => Ok(out[..written].to_vec()),
        _ => Err("GBK has no such character"),
    }
}

/// The GBK bytes of each character of `text` as the chip will carry it:
/// one entry per chip character, substitutions expanded.
fn gbk_pieces(
    field: &'static str,
    text: &str,
    table: &SubstitutionTable,
) -> Result<Vec<(char, Vec<u8>)>, TextError> {
    let mut pieces = Vec::with_capacity(text.len());
    for c in text.chars() {
        match writable(c) {
            Ok(bytes) => pieces.push((c, bytes)),
            Err(why) => {
                let Some(replacement) = table.get(c) else {
                    return Err(TextError::Unencodable {
                        field,
                        character: c,
                        code_point: code_point(c),
                        why,
                    });
                };
                for r in replacement.chars() {
                    let bytes = writable(r).expect("substitution tables hold writable text only");
                    pieces.push((r, bytes));
                }
            }
        }
    }
    Ok(pieces)
}

/// The text as the chip will carry it, substitutions applied, or the
/// refusal of its first unwritable character.
pub fn to_chip_text(
    field: &'static str,
    text: &str,
    table: &SubstitutionTable,
) -> Result<String, TextError> {
    Ok(gbk_pieces(field, text, table)?
        .into_iter()
        .map(|(c, _)| c)
        .collect())
}

/// The GBK bytes of `text` after substitution (unpadded).
pub fn encode_gbk(
    field: &'static str,
    text: &str,
    table: &SubstitutionTable,
) -> Result<Vec<u8>, TextError> {
    Ok(gbk_pieces(field, text, table)?
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect())
}

/// A name split over tags 09 and 4E (unpadded GBK bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipName {
    /// Tag 09 (姓名): at most 30 bytes.
    pub name: Vec<u8>,
    /// Tag 4E (姓名扩展): at most 20 bytes, empty for most names.
    pub extension: Vec<u8>,
}

/// Encodes a name and splits it: as many whole characters as fit in 30
/// bytes go to tag 09, the rest (at most 20 bytes) to tag 4E.
pub fn split_name(text: &str, table: &SubstitutionTable) -> Result<ChipName, TextError> {
    let pieces = gbk_pieces("name", text, table)?;
    let total: usize = pieces.iter().map(|(_, b)| b.len()).sum();
    let mut name = Vec::with_capacity(NAME_LEN);
    let mut rest = pieces.into_iter().peekable();
    while let Some((_, bytes)) = rest.next_if(|(_, b)| name.len() + b.len() <= NAME_LEN) {
        name.extend_from_slice(&bytes);
    }
    let extension: Vec<u8> = rest.flat_map(|(_, b)| b).collect();
    if extension.len() > NAME_EXTENSION_LEN {
        return Err(TextError::TooLong {
            field: "name",
            found: total,
            max: name.len() + NAME_EXTENSION_LEN,
        });
    }
    Ok(ChipName { name, extension })
}

/// The bytes before the 00 padding, refusing non-zero bytes after it.
pub fn strip_padding<'a>(field: &'static str, bytes: &'a [u8]) -> Result<&'a [u8], TextError> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    match bytes[end..].iter().position(|&b| b != 0) {
        Some(i) => Err(TextError::PaddingGarbage {
            field,
            offset: end + i,
        }),
        None => Ok(&bytes[..end]),
    }
}

/// Decodes a GBK record value: strips the 00 padding, then decodes
/// strictly.
pub fn decode_gbk(field: &'static str, bytes: &[u8]) -> Result<String, TextError> {
    let text = strip_padding(field, bytes)?;
    let mut decoder = GBK.new_decoder_without_bom_handling();
    // GBK never needs more than 3 UTF-8 bytes per input byte; the decoder
    // states the exact bound, so one call decodes everything.
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(text.len())
        .unwrap_or(text.len().saturating_mul(3))
        .max(4);
    let mut out = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(text, &mut out, true);
    match result {
        DecoderResult::InputEmpty => Ok(out),
        DecoderResult::Malformed(bad, extra) => Err(TextError::BadGbk {
            field,
            offset: read.saturating_sub(usize::from(bad) + usize::from(extra)),
        }),
        DecoderResult::OutputFull => Err(TextError::BadGbk {
            field,
            offset: read,
        }),
    }
}

/// Decodes a name from tags 09 and 4E: both stripped of padding, then
/// concatenated and decoded.
pub fn decode_name(name: &[u8], extension: &[u8]) -> Result<String, TextError> {
    let mut joined = strip_padding("name", name)?.to_vec();
    joined.extend_from_slice(strip_padding("name_extension", extension)?);
    decode_gbk("name", &joined)
}

/// Decodes an alphanumeric record value: strips the 00 padding, then
/// requires printable ASCII.
pub fn decode_ascii(field: &'static str, bytes: &[u8]) -> Result<String, TextError> {
    let text = strip_padding(field, bytes)?;
    match text.iter().position(|b| !(0x20..=0x7E).contains(b)) {
        Some(offset) => Err(TextError::NotAscii {
            field,
            byte: text[offset],
            offset,
        }),
        None => Ok(text.iter().map(|&b| char::from(b)).collect()),
    }
}

#[cfg(test)]
mod tests;
