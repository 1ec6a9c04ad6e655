//! The hub's side of the branch terminals' link, `GET /ws/terminal`
//! (protocol version 1, `docs/terminal-protocol.md`): a branch PC running
//! `cardhub terminal` authenticates with its registered SM2 key, lists its
//! devices, reports their events, takes the hub's device commands and
//! pushes, and resumes its session after a cut.
//!
//! ```text
//!  remote device drivers ── links().request ──► TerminalLink ──► send queue ─┐
//!  (cardhub_devices::remote, on device threads;   ▲ response                  ▼
//!   the probe endpoint)                           └──────────── socket task (one per connection)
//!  TerminalSessions::push ──► Table (outbox, inbox, devices) ◄──┘   │
//!                                   └── status bus (terminal and device entities)
//! ```
//!
//! # Layout
//! - [`config`]: the `[terminal]` settings.
//! - [`table`]: the sessions as a plain state machine (resume, outbox,
//!   inbox, devices, expiry), no I/O.
//! - [`sessions`]: [`TerminalSessions`], the shared state behind a mutex,
//!   the push API, status publishing, prepared keys.
//! - [`link`]: [`link::TerminalLink`], one connection's
//!   `cardhub_devices::remote::RemoteLink`: requests and their responses.
//! - [`socket`]: the endpoint and the connection task.
//! - `status`: how terminals and devices look on the wall.
//!
//! Not here: the protocol's types, authentication arithmetic and delivery
//! state machines (`cardhub_protocols::terminal`), the remote device
//! drivers (`cardhub_devices::remote`), the registrations
//! (`cardhub_storage::terminals`), the HTTP routes (`routes::terminals`),
//! the branch PC's side (`cardhub terminal`).

#[cfg(test)]
mod alloc_meter;
pub mod config;
pub mod link;
pub mod sessions;
pub mod socket;
mod status;
pub mod table;

pub use config::TerminalConfig;
pub use sessions::{PushError, TerminalSessions};
pub use table::{SessionView, TerminalDevice};
