//! The building blocks of PTP datasets (ObjectInfo, DeviceInfo, the
//! handle lists): little-endian integers, arrays (a `u32` count, then the
//! elements) and PTP strings (a count byte of UCS-2 characters including
//! the terminating NUL, then the characters as UTF-16LE; count 0 is the
//! empty string), with typed [`DatasetError`]s that name the dataset, the
//! field and its offset.
//!
//! [`DatasetReader`] and [`DatasetWriter`] are what
//! [`super::ObjectInfo`] and [`super::DeviceInfo`] are made of;
//! [`parse_u32_array`] and [`u32_array_bytes`] are the data of
//! `GetStorageIDs` and `GetObjectHandles`.

/// The most UTF-16 units a PTP string holds: its count byte counts the
/// terminator too, and is at most 255.
pub const MAX_STRING_UNITS: usize = 254;

/// Why bytes are not the dataset expected, or a value cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The dataset ends inside a field.
    #[error(
        "{dataset} is cut short: {field} at offset {offset} needs {needed} bytes, {available} are left"
    )]
    Truncated {
        /// The dataset (`ObjectInfo`).
        dataset: &'static str,
        /// The field (`Filename`).
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// The bytes it needs.
        needed: usize,
        /// The bytes left.
        available: usize,
    },
    /// A string with a NUL inside, which would end it early.
    #[error("{dataset}: {field} holds a NUL character, which would end the PTP string early")]
    StringHasNul {
        /// The dataset.
        dataset: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A string too long for a PTP string's count byte.
    #[error(
        "{dataset}: {field} has {units} UTF-16 units, a PTP string holds at most {MAX_STRING_UNITS}"
    )]
    StringTooLong {
        /// The dataset.
        dataset: &'static str,
        /// The field.
        field: &'static str,
        /// Its length in UTF-16 units.
        units: usize,
    },
}

/// Reads the fields of one dataset in order.
#[derive(Debug)]
pub struct DatasetReader<'a> {
    dataset: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> DatasetReader<'a> {
    /// A reader at the start of `bytes`, naming `dataset` in its errors.
    pub fn new(dataset: &'static str, bytes: &'a [u8]) -> Self {
        Self {
            dataset,
            bytes,
            pos: 0,
        }
    }

    /// The offset of the next field.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte was read.
    pub fn is_at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DatasetError> {
        let available = self.bytes.len() - self.pos;
        if available < n {
            return Err(DatasetError::Truncated {
                dataset: self.dataset,
                field,
                offset: self.pos,
                needed: n,
                available,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A `u8`.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DatasetError> {
        Ok(self.take(field, 1)?[0])
    }

    /// A `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DatasetError> {
        let b = self.take(field, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// A `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DatasetError> {
        let b = self.take(field, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A PTP string, up to its first NUL (as libgphoto2 reads it). A
    /// missing terminator is tolerated (cameras omit it) and characters
    /// that are not valid UTF-16 become U+FFFD: a file name must not stop
    /// a capture.
    pub fn string(&mut self, field: &'static str) -> Result<String, DatasetError> {
        let start = self.pos;
        let count = usize::from(self.u8(field)?);
        let raw = self
            .take(field, 2 * count)
            .inspect_err(|_| self.pos = start)?;
        let units = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&unit| unit != 0);
        Ok(char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect())
    }

    /// An array of `u16` (a `u32` count, then the elements).
    pub fn u16_array(&mut self, field: &'static str) -> Result<Vec<u16>, DatasetError> {
        let count = self.array_len(field, 2)?;
        let raw = self.take(field, 2 * count)?;
        Ok(raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect())
    }

    /// An array of `u32`.
    pub fn u32_array(&mut self, field: &'static str) -> Result<Vec<u32>, DatasetError> {
        let count = self.array_len(field, 4)?;
        let raw = self.take(field, 4 * count)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// An array's count, checked against the bytes left so a bad count
    /// allocates nothing.
    fn array_len(&mut self, field: &'static str, size: usize) -> Result<usize, DatasetError> {
        let start = self.pos;
        let count = self.u32(field)? as usize;
        let available = self.bytes.len() - self.pos;
        if count.saturating_mul(size) > available {
            self.pos = start;
            return Err(DatasetError::Truncated {
                dataset: self.dataset,
                field,
                offset: start,
                needed: 4 + count.saturating_mul(size),
                available: available + 4,
            });
        }
        Ok(count)
    }
}

/// Writes the fields of one dataset in order.
#[derive(Debug)]
pub struct DatasetWriter {
    dataset: &'static str,
    out: Vec<u8>,
}

impl DatasetWriter {
    /// An empty dataset named `dataset` in errors.
    pub fn new(dataset: &'static str) -> Self {
        Self {
            dataset,
            out: Vec::new(),
        }
    }

    /// A `u8`.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.out.push(value);
        self
    }

    /// A `u16`.
    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A `u32`.
    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.out.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// A PTP string: the empty string is a lone 0 count byte, any other
    /// gets its terminator. A NUL inside is refused.
    pub fn string(&mut self, field: &'static str, value: &str) -> Result<&mut Self, DatasetError> {
        if value.contains('\0') {
            return Err(DatasetError::StringHasNul {
                dataset: self.dataset,
                field,
            });
        }
        let units: Vec<u16> = value.encode_utf16().collect();
        if units.len() > MAX_STRING_UNITS {
            return Err(DatasetError::StringTooLong {
                dataset: self.dataset,
                field,
                units: units.len(),
            });
        }
        if units.is_empty() {
            self.out.push(0);
            return Ok(self);
        }
        self.out.push((units.len() + 1) as u8);
        for unit in units.into_iter().chain([0]) {
            self.out.extend_from_slice(&unit.to_le_bytes());
        }
        Ok(self)
    }

    /// An array of `u16`.
    pub fn u16_array(&mut self, values: &[u16]) -> &mut Self {
        self.u32(array_count(values.len()));
        for v in values {
            self.u16(*v);
        }
        self
    }

    /// An array of `u32`.
    pub fn u32_array(&mut self, values: &[u32]) -> &mut Self {
        self.u32(array_count(values.len()));
        for v in values {
            self.u32(*v);
        }
        self
    }

    /// The bytes written.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

fn array_count(len: usize) -> u32 {
    u32::try_from(len)
        .expect("a dataset array the hub or a simulator builds has under 2^32 entries")
}

/// The `u32` array that is the whole data of `GetStorageIDs` and
/// `GetObjectHandles`.
pub fn parse_u32_array(dataset: &'static str, bytes: &[u8]) -> Result<Vec<u32>, DatasetError> {
    DatasetReader::new(dataset, bytes).u32_array("array")
}

/// The bytes of a `u32` array.
pub fn u32_array_bytes(values: &[u32]) -> Vec<u8> {
    DatasetWriter::new("array").u32_array(values).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptp_strings_count_their_terminator() {
        let mut w = DatasetWriter::new("test");
        w.string("name", "IMG")
            .expect("short")
            .string("empty", "")
            .expect("short");
        let bytes = w.finish();
        assert_eq!(bytes, [4, b'I', 0, b'M', 0, b'G', 0, 0, 0, 0]);
        let mut r = DatasetReader::new("test", &bytes);
        assert_eq!(r.string("name"), Ok("IMG".to_owned()));
        assert_eq!(r.string("empty"), Ok(String::new()));
        assert!(r.is_at_end());
    }

    #[test]
    fn ptp_strings_tolerate_a_missing_terminator_and_bad_utf16() {
        let bytes = [
            2, b'O', 0, b'K', 0, 2, 0x00, 0xD8, b'!', 0, 3, b'a', 0, 0, 0, b'b', 0,
        ];
        let mut r = DatasetReader::new("test", &bytes);
        assert_eq!(r.string("a"), Ok("OK".to_owned()));
        assert_eq!(r.string("b"), Ok("\u{FFFD}!".to_owned()));
        assert_eq!(r.string("c"), Ok("a".to_owned()));
        assert!(r.is_at_end());
        assert_eq!(
            DatasetWriter::new("test").string("d", "a\0b").map(|_| ()),
            Err(DatasetError::StringHasNul {
                dataset: "test",
                field: "d"
            })
        );
    }

    #[test]
    fn ptp_string_limits() {
        let long = "x".repeat(MAX_STRING_UNITS + 1);
        assert!(matches!(
            DatasetWriter::new("test").string("name", &long),
            Err(DatasetError::StringTooLong { units: 255, .. })
        ));
        let fits = "x".repeat(MAX_STRING_UNITS);
        let bytes = DatasetWriter::new("test")
            .string("name", &fits)
            .expect("fits")
            .finish();
        assert_eq!(bytes[0], 255);
        let cut = [5, b'a', 0];
        assert_eq!(
            DatasetReader::new("ObjectInfo", &cut).string("Filename"),
            Err(DatasetError::Truncated {
                dataset: "ObjectInfo",
                field: "Filename",
                offset: 1,
                needed: 10,
                available: 2
            })
        );
    }

    #[test]
    fn ptp_arrays_refuse_counts_beyond_the_bytes() {
        let handles = u32_array_bytes(&[1, 0x0001_0001]);
        assert_eq!(handles, [2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0]);
        assert_eq!(
            parse_u32_array("ObjectHandles", &handles),
            Ok(vec![1, 0x0001_0001])
        );
        let huge = [0xFF, 0xFF, 0xFF, 0xFF, 1, 0];
        assert!(matches!(
            parse_u32_array("ObjectHandles", &huge),
            Err(DatasetError::Truncated { offset: 0, .. })
        ));
    }
}
