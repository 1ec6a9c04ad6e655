//! [`ReaderError`]: what can go wrong talking to a card through a reader,
//! with the PC/SC status codes mapped onto it.
//!
//! The mapping lives here so every PC/SC call site reports the same failure
//! the same way; the calls themselves are in `pcsc_reader` and `monitor`.

/// A reader or card failure. Every message names the reader and says what
/// to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReaderError {
    /// The reader is empty.
    #[error("no card in reader {reader}: insert the card, then connect again")]
    NoCard {
        /// The reader's name.
        reader: String,
    },

    /// The card was pulled out (or lost power) while it was in use.
    #[error(
        "card removed from reader {reader} during command {command}: \
         put the card back and start the operation again"
    )]
    CardRemoved {
        /// The reader's name.
        reader: String,
        /// The command that was interrupted: its header in hex (CLA INS P1
        /// P2, e.g. `00B2010C`) or the name of the operation.
        command: String,
    },

    /// The reader is not (or no longer) known to the system.
    #[error(
        "reader {reader} is gone: check its cable and driver, \
         then pick it again from the list of readers"
    )]
    ReaderGone {
        /// The reader's name.
        reader: String,
    },

    /// The card is in the reader but does not answer to reset.
    #[error(
        "card in reader {reader} does not answer: take it out, check it is the right way \
         round and its contacts are clean, and insert it again"
    )]
    CardMute {
        /// The reader's name.
        reader: String,
    },

    /// The reader or card did not answer in time.
    #[error("reader {reader} timed out during {operation}: check the reader, then try again")]
    Timeout {
        /// The reader's name.
        reader: String,
        /// What was being done.
        operation: String,
    },

    /// The PC/SC service (pcscd) is not running or went away.
    #[error("pcscd is not running: start it (make test starts it with scripts/pcsc-rig.sh start)")]
    ServiceUnavailable,

    /// pcscd restarted while a card session was open; the session is lost.
    #[error(
        "the PC/SC service restarted and the session with the card in reader {reader} \
         was lost: connect again and start the operation again"
    )]
    ServiceRestarted {
        /// The reader's name.
        reader: String,
    },

    /// The card does not speak the protocol asked for.
    #[error(
        "card in reader {reader} cannot use {requested}: \
         connect with ProtocolPreference::Any or the card's own protocol"
    )]
    ProtocolMismatch {
        /// The reader's name.
        reader: String,
        /// The protocol that was asked for, e.g. `T=1`.
        requested: String,
    },

    /// Another application holds the card exclusively.
    #[error(
        "card in reader {reader} is held exclusively by another application: \
         close it, then try again"
    )]
    Busy {
        /// The reader's name.
        reader: String,
    },

    /// A card command was sent before [`connect`](super::CardReader::connect).
    #[error("not connected to the card in reader {reader}: connect first")]
    NotConnected {
        /// The reader's name.
        reader: String,
    },

    /// The link to the terminal the reader is attached to dropped (or did
    /// not answer) during a command: whether the card ran it is unknown.
    #[error(
        "lost the link to reader {reader} during {command}: {reason}; \
         when the terminal is back, check the card and start the operation again"
    )]
    LinkLost {
        /// The reader's name (`terminal://T/D` for a branch reader).
        reader: String,
        /// What was being done.
        command: String,
        /// What the link said.
        reason: String,
    },

    /// A branch terminal's reader failed in a way PC/SC codes do not
    /// name here; the terminal's message says what.
    #[error("reader {reader}: {reason}")]
    Remote {
        /// The reader's name.
        reader: String,
        /// The terminal's message.
        reason: String,
    },

    /// Any other PC/SC failure.
    #[error("{context}: {source}")]
    Other {
        /// The PC/SC status.
        source: pcsc::Error,
        /// Which reader and what was being done.
        context: String,
    },
}

impl ReaderError {
    /// Maps a PC/SC status from `operation` (e.g. `"connect"`, or a
    /// command's hex header for transmit) on `reader` to a [`ReaderError`].
    ///
    /// `requested` is the protocol asked for, named in a protocol mismatch.
    pub(crate) fn from_pcsc(
        err: pcsc::Error,
        reader: &str,
        operation: &str,
        requested: Option<super::ProtocolPreference>,
    ) -> Self {
        use pcsc::Error as E;
        let reader = reader.to_owned();
        match err {
            E::NoService | E::ServiceStopped | E::Shutdown => Self::ServiceUnavailable,
            E::NoSmartcard => Self::NoCard { reader },
            // pcsc-lite answers "not transacted" when the card behind a
            // session was swapped before it noticed: the card left.
            E::RemovedCard | E::NotTransacted => Self::CardRemoved {
                reader,
                command: operation.to_owned(),
            },
            E::UnknownReader | E::ReaderUnavailable | E::NoReadersAvailable => {
                Self::ReaderGone { reader }
            }
            E::UnresponsiveCard | E::UnpoweredCard | E::UnsupportedCard => {
                Self::CardMute { reader }
            }
            E::Timeout | E::WaitedTooLong => Self::Timeout {
                reader,
                operation: operation.to_owned(),
            },
            E::ProtoMismatch => Self::ProtocolMismatch {
                reader,
                requested: requested.unwrap_or_default().to_string(),
            },
            E::SharingViolation => Self::Busy { reader },
            source => Self::Other {
                source,
                context: if reader.is_empty() {
                    format!("PC/SC {operation} failed")
                } else {
                    format!("reader {reader}: {operation} failed")
                },
            },
        }
    }

    /// The name of the reader the error is about, when it is about one.
    pub fn reader(&self) -> Option<&str> {
        match self {
            Self::NoCard { reader }
            | Self::CardRemoved { reader, .. }
            | Self::ReaderGone { reader }
            | Self::CardMute { reader }
            | Self::Timeout { reader, .. }
            | Self::ProtocolMismatch { reader, .. }
            | Self::Busy { reader }
            | Self::ServiceRestarted { reader }
            | Self::NotConnected { reader }
            | Self::LinkLost { reader, .. }
            | Self::Remote { reader, .. } => Some(reader),
            Self::ServiceUnavailable | Self::Other { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::ProtocolPreference;

    const R: &str = "cardhub vpcd 35963 00 00";

    fn map(err: pcsc::Error, operation: &str) -> ReaderError {
        ReaderError::from_pcsc(err, R, operation, Some(ProtocolPreference::T1))
    }

    #[test]
    fn service_down_says_how_to_start_pcscd() {
        for err in [pcsc::Error::NoService, pcsc::Error::ServiceStopped] {
            let e = map(err, "transmit");
            assert_eq!(e, ReaderError::ServiceUnavailable);
            assert_eq!(
                e.to_string(),
                "pcscd is not running: start it (make test starts it with scripts/pcsc-rig.sh start)"
            );
        }
        let e = ReaderError::from_pcsc(pcsc::Error::NoService, "", "establish context", None);
        assert_eq!(e, ReaderError::ServiceUnavailable);
    }

    #[test]
    fn card_errors_name_the_reader_and_command() {
        assert_eq!(
            map(pcsc::Error::NoSmartcard, "connect").to_string(),
            "no card in reader cardhub vpcd 35963 00 00: insert the card, then connect again"
        );
        let removed = map(pcsc::Error::RemovedCard, "00B2010C");
        assert_eq!(
            removed,
            ReaderError::CardRemoved {
                reader: R.into(),
                command: "00B2010C".into()
            }
        );
        assert!(removed.to_string().starts_with(
            "card removed from reader cardhub vpcd 35963 00 00 during command 00B2010C"
        ));
        assert_eq!(removed.reader(), Some(R));
    }

    #[test]
    fn every_status_maps_to_its_variant() {
        let cases = [
            (pcsc::Error::UnknownReader, "ReaderGone"),
            (pcsc::Error::ReaderUnavailable, "ReaderGone"),
            (pcsc::Error::UnresponsiveCard, "CardMute"),
            (pcsc::Error::Timeout, "Timeout"),
            (pcsc::Error::ProtoMismatch, "ProtocolMismatch"),
            (pcsc::Error::SharingViolation, "Busy"),
            (pcsc::Error::CommError, "Other"),
        ];
        for (err, variant) in cases {
            let mapped = map(err, "connect");
            assert!(
                format!("{mapped:?}").starts_with(variant),
                "{err:?} mapped to {mapped:?}, expected {variant}"
            );
        }
        assert_eq!(
            map(pcsc::Error::ProtoMismatch, "connect").to_string(),
            "card in reader cardhub vpcd 35963 00 00 cannot use T=1: \
             connect with ProtocolPreference::Any or the card's own protocol"
        );
        assert_eq!(
            map(pcsc::Error::CommError, "transmit").to_string(),
            "reader cardhub vpcd 35963 00 00: transmit failed: \
             An internal communications error has been detected"
        );
    }
}
