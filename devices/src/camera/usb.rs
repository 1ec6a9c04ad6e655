//! [`UsbTransport`]: a real camera's still-image interface (USB class 6,
//! subclass 1, protocol 1: PIMA 15740 bulk-only) through nusb (usbfs on
//! Linux, no libusb), with discovery by vendor and product id
//! ([`list_cameras`], [`UsbSelector`]) and a hot-plug watch
//! ([`UsbWatch`]).
//!
//! **Untested on hardware**: no USB camera is attached where cardhub is
//! built and tested, so this module is compiled but has never moved a
//! photo. What it does follows the USB Still Image Capture Device
//! Definition 1.0 as libgphoto2 applies it:
//! - a container goes out as one bulk-out transfer; when its length is a
//!   multiple of the endpoint's packet size a zero-length packet follows,
//!   so the camera sees where it ends;
//! - a container comes in as bulk-in transfers until its length field is
//!   satisfied (a zero-length packet left over from the previous one is
//!   skipped);
//! - an event is one interrupt-in transfer of at most 24 bytes.
//!
//! Left out: the class requests (Cancel 0x64, Get Device Status 0x67,
//! Device Reset 0x66) — [`PtpTransport::reset`] only clears the endpoints'
//! halts; a camera that stays stuck must be switched off and on. On Linux
//! the user needs write access to `/dev/bus/usb/BBB/DDD` (a udev rule), and
//! no other program (gvfs-gphoto2, a desktop's photo importer) may hold
//! the interface.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use cardhub_protocols::ptp::{Container, ContainerDecoder, Event, HEADER_LEN};
use futures_core::Stream;
use nusb::descriptors::TransferType;
use nusb::hotplug::{HotplugEvent, HotplugWatch};
use nusb::transfer::{Buffer, Bulk, Direction, In, Interrupt, Out, TransferError};
use nusb::{DeviceId, DeviceInfo, Endpoint, Interface, MaybeFuture};
use serde::Deserialize;

use super::transport::{LinkError, PtpTransport};

/// USB class code of a still-image interface.
pub const STILL_IMAGE_CLASS: u8 = 6;

/// Packets requested per bulk-in transfer: 64 packets of 512 bytes (high
/// speed) is 32 KiB per transfer, a photo of tens of KB in a few.
const PACKETS_PER_TRANSFER: usize = 64;

/// The longest event: header and 3 parameters.
const MAX_EVENT_LEN: usize = HEADER_LEN + 3 * 4;

/// Which camera to open, from the branch's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbSelector {
    /// The USB vendor id (`0x04a9` Canon, `0x04b0` Nikon).
    pub vendor_id: u16,
    /// The USB product id of the model.
    pub product_id: u16,
    /// The camera's serial number, when a branch has two of one model.
    #[serde(default)]
    pub serial_number: Option<String>,
}

impl UsbSelector {
    fn matches(&self, info: &DeviceInfo) -> bool {
        info.vendor_id() == self.vendor_id
            && info.product_id() == self.product_id
            && self
                .serial_number
                .as_deref()
                .is_none_or(|s| info.serial_number() == Some(s))
    }
}

/// A camera on the bus, before it is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsbCamera {
    /// The device's id for the hot-plug watch.
    pub id: DeviceId,
    /// The vendor id.
    pub vendor_id: u16,
    /// The product id.
    pub product_id: u16,
    /// What the device calls its maker, if it says.
    pub manufacturer: Option<String>,
    /// What the device calls itself, if it says.
    pub product: Option<String>,
    /// Its serial number, if it says.
    pub serial_number: Option<String>,
    /// The bus and address, for messages (`1-7`).
    pub location: String,
}

impl UsbCamera {
    fn from_info(info: &DeviceInfo) -> Self {
        Self {
            id: info.id(),
            vendor_id: info.vendor_id(),
            product_id: info.product_id(),
            manufacturer: info.manufacturer_string().map(str::to_owned),
            product: info.product_string().map(str::to_owned),
            serial_number: info.serial_number().map(str::to_owned),
            location: format!("{}-{}", info.bus_id(), info.device_address()),
        }
    }
}

fn still_image_interface(info: &DeviceInfo) -> Option<u8> {
    info.interfaces()
        .find(|i| i.class() == STILL_IMAGE_CLASS)
        .map(|i| i.interface_number())
}

/// The devices on the bus that have a still-image interface.
pub fn list_cameras() -> Result<Vec<UsbCamera>, LinkError> {
    let devices = nusb::list_devices()
        .wait()
        .map_err(|e| LinkError::Unavailable(format!("cannot list USB devices: {e}")))?;
    Ok(devices
        .filter(|d| still_image_interface(d).is_some())
        .map(|d| UsbCamera::from_info(&d))
        .collect())
}

/// A USB camera's still-image interface, claimed.
pub struct UsbTransport {
    selector: UsbSelector,
    location: String,
    interface: Interface,
    bulk_in: Endpoint<Bulk, In>,
    bulk_out: Endpoint<Bulk, Out>,
    interrupt: Endpoint<Interrupt, In>,
    /// A zero-length packet may follow a container whose length is a
    /// multiple of the packet size; it is skipped before the next one.
    decoder: ContainerDecoder,
}

impl std::fmt::Debug for UsbTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbTransport")
            .field("peer", &self.peer())
            .finish_non_exhaustive()
    }
}

impl UsbTransport {
    /// Opens the first camera `selector` matches and claims its
    /// still-image interface.
    pub fn open(selector: &UsbSelector) -> Result<Self, LinkError> {
        let unavailable = |what: String| LinkError::Unavailable(what);
        let wanted = format!("USB {:04x}:{:04x}", selector.vendor_id, selector.product_id);
        let info = nusb::list_devices()
            .wait()
            .map_err(|e| unavailable(format!("cannot list USB devices: {e}")))?
            .find(|d| selector.matches(d))
            .ok_or_else(|| unavailable(format!("no {wanted} device is plugged in")))?;
        let number = still_image_interface(&info).ok_or_else(|| {
            unavailable(format!(
                "{wanted} has no still-image (PTP) interface: set the camera's USB mode to PTP"
            ))
        })?;
        let location = format!("{}-{}", info.bus_id(), info.device_address());
        let device = info.open().wait().map_err(|e| {
            unavailable(format!(
                "{wanted} at {location} cannot be opened ({e}): check the udev rule for it"
            ))
        })?;
        let interface = device.claim_interface(number).wait().map_err(|e| {
            unavailable(format!(
                "{wanted} at {location}: interface {number} cannot be claimed ({e}): close other photo programs (gphoto2, gvfs)"
            ))
        })?;
        let (mut bulk_in, mut bulk_out, mut interrupt) = (None, None, None);
        if let Some(descriptor) = interface.descriptor() {
            for ep in descriptor.endpoints() {
                match (ep.transfer_type(), ep.direction()) {
                    (TransferType::Bulk, Direction::In) => bulk_in = Some(ep.address()),
                    (TransferType::Bulk, Direction::Out) => bulk_out = Some(ep.address()),
                    (TransferType::Interrupt, Direction::In) => interrupt = Some(ep.address()),
                    _ => {}
                }
            }
        }
        let missing = |what| {
            unavailable(format!(
                "{wanted}: its still-image interface has no {what} endpoint"
            ))
        };
        let endpoint_error = |e: nusb::Error| unavailable(format!("{wanted}: {e}"));
        let bulk_in = interface
            .endpoint::<Bulk, In>(bulk_in.ok_or_else(|| missing("bulk-in"))?)
            .map_err(endpoint_error)?;
        let bulk_out = interface
            .endpoint::<Bulk, Out>(bulk_out.ok_or_else(|| missing("bulk-out"))?)
            .map_err(endpoint_error)?;
        let interrupt = interface
            .endpoint::<Interrupt, In>(interrupt.ok_or_else(|| missing("interrupt-in"))?)
            .map_err(endpoint_error)?;
        Ok(Self {
            selector: selector.clone(),
            location,
            interface,
            bulk_in,
            bulk_out,
            interrupt,
            decoder: ContainerDecoder::new(),
        })
    }

    /// The claimed interface's number.
    pub fn interface_number(&self) -> u8 {
        self.interface.interface_number()
    }
}

fn transfer_error(e: TransferError, waited: Duration, mid_container: bool) -> LinkError {
    match e {
        TransferError::Cancelled => LinkError::Timeout { waited },
        TransferError::Disconnected => LinkError::Closed {
            mid_container,
            reason: "the camera was unplugged or switched off".to_owned(),
        },
        other => LinkError::from_io(other.into(), waited, mid_container),
    }
}

/// `len` rounded up to whole packets of `packet` bytes (at least one).
fn whole_packets(len: usize, packet: usize) -> usize {
    len.div_ceil(packet).max(1) * packet
}

impl PtpTransport for UsbTransport {
    fn send(&mut self, container: &Container, timeout: Duration) -> Result<(), LinkError> {
        let bytes = container.to_bytes();
        let zero_length_packet = bytes.len().is_multiple_of(self.bulk_out.max_packet_size());
        let done = self
            .bulk_out
            .transfer_blocking(Buffer::from(bytes), timeout);
        done.status.map_err(|e| transfer_error(e, timeout, false))?;
        if zero_length_packet {
            let done = self.bulk_out.transfer_blocking(Buffer::new(0), timeout);
            done.status.map_err(|e| transfer_error(e, timeout, false))?;
        }
        Ok(())
    }

    fn receive(&mut self, timeout: Duration) -> Result<Container, LinkError> {
        let deadline = Instant::now() + timeout;
        let request = self.bulk_in.max_packet_size() * PACKETS_PER_TRANSFER;
        loop {
            if let Some(decoded) = self.decoder.decode() {
                return decoded.map_err(LinkError::Malformed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LinkError::Timeout { waited: timeout });
            }
            let done = self.bulk_in.transfer_blocking(Buffer::new(request), left);
            let mid = self.decoder.buffered() > 0;
            let buffer = done
                .into_result()
                .map_err(|e| transfer_error(e, timeout, mid))?;
            // A zero-length packet ending the previous container.
            if !buffer.is_empty() {
                self.decoder.push(&buffer);
            }
        }
    }

    fn receive_event(&mut self, timeout: Duration) -> Result<Option<Event>, LinkError> {
        let request = whole_packets(MAX_EVENT_LEN, self.interrupt.max_packet_size());
        let done = self
            .interrupt
            .transfer_blocking(Buffer::new(request), timeout);
        let buffer = match done.into_result() {
            Ok(buffer) => buffer,
            Err(TransferError::Cancelled) => return Ok(None),
            Err(e) => return Err(transfer_error(e, timeout, false)),
        };
        let mut cursor = std::io::Cursor::new(&buffer[..]);
        let container = Container::parse(&mut cursor)?;
        Ok(container.as_event())
    }

    fn reset(&mut self) -> Result<(), LinkError> {
        self.decoder.clear();
        let clear = |r: Result<(), nusb::Error>| {
            r.map_err(|e| LinkError::Unavailable(format!("clearing the camera's endpoints: {e}")))
        };
        clear(self.bulk_in.clear_halt().wait())?;
        clear(self.bulk_out.clear_halt().wait())?;
        clear(self.interrupt.clear_halt().wait())
    }

    fn peer(&self) -> String {
        format!(
            "usb://{:04x}:{:04x}@{}",
            self.selector.vendor_id, self.selector.product_id, self.location
        )
    }
}

/// A camera plugged in or out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsbHotplug {
    /// A device with a still-image interface arrived.
    Connected(UsbCamera),
    /// A device left (any device: its id says whether it was a camera).
    Disconnected(DeviceId),
}

/// Cameras coming and going, waited for with a timeout from a plain
/// thread (the actor owning the camera).
pub struct UsbWatch {
    watch: HotplugWatch,
}

impl std::fmt::Debug for UsbWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbWatch").finish_non_exhaustive()
    }
}

/// Wakes the thread waiting in [`UsbWatch::next`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

impl UsbWatch {
    /// Starts watching; devices already plugged in are in
    /// [`list_cameras`] (call it after this, so none is missed).
    pub fn new() -> Result<Self, LinkError> {
        let watch = nusb::watch_devices()
            .map_err(|e| LinkError::Unavailable(format!("cannot watch USB devices: {e}")))?;
        Ok(Self { watch })
    }

    /// The next camera plugged in or device unplugged within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<UsbHotplug> {
        let deadline = Instant::now() + timeout;
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            match Pin::new(&mut self.watch).poll_next(&mut cx) {
                Poll::Ready(Some(HotplugEvent::Connected(info))) => {
                    if still_image_interface(&info).is_some() {
                        return Some(UsbHotplug::Connected(UsbCamera::from_info(&info)));
                    }
                }
                Poll::Ready(Some(HotplugEvent::Disconnected(id))) => {
                    return Some(UsbHotplug::Disconnected(id));
                }
                Poll::Ready(None) => return None,
                Poll::Pending => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    thread::park_timeout(left);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_transfers_are_whole_packets() {
        assert_eq!(whole_packets(24, 64), 64);
        assert_eq!(whole_packets(24, 8), 24);
        assert_eq!(whole_packets(24, 16), 32);
        assert_eq!(whole_packets(0, 512), 512);
    }

    #[test]
    fn a_selector_reads_from_config() {
        let s: UsbSelector =
            toml::from_str("vendor_id = 0x04a9\nproduct_id = 0x32d9").expect("a valid selector");
        assert_eq!(s.vendor_id, 0x04a9);
        assert_eq!(s.serial_number, None);
        assert!(toml::from_str::<UsbSelector>("vendor_id = 1\nproduct_id = 2\nspeed = 3").is_err());
    }
}
