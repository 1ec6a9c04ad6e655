//! Tag-length-value data, in the two forms cards use:
//!
//! - BER-TLV (ISO/IEC 7816-4 §5.2, ISO/IEC 8825-1): tags of one to four
//!   bytes (`xx1F` continuation), lengths in short form or long form `81`
//!   to `84`, constructed values holding further TLVs. Used for FCPs of
//!   CREATE FILE and SELECT answers. [`parse`] reads a sequence, and
//!   [`Tlv::children`] opens a constructed value; [`encode`] writes one.
//! - The chip's simple record form `tag(1) len(1) value` (EF05/EF06
//!   records, docs/chip-profile.md): [`parse_record`], [`parse_records`],
//!   [`encode_record`].
//!
//! Errors say the byte offset (from the start of the outermost input) and
//! what was expected, so a bad card answer can be found in a log dump.
//! Parsing never panics and never allocates per byte; a fuzz target feeds
//! it random input.

/// Longest tag accepted, in bytes: 7816-4 tags have at most three; four is
/// the most a `u32` holds.
const MAX_TAG_LEN: usize = 4;

/// Longest long-form length accepted: `84` followed by four bytes.
const MAX_LENGTH_BYTES: usize = 4;

/// A malformed TLV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlvError {
    /// The input ends inside a tag, a length, or a value.
    #[error(
        "TLV data ends at byte {offset} inside the {what}: the card's answer was cut or is not TLV"
    )]
    Truncated {
        /// Where the missing bytes should start.
        offset: usize,
        /// "tag", "length" or "value".
        what: &'static str,
    },
    /// A tag longer than four bytes.
    #[error("TLV tag at byte {offset} is longer than {MAX_TAG_LEN} bytes: the data is not BER-TLV")]
    TagTooLong {
        /// Offset of the tag.
        offset: usize,
    },
    /// Length byte `80` (indefinite form) or `85`..`FF`.
    #[error(
        "TLV length byte {byte:02X} at byte {offset} is not supported: use short form or 81 to 84"
    )]
    BadLength {
        /// Offset of the length byte.
        offset: usize,
        /// The length byte.
        byte: u8,
    },
    /// A value longer than the data that follows it.
    #[error(
        "TLV at byte {offset} declares {declared} value bytes but only {available} follow: the card's answer was cut or is not TLV"
    )]
    ValueOverrun {
        /// Offset of the TLV's tag.
        offset: usize,
        /// The declared length.
        declared: usize,
        /// Bytes actually there.
        available: usize,
    },
    /// [`Tlv::children`] on a primitive TLV.
    #[error("TLV with tag {tag:X} at byte {offset} is primitive and holds no nested TLVs")]
    NotConstructed {
        /// The tag.
        tag: u32,
        /// Its offset.
        offset: usize,
    },
    /// A simple record whose length byte does not match its size.
    #[error(
        "record at byte {offset} with tag {tag:02X} declares {declared} value bytes but {available} follow"
    )]
    RecordLength {
        /// Offset of the record.
        offset: usize,
        /// The record's tag.
        tag: u8,
        /// The declared length.
        declared: usize,
        /// Bytes after the length byte.
        available: usize,
    },
    /// A value too long for the form being encoded.
    #[error("a value of {len} bytes is too long for this TLV form (at most {max})")]
    ValueTooLong {
        /// The value length.
        len: usize,
        /// The most the form holds.
        max: usize,
    },
}

/// One BER-TLV borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag, its bytes big-endian in a `u32` (`9F36`, `62`, `DF01`).
    pub tag: u32,
    /// The value bytes.
    pub value: &'a [u8],
    /// Offset of the tag's first byte in the outermost input.
    pub offset: usize,
}

impl<'a> Tlv<'a> {
    /// Whether the tag is constructed (bit 6 of its first byte).
    pub fn is_constructed(&self) -> bool {
        let first = tag_first_byte(self.tag);
        first & 0x20 != 0
    }

    /// The TLVs inside a constructed value.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, TlvError> {
        if !self.is_constructed() {
            return Err(TlvError::NotConstructed {
                tag: self.tag,
                offset: self.offset,
            });
        }
        let header = tag_len(self.tag) + length_len(self.value.len());
        parse_at(self.value, self.offset + header)
    }

    /// The first child with `tag`, if this is constructed and has one.
    pub fn find(&self, tag: u32) -> Result<Option<Tlv<'a>>, TlvError> {
        Ok(self.children()?.into_iter().find(|t| t.tag == tag))
    }
}

/// The first byte of a tag held big-endian in a `u32`.
fn tag_first_byte(tag: u32) -> u8 {
    let bytes = tag.to_be_bytes();
    bytes[MAX_TAG_LEN - tag_len(tag)]
}

/// Bytes a tag takes.
fn tag_len(tag: u32) -> usize {
    (MAX_TAG_LEN - tag.leading_zeros() as usize / 8).max(1)
}

/// Bytes the length field of a `len`-byte value takes.
fn length_len(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 5,
    }
}

/// Parses a sequence of BER-TLVs filling `input` exactly.
pub fn parse(input: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    parse_at(input, 0)
}

/// Parses the first BER-TLV of `input`; returns it and the bytes after it.
pub fn parse_one(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlvError> {
    let (tlv, used) = parse_one_at(input, 0)?;
    Ok((tlv, &input[used..]))
}

fn parse_at(mut input: &[u8], mut offset: usize) -> Result<Vec<Tlv<'_>>, TlvError> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tlv, used) = parse_one_at(input, offset)?;
        out.push(tlv);
        input = &input[used..];
        offset += used;
    }
    Ok(out)
}

/// One TLV at the start of `input` (which begins at `base` in the
/// outermost input) and the bytes it used.
fn parse_one_at(input: &[u8], base: usize) -> Result<(Tlv<'_>, usize), TlvError> {
    let truncated = |at: usize, what| TlvError::Truncated {
        offset: base + at,
        what,
    };
    let first = *input.first().ok_or(truncated(0, "tag"))?;
    let mut tag = u32::from(first);
    let mut pos = 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *input.get(pos).ok_or(truncated(pos, "tag"))?;
            pos += 1;
            if pos > MAX_TAG_LEN {
                return Err(TlvError::TagTooLong { offset: base });
            }
            tag = tag << 8 | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let len_byte = *input.get(pos).ok_or(truncated(pos, "length"))?;
    let len_offset = pos;
    pos += 1;
    let len = match len_byte {
        0..=0x7F => usize::from(len_byte),
        0x81..=0x84 => {
            let n = usize::from(len_byte & 0x7F);
            debug_assert!(n <= MAX_LENGTH_BYTES);
            let bytes = input
                .get(pos..pos + n)
                .ok_or(truncated(input.len(), "length"))?;
            pos += n;
            bytes
                .iter()
                .fold(0usize, |acc, b| acc << 8 | usize::from(*b))
        }
        _ => {
            return Err(TlvError::BadLength {
                offset: base + len_offset,
                byte: len_byte,
            });
        }
    };
    let available = input.len() - pos;
    if len > available {
        return Err(TlvError::ValueOverrun {
            offset: base,
            declared: len,
            available,
        });
    }
    let tlv = Tlv {
        tag,
        value: &input[pos..pos + len],
        offset: base,
    };
    Ok((tlv, pos + len))
}

/// Encodes one BER-TLV: the tag's bytes (1 to 4, big-endian, no leading
/// zero bytes), the length in the shortest form, and the value.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag_len(tag) + length_len(value.len()) + value.len());
    out.extend_from_slice(&tag.to_be_bytes()[MAX_TAG_LEN - tag_len(tag)..]);
    encode_length(value.len(), &mut out);
    out.extend_from_slice(value);
    out
}

/// Appends a BER length in the shortest form.
pub fn encode_length(len: usize, out: &mut Vec<u8>) {
    let n = length_len(len);
    if n == 1 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        out.push(0x80 | (n - 1) as u8);
        out.extend_from_slice(&bytes[8 - (n - 1)..]);
    }
}

/// Parses one simple record `tag(1) len(1) value` that fills `input`
/// exactly (a READ RECORD answer).
pub fn parse_record(input: &[u8]) -> Result<(u8, &[u8]), TlvError> {
    let (tag, value, used) = record_at(input, 0)?;
    if used != input.len() {
        return Err(TlvError::RecordLength {
            offset: 0,
            tag,
            declared: value.len(),
            available: input.len() - 2,
        });
    }
    Ok((tag, value))
}

/// Parses consecutive simple records filling `input` exactly.
pub fn parse_records(input: &[u8]) -> Result<Vec<(u8, &[u8])>, TlvError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < input.len() {
        let (tag, value, used) = record_at(&input[offset..], offset)?;
        out.push((tag, value));
        offset += used;
    }
    Ok(out)
}

fn record_at(input: &[u8], base: usize) -> Result<(u8, &[u8], usize), TlvError> {
    match input {
        [tag, len, rest @ ..] => {
            let len = usize::from(*len);
            let value = rest.get(..len).ok_or(TlvError::RecordLength {
                offset: base,
                tag: *tag,
                declared: len,
                available: rest.len(),
            })?;
            Ok((*tag, value, 2 + len))
        }
        [_] => Err(TlvError::Truncated {
            offset: base + 1,
            what: "length",
        }),
        [] => Err(TlvError::Truncated {
            offset: base,
            what: "tag",
        }),
    }
}

/// Encodes a simple record `tag(1) len(1) value` (value at most 255 bytes).
pub fn encode_record(tag: u8, value: &[u8]) -> Result<Vec<u8>, TlvError> {
    let len = u8::try_from(value.len()).map_err(|_| TlvError::ValueTooLong {
        len: value.len(),
        max: 255,
    })?;
    let mut out = Vec::with_capacity(2 + value.len());
    out.push(tag);
    out.push(len);
    out.extend_from_slice(value);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("test hex")
    }

    #[test]
    fn nested_fcp_with_multi_byte_tags_parses() {
        // 62 { 82 01 38; 83 02 0001; 84 03 abcdef; BF0C 02 { 9F36 00 } }
        let fcp = h("62 12 820138 83020001 8403ABCDEF BF0C03 9F3600");
        let all = parse(&fcp).expect("valid");
        assert_eq!(all.len(), 1);
        let top = all[0];
        assert_eq!(top.tag, 0x62);
        let children = top.children().expect("constructed");
        let tags: Vec<u32> = children.iter().map(|t| t.tag).collect();
        assert_eq!(tags, vec![0x82, 0x83, 0x84, 0xBF0C]);
        assert_eq!(children[1].value, &[0, 1]);
        assert_eq!(children[1].offset, 5);
        let inner = children[3].children().expect("constructed");
        assert_eq!(inner[0].tag, 0x9F36);
        assert_eq!(inner[0].offset, 17);
        assert!(inner[0].value.is_empty());
        assert_eq!(
            top.find(0x84).expect("ok").map(|t| t.value),
            Some(&h("ABCDEF")[..])
        );
        assert!(matches!(
            children[0].children(),
            Err(TlvError::NotConstructed {
                tag: 0x82,
                offset: 2
            })
        ));
    }

    #[test]
    fn long_lengths_round_trip() {
        for len in [0usize, 1, 0x7F, 0x80, 0xFF, 0x100, 0x1234] {
            let value = vec![0x5A; len];
            let bytes = encode(0xDF01, &value);
            let (tlv, rest) = parse_one(&bytes).expect("valid");
            assert_eq!((tlv.tag, tlv.value.len()), (0xDF01, len));
            assert!(rest.is_empty());
        }
        assert_eq!(encode(0x62, &[0; 0x81])[..3], [0x62, 0x81, 0x81]);
        assert_eq!(encode(0x62, &[0; 0x100])[..4], [0x62, 0x82, 0x01, 0x00]);
        // A child offset accounts for a long-form parent header.
        let parent = encode(0x70, &[encode(0x5A, &[1]), vec![0; 200]].concat());
        let kids = parse(&parent).expect("valid")[0]
            .children()
            .expect("constructed");
        assert_eq!(kids[0].offset, 3);
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(
            parse(&h("8203 0102")),
            Err(TlvError::ValueOverrun {
                offset: 0,
                declared: 3,
                available: 2
            })
        );
        assert_eq!(
            parse(&h("820101 83")),
            Err(TlvError::Truncated {
                offset: 4,
                what: "length"
            })
        );
        assert_eq!(
            parse(&h("9F")),
            Err(TlvError::Truncated {
                offset: 1,
                what: "tag"
            })
        );
        assert_eq!(
            parse(&h("9F818181 01 00")),
            Err(TlvError::TagTooLong { offset: 0 })
        );
        assert_eq!(
            parse(&h("62 80 0000")),
            Err(TlvError::BadLength {
                offset: 1,
                byte: 0x80
            })
        );
        assert_eq!(
            parse(&h("62 82 01")),
            Err(TlvError::Truncated {
                offset: 3,
                what: "length"
            })
        );
        let err = parse(&h("62 05 8201")).expect_err("overrun").to_string();
        assert!(err.contains("byte 0") && err.contains("5"), "{err}");
    }

    #[test]
    fn simple_records() {
        let rec = encode_record(0x0A, b"1").expect("short");
        assert_eq!(rec, h("0A0131"));
        assert_eq!(parse_record(&rec), Ok((0x0A, &b"1"[..])));
        assert!(matches!(
            parse_record(&h("0A0231")),
            Err(TlvError::RecordLength {
                tag: 0x0A,
                declared: 2,
                available: 1,
                ..
            })
        ));
        assert!(matches!(
            parse_record(&h("0A013132")),
            Err(TlvError::RecordLength { .. })
        ));
        let both = [rec.clone(), encode_record(0x0B, &[1]).expect("short")].concat();
        assert_eq!(
            parse_records(&both),
            Ok(vec![(0x0A, &b"1"[..]), (0x0B, &[1u8][..])])
        );
        assert_eq!(
            parse_records(&h("0A0131 0B")),
            Err(TlvError::Truncated {
                offset: 4,
                what: "length"
            })
        );
        assert_eq!(
            encode_record(1, &[0; 256]),
            Err(TlvError::ValueTooLong { len: 256, max: 255 })
        );
    }
}
