//! The PTP vocabulary as enums with names: [`OperationCode`],
//! [`ResponseCode`], [`EventCode`] and [`ObjectFormat`], each with an
//! `Other(u16)` for the codes this table does not name (vendor extensions,
//! later revisions of ISO 15740), so any `u16` converts in and back out
//! unchanged.
//!
//! The values are those of libgphoto2's `ptp.h` (`PTP_OC_*`, `PTP_RC_*`,
//! `PTP_EC_*`, `PTP_OFC_*`) for the ISO 15740 base set.

use std::fmt;

/// Declares a code enum: its named variants, `Other(u16)`, `from_u16`,
/// `to_u16`, `name`, `ALL` and a `Display` of "Name (0xNNNN)".
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $other_doc:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            #[doc = $other_doc]
            Other(u16),
        }

        impl $name {
            /// Every named code, in the order of its value.
            pub const ALL: &'static [$name] = &[$( $name::$variant, )+];

            /// The code for a wire value; `Other` for a value without a name
            /// here.
            pub fn from_u16(value: u16) -> Self {
                match value {
                    $( $value => Self::$variant, )+
                    other => Self::Other(other),
                }
            }

            /// The wire value.
            pub fn to_u16(self) -> u16 {
                match self {
                    $( Self::$variant => $value, )+
                    Self::Other(value) => value,
                }
            }

            /// The name used in ISO 15740 and `ptp.h` (`"Other"` for an
            /// unnamed code).
            pub fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => stringify!($variant), )+
                    Self::Other(_) => "Other",
                }
            }
        }

        impl From<u16> for $name {
            fn from(value: u16) -> Self {
                Self::from_u16(value)
            }
        }

        impl From<$name> for u16 {
            fn from(code: $name) -> u16 {
                code.to_u16()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} (0x{:04X})", self.name(), self.to_u16())
            }
        }
    };
}

code_enum! {
    /// What the initiator (the hub) asks the responder (the camera) to do:
    /// the code of a command container.
    OperationCode, "An operation this table does not name (vendor or later)." {
        /// `0x1001`: the camera's [`super::DeviceInfo`]; allowed outside a session.
        GetDeviceInfo = 0x1001,
        /// `0x1002`: opens a session; parameter 1 is the session id (not 0).
        OpenSession = 0x1002,
        /// `0x1003`: closes the session.
        CloseSession = 0x1003,
        /// `0x1004`: the storage ids (memory cards) as a `u32` array.
        GetStorageIDs = 0x1004,
        /// `0x1005`: one storage's StorageInfo dataset.
        GetStorageInfo = 0x1005,
        /// `0x1006`: how many objects a storage holds.
        GetNumObjects = 0x1006,
        /// `0x1007`: object handles (storage, format, parent) as a `u32` array.
        GetObjectHandles = 0x1007,
        /// `0x1008`: one object's [`super::ObjectInfo`].
        GetObjectInfo = 0x1008,
        /// `0x1009`: one object's bytes (the photo).
        GetObject = 0x1009,
        /// `0x100A`: one object's thumbnail.
        GetThumb = 0x100A,
        /// `0x100B`: deletes an object (`0xFFFFFFFF`: all).
        DeleteObject = 0x100B,
        /// `0x100C`: announces an object the initiator will send.
        SendObjectInfo = 0x100C,
        /// `0x100D`: sends that object.
        SendObject = 0x100D,
        /// `0x100E`: takes a photo (storage id, format; 0 = the camera's choice).
        InitiateCapture = 0x100E,
        /// `0x100F`: formats a storage.
        FormatStore = 0x100F,
        /// `0x1010`: resets the device.
        ResetDevice = 0x1010,
        /// `0x1011`: runs the device's self test.
        SelfTest = 0x1011,
        /// `0x1012`: sets an object's protection status.
        SetObjectProtection = 0x1012,
        /// `0x1013`: switches the device off.
        PowerDown = 0x1013,
        /// `0x1014`: a device property's description.
        GetDevicePropDesc = 0x1014,
        /// `0x1015`: a device property's value.
        GetDevicePropValue = 0x1015,
        /// `0x1016`: sets a device property.
        SetDevicePropValue = 0x1016,
        /// `0x1017`: resets a device property to its default.
        ResetDevicePropValue = 0x1017,
        /// `0x1018`: ends an open capture.
        TerminateOpenCapture = 0x1018,
        /// `0x1019`: moves an object.
        MoveObject = 0x1019,
        /// `0x101A`: copies an object.
        CopyObject = 0x101A,
        /// `0x101B`: part of an object's bytes.
        GetPartialObject = 0x101B,
        /// `0x101C`: starts an open-ended capture.
        InitiateOpenCapture = 0x101C,
    }
}

/// Which way an operation's data phase goes, if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataPhase {
    /// Command, then response.
    None,
    /// Command, data from the responder, response (`GetObject`).
    In,
    /// Command, data from the initiator, response (`SendObject`).
    Out,
    /// Not known for this code (a vendor operation): a data container from
    /// the responder is accepted.
    Unknown,
}

impl OperationCode {
    /// The direction of this operation's data phase.
    pub fn data_phase(self) -> DataPhase {
        use OperationCode as Op;
        match self {
            Op::GetDeviceInfo
            | Op::GetStorageIDs
            | Op::GetStorageInfo
            | Op::GetObjectHandles
            | Op::GetObjectInfo
            | Op::GetObject
            | Op::GetThumb
            | Op::GetDevicePropDesc
            | Op::GetDevicePropValue
            | Op::GetPartialObject => DataPhase::In,
            Op::SendObjectInfo | Op::SendObject | Op::SetDevicePropValue => DataPhase::Out,
            Op::Other(_) => DataPhase::Unknown,
            _ => DataPhase::None,
        }
    }

    /// Whether the operation is allowed outside a session (ISO 15740
    /// allows `GetDeviceInfo` and `OpenSession` only).
    pub fn needs_session(self) -> bool {
        !matches!(self, Self::GetDeviceInfo | Self::OpenSession)
    }
}

code_enum! {
    /// How the responder answered: the code of a response container.
    ResponseCode, "A response this table does not name (vendor or later)." {
        /// `0x2000`.
        Undefined = 0x2000,
        /// `0x2001`: done.
        Ok = 0x2001,
        /// `0x2002`: failed for a reason the camera does not say.
        GeneralError = 0x2002,
        /// `0x2003`: the operation needs a session and none is open.
        SessionNotOpen = 0x2003,
        /// `0x2004`: the transaction id is not the one expected.
        InvalidTransactionID = 0x2004,
        /// `0x2005`: the camera does not implement the operation.
        OperationNotSupported = 0x2005,
        /// `0x2006`: a parameter the camera does not implement.
        ParameterNotSupported = 0x2006,
        /// `0x2007`: the data phase was cut short.
        IncompleteTransfer = 0x2007,
        /// `0x2008`: no storage with that id.
        InvalidStorageId = 0x2008,
        /// `0x2009`: no object with that handle.
        InvalidObjectHandle = 0x2009,
        /// `0x200A`: no such device property.
        DevicePropNotSupported = 0x200A,
        /// `0x200B`: an object format the camera does not know.
        InvalidObjectFormatCode = 0x200B,
        /// `0x200C`: the memory card is full.
        StoreFull = 0x200C,
        /// `0x200D`: the object is protected.
        ObjectWriteProtected = 0x200D,
        /// `0x200E`: the memory card is read-only (its lock switch).
        StoreReadOnly = 0x200E,
        /// `0x200F`: access denied.
        AccessDenied = 0x200F,
        /// `0x2010`: the object has no thumbnail.
        NoThumbnailPresent = 0x2010,
        /// `0x2011`: the self test failed.
        SelfTestFailed = 0x2011,
        /// `0x2012`: only some objects were deleted.
        PartialDeletion = 0x2012,
        /// `0x2013`: the storage is not available (no memory card).
        StoreNotAvailable = 0x2013,
        /// `0x2014`: selecting by format is not supported.
        SpecificationByFormatUnsupported = 0x2014,
        /// `0x2015`: SendObject without a valid SendObjectInfo.
        NoValidObjectInfo = 0x2015,
        /// `0x2016`: invalid code format.
        InvalidCodeFormat = 0x2016,
        /// `0x2017`: unknown vendor code.
        UnknownVendorCode = 0x2017,
        /// `0x2018`: the capture was already terminated.
        CaptureAlreadyTerminated = 0x2018,
        /// `0x2019`: the camera is busy (still writing the last photo).
        DeviceBusy = 0x2019,
        /// `0x201A`: no parent object with that handle.
        InvalidParentObject = 0x201A,
        /// `0x201B`: a device property value of the wrong format.
        InvalidDevicePropFormat = 0x201B,
        /// `0x201C`: a device property value out of range.
        InvalidDevicePropValue = 0x201C,
        /// `0x201D`: a parameter is invalid.
        InvalidParameter = 0x201D,
        /// `0x201E`: a session is already open (parameter 1: its id).
        SessionAlreadyOpened = 0x201E,
        /// `0x201F`: the transaction was cancelled.
        TransactionCanceled = 0x201F,
        /// `0x2020`: choosing the destination is not supported.
        SpecificationOfDestinationUnsupported = 0x2020,
    }
}

code_enum! {
    /// What the responder reports by itself: the code of an event
    /// container (the interrupt endpoint on USB).
    EventCode, "An event this table does not name (vendor or later)." {
        /// `0x4000`.
        Undefined = 0x4000,
        /// `0x4001`: the responder cancelled a transaction.
        CancelTransaction = 0x4001,
        /// `0x4002`: a new object (parameter 1: its handle), e.g. a photo taken.
        ObjectAdded = 0x4002,
        /// `0x4003`: an object is gone (parameter 1: its handle).
        ObjectRemoved = 0x4003,
        /// `0x4004`: a storage was added.
        StoreAdded = 0x4004,
        /// `0x4005`: a storage was removed.
        StoreRemoved = 0x4005,
        /// `0x4006`: a device property changed.
        DevicePropChanged = 0x4006,
        /// `0x4007`: an object's info changed.
        ObjectInfoChanged = 0x4007,
        /// `0x4008`: the device info changed.
        DeviceInfoChanged = 0x4008,
        /// `0x4009`: the responder asks the initiator to fetch an object.
        RequestObjectTransfer = 0x4009,
        /// `0x400A`: a storage is full.
        StoreFull = 0x400A,
        /// `0x400B`: the device was reset (sessions are closed).
        DeviceReset = 0x400B,
        /// `0x400C`: a storage's info changed.
        StorageInfoChanged = 0x400C,
        /// `0x400D`: a capture finished (all its objects were added).
        CaptureComplete = 0x400D,
        /// `0x400E`: events were lost.
        UnreportedStatus = 0x400E,
    }
}

code_enum! {
    /// An object's format (ObjectInfo's `ObjectFormat`).
    ObjectFormat, "A format this table does not name (vendor, RAW...)." {
        /// `0x3000`: undefined non-image object.
        Undefined = 0x3000,
        /// `0x3001`: an association (a folder).
        Association = 0x3001,
        /// `0x3002`: a script.
        Script = 0x3002,
        /// `0x3004`: plain text.
        Text = 0x3004,
        /// `0x3800`: an image of unknown format.
        UndefinedImage = 0x3800,
        /// `0x3801`: EXIF/JPEG, what a camera's photo is.
        ExifJpeg = 0x3801,
        /// `0x3802`: TIFF/EP.
        TiffEp = 0x3802,
        /// `0x3804`: BMP.
        Bmp = 0x3804,
        /// `0x3807`: GIF.
        Gif = 0x3807,
        /// `0x3808`: JFIF (a JPEG without EXIF).
        Jfif = 0x3808,
        /// `0x380B`: PNG.
        Png = 0x380B,
        /// `0x380D`: TIFF.
        Tiff = 0x380D,
    }
}

impl ObjectFormat {
    /// Whether the format is a JPEG (EXIF or JFIF).
    pub fn is_jpeg(self) -> bool {
        matches!(self, Self::ExifJpeg | Self::Jfif)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptp_codes_are_the_values_of_ptp_h() {
        assert_eq!(OperationCode::GetDeviceInfo.to_u16(), 0x1001);
        assert_eq!(OperationCode::InitiateCapture.to_u16(), 0x100E);
        assert_eq!(OperationCode::DeleteObject.to_u16(), 0x100B);
        assert_eq!(ResponseCode::Ok.to_u16(), 0x2001);
        assert_eq!(ResponseCode::SessionNotOpen.to_u16(), 0x2003);
        assert_eq!(ResponseCode::InvalidObjectHandle.to_u16(), 0x2009);
        assert_eq!(ResponseCode::DeviceBusy.to_u16(), 0x2019);
        assert_eq!(ResponseCode::InvalidParameter.to_u16(), 0x201D);
        assert_eq!(ResponseCode::SessionAlreadyOpened.to_u16(), 0x201E);
        assert_eq!(EventCode::ObjectAdded.to_u16(), 0x4002);
        assert_eq!(EventCode::CaptureComplete.to_u16(), 0x400D);
        assert_eq!(ObjectFormat::ExifJpeg.to_u16(), 0x3801);
    }

    #[test]
    fn ptp_codes_round_trip_and_name_themselves() {
        for value in 0..=u16::MAX {
            assert_eq!(OperationCode::from_u16(value).to_u16(), value);
            assert_eq!(ResponseCode::from_u16(value).to_u16(), value);
            assert_eq!(EventCode::from_u16(value).to_u16(), value);
            assert_eq!(ObjectFormat::from_u16(value).to_u16(), value);
        }
        for code in OperationCode::ALL {
            assert!(!matches!(
                OperationCode::from_u16(code.to_u16()),
                OperationCode::Other(_)
            ));
        }
        assert_eq!(OperationCode::GetObject.to_string(), "GetObject (0x1009)");
        assert_eq!(ResponseCode::from_u16(0x9999).to_string(), "Other (0x9999)");
        assert_eq!(EventCode::from_u16(0x4002), EventCode::ObjectAdded);
    }

    #[test]
    fn ptp_data_phases_follow_the_operation() {
        assert_eq!(OperationCode::GetObject.data_phase(), DataPhase::In);
        assert_eq!(OperationCode::SendObject.data_phase(), DataPhase::Out);
        assert_eq!(OperationCode::OpenSession.data_phase(), DataPhase::None);
        assert_eq!(
            OperationCode::Other(0x9001).data_phase(),
            DataPhase::Unknown
        );
        assert!(!OperationCode::GetDeviceInfo.needs_session());
        assert!(OperationCode::InitiateCapture.needs_session());
    }
}
