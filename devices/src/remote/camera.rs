//! [`RemoteCamera`]: the counter's camera on a branch terminal, behind the
//! [`PhotoCamera`] trait. The terminal runs the PTP capture and sends the
//! file; the hub checks it with the centre's photo rules as it checks a
//! local camera's.

use std::time::Duration;

use base64::Engine;
use cardhub_protocols::ptp::OperationCode;
use cardhub_protocols::terminal::{CameraCommand, CommandErrorCode, CommandOutput, DeviceCommand};

use super::{Links, RemoteAddress, RemoteError, links, unexpected};
use crate::camera::{CameraError, Photo, PhotoCamera};

/// How long a capture and its transfer may take end to end.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A camera on a branch terminal.
pub struct RemoteCamera {
    address: RemoteAddress,
    name: String,
    links: &'static Links,
}

impl RemoteCamera {
    /// The camera at `address` (nothing is sent until first used).
    pub fn new(address: RemoteAddress) -> Self {
        Self::with_links(address, links())
    }

    /// The camera through `links` (tests use their own).
    pub fn with_links(address: RemoteAddress, links: &'static Links) -> Self {
        Self {
            name: address.to_string(),
            address,
            links,
        }
    }

    fn error(&self, e: RemoteError) -> CameraError {
        let camera = self.name.clone();
        let operation = OperationCode::InitiateCapture;
        match e {
            RemoteError::Command(c) => match c.code {
                CommandErrorCode::LinkLost => CameraError::Disconnected {
                    camera,
                    operation,
                    mid_transfer: c.sent.unwrap_or(true),
                    reason: c.message,
                },
                CommandErrorCode::Timeout => CameraError::NotAnswering {
                    camera,
                    operation,
                    waited: TIMEOUT,
                },
                _ => CameraError::Unavailable {
                    camera,
                    reason: c.message,
                },
            },
            e @ (RemoteError::LinkLost { .. } | RemoteError::Timeout { .. }) => {
                CameraError::Disconnected {
                    camera,
                    operation,
                    mid_transfer: e.maybe_sent(),
                    reason: e.to_string(),
                }
            }
            other => CameraError::Unavailable {
                camera,
                reason: other.to_string(),
            },
        }
    }
}

impl PhotoCamera for RemoteCamera {
    fn name(&self) -> &str {
        &self.name
    }

    fn take_photo(&mut self) -> Result<Photo, CameraError> {
        let command = DeviceCommand::Camera(CameraCommand::Capture {});
        let output = self
            .links
            .request(&self.address, command.clone(), TIMEOUT)
            .map_err(|e| self.error(e))?;
        match output {
            CommandOutput::Photo {
                file_name,
                data_base64,
                ..
            } => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data_base64.as_bytes())
                    .map_err(|e| CameraError::Protocol {
                        camera: self.name.clone(),
                        operation: OperationCode::GetObject,
                        reason: format!("the terminal sent a photo that is not base64: {e}"),
                    })?;
                Ok(Photo { file_name, bytes })
            }
            other => Err(CameraError::Protocol {
                camera: self.name.clone(),
                operation: OperationCode::InitiateCapture,
                reason: unexpected(&command, &other).to_string(),
            }),
        }
    }
}
