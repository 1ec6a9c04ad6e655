//! [`IdReaderError`]: what can go wrong reading an identity card, each
//! variant naming the reader and saying what the operator does next.
//!
//! The reader's own refusals (SW3) map onto variants in
//! [`IdReaderError::from_status`], so every command reports the same
//! refusal the same way.

use std::time::Duration;

use cardhub_protocols::id_reader::{FrameError, Status, TextBlockError};

/// An identity card reader failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdReaderError {
    /// The reader sees no card (SW3 80).
    #[error("no card on ID reader {reader}: place the card flat on the reader")]
    NoCard {
        /// The reader's name.
        reader: String,
    },

    /// Polling ran out of time without a card being placed.
    #[error(
        "no card was placed on ID reader {reader} within {waited:?}: place the card flat on the reader and read again"
    )]
    NoCardWithin {
        /// The reader's name.
        reader: String,
        /// How long the poll waited.
        waited: Duration,
    },

    /// The card did not answer the selection (SW3 81).
    #[error(
        "the card on ID reader {reader} did not answer: lift it, then place it flat on the reader again"
    )]
    SelectFailed {
        /// The reader's name.
        reader: String,
    },

    /// The card could not be read, typically because it was lifted or
    /// moved during the read (SW3 41).
    #[error(
        "ID reader {reader} could not read the card (was it lifted or moved?): place it flat on the reader, \
         keep it still until the read is done, and read again"
    )]
    ReadFailed {
        /// The reader's name.
        reader: String,
    },

    /// The reader refused the command with another status.
    #[error("ID reader {reader} refused {command}: {status}")]
    Refused {
        /// The reader's name.
        reader: String,
        /// The command.
        command: &'static str,
        /// Its status (the text says what to do).
        status: Status,
    },

    /// The card was read but its text block does not decode.
    #[error("ID reader {reader} read a card whose text cannot be used: {source}")]
    Text {
        /// The reader's name.
        reader: String,
        /// Why.
        #[source]
        source: TextBlockError,
    },

    /// No answer in time.
    #[error(
        "ID reader {reader} did not answer {command} within {waited:?}{}",
        if *received > 0 {
            format!(
                " (it sent {received} bytes that are not a whole frame): check that the reader's baud rate \
                 matches the configuration and that its cable is sound"
            )
        } else {
            ": check that the reader is powered and connected, and its device path".to_owned()
        }
    )]
    NoReply {
        /// The reader's name.
        reader: String,
        /// The command.
        command: &'static str,
        /// How long the driver waited.
        waited: Duration,
        /// Bytes received that did not make a frame.
        received: usize,
    },

    /// The answer arrived corrupted (bad checksum, impossible length,
    /// unknown status).
    #[error(
        "ID reader {reader} answered {command} with a corrupted frame ({source}): check the reader's cable, \
         then try again"
    )]
    Garbled {
        /// The reader's name.
        reader: String,
        /// The command.
        command: &'static str,
        /// What was wrong with it.
        #[source]
        source: FrameError,
    },

    /// A well-formed answer that does not answer the command.
    #[error(
        "ID reader {reader} answered {command} unexpectedly: {reason}; check that the reader model speaks \
         this protocol"
    )]
    Unexpected {
        /// The reader's name.
        reader: String,
        /// The command.
        command: &'static str,
        /// What did not fit.
        reason: String,
    },

    /// The serial line could not be opened, or failed.
    #[error(
        "cannot reach ID reader {reader} for {command}: {reason}; check its USB or serial cable and the device \
         path in the configuration, then try again"
    )]
    Disconnected {
        /// The reader's name.
        reader: String,
        /// The command (or `open`).
        command: &'static str,
        /// The transport's error.
        reason: String,
    },
}

impl IdReaderError {
    /// The error for a refusal of `command` with `status` (not its
    /// success status).
    pub fn from_status(reader: &str, command: &'static str, status: Status) -> Self {
        let reader = reader.to_owned();
        match status {
            Status::FindFailed => Self::NoCard { reader },
            Status::SelectFailed => Self::SelectFailed { reader },
            Status::ReadFailed => Self::ReadFailed { reader },
            status if status.is_success() => Self::Unexpected {
                reader,
                command,
                reason: format!("{status} is not the success status of {command}"),
            },
            status => Self::Refused {
                reader,
                command,
                status,
            },
        }
    }

    /// Whether the card is missing or not answering (the polling loop
    /// keeps waiting on these).
    pub fn is_no_card(&self) -> bool {
        matches!(self, Self::NoCard { .. } | Self::SelectFailed { .. })
    }

    /// Whether the link to the reader is in doubt (no answer, a corrupted
    /// one, or the line failed): the driver reopens the line before the
    /// next command.
    pub fn is_link_problem(&self) -> bool {
        matches!(
            self,
            Self::NoReply { .. } | Self::Garbled { .. } | Self::Disconnected { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_what_the_operator_does() {
        let no_card = IdReaderError::from_status("R1", "find card", Status::FindFailed);
        assert_eq!(
            no_card.to_string(),
            "no card on ID reader R1: place the card flat on the reader"
        );
        assert!(no_card.is_no_card());
        assert!(matches!(
            IdReaderError::from_status("R1", "read", Status::ReadFailed),
            IdReaderError::ReadFailed { .. }
        ));
        let sam = IdReaderError::from_status("R1", "SAM status", Status::SamSelfTestFailed);
        assert!(sam.to_string().contains("restart the reader"));
        assert!(!sam.is_no_card() && !sam.is_link_problem());
        assert!(matches!(
            IdReaderError::from_status("R1", "find card", Status::Ok),
            IdReaderError::Unexpected { .. }
        ));
    }

    #[test]
    fn a_silent_reader_and_a_noisy_one_get_different_advice() {
        let silent = IdReaderError::NoReply {
            reader: "R1".into(),
            command: "find card",
            waited: Duration::from_millis(500),
            received: 0,
        };
        assert!(silent.to_string().contains("powered and connected"));
        let noisy = IdReaderError::NoReply {
            reader: "R1".into(),
            command: "find card",
            waited: Duration::from_millis(500),
            received: 37,
        };
        assert!(noisy.to_string().contains("37 bytes"));
        assert!(noisy.to_string().contains("baud rate"));
        assert!(noisy.is_link_problem());
    }
}
