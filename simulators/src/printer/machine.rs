//! The printer as a pure state machine: [`PrinterMachine::handle`] takes a
//! decoded command and the current time and returns the reply, how long
//! the step takes, and what the simulator around it must do
//! ([`Effect`]s: a new blank card's chip, a face to write, a card that
//! left). No I/O, no clock.
//!
//! What it keeps ([`MachineState`], saved by the simulator after every
//! change): the hopper and ribbon counts, the card inside and where it is,
//! the latched fault, the cover, the counters that number cards and chips.
//! What it forgets on a restart: downloaded panels, the setup, a step in
//! progress.
//!
//! # Rules (a command that makes no sense is refused as a printer would)
//!
//! | situation | reply |
//! | --- | --- |
//! | cover open | anything but `Rps`/`Scl`: `ERR;COVER_OPEN`; `Scl`: `ERR;COVER_OPEN` until closed |
//! | a fault latched (jam, ribbon out, hopper empty) | anything but `Rps`/`Scl`: `ERR;<fault>`; `Scl`: `ERR;<fault>` until an operator removed the cause, then `OK` |
//! | a step in progress | `Rps` says `PRINTING`; other queries answer; anything else `ERR;BUSY` |
//! | `Si` with a card inside | `ERR;BUSY` (eject or reject it first) |
//! | `Si` with the hopper empty | latches `HOPPER_EMPTY` |
//! | `Sic`, `Sis`, `Sp`, `Sov`, `Se`, `Seb`, `Ser` without a card | `ERR;NO_CARD` |
//! | `Sp` with no panel, or a panel that is not a 1016 x 648 PNG | `ERR;BAD_DATA` |
//! | `Sp` with the ribbon used up | latches `RIBBON_OUT` |

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cardhub_protocols::printer::{
    CardPosition, Command, ErrorCode, Panel, PrinterInfo, PrinterState, Reply, StatusReport,
};
use serde::{Deserialize, Serialize};

use super::face;

/// Version of the state file layout.
pub const STATE_FORMAT: u32 = 1;

/// Cards a full hopper holds (Evolis Primacy class: 100-200; the centre's
/// high-capacity feeders hold 250).
pub const HOPPER_CAPACITY: u32 = 250;

/// Prints a new ribbon holds (a YMCKO ribbon: 200-300; cardhub's
/// simulated roll is long so tests and benchmarks rarely refill).
pub const RIBBON_CAPACITY: u32 = 500;

/// The length of a card identification code (卡识别码).
const CHIP_ID_LEN: usize = 16;

/// How long each step takes, in milliseconds (the reply comes after it).
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
    fn reply(reply: Reply) -> Self {
        Self {
            reply,
            duration: Duration::ZERO,
            effects: Vec::new(),
        }
    }

    fn ok_after(ms: u64) -> Self {
        Self {
            reply: Reply::Ok,
            duration: Duration::from_millis(ms),
            effects: Vec::new(),
        }
    }

    fn with(mut self, effect: Effect) -> Self {
        self.effects.push(effect);
        self
    }
}

/// What is fixed for a machine's life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// Step durations.
    pub timing: Timing,
    /// The leading hex digits of every chip's code; the counter fills the
    /// rest of the 16 characters.
    pub chip_prefix: String,
    /// What `Rinf` answers.
    pub info: PrinterInfo,
}

/// The printer.
#[derive(Debug)]
pub struct PrinterMachine {
    config: MachineConfig,
    state: MachineState,
    panels: BTreeMap<Panel, Vec<u8>>,
    busy_until: Option<Instant>,
    revision: u64,
}

impl PrinterMachine {
    /// A machine in `state` (new or loaded from the state file).
    pub fn new(config: MachineConfig, state: MachineState) -> Self {
        Self {
            config,
            state,
            panels: BTreeMap::new(),
            busy_until: None,
            revision: 0,
        }
    }

    /// What is kept across restarts.
    pub fn state(&self) -> &MachineState {
        &self.state
    }

    /// Bumped on every change of [`PrinterMachine::state`] (the simulator
    /// saves when it moved).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The panels downloaded and not yet printed, with their sizes.
    pub fn panels(&self) -> impl Iterator<Item = (Panel, usize)> + '_ {
        self.panels.iter().map(|(p, d)| (*p, d.len()))
    }

    /// Whether a step is still in progress at `now`.
    pub fn is_busy(&self, now: Instant) -> bool {
        self.busy_until.is_some_and(|until| now < until)
    }

    /// The state `Rps` reports at `now`.
    pub fn printer_state(&self, now: Instant) -> PrinterState {
        if self.state.cover_open {
            PrinterState::CoverOpen
        } else if let Some(fault) = self.state.fault {
            fault.kind.state()
        } else if self.is_busy(now) {
            PrinterState::Printing
        } else {
            PrinterState::Ready
        }
    }

    /// The status line at `now`.
    pub fn status(&self, now: Instant) -> StatusReport {
        StatusReport {
            state: self.printer_state(now),
            hopper: Some(self.state.hopper),
            ribbon_left: Some(self.state.ribbon),
            card: self.card_position(),
        }
    }

    /// Where the card is.
    pub fn card_position(&self) -> CardPosition {
        self.state
            .card
            .as_ref()
            .map_or(CardPosition::None, |c| c.place.position())
    }

    /// Carries out one command at `now`.
    pub fn handle(&mut self, command: &Command, now: Instant) -> Outcome {
        let outcome = self.decide(command, now);
        if !outcome.duration.is_zero() {
            self.busy_until = Some(now + outcome.duration);
        }
        outcome
    }

    fn decide(&mut self, command: &Command, now: Instant) -> Outcome {
        if let Command::ReadStatus = command {
            return Outcome::reply(Reply::Value(self.status(now).to_wire()));
        }
        if let Command::ClearError = command {
            return Outcome::reply(self.clear_error());
        }
        if let Some(refusal) = self.stopped_by() {
            return Outcome::reply(Reply::refuse(refusal));
        }
        match command {
            Command::ReadCardPosition => {
                return Outcome::reply(Reply::Value(self.card_position().wire().to_owned()));
            }
            Command::ReadRibbonCount => {
                return Outcome::reply(Reply::Value(self.state.ribbon.to_string()));
            }
            Command::ReadInfo => {
                return Outcome::reply(Reply::Value(self.config.info.to_wire()));
            }
            _ => {}
        }
        if self.is_busy(now) {
            return Outcome::reply(Reply::error(
                ErrorCode::Busy,
                "busy with the previous step: wait for its reply, or ask Rps",
            ));
        }
        match command {
            Command::SetErrorMode(_)
            | Command::SetInsertion(_)
            | Command::SetEjection(_)
            | Command::SetHoldAfterPrint(_)
            | Command::SetRibbon(_) => Outcome::reply(Reply::Ok),
            Command::StartSequence => {
                self.panels.clear();
                Outcome::reply(Reply::Ok)
            }
            Command::DownloadPanel { panel, data } => {
                self.panels.insert(*panel, data.clone());
                Outcome::reply(Reply::Ok)
            }
            Command::Insert => self.feed(),
            Command::MoveTo(station) => {
                let place = match station.position() {
                    CardPosition::Contactless => Place::Contactless,
                    _ => Place::Contact,
                };
                self.with_card(|m| m.move_card(place))
            }
            Command::Print => self.with_card(Self::print),
            Command::Overlay => self.with_card(Self::overlay),
            Command::Eject => self.with_card(|m| m.card_out(Exit::Output)),
            Command::EjectToBezel => self.with_card(|m| m.card_out(Exit::Bezel)),
            Command::Reject => self.with_card(|m| m.card_out(Exit::Reject)),
            other => Outcome::reply(Reply::error(
                ErrorCode::BadCommand,
                format!("{} is not handled by this printer", other.name()),
            )),
        }
    }

    /// The code every command but `Rps`/`Scl` is refused with, if any.
    fn stopped_by(&self) -> Option<ErrorCode> {
        if self.state.cover_open {
            return Some(ErrorCode::CoverOpen);
        }
        self.state.fault.and_then(|f| f.kind.state().error_code())
    }

    fn clear_error(&mut self) -> Reply {
        if let Some(code) = self.stopped_by() {
            match self.state.fault {
                Some(fault) if fault.resolved && !self.state.cover_open => {
                    self.state.fault = None;
                    self.changed();
                }
                _ => return Reply::refuse(code),
            }
        }
        Reply::Ok
    }

    fn with_card(&mut self, step: impl FnOnce(&mut Self) -> Outcome) -> Outcome {
        if self.state.card.is_none() {
            return Outcome::reply(Reply::error(
                ErrorCode::NoCard,
                "no card in the printer: feed one with Si first",
            ));
        }
        step(self)
    }

    fn card(&mut self) -> &mut CardInside {
        self.state
            .card
            .as_mut()
            .expect("with_card checked that a card is inside")
    }

    fn feed(&mut self) -> Outcome {
        if let Some(card) = &self.state.card {
            return Outcome::reply(Reply::error(
                ErrorCode::Busy,
                format!(
                    "card {} is still in the printer at {}: eject or reject it first",
                    card.seq,
                    card.place.position()
                ),
            ));
        }
        if self.state.hopper == 0 {
            self.latch(FaultKind::HopperEmpty);
            return Outcome::reply(Reply::refuse(ErrorCode::HopperEmpty));
        }
        let Some(chip_id) = chip_id(&self.config.chip_prefix, self.state.next_chip) else {
            return Outcome::reply(Reply::error(
                ErrorCode::HopperEmpty,
                format!(
                    "no card identification code is left after prefix {}: restart the simulator with another chip prefix",
                    self.config.chip_prefix
                ),
            ));
        };
        let seq = self.state.next_seq;
        self.state.next_seq += 1;
        self.state.next_chip += 1;
        self.state.hopper -= 1;
        self.state.counters.fed += 1;
        self.state.card = Some(CardInside {
            seq,
            chip_id: chip_id.clone(),
            place: Place::PrintHead,
            moves: 0,
            printed: false,
            overlaid: false,
        });
        self.changed();
        Outcome::ok_after(self.config.timing.feed_ms).with(Effect::CardFed { seq, chip_id })
    }

    fn move_card(&mut self, place: Place) -> Outcome {
        if self.card().place == place {
            return Outcome::reply(Reply::Ok);
        }
        self.place_card(place);
        Outcome::ok_after(self.config.timing.move_ms)
    }

    fn place_card(&mut self, place: Place) {
        let card = self.card();
        if card.place != place {
            card.place = place;
            card.moves += 1;
            self.changed();
        }
    }

    fn print(&mut self) -> Outcome {
        // The face file shows the colour panel, or the black one alone.
        let Some(png) = [Panel::Colour, Panel::Black]
            .into_iter()
            .find_map(|p| self.panels.get(&p))
            .cloned()
        else {
            return Outcome::reply(Reply::error(
                ErrorCode::BadData,
                "no panel downloaded: send Dbmp;c;<length>;<PNG bytes> first",
            ));
        };
        for (p, data) in &self.panels {
            if let Err(reason) = face::check_png(data) {
                return Outcome::reply(Reply::error(ErrorCode::BadData, format!("{p}: {reason}")));
            }
        }
        if self.state.ribbon == 0 {
            self.latch(FaultKind::RibbonOut);
            return Outcome::reply(Reply::refuse(ErrorCode::RibbonOut));
        }
        self.state.ribbon -= 1;
        self.state.counters.printed += 1;
        self.place_card(Place::PrintHead);
        let card = self.card();
        card.printed = true;
        let (seq, chip_id) = (card.seq, card.chip_id.clone());
        self.panels.clear();
        self.changed();
        Outcome::ok_after(self.config.timing.print_ms).with(Effect::FacePrinted {
            seq,
            chip_id,
            png,
        })
    }

    fn overlay(&mut self) -> Outcome {
        self.place_card(Place::PrintHead);
        self.card().overlaid = true;
        self.state.counters.overlaid += 1;
        self.changed();
        Outcome::ok_after(self.config.timing.overlay_ms)
    }

    fn card_out(&mut self, exit: Exit) -> Outcome {
        let card = self
            .state
            .card
            .take()
            .expect("with_card checked that a card is inside");
        match exit {
            Exit::Output | Exit::Bezel => self.state.counters.ejected += 1,
            Exit::Reject => self.state.counters.rejected += 1,
            Exit::Removed => self.state.counters.removed += 1,
        }
        self.changed();
        Outcome::ok_after(self.config.timing.eject_ms).with(Effect::CardOut { card, exit })
    }

    fn latch(&mut self, kind: FaultKind) {
        self.state.fault = Some(Fault {
            kind,
            resolved: false,
        });
        self.changed();
    }

    fn changed(&mut self) {
        self.revision += 1;
    }

    // Faults on demand (the control channel): what happens to the printer
    // physically, not commands of its host.

    /// A card jams (the one inside, if any).
    pub fn jam(&mut self) {
        self.latch(FaultKind::Jam);
    }

    /// The ribbon runs out: the next print latches `RIBBON_OUT`.
    pub fn ribbon_out(&mut self) {
        self.state.ribbon = 0;
        self.changed();
    }

    /// The hopper runs empty: the next feed latches `HOPPER_EMPTY`.
    pub fn hopper_empty(&mut self) {
        self.state.hopper = 0;
        self.changed();
    }

    /// Someone opens the cover.
    pub fn open_cover(&mut self) {
        self.state.cover_open = true;
        self.changed();
    }

    /// Someone closes the cover.
    pub fn close_cover(&mut self) {
        self.state.cover_open = false;
        self.changed();
    }

    /// An operator removed the fault's cause: a jammed card is taken out
    /// (returned as an effect); the host's `Scl` then clears the fault.
    pub fn operator_clear(&mut self) -> Vec<Effect> {
        let Some(fault) = self.state.fault.as_mut() else {
            return Vec::new();
        };
        fault.resolved = true;
        let mut effects = Vec::new();
        if fault.kind == FaultKind::Jam
            && let Some(card) = self.state.card.take()
        {
            self.state.counters.removed += 1;
            effects.push(Effect::CardOut {
                card,
                exit: Exit::Removed,
            });
        }
        self.changed();
        effects
    }

    /// An operator loads cards and fits a ribbon: counts set (full when
    /// not given), an empty-hopper or ribbon-out fault resolved.
    pub fn refill(&mut self, hopper: Option<u32>, ribbon: Option<u32>) {
        self.state.hopper = hopper.unwrap_or(HOPPER_CAPACITY);
        self.state.ribbon = ribbon.unwrap_or(RIBBON_CAPACITY);
        if let Some(fault) = self.state.fault.as_mut()
            && matches!(fault.kind, FaultKind::HopperEmpty | FaultKind::RibbonOut)
        {
            fault.resolved = true;
        }
        self.changed();
    }

    /// Sets the hopper and ribbon counts (`--hopper N` at start-up).
    pub fn set_counts(&mut self, hopper: u32, ribbon: u32) {
        self.state.hopper = hopper;
        self.state.ribbon = ribbon;
        self.changed();
    }
}

/// The chip id for `counter` after `prefix`: the prefix, then the counter
/// in decimal, zero-padded to 16 characters; `None` when it does not fit.
pub fn chip_id(prefix: &str, counter: u64) -> Option<String> {
    let width = CHIP_ID_LEN.checked_sub(prefix.len())?;
    let digits = counter.to_string();
    (digits.len() <= width).then(|| format!("{prefix}{digits:0>width$}"))
}

/// Whether a chip prefix is usable: 0 to 15 hex digits (upper-cased by
/// the caller).
pub fn valid_chip_prefix(prefix: &str) -> bool {
    prefix.len() < CHIP_ID_LEN && prefix.bytes().all(|b| b.is_ascii_hexdigit())
}
