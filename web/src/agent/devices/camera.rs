//! A camera on the terminal: the PTP driver ([`Camera`]) over TCP (the
//! simulator) or USB (nusb), behind the link's `camera` commands. Probed
//! by opening it and asking `GetDeviceInfo` (a camera that cannot be
//! triggered is a fault); while connected, asked again every
//! [`CHECK_EVERY`]; while not, opened again every [`REOPEN_EVERY`] and at
//! once when the USB watch reports a camera plugged in.
//!
//! A capture answers the camera's file as it gave it (`photo`: file name,
//! media type, base64 bytes): the hub applies the centre's photo rules.

use std::time::Duration;

use base64::Engine as _;
use cardhub_devices::camera::{
    self, Camera, CameraError, CameraOptions, CapturedPhoto, TcpTransport, UsbCamera, UsbHotplug,
    UsbSelector, UsbTransport, list_cameras,
};
use cardhub_protocols::terminal::{
    CameraCommand, CommandOutput, CommandResult, DeviceCommand, DeviceEvent,
};

use super::{Driver, Health, camera_error, unsupported};
use crate::agent::config::CameraAddress;

/// How often a camera that cannot be reached is looked for again.
pub const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// How often a connected, idle camera is asked `GetDeviceInfo`: a camera
/// switched off between two photos shows offline within this.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

/// An open camera (one per device, so the sizes do not matter).
enum Open {
    Tcp(Box<Camera<TcpTransport>>),
    Usb {
        camera: Box<Camera<UsbTransport>>,
        /// The device on the bus, to know its unplugging.
        device: UsbCamera,
    },
}

impl Open {
    fn capture(&mut self) -> Result<CapturedPhoto, CameraError> {
        match self {
            Self::Tcp(camera) => camera.capture(),
            Self::Usb { camera, .. } => camera.capture(),
        }
    }

    fn check(&mut self) -> Result<(), CameraError> {
        match self {
            Self::Tcp(camera) => camera.check_supported().map(drop),
            Self::Usb { camera, .. } => camera.check_supported().map(drop),
        }
    }
}

/// The terminal's camera.
pub struct CameraDriver {
    name: String,
    address: CameraAddress,
    options: CameraOptions,
    open: Option<Open>,
    health: Health,
}

impl CameraDriver {
    /// The camera at `address`.
    pub fn new(name: &str, address: CameraAddress) -> Self {
        Self {
            name: name.to_owned(),
            address,
            options: CameraOptions::default(),
            open: None,
            health: Health::offline("not opened yet"),
        }
    }

    fn connect(&self) -> Result<Open, CameraError> {
        let unavailable = |reason: String| CameraError::Unavailable {
            camera: self.name.clone(),
            reason,
        };
        let wanted = match &self.address {
            CameraAddress::Tcp(address) => {
                return camera::open_tcp(&self.name, address, self.options.clone())
                    .map(|camera| Open::Tcp(Box::new(camera)));
            }
            CameraAddress::Usb {
                vendor_id,
                product_id,
            } => Some((*vendor_id, *product_id)),
            CameraAddress::UsbAuto => None,
        };
        let cameras = list_cameras().map_err(|e| unavailable(e.to_string()))?;
        let found = cameras
            .into_iter()
            .find(|c| wanted.is_none_or(|(v, p)| c.vendor_id == v && c.product_id == p))
            .ok_or_else(|| {
                unavailable(format!(
                    "no USB still-image camera {}is plugged in",
                    match wanted {
                        Some(_) => format!("matching {} ", self.address),
                        None => String::new(),
                    }
                ))
            })?;
        let selector = UsbSelector {
            vendor_id: found.vendor_id,
            product_id: found.product_id,
            serial_number: found.serial_number.clone(),
        };
        camera::open_usb(&self.name, &selector, self.options.clone()).map(|camera| Open::Usb {
            camera: Box::new(camera),
            device: found,
        })
    }

    /// Opens the camera and checks it can be triggered.
    fn open(&mut self) {
        let mut open = match self.connect() {
            Ok(open) => open,
            Err(e) => {
                self.health = Health::offline(e.to_string());
                return;
            }
        };
        match open.check() {
            Ok(()) => {
                self.health = Health::ready();
                self.open = Some(open);
            }
            Err(e @ CameraError::Unsupported { .. }) => {
                self.health = Health::fault(e.to_string());
            }
            Err(e) => self.health = Health::offline(e.to_string()),
        }
    }

    /// Notes how an operation went.
    fn observe(&mut self, error: Option<&CameraError>) {
        self.health = match error {
            None => Health::ready(),
            Some(e @ (CameraError::Unavailable { .. } | CameraError::Disconnected { .. })) => {
                self.open = None;
                Health::offline(e.to_string())
            }
            Some(
                e @ (CameraError::NotAnswering { .. }
                | CameraError::Protocol { .. }
                | CameraError::Refused { .. }
                | CameraError::Unsupported { .. }),
            ) => Health::fault(e.to_string()),
            // No photo this time, or too large: the camera itself works.
            Some(_) => Health::ready(),
        };
    }

    fn capture(&mut self) -> CommandResult {
        if self.open.is_none() {
            self.open();
        }
        let Some(open) = self.open.as_mut() else {
            let e = CameraError::Unavailable {
                camera: self.name.clone(),
                reason: self
                    .health
                    .detail
                    .clone()
                    .unwrap_or_else(|| "not connected".to_owned()),
            };
            return CommandResult::Error(camera_error(&e));
        };
        match open.capture() {
            Ok(photo) => {
                self.observe(None);
                CommandResult::Ok(photo_output(photo))
            }
            Err(e) => {
                self.observe(Some(&e));
                CommandResult::Error(camera_error(&e))
            }
        }
    }
}

/// The `photo` answer: the camera's file as it gave it.
fn photo_output(photo: CapturedPhoto) -> CommandOutput {
    let jpeg = photo.format().is_jpeg() || photo.bytes.starts_with(&[0xFF, 0xD8]);
    let file_name = if photo.info.filename.is_empty() {
        format!(
            "capture-{:08X}.{}",
            photo.handle,
            if jpeg { "JPG" } else { "BIN" }
        )
    } else {
        photo.info.filename.clone()
    };
    CommandOutput::Photo {
        file_name,
        mime: if jpeg {
            "image/jpeg"
        } else {
            "application/octet-stream"
        }
        .to_owned(),
        data_base64: base64::engine::general_purpose::STANDARD.encode(&photo.bytes),
    }
}

impl Driver for CameraDriver {
    fn probe(&mut self) -> Health {
        self.open();
        self.health.clone()
    }

    fn run(&mut self, command: DeviceCommand) -> CommandResult {
        match &command {
            DeviceCommand::Camera(CameraCommand::Capture {}) => self.capture(),
            _ => unsupported(&self.name, &command),
        }
    }

    fn health(&self) -> Health {
        self.health.clone()
    }

    fn idle_every(&self) -> Option<Duration> {
        Some(if self.open.is_some() {
            CHECK_EVERY
        } else {
            REOPEN_EVERY
        })
    }

    fn idle(&mut self) -> Vec<DeviceEvent> {
        match self.open.as_mut() {
            None => self.open(),
            Some(open) => {
                let checked = open.check();
                self.observe(checked.as_ref().err());
            }
        }
        Vec::new()
    }

    fn usb(&mut self, event: &UsbHotplug) {
        match (event, &self.open) {
            (UsbHotplug::Connected(_), None) if !matches!(self.address, CameraAddress::Tcp(_)) => {
                self.open();
            }
            (UsbHotplug::Disconnected(gone), Some(Open::Usb { device, .. }))
                if *gone == device.id =>
            {
                self.open = None;
                self.health = Health::offline(format!(
                    "camera {} was unplugged: plug its USB cable back in",
                    self.name
                ));
            }
            _ => {}
        }
    }
}
