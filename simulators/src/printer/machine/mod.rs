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
//!
//! The values (state, timing, outcomes and effects) are in `state`.

use std::collections::BTreeMap;
use std::time::Instant;

use cardhub_protocols::printer::{
    CardPosition, Command, ErrorCode, Panel, PrinterInfo, PrinterState, Reply, StatusReport,
};

use super::face;

mod state;

pub use state::{
    CardInside, Counters, Effect, Exit, Fault, FaultKind, MachineState, Outcome, Place, Timing,
};

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
