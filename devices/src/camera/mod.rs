//! USB cameras that speak PTP (证件照相机): the branches take applicants'
//! photos with them. [`PtpTransport`] is the link (the bulk-out, bulk-in and
//! interrupt endpoints of a USB still-image interface), [`Camera`] the
//! driver running the capture flow over any transport, [`PhotoRules`] the
//! centre's check of the photo that comes back.
//!
//! ```text
//! branch actor ── Camera<T> ── Session (cardhub_protocols::ptp) ── T: PtpTransport
//!                                                                  ├─ UsbTransport ══ USB ══ camera
//!                                                                  └─ TcpTransport ══ TCP ══ simulated camera
//! photo bytes ── PhotoRules::check ── PhotoFacts | PhotoRefusal (the rule broken)
//! ```
//!
//! Errors are [`CameraError`]s naming the camera and the operation and
//! saying what to do ("camera not answering: check its USB cable and that
//! it is switched on"); [`CameraError::is_connection_lost`] says the link
//! is reset before the next operation (the driver does it by itself).
//!
//! [`UsbTransport`] is built on nusb and compiled, but **untested on
//! hardware** (no camera is attached where cardhub is tested): see
//! `usb`'s notes.
//!
//! Layout:
//! - `transport`: [`PtpTransport`], [`LinkError`].
//! - `tcp`: [`TcpTransport`], containers over one TCP stream, events
//!   marked by their type.
//! - `usb`: [`UsbTransport`], [`UsbSelector`], [`list_cameras`],
//!   [`UsbWatch`] (hot-plug).
//! - `driver`: [`Camera`], [`CameraOptions`], [`CameraTimeouts`],
//!   [`CapturedPhoto`].
//! - `error`: [`CameraError`], [`advice`].
//! - `photo`: [`PhotoRules`], [`PhotoFacts`], [`PhotoRefusal`].
//! - this file: [`PhotoCamera`] (a local [`Camera`] or a branch
//!   terminal's), [`Photo`], `open_tcp`, `open_usb`.
//!
//! The codec and the session state machine are
//! `cardhub_protocols::ptp`; the simulated camera on the far side of
//! [`TcpTransport`] is `cardhub_simulators::camera`.

mod driver;
mod error;
mod photo;
mod tcp;
mod transport;
mod usb;

pub use driver::{Camera, CameraOptions, CameraTimeouts, CapturedPhoto};
pub use error::{CameraError, advice};
pub use photo::{PhotoFacts, PhotoRefusal, PhotoRules};
pub use tcp::TcpTransport;
pub use transport::{LinkError, PtpTransport};
pub use usb::{
    STILL_IMAGE_CLASS, UsbCamera, UsbHotplug, UsbSelector, UsbTransport, UsbWatch, list_cameras,
};

/// A photo as a camera gave it, before the centre's rules are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Photo {
    /// The camera's file name for it (`IMG_0001.JPG`).
    pub file_name: String,
    /// The file's bytes (check them with [`PhotoRules`]).
    pub bytes: Vec<u8>,
}

/// Anything that takes a photo: a [`Camera`] on a local transport, or a
/// branch terminal's camera (`crate::remote::RemoteCamera`).
pub trait PhotoCamera: Send {
    /// The camera's name.
    fn name(&self) -> &str;
    /// Takes one photo and transfers it.
    fn take_photo(&mut self) -> Result<Photo, CameraError>;
}

impl<T: PtpTransport> PhotoCamera for Camera<T> {
    fn name(&self) -> &str {
        Camera::name(self)
    }

    fn take_photo(&mut self) -> Result<Photo, CameraError> {
        let captured = self.capture()?;
        Ok(Photo {
            file_name: captured.info.filename.clone(),
            bytes: captured.bytes,
        })
    }
}

/// Connects to a camera carried over TCP (`host:port`, the simulator).
pub fn open_tcp(
    name: &str,
    address: &str,
    options: CameraOptions,
) -> Result<Camera<TcpTransport>, CameraError> {
    let transport = TcpTransport::connect(address, options.timeouts.connect()).map_err(|e| {
        CameraError::Unavailable {
            camera: name.to_owned(),
            reason: format!("tcp://{address}: {e}"),
        }
    })?;
    Ok(Camera::new(name, transport, options))
}

/// Opens the USB camera `selector` matches (untested on hardware).
pub fn open_usb(
    name: &str,
    selector: &UsbSelector,
    options: CameraOptions,
) -> Result<Camera<UsbTransport>, CameraError> {
    let transport = UsbTransport::open(selector).map_err(|e| CameraError::Unavailable {
        camera: name.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Camera::new(name, transport, options))
}
