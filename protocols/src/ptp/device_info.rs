//! The DeviceInfo dataset (`GetDeviceInfo`'s data): who the camera is and
//! what it can do. Parsed and built in full; the hub reads the operations
//! supported (is `InitiateCapture` there?) and the manufacturer and model
//! for its messages.
//!
//! Fields in order: StandardVersion u16 (100 = 1.00), VendorExtensionID
//! u32, VendorExtensionVersion u16, VendorExtensionDesc string,
//! FunctionalMode u16, then five `u16` arrays (OperationsSupported,
//! EventsSupported, DevicePropertiesSupported, CaptureFormats,
//! ImageFormats), then four strings (Manufacturer, Model, DeviceVersion,
//! SerialNumber).

use super::codes::{EventCode, ObjectFormat, OperationCode};
use super::dataset::{DatasetError, DatasetReader, DatasetWriter};

/// The dataset's name in errors.
const DATASET: &str = "DeviceInfo";

/// Who the camera is and what it can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The PTP version in hundredths (100: ISO 15740 1.00).
    pub standard_version: u16,
    /// The vendor extension's id (0: none; 6: Microsoft/MTP; 0xB: Canon).
    pub vendor_extension_id: u32,
    /// The vendor extension's version.
    pub vendor_extension_version: u16,
    /// The vendor extension's description.
    pub vendor_extension_desc: String,
    /// 0: standard mode.
    pub functional_mode: u16,
    /// The operations the camera implements.
    pub operations_supported: Vec<OperationCode>,
    /// The events it reports.
    pub events_supported: Vec<EventCode>,
    /// Its device property codes.
    pub device_properties_supported: Vec<u16>,
    /// The formats it captures in.
    pub capture_formats: Vec<ObjectFormat>,
    /// The formats it stores.
    pub image_formats: Vec<ObjectFormat>,
    /// The manufacturer (`Canon Inc.`).
    pub manufacturer: String,
    /// The model (`Canon EOS 2000D`).
    pub model: String,
    /// The firmware version.
    pub device_version: String,
    /// The serial number.
    pub serial_number: String,
}

impl DeviceInfo {
    /// Whether the camera says it implements `operation`.
    pub fn supports(&self, operation: OperationCode) -> bool {
        self.operations_supported.contains(&operation)
    }

    /// Parses the dataset.
    pub fn parse(bytes: &[u8]) -> Result<Self, DatasetError> {
        let mut r = DatasetReader::new(DATASET, bytes);
        let codes = |r: &mut DatasetReader<'_>, field| r.u16_array(field);
        Ok(Self {
            standard_version: r.u16("StandardVersion")?,
            vendor_extension_id: r.u32("VendorExtensionID")?,
            vendor_extension_version: r.u16("VendorExtensionVersion")?,
            vendor_extension_desc: r.string("VendorExtensionDesc")?,
            functional_mode: r.u16("FunctionalMode")?,
            operations_supported: codes(&mut r, "OperationsSupported")?
                .into_iter()
                .map(OperationCode::from_u16)
                .collect(),
            events_supported: codes(&mut r, "EventsSupported")?
                .into_iter()
                .map(EventCode::from_u16)
                .collect(),
            device_properties_supported: codes(&mut r, "DevicePropertiesSupported")?,
            capture_formats: codes(&mut r, "CaptureFormats")?
                .into_iter()
                .map(ObjectFormat::from_u16)
                .collect(),
            image_formats: codes(&mut r, "ImageFormats")?
                .into_iter()
                .map(ObjectFormat::from_u16)
                .collect(),
            manufacturer: r.string("Manufacturer")?,
            model: r.string("Model")?,
            device_version: r.string("DeviceVersion")?,
            serial_number: r.string("SerialNumber")?,
        })
    }

    /// Builds the dataset; an error when a string is longer than a PTP
    /// string holds.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DatasetError> {
        let ops: Vec<u16> = self
            .operations_supported
            .iter()
            .map(|c| c.to_u16())
            .collect();
        let events: Vec<u16> = self.events_supported.iter().map(|c| c.to_u16()).collect();
        let capture: Vec<u16> = self.capture_formats.iter().map(|c| c.to_u16()).collect();
        let image: Vec<u16> = self.image_formats.iter().map(|c| c.to_u16()).collect();
        let mut w = DatasetWriter::new(DATASET);
        w.u16(self.standard_version)
            .u32(self.vendor_extension_id)
            .u16(self.vendor_extension_version)
            .string("VendorExtensionDesc", &self.vendor_extension_desc)?
            .u16(self.functional_mode)
            .u16_array(&ops)
            .u16_array(&events)
            .u16_array(&self.device_properties_supported)
            .u16_array(&capture)
            .u16_array(&image)
            .string("Manufacturer", &self.manufacturer)?
            .string("Model", &self.model)?
            .string("DeviceVersion", &self.device_version)?
            .string("SerialNumber", &self.serial_number)?;
        Ok(w.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptp_device_info_bytes_round_trip() {
        let info = DeviceInfo {
            standard_version: 100,
            vendor_extension_id: 0,
            vendor_extension_version: 0,
            vendor_extension_desc: String::new(),
            functional_mode: 0,
            operations_supported: vec![
                OperationCode::GetDeviceInfo,
                OperationCode::InitiateCapture,
            ],
            events_supported: vec![EventCode::ObjectAdded],
            device_properties_supported: vec![],
            capture_formats: vec![ObjectFormat::ExifJpeg],
            image_formats: vec![ObjectFormat::ExifJpeg],
            manufacturer: "A".to_owned(),
            model: "B".to_owned(),
            device_version: String::new(),
            serial_number: String::new(),
        };
        let bytes = info.to_bytes().expect("short strings");
        #[rustfmt::skip]
        let expected = [
            100, 0,                 // StandardVersion 1.00
            0, 0, 0, 0, 0, 0,       // no vendor extension
            0,                      // VendorExtensionDesc ""
            0, 0,                   // FunctionalMode
            2, 0, 0, 0, 0x01, 0x10, 0x0E, 0x10, // OperationsSupported
            1, 0, 0, 0, 0x02, 0x40, // EventsSupported
            0, 0, 0, 0,             // DevicePropertiesSupported
            1, 0, 0, 0, 0x01, 0x38, // CaptureFormats
            1, 0, 0, 0, 0x01, 0x38, // ImageFormats
            2, b'A', 0, 0, 0,       // Manufacturer "A"
            2, b'B', 0, 0, 0,       // Model "B"
            0, 0,                   // DeviceVersion, SerialNumber
        ];
        assert_eq!(bytes, expected);
        assert_eq!(DeviceInfo::parse(&bytes), Ok(info.clone()));
        assert!(info.supports(OperationCode::InitiateCapture));
        assert!(!info.supports(OperationCode::GetThumb));
        assert!(matches!(
            DeviceInfo::parse(&bytes[..bytes.len() - 6]),
            Err(DatasetError::Truncated { field: "Model", .. })
        ));
    }
}
