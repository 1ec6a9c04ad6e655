//! [`PrinterError`]: what can go wrong driving a card printer, each
//! variant naming the printer and the command and saying what to do.
//!
//! The printer's own refusals (`ERR;<code>;<text>`) map onto variants in
//! [`PrinterError::from_reply`], so every call site reports the same
//! refusal the same way.

use std::time::Duration;

use cardhub_protocols::printer::{ErrorCode, PrinterState};

/// A printer failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrinterError {
    /// The printer is in a state that stops it (jam, ribbon out, hopper
    /// empty, cover open) and refused the command; `text` is its advice.
    #[error("printer {printer} refused {command}: {state}: {text}")]
    Device {
        /// The printer's name.
        printer: String,
        /// The command refused (`Sic`).
        command: &'static str,
        /// The state it reported.
        state: PrinterState,
        /// What the printer said (its advice to the operator).
        text: String,
    },

    /// The command needs a card in the printer and there is none.
    #[error(
        "printer {printer} has no card for {command}: {text}; feed a card first (or ask where the card is)"
    )]
    NoCard {
        /// The printer's name.
        printer: String,
        /// The command refused.
        command: &'static str,
        /// What the printer said.
        text: String,
    },

    /// The printer is still busy with a step, or a card is already inside.
    #[error("printer {printer} is busy and refused {command}: {text}; wait and ask its status")]
    Busy {
        /// The printer's name.
        printer: String,
        /// The command refused.
        command: &'static str,
        /// What the printer said.
        text: String,
    },

    /// The printer refused the command itself (`BAD_COMMAND`,
    /// `BAD_PARAMETER`, `BAD_DATA`): the printer speaks another dialect,
    /// or the data sent (a card face) is not what it prints.
    #[error(
        "printer {printer} refused {command} as {code}: {text}; check the printer model and the data sent"
    )]
    Refused {
        /// The printer's name.
        printer: String,
        /// The command refused.
        command: &'static str,
        /// The protocol code.
        code: ErrorCode,
        /// What the printer said.
        text: String,
    },

    /// The connection could not be made, or was lost.
    #[error(
        "printer {printer}: {}: {reason}",
        if *mid_command {
            format!(
                "connection lost during {command} (the command was sent and may have been carried out): \
                 reconnect and ask where the card is before going on"
            )
        } else {
            format!(
                "cannot reach the printer for {command} (nothing was carried out): \
                 check that it is on and its cable or network, then reconnect"
            )
        }
    )]
    Disconnected {
        /// The printer's name.
        printer: String,
        /// The command (or `connect`).
        command: &'static str,
        /// Whether the command had been sent when the link failed, so it
        /// may have been carried out.
        mid_command: bool,
        /// The transport's error.
        reason: String,
    },

    /// The printer did not answer in time.
    #[error(
        "printer {printer} did not answer {command} within {waited:?}: the link is dropped; \
         reconnect and ask where the card is (a longer timeout may be needed for this step)"
    )]
    Timeout {
        /// The printer's name.
        printer: String,
        /// The command.
        command: &'static str,
        /// How long the driver waited.
        waited: Duration,
    },

    /// The printer answered with bytes that are not a reply, or with a
    /// reply that does not fit the command.
    #[error(
        "printer {printer} answered {command} with {received}: {reason}; \
         check the cable (noise) or that the printer speaks this language"
    )]
    Protocol {
        /// The printer's name.
        printer: String,
        /// The command.
        command: &'static str,
        /// What was received, non-ASCII bytes escaped.
        received: String,
        /// Why it is not an answer.
        reason: String,
    },

    /// A panel larger than the printer accepts; nothing was sent.
    #[error(
        "printer {printer}: a {panel} of {length} bytes is larger than the {limit} bytes a printer accepts: \
         render the face smaller"
    )]
    PanelTooLarge {
        /// The printer's name.
        printer: String,
        /// The panel.
        panel: String,
        /// Its length.
        length: usize,
        /// The limit.
        limit: usize,
    },
}

impl PrinterError {
    /// Maps a printer's `ERR;<code>;<text>` to the variant for it.
    pub fn from_reply(printer: &str, command: &'static str, code: ErrorCode, text: &str) -> Self {
        let printer = printer.to_owned();
        let text = if text.is_empty() {
            code.meaning().to_owned()
        } else {
            text.to_owned()
        };
        if let Some(state) = code.state() {
            return Self::Device {
                printer,
                command,
                state,
                text,
            };
        }
        match code {
            ErrorCode::NoCard => Self::NoCard {
                printer,
                command,
                text,
            },
            ErrorCode::Busy => Self::Busy {
                printer,
                command,
                text,
            },
            code => Self::Refused {
                printer,
                command,
                code,
                text,
            },
        }
    }

    /// Whether the link to the printer is gone (or in doubt after a
    /// timeout): the caller reconnects (the driver also does so by itself
    /// at the next command) and asks where the card is.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Self::Disconnected { .. } | Self::Timeout { .. })
    }

    /// Whether a person has to act at the printer: a jam, an open cover,
    /// an empty ribbon or hopper.
    pub fn needs_operator(&self) -> bool {
        matches!(self, Self::Device { state, .. } if state.needs_operator())
    }

    /// Whether the printer ran out of blank cards.
    pub fn is_hopper_empty(&self) -> bool {
        matches!(
            self,
            Self::Device {
                state: PrinterState::HopperEmpty,
                ..
            }
        )
    }

    /// The state the printer reported, for a [`PrinterError::Device`].
    pub fn state(&self) -> Option<PrinterState> {
        match self {
            Self::Device { state, .. } => Some(*state),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_their_variants() {
        let jam = PrinterError::from_reply("P1", "Sic", ErrorCode::CardJam, "");
        assert!(jam.needs_operator());
        assert!(!jam.is_connection_lost());
        assert_eq!(jam.state(), Some(PrinterState::CardJam));
        assert!(
            jam.to_string()
                .starts_with("printer P1 refused Sic: CARD_JAM: card jammed: open the cover")
        );
        let empty = PrinterError::from_reply("P1", "Si", ErrorCode::HopperEmpty, "x");
        assert!(empty.is_hopper_empty() && empty.needs_operator());
        assert!(matches!(
            PrinterError::from_reply("P1", "Sp", ErrorCode::NoCard, "none"),
            PrinterError::NoCard { .. }
        ));
        assert!(matches!(
            PrinterError::from_reply("P1", "Si", ErrorCode::Busy, "b"),
            PrinterError::Busy { .. }
        ));
        let bad = PrinterError::from_reply("P1", "Sp", ErrorCode::BadData, "not a PNG");
        assert!(matches!(
            bad,
            PrinterError::Refused {
                code: ErrorCode::BadData,
                ..
            }
        ));
        assert!(!bad.needs_operator());
    }

    #[test]
    fn lost_links_say_whether_the_command_went_out() {
        let lost = PrinterError::Disconnected {
            printer: "P1".into(),
            command: "Sp",
            mid_command: true,
            reason: "connection reset".into(),
        };
        assert!(lost.is_connection_lost());
        assert!(lost.to_string().contains("may have been carried out"));
        let refused = PrinterError::Disconnected {
            printer: "P1".into(),
            command: "connect",
            mid_command: false,
            reason: "connection refused".into(),
        };
        assert!(refused.to_string().contains("nothing was carried out"));
        let timeout = PrinterError::Timeout {
            printer: "P1".into(),
            command: "Rps",
            waited: Duration::from_millis(200),
        };
        assert!(timeout.is_connection_lost());
    }
}
