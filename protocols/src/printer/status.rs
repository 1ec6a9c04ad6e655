//! The printer's vocabulary in one place: its states (with the advice an
//! operator reads), the error codes of `ERR;<code>;<text>` replies, where a
//! card can be, the panels a card face is printed from and the stations a
//! card is moved to.
//!
//! Each enum maps to its wire word through one table ([`STATES`],
//! [`PROTOCOL_CODES`], [`CARD_POSITIONS`]); `docs/printer-protocol.md`
//! repeats these tables for people, and a test keeps the two in step.

use std::fmt;

/// What the printer is doing or what stops it, as `Rps` reports it and as
/// the first field of its status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrinterState {
    /// Idle and able to take the next command.
    Ready,
    /// Busy with a sequence step (feeding, moving, printing, ejecting).
    Printing,
    /// A card is stuck in the card path.
    CardJam,
    /// The ribbon is used up (or missing).
    RibbonOut,
    /// The input hopper has no blank card left.
    HopperEmpty,
    /// The printer's cover is open.
    CoverOpen,
}

/// One row of the status vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateEntry {
    /// The state.
    pub state: PrinterState,
    /// Its word on the wire (`Rps` and `ERR;<code>`).
    pub wire: &'static str,
    /// What an operator is told.
    pub advice: &'static str,
    /// Whether a person has to act at the printer before it can go on.
    pub needs_operator: bool,
}

/// The status vocabulary: every [`PrinterState`], its wire word and the
/// operator's advice (cardhub's own vocabulary: the reference leaves the
/// status command unverified).
pub const STATES: [StateEntry; 6] = [
    StateEntry {
        state: PrinterState::Ready,
        wire: "READY",
        advice: "ready",
        needs_operator: false,
    },
    StateEntry {
        state: PrinterState::Printing,
        wire: "PRINTING",
        advice: "busy with a step: wait for it to finish",
        needs_operator: false,
    },
    StateEntry {
        state: PrinterState::CardJam,
        wire: "CARD_JAM",
        advice: "card jammed: open the cover and remove the card, close the cover, then clear the error",
        needs_operator: true,
    },
    StateEntry {
        state: PrinterState::RibbonOut,
        wire: "RIBBON_OUT",
        advice: "ribbon finished: open the cover and fit a new ribbon, close the cover, then clear the error",
        needs_operator: true,
    },
    StateEntry {
        state: PrinterState::HopperEmpty,
        wire: "HOPPER_EMPTY",
        advice: "input hopper empty: load blank cards into the hopper, then clear the error",
        needs_operator: true,
    },
    StateEntry {
        state: PrinterState::CoverOpen,
        wire: "COVER_OPEN",
        advice: "cover open: close the printer's cover, then clear the error",
        needs_operator: true,
    },
];

impl PrinterState {
    fn entry(self) -> &'static StateEntry {
        STATES
            .iter()
            .find(|e| e.state == self)
            .expect("every state has a row in STATES")
    }

    /// The wire word (`CARD_JAM`).
    pub fn wire(self) -> &'static str {
        self.entry().wire
    }

    /// The operator's advice ("card jammed: open the cover ...").
    pub fn advice(self) -> &'static str {
        self.entry().advice
    }

    /// Whether a person has to act at the printer (jam, ribbon, hopper,
    /// cover) before it can go on.
    pub fn needs_operator(self) -> bool {
        self.entry().needs_operator
    }

    /// Whether the printer can take the next sequence command.
    pub fn is_ready(self) -> bool {
        self == Self::Ready
    }

    /// The state a wire word names.
    pub fn from_wire(word: &str) -> Option<Self> {
        STATES.iter().find(|e| e.wire == word).map(|e| e.state)
    }

    /// The error code a printer in this state refuses commands with
    /// (`None` for ready and printing: a busy printer answers `BUSY`).
    pub fn error_code(self) -> Option<ErrorCode> {
        match self {
            Self::Ready | Self::Printing => None,
            Self::CardJam => Some(ErrorCode::CardJam),
            Self::RibbonOut => Some(ErrorCode::RibbonOut),
            Self::HopperEmpty => Some(ErrorCode::HopperEmpty),
            Self::CoverOpen => Some(ErrorCode::CoverOpen),
        }
    }
}

impl fmt::Display for PrinterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire())
    }
}

/// The code of an `ERR;<code>;<text>` reply: a state that stops the
/// printer, or a refusal of the command itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `CARD_JAM`: see [`PrinterState::CardJam`].
    CardJam,
    /// `RIBBON_OUT`: see [`PrinterState::RibbonOut`].
    RibbonOut,
    /// `HOPPER_EMPTY`: see [`PrinterState::HopperEmpty`].
    HopperEmpty,
    /// `COVER_OPEN`: see [`PrinterState::CoverOpen`].
    CoverOpen,
    /// `BAD_COMMAND`: not a command of this language, or a garbled frame.
    BadCommand,
    /// `BAD_PARAMETER`: a known command with a parameter it does not take.
    BadParameter,
    /// `BAD_DATA`: a panel download that is malformed, too large, or not
    /// an image the printer can print.
    BadData,
    /// `NO_CARD`: the command needs a card in the printer and there is none.
    NoCard,
    /// `BUSY`: the printer is still carrying out the previous step, or the
    /// command conflicts with the card already inside.
    Busy,
}

/// The protocol codes (refusals of a command rather than printer states)
/// with what they mean (cardhub's own).
pub const PROTOCOL_CODES: [(ErrorCode, &str, &str); 5] = [
    (
        ErrorCode::BadCommand,
        "BAD_COMMAND",
        "not a command of the printer language, or a garbled frame",
    ),
    (
        ErrorCode::BadParameter,
        "BAD_PARAMETER",
        "a known command with a parameter it does not take",
    ),
    (
        ErrorCode::BadData,
        "BAD_DATA",
        "a panel download that is malformed or too large, or a panel that is not a 1016 x 648 PNG",
    ),
    (
        ErrorCode::NoCard,
        "NO_CARD",
        "the command needs a card in the printer and there is none",
    ),
    (
        ErrorCode::Busy,
        "BUSY",
        "the printer is still busy with the previous step, or a card is already inside",
    ),
];

impl ErrorCode {
    /// The state behind a device code (`None` for a protocol code).
    pub fn state(self) -> Option<PrinterState> {
        match self {
            Self::CardJam => Some(PrinterState::CardJam),
            Self::RibbonOut => Some(PrinterState::RibbonOut),
            Self::HopperEmpty => Some(PrinterState::HopperEmpty),
            Self::CoverOpen => Some(PrinterState::CoverOpen),
            _ => None,
        }
    }

    /// The wire word (`NO_CARD`).
    pub fn wire(self) -> &'static str {
        match self.state() {
            Some(state) => state.wire(),
            None => {
                PROTOCOL_CODES
                    .iter()
                    .find(|(code, _, _)| *code == self)
                    .expect("every protocol code has a row in PROTOCOL_CODES")
                    .1
            }
        }
    }

    /// What the code means, for people: the state's advice, or the
    /// protocol code's meaning.
    pub fn meaning(self) -> &'static str {
        match self.state() {
            Some(state) => state.advice(),
            None => {
                PROTOCOL_CODES
                    .iter()
                    .find(|(code, _, _)| *code == self)
                    .expect("every protocol code has a row in PROTOCOL_CODES")
                    .2
            }
        }
    }

    /// The code a wire word names.
    pub fn from_wire(word: &str) -> Option<Self> {
        if let Some(code) = PrinterState::from_wire(word).and_then(PrinterState::error_code) {
            return Some(code);
        }
        PROTOCOL_CODES
            .iter()
            .find(|(_, wire, _)| *wire == word)
            .map(|(code, _, _)| *code)
    }

    /// Every code, device codes first.
    pub fn all() -> [Self; 9] {
        [
            Self::CardJam,
            Self::RibbonOut,
            Self::HopperEmpty,
            Self::CoverOpen,
            Self::BadCommand,
            Self::BadParameter,
            Self::BadData,
            Self::NoCard,
            Self::Busy,
        ]
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire())
    }
}

/// Where the card is (`Rlr;p`, and the `CARD=` field of the status line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CardPosition {
    /// No card in the printer.
    #[default]
    None,
    /// A card is in the printer, at the print head (after feeding, printing
    /// or overlaying).
    InPrinter,
    /// At the contact (chip) encoding station.
    Contact,
    /// At the contactless encoding station.
    Contactless,
}

/// The wire words of [`CardPosition`] (from the reference's `Rlr;p`
/// answers; `NONE` for "no card" is cardhub's).
pub const CARD_POSITIONS: [(CardPosition, &str); 4] = [
    (CardPosition::None, "NONE"),
    (CardPosition::InPrinter, "CARD"),
    (CardPosition::Contact, "SMART"),
    (CardPosition::Contactless, "CONTACTLESS"),
];

impl CardPosition {
    /// The wire word (`SMART`).
    pub fn wire(self) -> &'static str {
        CARD_POSITIONS
            .iter()
            .find(|(p, _)| *p == self)
            .expect("every position has a row in CARD_POSITIONS")
            .1
    }

    /// The position a wire word names.
    pub fn from_wire(word: &str) -> Option<Self> {
        CARD_POSITIONS
            .iter()
            .find(|(_, w)| *w == word)
            .map(|(p, _)| *p)
    }

    /// Whether a card is in the printer at all.
    pub fn has_card(self) -> bool {
        self != Self::None
    }

    /// The encoding station the card is at, if it is at one.
    pub fn station(self) -> Option<Station> {
        match self {
            Self::Contact => Some(Station::Contact),
            Self::Contactless => Some(Station::Contactless),
            Self::None | Self::InPrinter => None,
        }
    }
}

impl fmt::Display for CardPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire())
    }
}

/// An encoding station a card is moved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Station {
    /// The contact (chip) encoder: `Sic`.
    Contact,
    /// The contactless encoder: `Sis`.
    Contactless,
}

impl Station {
    /// The position of a card at this station.
    pub fn position(self) -> CardPosition {
        match self {
            Self::Contact => CardPosition::Contact,
            Self::Contactless => CardPosition::Contactless,
        }
    }
}

impl fmt::Display for Station {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Contact => "contact station",
            Self::Contactless => "contactless station",
        })
    }
}

/// A panel of the card face, downloaded with `Dbmp` before `Sp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Panel {
    /// `k`: the black (resin) panel.
    Black,
    /// `c`: the colour panel: the card face as a PNG file's bytes.
    Colour,
    /// `o`: the overlay varnish panel.
    Overlay,
}

impl Panel {
    /// Every panel.
    pub const ALL: [Self; 3] = [Self::Black, Self::Colour, Self::Overlay];

    /// The panel's letter on the wire.
    pub fn letter(self) -> u8 {
        match self {
            Self::Black => b'k',
            Self::Colour => b'c',
            Self::Overlay => b'o',
        }
    }

    /// The panel a letter names.
    pub fn from_letter(letter: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.letter() == letter)
    }
}

impl fmt::Display for Panel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Black => "black panel (k)",
            Self::Colour => "colour panel (c)",
            Self::Overlay => "overlay panel (o)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_maps_back_to_its_value() {
        for entry in STATES {
            assert_eq!(PrinterState::from_wire(entry.wire), Some(entry.state));
            assert_eq!(entry.state.wire(), entry.wire);
        }
        for code in ErrorCode::all() {
            assert_eq!(ErrorCode::from_wire(code.wire()), Some(code));
            assert!(!code.meaning().is_empty());
        }
        for (position, word) in CARD_POSITIONS {
            assert_eq!(CardPosition::from_wire(word), Some(position));
        }
        for panel in Panel::ALL {
            assert_eq!(Panel::from_letter(panel.letter()), Some(panel));
        }
        assert_eq!(ErrorCode::from_wire("READY"), None);
        assert_eq!(ErrorCode::from_wire("PRINTING"), None);
        assert_eq!(PrinterState::from_wire("ready"), None);
    }

    #[test]
    fn operator_states_have_advice_that_says_what_to_do() {
        assert!(PrinterState::CardJam.needs_operator());
        assert!(!PrinterState::Printing.needs_operator());
        assert!(
            PrinterState::CardJam
                .advice()
                .starts_with("card jammed: open the cover and remove the card")
        );
        assert_eq!(
            PrinterState::CoverOpen.error_code(),
            Some(ErrorCode::CoverOpen)
        );
        assert_eq!(ErrorCode::NoCard.state(), None);
        assert_eq!(
            Station::Contact.position().station(),
            Some(Station::Contact)
        );
        assert_eq!(CardPosition::InPrinter.station(), None);
    }
}
