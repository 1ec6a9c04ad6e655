//! [`CameraError`]: what can go wrong taking a photo, each variant naming
//! the camera and the operation and telling the operator what to do.
//!
//! The camera's own refusals (PTP response codes) map onto
//! [`CameraError::Refused`], whose message carries the advice for that
//! code ([`advice`]).

use std::time::Duration;

use cardhub_protocols::ptp::{OperationCode, ResponseCode};

/// A camera failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CameraError {
    /// The camera cannot be reached or opened at all.
    #[error(
        "camera {camera} cannot be used: {reason}; check that it is plugged in and switched on"
    )]
    Unavailable {
        /// The camera's name in the branch's configuration.
        camera: String,
        /// What the transport said.
        reason: String,
    },

    /// The camera did not answer in time.
    #[error(
        "camera {camera} not answering {operation} within {waited:?}: check its USB cable and that it is switched on"
    )]
    NotAnswering {
        /// The camera's name.
        camera: String,
        /// The operation it did not answer.
        operation: OperationCode,
        /// How long the driver waited.
        waited: Duration,
    },

    /// The link to the camera was lost.
    #[error(
        "camera {camera}: connection lost during {operation}{}: {reason}; check its USB cable, then take the photo again",
        if *mid_transfer { " in the middle of the transfer" } else { "" }
    )]
    Disconnected {
        /// The camera's name.
        camera: String,
        /// The operation under way.
        operation: OperationCode,
        /// Whether part of a container (the photo) had arrived.
        mid_transfer: bool,
        /// What the transport said.
        reason: String,
    },

    /// The camera refused the operation with a PTP response code.
    #[error("camera {camera} refused {operation} with {response}: {}", advice(*response))]
    Refused {
        /// The camera's name.
        camera: String,
        /// The operation refused.
        operation: OperationCode,
        /// The camera's response code.
        response: ResponseCode,
    },

    /// The camera took the capture command but reported no new photo.
    #[error(
        "camera {camera} reported no new photo within {waited:?} of InitiateCapture: check that it can focus \
         (lens cap off, enough light, the applicant in frame), then take the photo again"
    )]
    NoPhoto {
        /// The camera's name.
        camera: String,
        /// How long the driver waited for the ObjectAdded event.
        waited: Duration,
    },

    /// The camera's photo is larger than the hub accepts; it was not
    /// downloaded.
    #[error(
        "camera {camera}: the photo is {size} bytes, more than the {limit} accepted: \
         set the camera to its smallest JPEG size"
    )]
    TooLarge {
        /// The camera's name.
        camera: String,
        /// The size its ObjectInfo gives.
        size: u32,
        /// The limit.
        limit: u32,
    },

    /// The camera cannot be triggered from the hub.
    #[error(
        "camera {camera} ({model}) does not implement {missing}: it cannot be used for applicants' photos; use a supported model"
    )]
    Unsupported {
        /// The camera's name.
        camera: String,
        /// Its manufacturer and model.
        model: String,
        /// The operation it lacks.
        missing: OperationCode,
    },

    /// The camera answered with something PTP does not allow.
    #[error(
        "camera {camera} answered {operation} out of protocol: {reason}; switch the camera off and on, \
         and if it happens again the model is not supported"
    )]
    Protocol {
        /// The camera's name.
        camera: String,
        /// The operation under way.
        operation: OperationCode,
        /// What was wrong.
        reason: String,
    },
}

impl CameraError {
    /// Whether the link is gone or in doubt: the driver resets it before
    /// the next operation, and the camera's session is lost.
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            Self::Disconnected { .. } | Self::NotAnswering { .. } | Self::Protocol { .. }
        )
    }

    /// The camera's response code, for a refusal.
    pub fn response(&self) -> Option<ResponseCode> {
        match self {
            Self::Refused { response, .. } => Some(*response),
            _ => None,
        }
    }
}

/// What the operator does about a refusal.
pub fn advice(response: ResponseCode) -> &'static str {
    use ResponseCode as R;
    match response {
        R::DeviceBusy => {
            "the camera is busy (still saving the last photo?): wait a moment and take the photo again"
        }
        R::StoreFull => {
            "the camera's memory card is full: delete old photos on it or insert an empty card"
        }
        R::StoreNotAvailable | R::InvalidStorageId => {
            "the camera has no usable memory card: insert one"
        }
        R::StoreReadOnly | R::ObjectWriteProtected => {
            "the camera's memory card is write-protected: slide its lock switch off"
        }
        R::SessionNotOpen => {
            "the camera closed its session (switched off and on, or asleep): take the photo again"
        }
        R::InvalidObjectHandle => {
            "the photo is no longer on the camera (deleted on the camera itself?): take the photo again"
        }
        R::OperationNotSupported | R::ParameterNotSupported => {
            "this camera model cannot do this over USB: use a supported model"
        }
        R::AccessDenied => {
            "the camera refuses remote control: set its USB mode to PTP (or 'PC connection')"
        }
        _ => "switch the camera off and on, then take the photo again",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_advice_for_their_code() {
        let e = CameraError::Refused {
            camera: "B1".into(),
            operation: OperationCode::InitiateCapture,
            response: ResponseCode::StoreFull,
        };
        assert_eq!(
            e.to_string(),
            "camera B1 refused InitiateCapture (0x100E) with StoreFull (0x200C): \
             the camera's memory card is full: delete old photos on it or insert an empty card"
        );
        assert_eq!(e.response(), Some(ResponseCode::StoreFull));
        assert!(!e.is_connection_lost());
    }

    #[test]
    fn a_silent_camera_sends_the_operator_to_the_cable() {
        let e = CameraError::NotAnswering {
            camera: "B1".into(),
            operation: OperationCode::OpenSession,
            waited: Duration::from_secs(5),
        };
        assert!(
            e.to_string()
                .ends_with("check its USB cable and that it is switched on")
        );
        assert!(e.is_connection_lost());
    }
}
