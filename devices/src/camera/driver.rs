//! [`Camera`]: the capture flow over any [`PtpTransport`], one transaction
//! at a time, with [`cardhub_protocols::ptp::Session`] keeping the
//! transaction ids and matching answers.
//!
//! [`Camera::capture`]: `OpenSession` → `InitiateCapture` → event
//! `ObjectAdded(handle)` → `GetObjectInfo` → `GetObject` → `DeleteObject`
//! → `CloseSession`. The session is closed whatever happened, unless the
//! link itself failed. After a timeout or a lost link the driver resets
//! the transport before its next operation (a late answer must never be
//! read as the answer to the next command), and the camera's session is
//! then gone.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use cardhub_protocols::ptp::{
    Completed, Container, DeviceInfo, EventCode, ObjectFormat, ObjectInfo, OperationCode, Progress,
    ResponseCode, Session, SessionError, parse_u32_array,
};
use serde::Deserialize;

use super::error::CameraError;
use super::transport::{LinkError, PtpTransport};

/// How long a camera that reported the capture complete without a new
/// photo still gets for its `ObjectAdded`: ISO 15740 sends it first, but
/// some cameras send their events out of order.
const LATE_OBJECT_GRACE: Duration = Duration::from_secs(1);

/// How long each step may take, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraTimeouts {
    /// Making the connection (TCP) or opening the device (USB): 5 s.
    pub connect_ms: u64,
    /// A command's answer, data included, for everything but the photo
    /// itself: 5 s.
    pub command_ms: u64,
    /// From `InitiateCapture` to the `ObjectAdded` event: 15 s (a camera
    /// focusing in poor light takes seconds).
    pub capture_ms: u64,
    /// `GetObject`, the photo's transfer: 30 s.
    pub transfer_ms: u64,
}

impl Default for CameraTimeouts {
    fn default() -> Self {
        Self {
            connect_ms: 5_000,
            command_ms: 5_000,
            capture_ms: 15_000,
            transfer_ms: 30_000,
        }
    }
}

impl CameraTimeouts {
    /// Every timeout set to `ms` (tests that want short waits).
    pub fn all(ms: u64) -> Self {
        Self {
            connect_ms: ms,
            command_ms: ms,
            capture_ms: ms,
            transfer_ms: ms,
        }
    }

    /// The connect timeout.
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }

    fn command(&self) -> Duration {
        Duration::from_millis(self.command_ms)
    }

    fn capture(&self) -> Duration {
        Duration::from_millis(self.capture_ms)
    }

    fn transfer(&self) -> Duration {
        Duration::from_millis(self.transfer_ms)
    }
}

/// What a camera driver is configured with besides its transport.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraOptions {
    /// Per-step timeouts.
    pub timeouts: CameraTimeouts,
    /// Whether the photo is deleted from the camera once downloaded (true:
    /// applicants' photos do not stay on a memory card).
    pub delete_after_download: bool,
    /// The largest photo downloaded, in bytes (16 MB): a camera set to
    /// RAW or its largest size is refused before its transfer.
    pub max_object_bytes: u32,
}

impl Default for CameraOptions {
    fn default() -> Self {
        Self {
            timeouts: CameraTimeouts::default(),
            delete_after_download: true,
            max_object_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A photo taken and downloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedPhoto {
    /// Its handle on the camera (gone if it was deleted).
    pub handle: u32,
    /// What the camera said about it.
    pub info: ObjectInfo,
    /// The file's bytes (check them with [`super::PhotoRules`]).
    pub bytes: Vec<u8>,
}

impl CapturedPhoto {
    /// The format the camera gave it.
    pub fn format(&self) -> ObjectFormat {
        self.info.object_format
    }
}

/// A PTP camera driven over a transport.
pub struct Camera<T: PtpTransport> {
    name: String,
    transport: T,
    session: Session,
    options: CameraOptions,
    /// Whether the transport must be reset before the next operation.
    link_in_doubt: bool,
}

impl<T: PtpTransport> std::fmt::Debug for Camera<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("name", &self.name)
            .field("peer", &self.transport.peer())
            .field("session", &self.session.state())
            .finish()
    }
}

impl<T: PtpTransport> Camera<T> {
    /// A driver over a connected transport; nothing is sent yet.
    pub fn new(name: &str, transport: T, options: CameraOptions) -> Self {
        Self {
            name: name.to_owned(),
            transport,
            session: Session::new(),
            options,
            link_in_doubt: false,
        }
    }

    /// The camera's name in the branch's configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a session is open.
    pub fn is_session_open(&self) -> bool {
        self.session.is_open()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// `GetDeviceInfo`: who the camera is and what it can do.
    pub fn device_info(&mut self) -> Result<DeviceInfo, CameraError> {
        let op = OperationCode::GetDeviceInfo;
        let data = self.data_in(op, &[], self.options.timeouts.command())?;
        DeviceInfo::parse(&data).map_err(|e| self.protocol(op, e.to_string()))
    }

    /// `GetDeviceInfo`, refusing a camera that cannot be triggered.
    pub fn check_supported(&mut self) -> Result<DeviceInfo, CameraError> {
        let info = self.device_info()?;
        for missing in [
            OperationCode::OpenSession,
            OperationCode::InitiateCapture,
            OperationCode::GetObjectInfo,
            OperationCode::GetObject,
        ] {
            if !info.supports(missing) {
                return Err(CameraError::Unsupported {
                    camera: self.name.clone(),
                    model: format!("{} {}", info.manufacturer, info.model),
                    missing,
                });
            }
        }
        Ok(info)
    }

    /// `OpenSession`. A camera that answers `SessionAlreadyOpened` (left
    /// open by an earlier run) is taken as open, as libgphoto2 does.
    pub fn open_session(&mut self) -> Result<(), CameraError> {
        let op = OperationCode::OpenSession;
        self.prepare()?;
        let command = self
            .session
            .open(NonZeroU32::MIN, Instant::now())
            .map_err(|e| self.protocol(op, e.to_string()))?;
        let done = self.exchange(op, command, self.options.timeouts.command())?;
        match done.response {
            ResponseCode::Ok | ResponseCode::SessionAlreadyOpened => Ok(()),
            response => Err(self.refused(op, response)),
        }
    }

    /// `CloseSession` (nothing when none is open).
    pub fn close_session(&mut self) -> Result<(), CameraError> {
        if !self.session.is_open() {
            return Ok(());
        }
        let op = OperationCode::CloseSession;
        self.prepare()?;
        let command = self
            .session
            .close(Instant::now())
            .map_err(|e| self.protocol(op, e.to_string()))?;
        let done = self.exchange(op, command, self.options.timeouts.command())?;
        self.expect_ok(&done)
    }

    /// `GetStorageIDs`: the camera's memory cards.
    pub fn storage_ids(&mut self) -> Result<Vec<u32>, CameraError> {
        let op = OperationCode::GetStorageIDs;
        let data = self.data_in(op, &[], self.options.timeouts.command())?;
        parse_u32_array("StorageIDs", &data).map_err(|e| self.protocol(op, e.to_string()))
    }

    /// `GetObjectHandles(storage, 0, 0)`: the objects on a storage
    /// ([`cardhub_protocols::ptp::ALL`] for every storage).
    pub fn object_handles(&mut self, storage_id: u32) -> Result<Vec<u32>, CameraError> {
        let op = OperationCode::GetObjectHandles;
        let data = self.data_in(op, &[storage_id, 0, 0], self.options.timeouts.command())?;
        parse_u32_array("ObjectHandles", &data).map_err(|e| self.protocol(op, e.to_string()))
    }

    /// `GetObjectInfo(handle)`.
    pub fn object_info(&mut self, handle: u32) -> Result<ObjectInfo, CameraError> {
        let op = OperationCode::GetObjectInfo;
        let data = self.data_in(op, &[handle], self.options.timeouts.command())?;
        ObjectInfo::parse(&data).map_err(|e| self.protocol(op, e.to_string()))
    }

    /// `GetObject(handle)`: the file's bytes.
    pub fn object(&mut self, handle: u32) -> Result<Vec<u8>, CameraError> {
        self.data_in(
            OperationCode::GetObject,
            &[handle],
            self.options.timeouts.transfer(),
        )
    }

    /// `DeleteObject(handle)`.
    pub fn delete_object(&mut self, handle: u32) -> Result<(), CameraError> {
        let done = self.transact(
            OperationCode::DeleteObject,
            &[handle, 0],
            self.options.timeouts.command(),
        )?;
        self.expect_ok(&done)
    }

    /// `InitiateCapture(0, 0)`: the camera takes a photo on its default
    /// storage in its default format; the photo is announced by an
    /// `ObjectAdded` event ([`Camera::wait_for_new_object`]).
    pub fn initiate_capture(&mut self) -> Result<(), CameraError> {
        let done = self.transact(
            OperationCode::InitiateCapture,
            &[0, 0],
            self.options.timeouts.command(),
        )?;
        self.expect_ok(&done)
    }

    /// Waits up to `timeout` for an `ObjectAdded` event and returns its
    /// handle; other events are passed over.
    pub fn wait_for_new_object(&mut self, timeout: Duration) -> Result<u32, CameraError> {
        let op = OperationCode::InitiateCapture;
        let started = Instant::now();
        let mut deadline = started + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CameraError::NoPhoto {
                    camera: self.name.clone(),
                    waited: started.elapsed(),
                });
            }
            let event = match self.transport.receive_event(left) {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(e) => return Err(self.link_failed(op, e)),
            };
            match event.code {
                EventCode::ObjectAdded => match event.params.get(0) {
                    Some(handle) => return Ok(handle),
                    None => {
                        return Err(self.protocol(op, "ObjectAdded without a handle".to_owned()));
                    }
                },
                EventCode::CaptureComplete => {
                    deadline = deadline.min(Instant::now() + LATE_OBJECT_GRACE);
                }
                other => tracing::debug!(camera = %self.name, event = %other, "event passed over"),
            }
        }
    }

    /// Takes a photo and downloads it: the whole capture flow, the session
    /// opened and closed around it.
    pub fn capture(&mut self) -> Result<CapturedPhoto, CameraError> {
        if !self.session.is_open() {
            self.open_session()?;
        }
        let taken = self.capture_in_session();
        let closed = match &taken {
            Err(e) if e.is_connection_lost() => Ok(()),
            _ => self.close_session(),
        };
        let photo = taken?;
        if let Err(e) = closed {
            tracing::warn!(camera = %self.name, error = %e, "the photo was taken but the session did not close");
        }
        Ok(photo)
    }

    fn capture_in_session(&mut self) -> Result<CapturedPhoto, CameraError> {
        self.drain_events()?;
        self.initiate_capture()?;
        let handle = self.wait_for_new_object(self.options.timeouts.capture())?;
        let info = self.object_info(handle)?;
        if info.compressed_size > self.options.max_object_bytes {
            return Err(CameraError::TooLarge {
                camera: self.name.clone(),
                size: info.compressed_size,
                limit: self.options.max_object_bytes,
            });
        }
        let bytes = self.object(handle)?;
        if bytes.len() != info.compressed_size as usize {
            tracing::warn!(
                camera = %self.name,
                announced = info.compressed_size,
                received = bytes.len(),
                "the photo's size is not the one its ObjectInfo gave"
            );
        }
        if self.options.delete_after_download
            && let Err(e) = self.delete_object(handle)
        {
            if e.is_connection_lost() {
                return Err(e);
            }
            tracing::warn!(camera = %self.name, error = %e, "the photo stays on the camera");
        }
        Ok(CapturedPhoto {
            handle,
            info,
            bytes,
        })
    }

    /// Drops events left from before (an earlier capture's), so the next
    /// `ObjectAdded` is this capture's.
    fn drain_events(&mut self) -> Result<(), CameraError> {
        loop {
            match self.transport.receive_event(Duration::ZERO) {
                Ok(Some(event)) => {
                    tracing::debug!(camera = %self.name, event = %event.code, "stale event dropped");
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.link_failed(OperationCode::InitiateCapture, e)),
            }
        }
    }

    /// Resets the transport if the last operation left it in doubt.
    fn prepare(&mut self) -> Result<(), CameraError> {
        if self.link_in_doubt {
            self.transport
                .reset()
                .map_err(|e| CameraError::Unavailable {
                    camera: self.name.clone(),
                    reason: format!("{} ({e})", self.transport.peer()),
                })?;
            self.session.reset();
            self.link_in_doubt = false;
        }
        Ok(())
    }

    /// One transaction without outgoing data.
    fn transact(
        &mut self,
        op: OperationCode,
        params: &[u32],
        timeout: Duration,
    ) -> Result<Completed, CameraError> {
        self.prepare()?;
        let command = self
            .session
            .command(op, params, Instant::now())
            .map_err(|e| self.session_refused(op, e))?;
        self.exchange(op, command, timeout)
    }

    /// One transaction whose answer must be `Ok` with data.
    fn data_in(
        &mut self,
        op: OperationCode,
        params: &[u32],
        timeout: Duration,
    ) -> Result<Vec<u8>, CameraError> {
        let done = self.transact(op, params, timeout)?;
        self.expect_ok(&done)?;
        done.data
            .ok_or_else(|| self.protocol(op, "Ok without the data phase".to_owned()))
    }

    /// Sends `command` and reads until its response.
    fn exchange(
        &mut self,
        op: OperationCode,
        command: Container,
        timeout: Duration,
    ) -> Result<Completed, CameraError> {
        if let Err(e) = self.transport.send(&command, timeout) {
            return Err(self.link_failed(op, e));
        }
        loop {
            let deadline = self
                .session
                .deadline(timeout)
                .expect("a transaction is outstanding until its response");
            let left = deadline.saturating_duration_since(Instant::now());
            let container = match self.transport.receive(left) {
                Ok(container) => container,
                // The whole wait, not the rest left after a data phase.
                Err(LinkError::Timeout { .. }) => {
                    return Err(self.link_failed(op, LinkError::Timeout { waited: timeout }));
                }
                Err(e) => return Err(self.link_failed(op, e)),
            };
            match self.session.receive(container, Instant::now()) {
                Ok(Progress::Data { .. }) => continue,
                Ok(Progress::Done(done)) => return Ok(done),
                Err(e) => {
                    self.link_in_doubt = true;
                    return Err(self.protocol(op, e.to_string()));
                }
            }
        }
    }

    fn expect_ok(&self, done: &Completed) -> Result<(), CameraError> {
        if done.is_ok() {
            Ok(())
        } else {
            Err(self.refused(done.operation, done.response))
        }
    }

    fn refused(&self, operation: OperationCode, response: ResponseCode) -> CameraError {
        CameraError::Refused {
            camera: self.name.clone(),
            operation,
            response,
        }
    }

    fn protocol(&self, operation: OperationCode, reason: String) -> CameraError {
        CameraError::Protocol {
            camera: self.name.clone(),
            operation,
            reason,
        }
    }

    /// The session refused to build a command: as the camera would have.
    fn session_refused(&self, operation: OperationCode, e: SessionError) -> CameraError {
        match e {
            SessionError::NotOpen { .. } => self.refused(operation, ResponseCode::SessionNotOpen),
            other => self.protocol(operation, other.to_string()),
        }
    }

    /// The link failed during `operation`: it is reset before the next.
    fn link_failed(&mut self, operation: OperationCode, e: LinkError) -> CameraError {
        self.link_in_doubt = true;
        self.session.reset();
        let camera = self.name.clone();
        match e {
            LinkError::Timeout { waited } => CameraError::NotAnswering {
                camera,
                operation,
                waited,
            },
            LinkError::Closed {
                mid_container,
                reason,
            } => CameraError::Disconnected {
                camera,
                operation,
                mid_transfer: mid_container,
                reason,
            },
            LinkError::Malformed(e) => CameraError::Protocol {
                camera,
                operation,
                reason: e.to_string(),
            },
            LinkError::Unavailable(reason) => CameraError::Unavailable { camera, reason },
            LinkError::Io(e) => CameraError::Disconnected {
                camera,
                operation,
                mid_transfer: false,
                reason: e.to_string(),
            },
        }
    }
}
