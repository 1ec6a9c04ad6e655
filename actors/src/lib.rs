//! cardhub's actix actors and the supervision tree that keeps them running.
//!
//! ```text
//! Hub
//! ├─ DeviceSupervisor ── one actor per device (printer, reader, camera, ID reader)
//! ├─ Workshop ── ProductionLine actors (each owns its printer/verifier actors)
//! ├─ Branches ── TerminalSession actors (one per connected branch PC)
//! │              └─ RemoteDevice actors (branch devices, driven over that link)
//! ├─ Channels ── BankChannel, SmsCarrier, Logistics, CardholderDb, Police
//! ├─ Notifier ── drains the outbox into channels
//! ├─ StatusBus ── snapshot + deltas to monitoring screens
//! └─ Scheduler ── timed jobs
//! ```
//!
//! Every actor in the tree is started fresh from a factory, restarted with
//! back-off when it fails, and escalates to its parent when it fails too
//! often; the root's escalation ends the process.
//!
//! # Layout
//! - [`supervision`]: the generic machinery (specs, supervisors, back-off,
//!   intensity, status, events). Knows nothing of cardhub's domain.
//! - [`chip`]: card readers, personalisation, the card check and PIN
//!   operations (a reader manager and one actor per reader, in the device
//!   supervisor).
//! - [`workshop`]: production lines and their printers.
//! - [`status`]: the status bus the monitoring wall reads, and the alert
//!   rules.
//! - [`hub`]: cardhub's tree; the `cardhub` binary (in `web/`) calls
//!   [`Hub::start`], serves [`HubHandle::status`] on `/healthz`, and calls
//!   [`HubHandle::shutdown`] on exit.
//!
//! Not here: wire protocols (`cardhub-protocols`), drivers
//! (`cardhub-devices`), persistence (`cardhub-storage`), HTTP (`cardhub-web`).

pub mod chip;
pub mod hub;
pub mod status;
pub mod supervision;
pub mod workshop;

pub use hub::{Hub, HubBuilder, HubHandle, Subtree};
pub use supervision::{SupervisionConfig, TreeExit, TreeStatus};
