//! The drivers' typed errors onto the link's [`CommandErrorCode`]s, one
//! function per kind, so the hub's remote devices
//! (`cardhub_devices::remote`) rebuild the error a local driver would have
//! given. Where the hub rebuilds an error from a field of the message (a
//! printer's `text`, a lost link's `reason`), the message is that field;
//! otherwise it is the driver's whole message.

use cardhub_devices::camera::CameraError;
use cardhub_devices::id_reader::{IdReaderError, Status};
use cardhub_devices::printer::PrinterError;
use cardhub_devices::reader::ReaderError;
use cardhub_devices::remote::condition_of as condition;
use cardhub_protocols::terminal::{CommandError, CommandErrorCode as Code};

/// A printer failure.
pub fn printer_error(e: &PrinterError) -> CommandError {
    let whole = e.to_string();
    match e {
        PrinterError::Device { state, text, .. } => match condition(*state) {
            Some(condition) => {
                let mut error = CommandError::new(Code::DeviceState, text.clone());
                error.condition = Some(condition);
                error
            }
            None => CommandError::new(Code::DeviceFault, whole),
        },
        PrinterError::NoCard { text, .. } => CommandError::new(Code::NoCard, text.clone()),
        PrinterError::Busy { text, .. } => CommandError::new(Code::Busy, text.clone()),
        PrinterError::Refused { code, text, .. } => {
            let mut error = CommandError::new(Code::Refused, text.clone());
            error.device_code = Some(code.wire().to_owned());
            error
        }
        PrinterError::Disconnected {
            mid_command,
            reason,
            ..
        } => {
            let mut error = CommandError::new(Code::LinkLost, reason.clone());
            error.sent = Some(*mid_command);
            error
        }
        PrinterError::Timeout { .. } => CommandError::new(Code::Timeout, whole),
        PrinterError::Protocol { .. } => CommandError::new(Code::Protocol, whole),
        PrinterError::PanelTooLarge { .. } => {
            let mut error = CommandError::new(Code::Refused, whole);
            error.device_code = Some("BAD_DATA".to_owned());
            error
        }
        _ => CommandError::new(Code::DeviceFault, whole),
    }
}

/// A smart-card reader failure.
pub fn reader_error(e: &ReaderError) -> CommandError {
    let code = match e {
        ReaderError::NoCard { .. } => Code::NoCard,
        ReaderError::CardRemoved { .. } => Code::CardRemoved,
        ReaderError::CardMute { .. } => Code::CardMute,
        ReaderError::Timeout { .. } => Code::Timeout,
        ReaderError::ReaderGone { .. } | ReaderError::ServiceUnavailable => Code::DeviceOffline,
        ReaderError::Busy { .. } => Code::Busy,
        ReaderError::ProtocolMismatch { .. } | ReaderError::NotConnected { .. } => Code::Refused,
        ReaderError::ServiceRestarted { .. } => {
            // pcscd restarted under an open session: whether the command
            // reached the card is unknown, so the hub is told it may have.
            let mut error = CommandError::new(Code::LinkLost, e.to_string());
            error.sent = Some(true);
            return error;
        }
        _ => Code::DeviceFault,
    };
    CommandError::new(code, e.to_string())
}

/// An ID card reader failure.
pub fn id_reader_error(e: &IdReaderError) -> CommandError {
    let code = match e {
        IdReaderError::NoCard { .. } | IdReaderError::NoCardWithin { .. } => Code::NoCard,
        IdReaderError::SelectFailed { .. } => Code::CardMute,
        IdReaderError::ReadFailed { .. } => Code::CardRemoved,
        IdReaderError::Refused {
            status: Status::SamSelfTestFailed,
            ..
        } => Code::DeviceFault,
        IdReaderError::Refused { .. } => Code::Refused,
        IdReaderError::Text { .. } => Code::BadData,
        IdReaderError::NoReply { .. } => Code::Timeout,
        IdReaderError::Garbled { .. } | IdReaderError::Unexpected { .. } => Code::Protocol,
        IdReaderError::Disconnected { reason, .. } => {
            // The driver does not say whether the command went out; reads
            // change nothing on the card, so the hub may simply repeat.
            return CommandError::new(Code::LinkLost, reason.clone());
        }
        _ => Code::DeviceFault,
    };
    CommandError::new(code, e.to_string())
}

/// A camera failure.
pub fn camera_error(e: &CameraError) -> CommandError {
    let code = match e {
        CameraError::Unavailable { .. } => Code::DeviceOffline,
        CameraError::NotAnswering { .. } => Code::Timeout,
        CameraError::Disconnected { reason, .. } => {
            // InitiateCapture may have gone out: a photo may have been
            // taken (it stays on the camera's card).
            let mut error = CommandError::new(Code::LinkLost, reason.clone());
            error.sent = Some(true);
            return error;
        }
        CameraError::Refused { .. } | CameraError::TooLarge { .. } => Code::Refused,
        CameraError::NoPhoto { .. } => Code::DeviceFault,
        CameraError::Unsupported { .. } => Code::Unsupported,
        CameraError::Protocol { .. } => Code::Protocol,
        _ => Code::DeviceFault,
    };
    CommandError::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cardhub_devices::printer::ErrorCode;
    use cardhub_protocols::id_reader::TextBlockError;
    use cardhub_protocols::ptp::{OperationCode, ResponseCode};
    use cardhub_protocols::terminal::PrinterCondition;

    use super::*;

    #[test]
    fn printer_states_become_device_state_with_the_condition() {
        let e = PrinterError::from_reply("P1", "Sic", ErrorCode::CardJam, "open the cover");
        let c = printer_error(&e);
        assert_eq!(c.code, Code::DeviceState);
        assert_eq!(c.condition, Some(PrinterCondition::CardJam));
        assert_eq!(c.message, "open the cover");
        for (code, expected) in [
            (ErrorCode::RibbonOut, PrinterCondition::RibbonOut),
            (ErrorCode::HopperEmpty, PrinterCondition::HopperEmpty),
            (ErrorCode::CoverOpen, PrinterCondition::CoverOpen),
        ] {
            let c = printer_error(&PrinterError::from_reply("P1", "Si", code, ""));
            assert_eq!((c.code, c.condition), (Code::DeviceState, Some(expected)));
        }
    }

    #[test]
    fn printer_refusals_and_links_keep_what_the_hub_rebuilds_from() {
        let c = printer_error(&PrinterError::from_reply(
            "P1",
            "Si",
            ErrorCode::NoCard,
            "feed",
        ));
        assert_eq!((c.code, c.message.as_str()), (Code::NoCard, "feed"));
        let c = printer_error(&PrinterError::from_reply(
            "P1",
            "Si",
            ErrorCode::Busy,
            "wait",
        ));
        assert_eq!(c.code, Code::Busy);
        let c = printer_error(&PrinterError::from_reply(
            "P1",
            "Dbmp",
            ErrorCode::BadData,
            "not a PNG",
        ));
        assert_eq!(c.code, Code::Refused);
        assert_eq!(c.device_code.as_deref(), Some("BAD_DATA"));
        for mid_command in [true, false] {
            let c = printer_error(&PrinterError::Disconnected {
                printer: "P1".into(),
                command: "Sp",
                mid_command,
                reason: "tcp://10.0.0.9:9100 (connection reset)".into(),
            });
            assert_eq!(c.code, Code::LinkLost);
            assert_eq!(c.sent, Some(mid_command));
            assert_eq!(c.message, "tcp://10.0.0.9:9100 (connection reset)");
        }
        let c = printer_error(&PrinterError::Timeout {
            printer: "P1".into(),
            command: "Sp",
            waited: Duration::from_secs(30),
        });
        assert_eq!(c.code, Code::Timeout);
        assert!(c.message.contains("did not answer Sp"), "{}", c.message);
        let c = printer_error(&PrinterError::Protocol {
            printer: "P1".into(),
            command: "Rps",
            received: "??".into(),
            reason: "not a reply".into(),
        });
        assert_eq!(c.code, Code::Protocol);
    }

    #[test]
    fn reader_errors_map_by_what_the_card_did() {
        let reader = || "ACS 00 00".to_owned();
        let cases = [
            (ReaderError::NoCard { reader: reader() }, Code::NoCard),
            (
                ReaderError::CardRemoved {
                    reader: reader(),
                    command: "00B2010C".into(),
                },
                Code::CardRemoved,
            ),
            (ReaderError::CardMute { reader: reader() }, Code::CardMute),
            (
                ReaderError::Timeout {
                    reader: reader(),
                    operation: "transmit".into(),
                },
                Code::Timeout,
            ),
            (
                ReaderError::ReaderGone { reader: reader() },
                Code::DeviceOffline,
            ),
            (ReaderError::ServiceUnavailable, Code::DeviceOffline),
            (ReaderError::Busy { reader: reader() }, Code::Busy),
            (
                ReaderError::NotConnected { reader: reader() },
                Code::Refused,
            ),
        ];
        for (e, code) in cases {
            let c = reader_error(&e);
            assert_eq!(c.code, code, "{e:?}");
            assert_eq!(c.message, e.to_string());
        }
        let c = reader_error(&ReaderError::ServiceRestarted { reader: reader() });
        assert_eq!((c.code, c.sent), (Code::LinkLost, Some(true)));
    }

    #[test]
    fn id_reader_errors_map_onto_card_and_link_codes() {
        let r = || "ID1".to_owned();
        assert_eq!(
            id_reader_error(&IdReaderError::NoCard { reader: r() }).code,
            Code::NoCard
        );
        assert_eq!(
            id_reader_error(&IdReaderError::SelectFailed { reader: r() }).code,
            Code::CardMute
        );
        assert_eq!(
            id_reader_error(&IdReaderError::ReadFailed { reader: r() }).code,
            Code::CardRemoved
        );
        let text = IdReaderError::Text {
            reader: r(),
            source: TextBlockError::WrongLength { got: 3 },
        };
        assert_eq!(id_reader_error(&text).code, Code::BadData);
        let silent = IdReaderError::NoReply {
            reader: r(),
            command: "find card",
            waited: Duration::from_secs(1),
            received: 0,
        };
        assert_eq!(id_reader_error(&silent).code, Code::Timeout);
        let sam = IdReaderError::from_status("ID1", "SAM status", Status::SamSelfTestFailed);
        assert_eq!(id_reader_error(&sam).code, Code::DeviceFault);
        let cut = IdReaderError::Disconnected {
            reader: r(),
            command: "read",
            reason: "/dev/ttyUSB0 (broken pipe)".into(),
        };
        let c = id_reader_error(&cut);
        assert_eq!(
            (c.code, c.message.as_str()),
            (Code::LinkLost, "/dev/ttyUSB0 (broken pipe)")
        );
    }

    #[test]
    fn camera_errors_map_onto_link_and_refusal_codes() {
        let cam = || "C1".to_owned();
        let cut = CameraError::Disconnected {
            camera: cam(),
            operation: OperationCode::GetObject,
            mid_transfer: true,
            reason: "usb 1-7 gone".into(),
        };
        let c = camera_error(&cut);
        assert_eq!(
            (c.code, c.sent, c.message.as_str()),
            (Code::LinkLost, Some(true), "usb 1-7 gone")
        );
        let full = CameraError::Refused {
            camera: cam(),
            operation: OperationCode::InitiateCapture,
            response: ResponseCode::StoreFull,
        };
        let c = camera_error(&full);
        assert_eq!(c.code, Code::Refused);
        assert!(c.message.contains("memory card is full"), "{}", c.message);
        let off = CameraError::Unavailable {
            camera: cam(),
            reason: "no such device".into(),
        };
        assert_eq!(camera_error(&off).code, Code::DeviceOffline);
        let slow = CameraError::NotAnswering {
            camera: cam(),
            operation: OperationCode::OpenSession,
            waited: Duration::from_secs(5),
        };
        assert_eq!(camera_error(&slow).code, Code::Timeout);
    }
}
