//! The Picture Transfer Protocol (PTP, ISO 15740) that the branches' USB
//! cameras speak: a pure codec and the initiator's session state machine,
//! no I/O, no clock. Codes and layouts are ISO 15740's as libgphoto2's
//! `ptp.h`/`ptp.c` implement them; all integers are little-endian.
//!
//! ```text
//!  hub (initiator)                                  camera (responder)
//!  Session::command ─ Container::to_bytes ─ bulk-out ─▶ Container::parse
//!  Session::receive ◀─ ContainerDecoder ◀── bulk-in ─── data, response
//!  (events)         ◀─ Container::parse ◀── interrupt ─ ObjectAdded, CaptureComplete
//! ```
//!
//! A capture: `OpenSession` → `InitiateCapture` → event `ObjectAdded(handle)`
//! → `GetObjectInfo(handle)` ([`ObjectInfo`]) → `GetObject(handle)` (the
//! JPEG) → `DeleteObject(handle)` → `CloseSession`.
//!
//! # Layout
//! - [`codes`]: [`OperationCode`], [`ResponseCode`], [`EventCode`],
//!   [`ObjectFormat`], each with `Other(u16)` for unnamed codes.
//! - [`container`]: [`Container`], its encoding, the two-step
//!   `check`/`parse` with [`ContainerError`].
//! - [`decoder`]: [`ContainerDecoder`] for a byte stream.
//! - [`dataset`]: integers, arrays and PTP strings inside datasets,
//!   [`DatasetError`].
//! - [`object_info`]: [`ObjectInfo`]; [`device_info`]: [`DeviceInfo`].
//! - [`session`]: [`Session`], transaction ids and the matching of data
//!   and responses to the outstanding transaction.
//!
//! Neighbours: `cardhub_devices::camera` drives a camera with these over
//! USB (nusb) or TCP; `cardhub_simulators::camera` answers them as a
//! camera would.

pub mod codes;
pub mod container;
pub mod dataset;
pub mod decoder;
pub mod device_info;
pub mod object_info;
pub mod session;

#[cfg(test)]
mod tests;

pub use codes::{DataPhase, EventCode, ObjectFormat, OperationCode, ResponseCode};
pub use container::{
    CheckError, Container, ContainerError, ContainerKind, Event, HEADER_LEN, MAX_CONTAINER_LEN,
    MAX_EVENT_PARAMS, MAX_PARAMS, Params,
};
pub use dataset::{DatasetError, parse_u32_array, u32_array_bytes};
pub use decoder::ContainerDecoder;
pub use device_info::DeviceInfo;
pub use object_info::ObjectInfo;
pub use session::{Completed, Progress, Session, SessionError, SessionState};

/// The storage id meaning "all storages" in `GetObjectHandles` and
/// "all objects" as a handle in `DeleteObject`.
pub const ALL: u32 = 0xFFFF_FFFF;
