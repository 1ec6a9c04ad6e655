//! The simulated card printer (制卡机): an Evolis-style printer with a
//! contact encoder, speaking `cardhub_protocols::printer` to a hub over a
//! real transport (TCP, or a pseudo-terminal the hub opens as a serial
//! line), with its encoder behind a vpcd reader of the PC/SC test rig.
//!
//! ```text
//! hub ══ TCP / pty ══ [host] ── CommandDecoder ── [machine] ── Reply ══▶ hub
//!                                                    │ effects
//!            [store] ◀── printer.json, faces, finished cards' chips
//! pcscd ── vpcd ══ TCP ══ [coupler] ── CardOs of the card at a station
//! tests ══ TCP ══ [control] (jam, ribbon_out, drop_after, state, ...)
//! ```
//!
//! It shares no memory with the hub: everything goes over the wire. Each
//! card fed is a new blank social security card (the card simulator's
//! operating system); its chip is saved after every change while inside
//! and kept as `<out>/<seq>-<chip id>.card.json` when it leaves, so a test
//! can load what the hub wrote with `CardMemory::load`.
//!
//! The coupler keeps ONE vpcd connection for the simulator's life and
//! answers for whichever card is at a station; vpcd's power-on and reset
//! re-bind it to the card there. The hub therefore reconnects the encoder
//! with a reset (`CardReader::reconnect(true)`) after moving a card to a
//! station, as it must with a real encoder ([`coupler`] has the table).
//!
//! # Layout
//! - [`machine`]: the printer as a pure state machine, its rules and
//!   [`Timing`].
//! - [`face`]: the check of a downloaded panel (PNG, 1016 x 648).
//! - [`faults`]: the host link's faults (drop, garble, slow).
//! - [`store`]: the files on disk and the state file.
//! - `shared`: the state behind the lock and the effects.
//! - `host`: TCP and pty serving; `coupler`: the encoder behind vpcd.
//! - [`control`]: the JSON-lines control channel and [`PrinterControl`].
//! - [`simulator`]: [`PrinterSimulator::start`] → [`RunningPrinter`].
//! - [`cli`]: the entry of `cardhub sim printer`.
//!
//! Its driver is `cardhub_devices::printer`; the card simulator it borrows
//! the chip from is [`crate::card`].

pub mod cli;
pub mod control;
pub mod coupler;
pub mod face;
pub mod faults;
mod host;
pub mod machine;
mod shared;
pub mod simulator;
pub mod store;

pub use control::{ControlError, ControlReply, ControlRequest, PrinterControl, PrinterSnapshot};
pub use faults::{DropAfter, LinkFaults};
pub use machine::{MachineState, PrinterMachine, Timing};
pub use simulator::{
    DEFAULT_CHIP_PREFIX, HostTransport, PrinterSimConfig, PrinterSimError, PrinterSimulator,
    RunningPrinter, ShutdownHandle,
};
