//! [`CameraFaults`]: what can be made to go wrong on demand, for tests of
//! the hub's error paths. Set them on a running camera with
//! [`super::RunningCamera::set_faults`].

/// Faults of the simulated camera.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CameraFaults {
    /// Captures announce no `ObjectAdded` (the photo is stored all the
    /// same; `CaptureComplete` still comes). Stays until cleared.
    pub no_object_added: bool,
    /// The next `GetObject`'s data container is cut after half its bytes
    /// and the connection dropped, as a cable pulled mid-transfer. Once.
    pub disconnect_mid_transfer: bool,
    /// Extra delay before every answer, in milliseconds (a camera busy
    /// focusing, or a slow USB hub). Stays until cleared.
    pub slow_ms: u64,
    /// The camera closes its session by itself before the next command
    /// (its power saving), which is then answered `SessionNotOpen`. Once.
    pub drop_session: bool,
}
