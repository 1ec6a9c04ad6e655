//! The machine's values: what it keeps across restarts ([`MachineState`],
//! the state file's content), the step durations ([`Timing`]), and what a
//! command produces ([`Outcome`] with its [`Effect`]s).

use std::time::Duration;

use cardhub_protocols::printer::{CardPosition, PrinterState, Reply};
use serde::{Deserialize, Serialize};

use super::STATE_FORMAT;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// `Si`: hopper to print head.
    pub feed_ms: u64,
    /// `Sic` / `Sis`: to an encoding station.
    pub move_ms: u64,
    /// `Sp`: printing the panels.
    pub print_ms: u64,
    /// `Sov`: the thick overlay film.
    pub overlay_ms: u64,
    /// `Se` / `Seb` / `Ser`: out of the printer.
    pub eject_ms: u64,
}

impl Timing {
    /// Every step instant (tests, benchmarks).
    pub const fn zero() -> Self {
        Self {
            feed_ms: 0,
            move_ms: 0,
            print_ms: 0,
            overlay_ms: 0,
            eject_ms: 0,
        }
    }

    /// An Evolis Primacy class printer: a colour card through both
    /// stations, printed and overlaid, takes about 26 s in all
    /// (2.5 + 1.5 + 1.5 + 14 + 5 + 2).
    pub const fn realistic() -> Self {
        Self {
            feed_ms: 2_500,
            move_ms: 1_500,
            print_ms: 14_000,
            overlay_ms: 5_000,
            eject_ms: 2_000,
        }
    }

    /// `zero` or `realistic`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "zero" => Some(Self::zero()),
            "realistic" => Some(Self::realistic()),
            _ => None,
        }
    }
}

/// A fault that stays until an operator removes its cause and the host
/// clears it (`Scl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A card is stuck.
    Jam,
    /// The ribbon is used up.
    RibbonOut,
    /// The hopper has no card.
    HopperEmpty,
}

impl FaultKind {
    /// The state it puts the printer in.
    pub fn state(self) -> PrinterState {
        match self {
            Self::Jam => PrinterState::CardJam,
            Self::RibbonOut => PrinterState::RibbonOut,
            Self::HopperEmpty => PrinterState::HopperEmpty,
        }
    }
}

/// The latched fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// What went wrong.
    pub kind: FaultKind,
    /// Whether an operator has removed the cause (then `Scl` clears it).
    pub resolved: bool,
}

/// Where a card inside the printer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// At the print head.
    PrintHead,
    /// At the contact encoder.
    Contact,
    /// At the contactless encoder.
    Contactless,
}

impl Place {
    /// As `Rlr;p` reports it.
    pub fn position(self) -> CardPosition {
        match self {
            Self::PrintHead => CardPosition::InPrinter,
            Self::Contact => CardPosition::Contact,
            Self::Contactless => CardPosition::Contactless,
        }
    }
}

/// The card inside the printer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardInside {
    /// The card's number in this printer's life (1 is the first fed).
    pub seq: u64,
    /// Its chip's card identification code.
    pub chip_id: String,
    /// Where it is.
    pub place: Place,
    /// How often it moved (an encoder session belongs to one stay at a
    /// station: the coupler compares this).
    pub moves: u64,
    /// Whether its face was printed.
    pub printed: bool,
    /// Whether the overlay film was applied.
    pub overlaid: bool,
}

/// Counts over the printer's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Counters {
    /// Cards fed.
    pub fed: u64,
    /// Faces printed.
    pub printed: u64,
    /// Overlays applied.
    pub overlaid: u64,
    /// Cards ejected (output hopper or bezel).
    pub ejected: u64,
    /// Cards rejected.
    pub rejected: u64,
    /// Jammed cards an operator took out.
    pub removed: u64,
}

/// Everything the printer keeps across restarts (the state file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineState {
    /// Layout version, [`STATE_FORMAT`].
    pub format: u32,
    /// Blank cards in the hopper.
    pub hopper: u32,
    /// Prints left on the ribbon.
    pub ribbon: u32,
    /// The card inside, if any.
    pub card: Option<CardInside>,
    /// The latched fault, if any.
    pub fault: Option<Fault>,
    /// Whether the cover is open.
    pub cover_open: bool,
    /// The next card's number.
    pub next_seq: u64,
    /// The next chip's counter (the digits after the chip prefix).
    pub next_chip: u64,
    /// Counts.
    pub counters: Counters,
}

impl MachineState {
    /// A new printer: full hopper and ribbon unless told otherwise.
    pub fn new(hopper: u32, ribbon: u32) -> Self {
        Self {
            format: STATE_FORMAT,
            hopper,
            ribbon,
            card: None,
            fault: None,
            cover_open: false,
            next_seq: 1,
            next_chip: 1,
            counters: Counters::default(),
        }
    }
}

/// Where a card went when it left the printer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// `Se`: the output hopper.
    Output,
    /// `Seb`: the bezel.
    Bezel,
    /// `Ser`: the reject bin.
    Reject,
    /// An operator took a jammed card out by hand.
    Removed,
}

/// What the simulator around the machine must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A blank card entered: give it a new chip with this code.
    CardFed {
        /// The card's number.
        seq: u64,
        /// Its chip's card identification code.
        chip_id: String,
    },
    /// A face was printed: these are the panel's PNG bytes.
    FacePrinted {
        /// The card's number.
        seq: u64,
        /// Its chip's code.
        chip_id: String,
        /// The PNG.
        png: Vec<u8>,
    },
    /// The card left the printer.
    CardOut {
        /// The card.
        card: CardInside,
        /// Where to.
        exit: Exit,
    },
}

/// The outcome of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The reply, sent when the step is over.
    pub reply: Reply,
    /// How long the step takes before the reply.
    pub duration: Duration,
    /// What the simulator must do (in order).
    pub effects: Vec<Effect>,
}

impl Outcome {
    pub(super) fn reply(reply: Reply) -> Self {
        Self {
            reply,
            duration: Duration::ZERO,
            effects: Vec::new(),
        }
    }

    pub(super) fn ok_after(ms: u64) -> Self {
        Self {
            reply: Reply::Ok,
            duration: Duration::from_millis(ms),
            effects: Vec::new(),
        }
    }

    pub(super) fn with(mut self, effect: Effect) -> Self {
        self.effects.push(effect);
        self
    }
}
