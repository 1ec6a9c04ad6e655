//! The printer's control channel: faults on demand and a look inside,
//! over line-based JSON on a TCP listener (like the card simulator's).
//!
//! ```text
//! → {"cmd":"jam"}
//! ← {"ok":true}
//! → {"cmd":"drop_after","commands":0,"apply_last":true}
//! ← {"ok":true}
//! → {"cmd":"state"}
//! ← {"ok":true,"state":{"state":"CARD_JAM","printer":{"hopper":249,...},...}}
//! ```
//!
//! Requests ([`ControlRequest`]): the printer's faults `jam`,
//! `ribbon_out`, `hopper_empty`, `cover_open`, `cover_close`, `clear` (an
//! operator removed the cause), `refill` (`hopper`, `ribbon`, both
//! optional: full); the link's faults `drop_connection`, `drop_after`
//! (`commands`, `apply_last`), `garble_next`, `slow` (`ms`),
//! `clear_link_faults`; `state`, `wait_coupler` (`connected`,
//! `timeout_ms`), `shutdown`.
//!
//! # Layout
//! - this file: the wire types ([`ControlRequest`], [`ControlReply`],
//!   [`PrinterSnapshot`]).
//! - `server`: the listener inside the simulator.
//! - `client`: [`PrinterControl`], typed methods for tests and scripts.

mod client;
pub(crate) mod server;

use serde::{Deserialize, Serialize};

pub use client::{ControlError, PrinterControl};

use super::faults::LinkFaults;
use super::machine::MachineState;
use super::shared::{HostKind, Inner};

/// The longest `slow` delay accepted, in milliseconds.
pub const MAX_SLOW_MS: u64 = 600_000;

/// One control request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ControlRequest {
    /// A card jams now.
    Jam,
    /// The ribbon is used up (the next print fails).
    RibbonOut,
    /// The hopper is empty (the next feed fails).
    HopperEmpty,
    /// The cover is opened.
    CoverOpen,
    /// The cover is closed.
    CoverClose,
    /// An operator removed the cause of the latched fault (a jammed card
    /// is taken out); the host then clears it with `Scl`.
    Clear,
    /// An operator loads cards and fits a new ribbon.
    Refill {
        /// Cards in the hopper afterwards (full when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hopper: Option<u32>,
        /// Prints on the ribbon afterwards (full when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ribbon: Option<u32>,
    },
    /// Close the host link now.
    DropConnection,
    /// Drop the link during a coming command's exchange.
    DropAfter {
        /// Commands still answered first (0: the next one drops).
        commands: u32,
        /// Whether the dropped command is carried out first.
        #[serde(default)]
        apply_last: bool,
    },
    /// Garble the next reply.
    GarbleNext,
    /// Delay every reply by `ms` milliseconds (0: normal speed).
    Slow {
        /// The delay, at most [`MAX_SLOW_MS`].
        ms: u64,
    },
    /// Disarm the link faults (drop, garble, slow).
    ClearLinkFaults,
    /// Report everything.
    State,
    /// Wait until the coupler is (or is not) connected to vpcd, then
    /// report; an error after `timeout_ms`.
    WaitCoupler {
        /// The state to wait for.
        connected: bool,
        /// How long to wait at most.
        timeout_ms: u64,
    },
    /// Stop the simulator (its process exits when run from the CLI).
    Shutdown,
}

/// One reply line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlReply {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Everything, for `state` and `wait_coupler`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PrinterSnapshot>,
}

impl ControlReply {
    /// Success.
    pub fn ok() -> Self {
        Self {
            ok: true,
            error: None,
            state: None,
        }
    }

    /// Success with a snapshot.
    pub fn with_state(state: PrinterSnapshot) -> Self {
        Self {
            state: Some(state),
            ..Self::ok()
        }
    }

    /// A refusal.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
            state: None,
        }
    }
}

/// Everything about the running printer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrinterSnapshot {
    /// What `Rps` would report first (`READY`, `CARD_JAM`, ...).
    pub state: String,
    /// The persistent state: counts, the card inside, the fault, counters.
    pub printer: MachineState,
    /// Panels downloaded and not yet printed: (letter, bytes).
    pub panels: Vec<(char, usize)>,
    /// The card identification code the chip inside reports (its memory).
    pub chip_in_printer: Option<String>,
    /// The host side.
    pub host: HostSnapshot,
    /// The encoder side.
    pub coupler: CouplerSnapshot,
    /// The armed link faults.
    pub link_faults: LinkFaults,
    /// The state directory.
    pub state_dir: String,
    /// The out directory.
    pub out_dir: String,
    /// The last failure to write a file, if any.
    pub last_error: Option<String>,
}

/// The host side of [`PrinterSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSnapshot {
    /// TCP (listen address) or pty (slave path).
    pub transport: HostKind,
    /// Whether a TCP host is connected (always true for a pty).
    pub connected: bool,
    /// TCP connections accepted so far.
    pub connections: u64,
    /// Commands received so far (bad frames included).
    pub commands: u64,
}

/// The encoder side of [`PrinterSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouplerSnapshot {
    /// vpcd's address, if the printer has an encoder.
    pub vpcd: Option<String>,
    /// Whether vpcd talks to it now (vpcd accepts a connection when pcscd
    /// next polls the slot, so this follows the TCP connection by up to
    /// 400 ms).
    pub connected: bool,
    /// The number of the card the encoder is bound to (after a reset).
    pub bound_card: Option<u64>,
    /// APDUs received so far.
    pub apdus: u64,
    /// vpcd connections made so far (one for the simulator's life unless
    /// vpcd restarted or an APDU found no card).
    pub connections: u64,
}

impl PrinterSnapshot {
    /// A snapshot of the printer.
    pub(crate) fn of(inner: &Inner) -> Self {
        let now = std::time::Instant::now();
        let (state_dir, out_dir) = inner.dirs();
        Self {
            state: inner.machine.printer_state(now).wire().to_owned(),
            printer: inner.state().clone(),
            panels: inner
                .machine
                .panels()
                .map(|(p, n)| (char::from(p.letter()), n))
                .collect(),
            chip_in_printer: inner.chip_memory().map(|m| m.card_id_code.clone()),
            host: HostSnapshot {
                transport: inner.host_kind.clone(),
                connected: inner.host.connected,
                connections: inner.host.connections,
                commands: inner.host.commands,
            },
            coupler: CouplerSnapshot {
                vpcd: inner.vpcd.clone(),
                connected: inner.coupler.connected,
                bound_card: inner.coupler.bound.map(|(seq, _)| seq),
                apdus: inner.coupler.apdus,
                connections: inner.coupler.connections,
            },
            link_faults: inner.link_faults.clone(),
            state_dir: state_dir.display().to_string(),
            out_dir: out_dir.display().to_string(),
            last_error: inner.last_error.clone(),
        }
    }
}
