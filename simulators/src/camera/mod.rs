//! The simulated USB camera (证件照相机) of a branch: PTP's responder side
//! served over TCP, the far side of `cardhub_devices::camera::TcpTransport`.
//!
//! ```text
//! hub ══ TCP ══ [simulator] ── ContainerDecoder ── [responder] ── data, response, events ══▶ hub
//!                   │ faults (cut GetObject, slow)      │ picture: the photo each capture takes
//! tests ── RunningCamera (set_faults, set_photo, objects, session_open)
//! ```
//!
//! It shares no memory with the hub: everything goes over the wire. The
//! photo is the centre's ID photo (358 x 441 JPEG, [`crate::photo`]) or, for
//! tests, a wrong one ([`SimPhoto`]).
//!
//! # Layout
//! - [`responder`]: [`CameraResponder`], the camera's side of PTP as a pure
//!   state machine, with its table of answers.
//! - [`picture`]: [`SimPhoto`], [`Picture`].
//! - [`faults`]: [`CameraFaults`] (no ObjectAdded, a transfer cut, slow,
//!   the session dropped).
//! - [`simulator`]: [`start`] → [`RunningCamera`].
//!
//! Its driver is `cardhub_devices::camera`; the codec both share is
//! `cardhub_protocols::ptp`.

pub mod faults;
pub mod picture;
pub mod responder;
pub mod simulator;

pub use faults::CameraFaults;
pub use picture::{Picture, SimPhoto};
pub use responder::{CameraResponder, STORAGE_ID};
pub use simulator::{CameraSimConfig, RunningCamera, start};
