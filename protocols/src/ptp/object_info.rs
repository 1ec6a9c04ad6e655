//! The ObjectInfo dataset (`GetObjectInfo`'s data): what a camera says
//! about one object (a photo) before the hub downloads it.
//!
//! | offset | field | type |
//! | --- | --- | --- |
//! | 0 | StorageID | u32 |
//! | 4 | ObjectFormat | u16 (0x3801 EXIF/JPEG) |
//! | 6 | ProtectionStatus | u16 |
//! | 8 | ObjectCompressedSize | u32 |
//! | 12 | ThumbFormat | u16 |
//! | 14 | ThumbCompressedSize | u32 |
//! | 18 | ThumbPixWidth | u32 |
//! | 22 | ThumbPixHeight | u32 |
//! | 26 | ImagePixWidth | u32 |
//! | 30 | ImagePixHeight | u32 |
//! | 34 | ImageBitDepth | u32 |
//! | 38 | ParentObject | u32 |
//! | 42 | AssociationType | u16 |
//! | 44 | AssociationDesc | u32 |
//! | 48 | SequenceNumber | u32 |
//! | 52 | Filename | PTP string |
//! | … | CaptureDate, ModificationDate, Keywords | PTP strings |
//!
//! The three strings after the file name are optional when parsing (some
//! cameras end the dataset after it); building always writes them.

use super::codes::ObjectFormat;
use super::dataset::{DatasetError, DatasetReader, DatasetWriter};

/// The dataset's name in errors.
const DATASET: &str = "ObjectInfo";

/// The offset of the file name: the end of the fixed-size fields.
pub const FILENAME_OFFSET: usize = 52;

/// What a camera says about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The storage (memory card) holding it.
    pub storage_id: u32,
    /// Its format (`ExifJpeg` for a photo).
    pub object_format: ObjectFormat,
    /// 0 no protection, 1 read-only.
    pub protection_status: u16,
    /// Its size in bytes (what `GetObject` will send).
    pub compressed_size: u32,
    /// The thumbnail's format.
    pub thumb_format: ObjectFormat,
    /// The thumbnail's size in bytes.
    pub thumb_compressed_size: u32,
    /// The thumbnail's width in pixels.
    pub thumb_width: u32,
    /// The thumbnail's height in pixels.
    pub thumb_height: u32,
    /// The image's width in pixels.
    pub image_width: u32,
    /// The image's height in pixels.
    pub image_height: u32,
    /// Bits per pixel.
    pub image_bit_depth: u32,
    /// The folder holding it (0: the storage's root).
    pub parent_object: u32,
    /// For a folder, its kind.
    pub association_type: u16,
    /// For a folder, its description.
    pub association_desc: u32,
    /// Its place in a sequence of captures.
    pub sequence_number: u32,
    /// The file name on the memory card (`IMG_0001.JPG`).
    pub filename: String,
    /// When it was taken (`YYYYMMDDThhmmss`, may be empty).
    pub capture_date: String,
    /// When it was last changed (may be empty).
    pub modification_date: String,
    /// Keywords (usually empty).
    pub keywords: String,
}

impl ObjectInfo {
    /// Parses the dataset.
    pub fn parse(bytes: &[u8]) -> Result<Self, DatasetError> {
        let mut r = DatasetReader::new(DATASET, bytes);
        let mut info = Self {
            storage_id: r.u32("StorageID")?,
            object_format: ObjectFormat::from_u16(r.u16("ObjectFormat")?),
            protection_status: r.u16("ProtectionStatus")?,
            compressed_size: r.u32("ObjectCompressedSize")?,
            thumb_format: ObjectFormat::from_u16(r.u16("ThumbFormat")?),
            thumb_compressed_size: r.u32("ThumbCompressedSize")?,
            thumb_width: r.u32("ThumbPixWidth")?,
            thumb_height: r.u32("ThumbPixHeight")?,
            image_width: r.u32("ImagePixWidth")?,
            image_height: r.u32("ImagePixHeight")?,
            image_bit_depth: r.u32("ImageBitDepth")?,
            parent_object: r.u32("ParentObject")?,
            association_type: r.u16("AssociationType")?,
            association_desc: r.u32("AssociationDesc")?,
            sequence_number: r.u32("SequenceNumber")?,
            filename: String::new(),
            capture_date: String::new(),
            modification_date: String::new(),
            keywords: String::new(),
        };
        debug_assert_eq!(r.position(), FILENAME_OFFSET);
        info.filename = r.string("Filename")?;
        for (field, value) in [
            ("CaptureDate", &mut info.capture_date),
            ("ModificationDate", &mut info.modification_date),
            ("Keywords", &mut info.keywords),
        ] {
            if r.is_at_end() {
                break;
            }
            *value = r.string(field)?;
        }
        Ok(info)
    }

    /// Builds the dataset; an error when a string is longer than a PTP
    /// string holds.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DatasetError> {
        let mut w = DatasetWriter::new(DATASET);
        w.u32(self.storage_id)
            .u16(self.object_format.to_u16())
            .u16(self.protection_status)
            .u32(self.compressed_size)
            .u16(self.thumb_format.to_u16())
            .u32(self.thumb_compressed_size)
            .u32(self.thumb_width)
            .u32(self.thumb_height)
            .u32(self.image_width)
            .u32(self.image_height)
            .u32(self.image_bit_depth)
            .u32(self.parent_object)
            .u16(self.association_type)
            .u32(self.association_desc)
            .u32(self.sequence_number)
            .string("Filename", &self.filename)?
            .string("CaptureDate", &self.capture_date)?
            .string("ModificationDate", &self.modification_date)?
            .string("Keywords", &self.keywords)?;
        Ok(w.finish())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A photo as a camera describes it.
    pub(crate) fn photo() -> ObjectInfo {
        ObjectInfo {
            storage_id: 0x0001_0001,
            object_format: ObjectFormat::ExifJpeg,
            protection_status: 0,
            compressed_size: 12_345,
            thumb_format: ObjectFormat::ExifJpeg,
            thumb_compressed_size: 0,
            thumb_width: 0,
            thumb_height: 0,
            image_width: 358,
            image_height: 441,
            image_bit_depth: 24,
            parent_object: 0,
            association_type: 0,
            association_desc: 0,
            sequence_number: 0,
            filename: "A.JPG".to_owned(),
            capture_date: String::new(),
            modification_date: String::new(),
            keywords: String::new(),
        }
    }

    #[test]
    fn ptp_object_info_fields_sit_at_the_offsets_of_the_standard() {
        let bytes = photo().to_bytes().expect("short strings");
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        assert_eq!(u32_at(0), 0x0001_0001);
        assert_eq!(u16_at(4), 0x3801);
        assert_eq!(u32_at(8), 12_345);
        assert_eq!(u16_at(12), 0x3801);
        assert_eq!(u32_at(26), 358);
        assert_eq!(u32_at(30), 441);
        assert_eq!(u32_at(34), 24);
        assert_eq!(
            bytes[FILENAME_OFFSET..],
            [
                6, b'A', 0, b'.', 0, b'J', 0, b'P', 0, b'G', 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(ObjectInfo::parse(&bytes), Ok(photo()));
    }

    #[test]
    fn ptp_object_info_may_end_after_the_file_name() {
        let bytes = photo().to_bytes().expect("short strings");
        let short = &bytes[..bytes.len() - 3];
        assert_eq!(ObjectInfo::parse(short), Ok(photo()));
    }

    #[test]
    fn ptp_object_info_cut_in_a_field_names_it() {
        let bytes = photo().to_bytes().expect("short strings");
        assert_eq!(
            ObjectInfo::parse(&bytes[..28]),
            Err(DatasetError::Truncated {
                dataset: "ObjectInfo",
                field: "ImagePixWidth",
                offset: 26,
                needed: 4,
                available: 2
            })
        );
        assert!(matches!(
            ObjectInfo::parse(&bytes[..FILENAME_OFFSET]),
            Err(DatasetError::Truncated {
                field: "Filename",
                ..
            })
        ));
    }
}
